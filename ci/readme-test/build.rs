//! Turns every Rust block of README.md into a test function, with skeptic.
//!
//! skeptic's generated tests call `skeptic::rt::run_test`, which compiles the block against this
//! workspace's artifacts and runs it. We route those calls through `crate::run_block` instead
//! (see tests/readme.rs), which first starts an OTLP receiver for the program to export to.

use std::path::Path;

fn main() {
    skeptic::generate_doc_tests(&["../../README.md"]);

    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let generated = Path::new(&out_dir).join("skeptic-tests.rs");
    let tests = std::fs::read_to_string(&generated)
        .unwrap_or_else(|e| panic!("skeptic did not write {}: {e}", generated.display()));
    let routed = tests
        .replace("extern crate skeptic;", "")
        .replace("skeptic::rt::run_test(", "crate::run_block(")
        .replace("skeptic::rt::compile_test(", "crate::check_block(");
    let target = Path::new(&out_dir).join("readme-blocks.rs");
    std::fs::write(&target, routed)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
}
