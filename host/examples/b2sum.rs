//! `b2sum`-compatible output of the ingestor's own BLAKE2b-512 file hasher,
//! for benchmarking it against coreutils' `b2sum`: `b2sum FILE…`.

fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        match scicat_ingestor::files::blake2b_file(std::path::Path::new(&path)) {
            Ok(hex) => println!("{hex}  {path}"),
            Err(e) => {
                eprintln!("b2sum: {e:#}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
