//! The two FlatBuffers tables the daemon reads: `wrdn` FinishedWriting and
//! `pl72` RunStart, written by hand in the shape `flatc --rust` generates
//! (Debian's flatc is too old for the `flatbuffers` crate). Schemas:
//! ess-dmsc/streaming-data-types, `schemas/wrdn_finished_writing.fbs` and
//! `schemas/pl72_run_start.fbs` at commit e6f746dea23419ebb7171f76f39a7a1d09050173.
//! A field's vtable slot is `4 + 2 * (its index in the table)`.
//! Builders are here too: the tests and the benchmark produce messages
//! exactly as the file writer does.

use flatbuffers::{
    FlatBufferBuilder, Follow, ForwardsUOffset, InvalidFlatbuffer, Table, VOffsetT, Verifiable,
    Verifier, WIPOffset,
};

pub const WRDN_IDENTIFIER: &str = "wrdn";
pub const PL72_IDENTIFIER: &str = "pl72";

/// The schema id of a message: bytes 4..8, where FlatBuffers put the file
/// identifier.
pub fn schema_id(buf: &[u8]) -> Option<&str> {
    buf.get(4..8).and_then(|b| std::str::from_utf8(b).ok())
}

/// Reads a string slot of a verified table.
fn string<'a>(tab: &Table<'a>, slot: VOffsetT) -> Option<&'a str> {
    // SAFETY: the buffer was verified with the slot typed as a string.
    unsafe { tab.get::<ForwardsUOffset<&str>>(slot, None) }
}

#[derive(Copy, Clone)]
pub struct FinishedWriting<'a> {
    tab: Table<'a>,
}

impl<'a> Follow<'a> for FinishedWriting<'a> {
    type Inner = FinishedWriting<'a>;
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
        // SAFETY: the caller guarantees a table at `loc`.
        FinishedWriting {
            tab: unsafe { Table::new(buf, loc) },
        }
    }
}

impl FinishedWriting<'_> {
    pub const VT_SERVICE_ID: VOffsetT = 4;
    pub const VT_JOB_ID: VOffsetT = 6;
    pub const VT_ERROR_ENCOUNTERED: VOffsetT = 8;
    pub const VT_FILE_NAME: VOffsetT = 10;
    pub const VT_METADATA: VOffsetT = 12;
    pub const VT_MESSAGE: VOffsetT = 14;
}

impl<'a> FinishedWriting<'a> {
    pub fn service_id(&self) -> &'a str {
        string(&self.tab, Self::VT_SERVICE_ID).unwrap_or_default()
    }
    pub fn job_id(&self) -> &'a str {
        string(&self.tab, Self::VT_JOB_ID).unwrap_or_default()
    }
    pub fn error_encountered(&self) -> bool {
        // SAFETY: verified as a bool.
        unsafe {
            self.tab
                .get::<bool>(Self::VT_ERROR_ENCOUNTERED, Some(false))
        }
        .unwrap_or(false)
    }
    pub fn file_name(&self) -> &'a str {
        string(&self.tab, Self::VT_FILE_NAME).unwrap_or_default()
    }
    pub fn metadata(&self) -> Option<&'a str> {
        string(&self.tab, Self::VT_METADATA)
    }
    pub fn message(&self) -> Option<&'a str> {
        string(&self.tab, Self::VT_MESSAGE)
    }
}

impl Verifiable for FinishedWriting<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<&str>>("service_id", Self::VT_SERVICE_ID, true)?
            .visit_field::<ForwardsUOffset<&str>>("job_id", Self::VT_JOB_ID, true)?
            .visit_field::<bool>("error_encountered", Self::VT_ERROR_ENCOUNTERED, false)?
            .visit_field::<ForwardsUOffset<&str>>("file_name", Self::VT_FILE_NAME, true)?
            .visit_field::<ForwardsUOffset<&str>>("metadata", Self::VT_METADATA, false)?
            .visit_field::<ForwardsUOffset<&str>>("message", Self::VT_MESSAGE, false)?
            .finish();
        Ok(())
    }
}

/// Verifies and reads a `wrdn` message.
pub fn root_as_finished_writing(buf: &[u8]) -> Result<FinishedWriting<'_>, InvalidFlatbuffer> {
    flatbuffers::root::<FinishedWriting>(buf)
}

/// The fields of a FinishedWriting to build one.
#[derive(Debug, Clone, Default)]
pub struct FinishedWritingArgs<'s> {
    pub service_id: &'s str,
    pub job_id: &'s str,
    pub error_encountered: bool,
    pub file_name: &'s str,
    pub metadata: Option<&'s str>,
    pub message: Option<&'s str>,
}

/// A finished `wrdn` message, with its file identifier.
pub fn build_finished_writing(a: &FinishedWritingArgs) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let service_id = b.create_string(a.service_id);
    let job_id = b.create_string(a.job_id);
    let file_name = b.create_string(a.file_name);
    let metadata = a.metadata.map(|s| b.create_string(s));
    let message = a.message.map(|s| b.create_string(s));
    let start = b.start_table();
    b.push_slot_always::<WIPOffset<_>>(FinishedWriting::VT_SERVICE_ID, service_id);
    b.push_slot_always::<WIPOffset<_>>(FinishedWriting::VT_JOB_ID, job_id);
    b.push_slot_always::<WIPOffset<_>>(FinishedWriting::VT_FILE_NAME, file_name);
    if let Some(m) = metadata {
        b.push_slot_always::<WIPOffset<_>>(FinishedWriting::VT_METADATA, m);
    }
    if let Some(m) = message {
        b.push_slot_always::<WIPOffset<_>>(FinishedWriting::VT_MESSAGE, m);
    }
    b.push_slot::<bool>(
        FinishedWriting::VT_ERROR_ENCOUNTERED,
        a.error_encountered,
        false,
    );
    let end = b.end_table(start);
    b.finish(end, Some(WRDN_IDENTIFIER));
    b.finished_data().to_vec()
}

#[derive(Copy, Clone)]
pub struct RunStart<'a> {
    tab: Table<'a>,
}

impl<'a> Follow<'a> for RunStart<'a> {
    type Inner = RunStart<'a>;
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
        // SAFETY: the caller guarantees a table at `loc`.
        RunStart {
            tab: unsafe { Table::new(buf, loc) },
        }
    }
}

impl RunStart<'_> {
    pub const VT_START_TIME: VOffsetT = 4;
    pub const VT_STOP_TIME: VOffsetT = 6;
    pub const VT_RUN_NAME: VOffsetT = 8;
    pub const VT_INSTRUMENT_NAME: VOffsetT = 10;
    pub const VT_NEXUS_STRUCTURE: VOffsetT = 12;
    pub const VT_JOB_ID: VOffsetT = 14;
    pub const VT_BROKER: VOffsetT = 16;
    pub const VT_SERVICE_ID: VOffsetT = 18;
    pub const VT_FILENAME: VOffsetT = 20;
    pub const VT_N_PERIODS: VOffsetT = 22;
    pub const VT_DETECTOR_SPECTRUM_MAP: VOffsetT = 24;
    pub const VT_METADATA: VOffsetT = 26;
    pub const VT_CONTROL_TOPIC: VOffsetT = 28;
}

impl<'a> RunStart<'a> {
    pub fn start_time(&self) -> u64 {
        // SAFETY: verified as a u64.
        unsafe { self.tab.get::<u64>(Self::VT_START_TIME, Some(0)) }.unwrap_or(0)
    }
    pub fn run_name(&self) -> Option<&'a str> {
        string(&self.tab, Self::VT_RUN_NAME)
    }
    pub fn job_id(&self) -> Option<&'a str> {
        string(&self.tab, Self::VT_JOB_ID)
    }
    pub fn filename(&self) -> Option<&'a str> {
        string(&self.tab, Self::VT_FILENAME)
    }
    pub fn metadata(&self) -> Option<&'a str> {
        string(&self.tab, Self::VT_METADATA)
    }
}

impl Verifiable for RunStart<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
        // detector_spectrum_map (an ISIS-only table) is never read, so it is
        // not verified either.
        v.visit_table(pos)?
            .visit_field::<u64>("start_time", Self::VT_START_TIME, false)?
            .visit_field::<u64>("stop_time", Self::VT_STOP_TIME, false)?
            .visit_field::<ForwardsUOffset<&str>>("run_name", Self::VT_RUN_NAME, false)?
            .visit_field::<ForwardsUOffset<&str>>(
                "instrument_name",
                Self::VT_INSTRUMENT_NAME,
                false,
            )?
            .visit_field::<ForwardsUOffset<&str>>(
                "nexus_structure",
                Self::VT_NEXUS_STRUCTURE,
                false,
            )?
            .visit_field::<ForwardsUOffset<&str>>("job_id", Self::VT_JOB_ID, false)?
            .visit_field::<ForwardsUOffset<&str>>("broker", Self::VT_BROKER, false)?
            .visit_field::<ForwardsUOffset<&str>>("service_id", Self::VT_SERVICE_ID, false)?
            .visit_field::<ForwardsUOffset<&str>>("filename", Self::VT_FILENAME, false)?
            .visit_field::<u32>("n_periods", Self::VT_N_PERIODS, false)?
            .visit_field::<ForwardsUOffset<&str>>("metadata", Self::VT_METADATA, false)?
            .visit_field::<ForwardsUOffset<&str>>("control_topic", Self::VT_CONTROL_TOPIC, false)?
            .finish();
        Ok(())
    }
}

/// Verifies and reads a `pl72` message.
pub fn root_as_run_start(buf: &[u8]) -> Result<RunStart<'_>, InvalidFlatbuffer> {
    flatbuffers::root::<RunStart>(buf)
}

/// A `pl72` message with the fields the daemon reads.
pub fn build_run_start(job_id: &str, filename: &str, start_time: u64) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let job_id = b.create_string(job_id);
    let filename = b.create_string(filename);
    let start = b.start_table();
    b.push_slot::<u64>(RunStart::VT_START_TIME, start_time, 0);
    b.push_slot_always::<WIPOffset<_>>(RunStart::VT_JOB_ID, job_id);
    b.push_slot_always::<WIPOffset<_>>(RunStart::VT_FILENAME, filename);
    let end = b.end_table(start);
    b.finish(end, Some(PL72_IDENTIFIER));
    b.finished_data().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_wrdn_reads_back_with_its_identifier() {
        let buf = build_finished_writing(&FinishedWritingArgs {
            service_id: "fw-1",
            job_id: "4c1f",
            file_name: "/data/run_1.nxs",
            metadata: Some("{\"a\":1}"),
            ..Default::default()
        });
        assert_eq!(schema_id(&buf), Some("wrdn"));
        let m = root_as_finished_writing(&buf).unwrap();
        assert_eq!(m.service_id(), "fw-1");
        assert_eq!(m.job_id(), "4c1f");
        assert_eq!(m.file_name(), "/data/run_1.nxs");
        assert_eq!(m.metadata(), Some("{\"a\":1}"));
        assert_eq!(m.message(), None);
        assert!(!m.error_encountered());
    }

    #[test]
    fn garbage_and_missing_required_fields_do_not_verify() {
        assert!(root_as_finished_writing(b"\x08\0\0\0wrdn\xff\xff\xff\x7f").is_err());
        assert!(root_as_finished_writing(b"").is_err());
        let rs = build_run_start("j", "/f.nxs", 5);
        // A run start has no service_id/file_name at those slots' types.
        assert!(root_as_finished_writing(&rs).is_err());
        let r = root_as_run_start(&rs).unwrap();
        assert_eq!(r.filename(), Some("/f.nxs"));
        assert_eq!(r.start_time(), 5);
    }
}
