//! Every Rust block in README.md compiles, runs, and exports spans over OTLP.

use std::sync::Mutex;

use otlp_testkit::Receiver;

/// The blocks share the process environment, so they run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Compiles a README block with rustc (through skeptic), runs it with
/// `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a fresh receiver, and checks that spans arrived.
fn run_block(root_dir: &str, out_dir: &str, target_triple: &str, text: &str) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let receiver = Receiver::start().expect("start the OTLP receiver");
    // SAFETY: the only threads of this test binary that could read the environment concurrently
    // are other README blocks, and ONE_AT_A_TIME keeps them out.
    unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()) };
    skeptic::rt::run_test(root_dir, out_dir, target_triple, text);

    let received = receiver.snapshot();
    assert!(
        !received.spans.is_empty(),
        "the README program ran but exported no span to {}",
        receiver.grpc_endpoint()
    );
    for span in &received.spans {
        assert_ne!(
            span.service_name(),
            "",
            "span {:?} has no service.name",
            span.name
        );
        if let Some(parent) = &span.parent_span_id {
            assert!(
                received.spans.iter().any(|p| &p.span_id == parent),
                "span {:?} has a parent that was not exported",
                span.name
            );
        }
    }
}

/// Blocks marked `no_run` are only compiled.
#[allow(dead_code)]
fn check_block(root_dir: &str, out_dir: &str, target_triple: &str, text: &str) {
    skeptic::rt::compile_test(root_dir, out_dir, target_triple, text);
}

/// skeptic names each test after the README section and line, e.g. `readme_sect__line_45`.
#[allow(non_snake_case)]
mod blocks {
    include!(concat!(env!("OUT_DIR"), "/readme-blocks.rs"));
}
