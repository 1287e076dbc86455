//! Links the release `scicat-ingestor` binary as a position-dependent
//! executable on Linux: a PIE of this size carries ~48,000 relative
//! relocations that the dynamic loader applies at every start, copying
//! ~230 pages of pointer tables (about 1 ms of a process's 5). The price is
//! that the binary's own code and data are not at a random address (shared
//! libraries, heap and stack still are); build with `SCICAT_PIE=1` to keep a
//! PIE. Debug builds and tests are unchanged.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SCICAT_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if linux && release && std::env::var_os("SCICAT_PIE").is_none() {
        // After rustc's own `-pie`: the compiler driver takes the last one.
        println!("cargo::rustc-link-arg-bin=scicat-ingestor=-no-pie");
    }
}
