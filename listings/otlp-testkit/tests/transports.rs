//! The receiver speaks every OTLP transport the Rust SDK can send: each test exports the same
//! span tree through a real `SpanExporter` and checks it arrived intact.

mod common;

use common::{assert_known_tree, export_known_tree, grpc_exporter, http_exporter, provider};
use opentelemetry_otlp::Protocol;
use otlp_testkit::{Receiver, Transport};

fn assert_transport(receiver: &Receiver, transport: Transport) {
    let received = receiver.snapshot();
    assert_known_tree(&received);
    assert!(received.spans.iter().all(|s| s.transport == transport));
    assert_eq!(received.rejected_requests, 0);
}

/// Every accepted request was recorded with its transport, path and real compression.
fn assert_requests(receiver: &Receiver, transport: Transport, path: &str, gzip: bool) {
    let requests = receiver.requests();
    assert!(!requests.is_empty(), "no request recorded");
    for request in requests {
        assert_eq!(request.transport, transport);
        assert_eq!(request.path, path);
        assert_eq!(request.compression.as_deref(), gzip.then_some("gzip"));
        assert!(request.body_bytes > 0);
        assert!(
            request
                .header("user-agent")
                .is_some_and(|ua| ua.starts_with("OTel-OTLP-Exporter-Rust")),
            "{request:?}"
        );
    }
}

const GRPC_TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[tokio::test(flavor = "multi_thread")]
async fn grpc() {
    let receiver = Receiver::start().unwrap();
    export_known_tree(provider(grpc_exporter(receiver.grpc_endpoint(), false)));
    assert_transport(&receiver, Transport::Grpc);
    assert_requests(&receiver, Transport::Grpc, GRPC_TRACES, false);
}

/// A span inherits the W3C `tracestate` of its parent; the receiver keeps it as `trace_state`.
#[tokio::test(flavor = "multi_thread")]
async fn trace_state_arrives() {
    use opentelemetry::Context;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
        TracerProvider as _,
    };

    let receiver = Receiver::start().unwrap();
    let provider = provider(grpc_exporter(receiver.grpc_endpoint(), false));
    let state = TraceState::from_key_value([("vendor", "opaque")]).unwrap();
    let remote = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        state,
    );
    let cx = Context::new().with_remote_span_context(remote);
    drop(provider.tracer("probe").start_with_context("child", &cx));
    provider.shutdown().unwrap();

    let received = receiver.snapshot();
    let child = received.span("child");
    assert_eq!(child.trace_state, "vendor=opaque");
    assert_eq!(child.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_gzip() {
    let receiver = Receiver::start().unwrap();
    export_known_tree(provider(grpc_exporter(receiver.grpc_endpoint(), true)));
    assert_transport(&receiver, Transport::Grpc);
    assert_requests(&receiver, Transport::Grpc, GRPC_TRACES, true);
}

#[test]
fn http_protobuf() {
    let receiver = Receiver::start().unwrap();
    let url = receiver.http_traces_url();
    export_known_tree(provider(http_exporter(url, Protocol::HttpBinary, false)));
    assert_transport(&receiver, Transport::HttpProtobuf);
    assert_requests(&receiver, Transport::HttpProtobuf, "/v1/traces", false);
}

#[test]
fn http_protobuf_gzip() {
    let receiver = Receiver::start().unwrap();
    let url = receiver.http_traces_url();
    export_known_tree(provider(http_exporter(url, Protocol::HttpBinary, true)));
    assert_transport(&receiver, Transport::HttpProtobuf);
    assert_requests(&receiver, Transport::HttpProtobuf, "/v1/traces", true);
}

#[test]
fn http_json() {
    let receiver = Receiver::start().unwrap();
    let url = receiver.http_traces_url();
    export_known_tree(provider(http_exporter(url, Protocol::HttpJson, false)));
    assert_transport(&receiver, Transport::HttpJson);
    assert_requests(&receiver, Transport::HttpJson, "/v1/traces", false);
}

/// Headers set on the exporter (HTTP headers, gRPC metadata) are recorded per request.
#[tokio::test(flavor = "multi_thread")]
async fn request_headers_are_recorded() {
    use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig};

    let receiver = Receiver::start().unwrap();
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert("x-probe", "grpc".parse().unwrap());
    let grpc = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(receiver.grpc_endpoint())
        .with_metadata(metadata)
        .build()
        .unwrap();
    export_known_tree(provider(grpc));
    let http = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(receiver.http_traces_url())
        .with_headers([("X-Probe".to_string(), "http".to_string())].into())
        .build()
        .unwrap();
    export_known_tree(provider(http));

    let probes: Vec<_> = receiver
        .requests()
        .iter()
        .map(|r| (r.transport, r.header("X-PROBE").map(str::to_string)))
        .collect();
    assert_eq!(
        probes,
        [
            (Transport::Grpc, Some("grpc".to_string())),
            (Transport::HttpProtobuf, Some("http".to_string())),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_spans_times_out_with_what_did_arrive() {
    let receiver = Receiver::builder()
        .timeout(std::time::Duration::from_millis(300))
        .start()
        .unwrap();
    export_known_tree(provider(grpc_exporter(receiver.grpc_endpoint(), false)));

    assert_eq!(receiver.wait_for_spans(2).await.unwrap().spans.len(), 2);
    let error = receiver.wait_for_spans(3).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("3 span(s)"), "{message}");
    assert!(message.contains(r#"["query", "request"]"#), "{message}");
}
