//! `SCICAT_NO_PIE=1` links the release `scicat-ingestor` binary as a
//! position-dependent executable on Linux: a PIE of this size carries
//! ~48,000 relative relocations that the dynamic loader applies at every
//! start (~250 page faults; a full ingestion per process measured 5.5–6.2
//! ms of CPU without PIE against 7.5–8.5 ms with it). The default stays a
//! PIE: the process parses data files with HDF5's C code, and a binary at
//! a random address (ASLR) is worth more to an operator than those 2 ms
//! (the Python tool takes about 300 ms per file). RELR-packed relocations
//! would keep both, but need glibc 2.36 where the binary runs, which
//! excludes the RHEL 8/9 hosts facilities run. Debug builds and tests are
//! unchanged.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SCICAT_NO_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if linux && release && std::env::var_os("SCICAT_NO_PIE").is_some() {
        // After rustc's own `-pie`: the compiler driver takes the last one.
        println!("cargo::rustc-link-arg-bin=scicat-ingestor=-no-pie");
    }
}
