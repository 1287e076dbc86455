//! NeXus fixtures written by the tests themselves with the `hdf5` crate. They
//! mimic ESS files: `/entry` with title, identifiers, start/end times,
//! instrument and sample names, several `/entry/user_*` groups (one with a
//! non-ASCII name), a temperature log with `units`, a 1-element integer array,
//! fixed- and variable-length strings, and a gzip-compressed chunked array.

use std::path::{Path, PathBuf};

use hdf5::types::{FixedAscii, VarLenAscii, VarLenUnicode};
use hdf5::{Group, Location};

/// What goes into an ESS-like file.
#[derive(Debug, Clone)]
pub struct Ess {
    pub title: String,
    pub run: String,
    pub job_id: String,
    pub proposal: String,
    pub instrument: String,
    pub sample: String,
    pub start: String,
    pub end: String,
    /// `(group suffix, name)`: `/entry/user_<suffix>/name`.
    pub users: Vec<(String, String)>,
    /// Temperature log values in kelvin.
    pub temperature: Vec<f64>,
}

impl Default for Ess {
    fn default() -> Self {
        Ess {
            title: "odin".into(),
            run: "31010".into(),
            job_id: "f22acb1c-950b-11ef-a3ef-fa163e9aae0a".into(),
            proposal: "443503".into(),
            instrument: "ODIN".into(),
            sample: "A Sample".into(),
            start: "2024-10-28T09:06:41.186Z".into(),
            end: "2024-10-28T09:18:14.376Z".into(),
            users: vec![
                ("AndersPettersson".into(), "Anders Pettersson".into()),
                ("FredrikBolmsten".into(), "Fredrik Bolmsten".into()),
                ("SørenSchmidt".into(), "Søren Schmidt".into()),
                ("MattClarke".into(), "Matt Clarke".into()),
            ],
            temperature: vec![290.0, 291.5, 293.0, 294.5, 296.0],
        }
    }
}

fn vlu(s: &str) -> VarLenUnicode {
    s.parse().expect("valid unicode")
}

/// A scalar variable-length UTF-8 string dataset.
pub fn put_str(g: &Group, name: &str, value: &str) {
    g.new_dataset::<VarLenUnicode>()
        .shape(())
        .create(name)
        .unwrap()
        .write_scalar(&vlu(value))
        .unwrap();
}

/// A scalar variable-length ASCII string dataset.
pub fn put_ascii(g: &Group, name: &str, value: &str) {
    g.new_dataset::<VarLenAscii>()
        .shape(())
        .create(name)
        .unwrap()
        .write_scalar(&VarLenAscii::from_ascii(value).unwrap())
        .unwrap();
}

/// A scalar fixed-length (16 byte, null-padded) ASCII string dataset.
pub fn put_fixed(g: &Group, name: &str, value: &str) {
    g.new_dataset::<FixedAscii<16>>()
        .shape(())
        .create(name)
        .unwrap()
        .write_scalar(&FixedAscii::<16>::from_ascii(value).unwrap())
        .unwrap();
}

/// A string attribute.
pub fn put_attr(loc: &Location, name: &str, value: &str) {
    loc.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)
        .unwrap()
        .write_scalar(&vlu(value))
        .unwrap();
}

fn nx_group(parent: &Group, name: &str, class: &str) -> Group {
    let g = parent
        .create_group_builder()
        .with_gcpl(|p| p.obj_track_times(false))
        .create(name)
        .unwrap();
    put_attr(&g, "NX_class", class);
    g
}

/// Writes an ESS-like NeXus file.
pub fn write_ess(path: &Path, e: &Ess) {
    // Without object times the same content gives the same bytes, so golden
    // tests can keep the fixture's checksum. Without a file lock, a process
    // another test spawns while this file is open (HDF5's descriptors are not
    // close-on-exec) cannot keep it locked for the reader that follows.
    let f = hdf5::File::with_options()
        .with_fcpl(|p| p.obj_track_times(false))
        .with_fapl(|p| p.file_locking(false))
        .create(path)
        .unwrap();
    let entry = nx_group(&f, "entry", "NXentry");
    put_str(&entry, "title", &e.title);
    put_str(&entry, "entry_identifier", &e.run);
    put_str(&entry, "entry_identifier_uuid", &e.job_id);
    put_str(&entry, "experiment_identifier", &e.proposal);
    put_str(&entry, "experiment_description", "Test proposal");
    put_str(&entry, "start_time", &e.start);
    put_str(&entry, "end_time", &e.end);
    put_ascii(&entry, "definition", "NXtomo");

    let inst = nx_group(&entry, "instrument", "NXinstrument");
    put_fixed(&inst, "name", &e.instrument);
    let temp = nx_group(&inst, "temperature", "NXlog");
    let t = temp
        .new_dataset_builder()
        .with_data(&e.temperature)
        .create("value")
        .unwrap();
    put_attr(&t, "units", "K");

    let sample = nx_group(&entry, "sample", "NXsample");
    put_str(&sample, "name", &e.sample);
    let st = sample
        .new_dataset::<f64>()
        .shape(())
        .create("temperature")
        .unwrap();
    st.write_scalar(&293.15).unwrap();
    put_attr(&st, "units", "K");
    sample
        .new_dataset::<bool>()
        .shape(())
        .create("in_beam")
        .unwrap()
        .write_scalar(&true)
        .unwrap();

    let monitor = nx_group(&entry, "monitor", "NXmonitor");
    let counts = monitor
        .new_dataset_builder()
        .with_data(&[123456i64])
        .create("total_counts")
        .unwrap();
    put_attr(&counts, "units", "counts");

    let data = nx_group(&entry, "data", "NXdata");
    let events: Vec<i32> = (0..20_000).map(|i| (i * 7919) % 4096).collect();
    data.new_dataset_builder()
        .deflate(4)
        .chunk(1000)
        .with_data(&events)
        .create("event_id")
        .unwrap();
    data.new_dataset::<f64>().shape(0).create("empty").unwrap();
    let image: Vec<u16> = (0..12).collect();
    data.new_dataset::<u16>()
        .shape((3, 4))
        .create("image")
        .unwrap()
        .write_raw(&image)
        .unwrap();

    for (suffix, name) in &e.users {
        let u = nx_group(&entry, &format!("user_{suffix}"), "NXuser");
        put_str(&u, "name", name);
        put_str(&u, "email", "");
        put_str(&u, "affiliation", "European Spallation Source ERIC (ESS)");
        put_str(&u, "facility_user_id", &suffix.to_lowercase());
    }
}

/// Writes an ESS-like file as `<dir>/<proposal>/raw/<name>` (the layout
/// whose `dirname-2` is the proposal folder) and returns its path.
pub fn ess_in_tree(dir: &Path, name: &str, e: &Ess) -> PathBuf {
    let raw = dir.join(&e.proposal).join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let p = raw.join(name);
    write_ess(&p, e);
    p
}
