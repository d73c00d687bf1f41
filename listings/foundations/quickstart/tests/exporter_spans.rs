//! The exporter's own spans stay out of the export. A test binary of its own: the exporter's
//! HTTP/2 code runs on Tokio worker threads, so only a global subscriber sees its spans.

use otlp_testkit::Receiver;
use quickstart::{Protocol, init_tracer_provider, subscriber};

#[tokio::test(flavor = "multi_thread")]
async fn exports_do_not_export_the_exporters_own_spans() {
    let receiver = Receiver::start().unwrap();
    let provider = init_tracer_provider(Protocol::Grpc, Some(&receiver.grpc_endpoint())).unwrap();
    tracing::subscriber::set_global_default(subscriber(&provider)).unwrap();

    // Each flush is an export over HTTP/2; whatever h2, hyper and tonic traced while sending
    // one batch would be queued for the next.
    for round in 0..3_i64 {
        tracing::info_span!("round", round).in_scope(|| {});
        provider.force_flush().unwrap();
    }
    provider.shutdown().unwrap();

    let received = receiver.snapshot();
    let mut foreign: Vec<&str> = received
        .span_names()
        .into_iter()
        .filter(|name| *name != "round")
        .collect();
    foreign.dedup();
    assert!(foreign.is_empty(), "the exporter's own spans: {foreign:?}");
    assert_eq!(received.span_names(), ["round", "round", "round"]);
}
