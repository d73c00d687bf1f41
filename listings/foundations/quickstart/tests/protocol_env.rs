//! opentelemetry-otlp reads `OTEL_EXPORTER_OTLP_PROTOCOL` itself when `with_protocol` is not
//! called, but an unknown value is ignored without an error: the exporter falls back to the
//! protocol its compiled features make the default. That is why quickstart parses the variable
//! itself. (A test binary of its own: it sets a process-wide environment variable.)

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::{Receiver, Transport};

#[test]
fn the_exporter_ignores_an_unknown_protocol_value() {
    // SAFETY: the only test in this binary, and no other thread has been started yet.
    unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuff") };
    let receiver = Receiver::start().expect("receiver");

    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(receiver.http_traces_url())
        .build()
        .expect("a misspelt protocol is not a build error");
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    provider.tracer("probe").in_span("sent", |_| {});
    provider.shutdown().expect("shutdown");

    let received = receiver.snapshot();
    assert_eq!(received.span_names(), ["sent"]);
    // Which HTTP encoding arrives depends on the features of this build (see 快速开始).
    assert!(matches!(
        received.spans[0].transport,
        Transport::HttpProtobuf | Transport::HttpJson
    ));
}
