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

#[tokio::test(flavor = "multi_thread")]
async fn grpc() {
    let receiver = Receiver::start().unwrap();
    export_known_tree(provider(grpc_exporter(receiver.grpc_endpoint(), false)));
    assert_transport(&receiver, Transport::Grpc);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_gzip() {
    let receiver = Receiver::start().unwrap();
    export_known_tree(provider(grpc_exporter(receiver.grpc_endpoint(), true)));
    assert_transport(&receiver, Transport::Grpc);
}

#[test]
fn http_protobuf() {
    let receiver = Receiver::start().unwrap();
    let url = receiver.http_traces_url();
    export_known_tree(provider(http_exporter(url, Protocol::HttpBinary, false)));
    assert_transport(&receiver, Transport::HttpProtobuf);
}

#[test]
fn http_protobuf_gzip() {
    let receiver = Receiver::start().unwrap();
    let url = receiver.http_traces_url();
    export_known_tree(provider(http_exporter(url, Protocol::HttpBinary, true)));
    assert_transport(&receiver, Transport::HttpProtobuf);
}

#[test]
fn http_json() {
    let receiver = Receiver::start().unwrap();
    let url = receiver.http_traces_url();
    export_known_tree(provider(http_exporter(url, Protocol::HttpJson, false)));
    assert_transport(&receiver, Transport::HttpJson);
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
