//! The data file as plugins of every interface version see it: the
//! [`FileView`] resource and the host's reads on a plugin's behalf, charged
//! to its memory budget and cut into pieces that check its deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::Resource;

use crate::nexus::{Array, Data, NexusFile as Nexus};
use crate::plugin::sandbox::State;

/// The data file as a plugin sees it.
pub struct FileView {
    pub file: Arc<Nexus>,
}

/// Host reads larger than this are done in pieces, with the plugin's
/// memory budget and deadline checked between them.
const PIECE: u64 = 4 << 20;
/// Host bytes per string element besides its text.
const STRING_OVERHEAD: u64 = 24;

impl State {
    pub fn view(&self, r: &Resource<FileView>) -> wasmtime::Result<Arc<Nexus>> {
        Ok(self.table.get(r)?.file.clone())
    }

    /// Traps if the current call ran past its deadline (between the pieces
    /// of a long read: the epoch deadline only stops wasm code).
    pub fn check_deadline(&mut self) -> wasmtime::Result<()> {
        if let Some((at, ms)) = self.deadline
            && Instant::now() > at
        {
            let why = format!("it ran longer than its time limit of {ms} ms (plugins.timeout_ms)");
            self.limits.refused = Some(why.clone());
            wasmtime::bail!("{why}");
        }
        Ok(())
    }

    /// Reads the block `start .. start + count` of the dataset at `path`
    /// (all of it when `slice` is `None`), charging the plugin's memory
    /// budget before reading, in pieces along the first dimension, and
    /// checking the real size (strings included) and the deadline after
    /// each piece.
    pub fn bounded_read(
        &mut self,
        nx: &Nexus,
        path: &str,
        slice: Option<(Vec<u64>, Vec<u64>)>,
    ) -> wasmtime::Result<Result<Array, String>> {
        let (shape, esize) = match nx.sizing(path, None) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let whole = slice.is_none();
        let (start, count) = slice.unwrap_or_else(|| {
            (
                vec![0; shape.len()],
                shape.iter().map(|&d| d as u64).collect(),
            )
        });
        if count.len() != shape.len() || start.len() != shape.len() {
            // Let the file say what is wrong with the slice (nothing is read).
            return Ok(nx.read_slice(path, &start, &count));
        }
        let per = element_bytes(esize);
        let n = count.iter().try_fold(1u64, |a, &c| a.checked_mul(c));
        if let Err(e) = self.limits.reserve(n.and_then(|n| n.checked_mul(per))) {
            return Ok(Err(format!("{path}: {e}")));
        }
        let row = count
            .iter()
            .skip(1)
            .try_fold(per, |a, &c| a.checked_mul(c))
            .unwrap_or(u64::MAX);
        let rows = count.first().copied().unwrap_or(1);
        if shape.is_empty() || row.saturating_mul(rows) <= PIECE {
            let a = if whole {
                nx.read(path)
            } else {
                nx.read_slice(path, &start, &count)
            };
            return Ok(a.and_then(|a| {
                self.limits
                    .reserve(Some(data_bytes(&a.data)))
                    .map_err(|e| format!("{path}: {e}"))?;
                Ok(a)
            }));
        }
        let step = (PIECE / row.max(1)).max(1);
        let mut acc: Option<Data> = None;
        let mut bytes = 0u64;
        let mut done = 0u64;
        while done < rows {
            self.check_deadline()?;
            let mut st = start.clone();
            let mut ct = count.clone();
            st[0] += done;
            ct[0] = step.min(rows - done);
            let piece = match nx.read_slice(path, &st, &ct) {
                Ok(p) => p.data,
                Err(e) => return Ok(Err(e)),
            };
            bytes = bytes.saturating_add(data_bytes(&piece));
            if let Err(e) = self.limits.reserve(Some(bytes)) {
                return Ok(Err(format!("{path}: {e}")));
            }
            acc = Some(match acc {
                None => piece,
                Some(a) => match append(a, piece) {
                    Ok(d) => d,
                    Err(e) => return Ok(Err(format!("{path}: {e}"))),
                },
            });
            done += ct[0];
        }
        self.check_deadline()?;
        Ok(Ok(Array {
            data: acc.unwrap_or(Data::Floats(Vec::new())),
            shape: count.iter().map(|&c| c as usize).collect(),
        }))
    }
}

/// Host bytes of one element of this size (see [`Nexus::sizing`]).
pub fn element_bytes(size: Option<usize>) -> u64 {
    match size {
        Some(8) | Some(1) => size.unwrap_or(8) as u64,
        Some(n) => STRING_OVERHEAD + n as u64,
        None => STRING_OVERHEAD,
    }
}

/// Host bytes of values read, strings at their real size.
pub fn data_bytes(d: &Data) -> u64 {
    match d {
        Data::Strings(v) => v.iter().map(|s| STRING_OVERHEAD + s.len() as u64).sum(),
        Data::Ints(v) => v.len() as u64 * 8,
        Data::Floats(v) => v.len() as u64 * 8,
        Data::Bools(v) => v.len() as u64,
    }
}

fn append(a: Data, b: Data) -> Result<Data, String> {
    Ok(match (a, b) {
        (Data::Strings(mut x), Data::Strings(y)) => {
            x.extend(y);
            Data::Strings(x)
        }
        (Data::Ints(mut x), Data::Ints(y)) => {
            x.extend(y);
            Data::Ints(x)
        }
        (Data::Floats(mut x), Data::Floats(y)) => {
            x.extend(y);
            Data::Floats(x)
        }
        (Data::Ints(x), Data::Floats(y)) => {
            Data::Floats(x.into_iter().map(|i| i as f64).chain(y).collect())
        }
        (Data::Floats(mut x), Data::Ints(y)) => {
            x.extend(y.into_iter().map(|i| i as f64));
            Data::Floats(x)
        }
        (Data::Bools(mut x), Data::Bools(y)) => {
            x.extend(y);
            Data::Bools(x)
        }
        _ => return Err("the values change type between pieces".into()),
    })
}
