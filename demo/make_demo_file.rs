//! Writes the demo's ESS-like NeXus file (the same generator the tests use).
//!
//! Usage: make-demo-file PATH [RUN]  (RUN varies the run number and job id)

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
    let mut ess = fixtures::Ess::default();
    if let Some(run) = std::env::args().nth(2).and_then(|r| r.parse::<u32>().ok()) {
        ess.run = run.to_string();
        ess.job_id = format!("00000000-0000-4000-8000-{run:012}");
    }
    fixtures::write_ess(path, &ess);
    eprintln!("wrote {}", path.display());
}
