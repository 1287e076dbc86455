//! Writes an ESS-like NeXus file for trying the example plugins (the same
//! generator the tests use), optionally with another title or instrument.
//!
//! Usage: make-plugin-fixture PATH [--title TITLE] [--instrument NAME]

#[allow(dead_code)]
#[path = "../tests/support/fixtures.rs"]
mod fixtures;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut e = fixtures::Ess::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--title" => e.title = args.next().expect("--title needs a value"),
            "--instrument" => e.instrument = args.next().expect("--instrument needs a value"),
            _ if path.is_none() => path = Some(a),
            other => {
                eprintln!("unexpected argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("usage: make-plugin-fixture PATH [--title TITLE] [--instrument NAME]");
        std::process::exit(2);
    };
    let path = std::path::Path::new(&path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the fixture's folder");
    }
    let _ = std::fs::remove_file(path);
    fixtures::write_ess(path, &e);
    eprintln!("wrote {}", path.display());
}
