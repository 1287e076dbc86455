//! Writes an ESS-like NeXus file (the same generator the tests use), for the
//! demo, the benchmarks and trying plugins: another title, instrument or run
//! number (the run also sets the job id) on request; `--users N` gives it N
//! `/entry/user_*` groups (to measure wildcards over many groups).
//!
//! Usage: make-fixture PATH [--title TITLE] [--instrument NAME] [--run N] [--users N]

use scicat_test_kit::fixtures;

const USAGE: &str =
    "usage: make-fixture PATH [--title TITLE] [--instrument NAME] [--run N] [--users N]";

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut e = fixtures::Ess::default();
    while let Some(a) = args.next() {
        let mut value = || {
            args.next().unwrap_or_else(|| {
                eprintln!("{a} needs a value\n{USAGE}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--title" => e.title = value(),
            "--instrument" => e.instrument = value(),
            "--run" => {
                let run: u64 = value().parse().unwrap_or_else(|_| {
                    eprintln!("--run takes a number\n{USAGE}");
                    std::process::exit(2)
                });
                e.run = run.to_string();
                e.job_id = format!("00000000-0000-4000-8000-{run:012}");
            }
            "--users" => {
                let n: usize = value().parse().unwrap_or_else(|_| {
                    eprintln!("--users takes a number\n{USAGE}");
                    std::process::exit(2)
                });
                e.users = (0..n)
                    .map(|i| (format!("{i:05}"), format!("User {i}")))
                    .collect();
            }
            _ if path.is_none() && !a.starts_with("--") => path = Some(a),
            other => {
                eprintln!("unexpected argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("{USAGE}");
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
