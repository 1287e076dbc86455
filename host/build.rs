//! Links the release `scicat-ingestor` binary as a position-dependent
//! executable on Linux (`-no-pie`), unless `SCICAT_PIE=1` asks for a PIE.
//!
//! A PIE of this size carries ~49,000 relative relocations that the dynamic
//! loader applies at every start, writing ~230 pages of relocated data: in
//! paired runs of a full ingestion of a small file, 4.3–4.9 ms of CPU per
//! process as a PIE against 3.6–4.3 ms without, where issue 15 asks for at
//! most 4. What the default gives up is a random address for the
//! executable's own code (shared libraries, heap, stack and mappings stay
//! randomised), as Go's default builds do. A site whose policy requires PIE
//! builds with `SCICAT_PIE=1 make release` and pays that time. Debug builds
//! and tests are unchanged.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SCICAT_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let pie = std::env::var("SCICAT_PIE").is_ok_and(|v| !v.is_empty() && v != "0");
    if linux && release && !pie {
        // After rustc's own `-pie`: the compiler driver takes the last one.
        println!("cargo::rustc-link-arg-bin=scicat-ingestor=-no-pie");
    }
}
