//! `b2sum`-compatible output of the ingestor's own BLAKE2b-512 file hasher,
//! for benchmarking it against coreutils' `b2sum`: `b2sum [--inline |
//! --overlapped] FILE…`. The flags force one strategy whatever the size, to
//! measure where the inline threshold belongs.

use std::path::Path;

use scicat_ingestor::files;

fn main() {
    let mut failed = false;
    let mut hash: fn(&Path) -> anyhow::Result<String> = files::blake2b_file;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--inline" => hash = files::blake2b_file_inline,
            "--overlapped" => hash = files::blake2b_file_overlapped,
            path => match hash(Path::new(path)) {
                Ok(hex) => println!("{hex}  {path}"),
                Err(e) => {
                    eprintln!("b2sum: {e:#}");
                    failed = true;
                }
            },
        }
    }
    std::process::exit(i32::from(failed));
}
