//! Writes the demo's ESS-like NeXus file (the same generator the tests use).
//!
//! Usage: make-demo-file PATH

#[allow(dead_code)]
#[path = "../tests/support/fixtures.rs"]
mod fixtures;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: make-demo-file PATH");
        std::process::exit(2);
    };
    let path = std::path::Path::new(&path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the demo folder");
    }
    let _ = std::fs::remove_file(path);
    fixtures::write_ess(path, &fixtures::Ess::default());
    eprintln!("wrote {}", path.display());
}
