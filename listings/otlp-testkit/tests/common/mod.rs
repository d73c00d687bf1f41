//! Shared by the test kit's own tests: a tracer provider that exports a known span tree.
//! (Each test binary compiles this module and uses only part of it.)
#![allow(dead_code)]

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _,
};
use opentelemetry_otlp::{
    Compression, Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::{SpanStatus, Telemetry, assert_child_of};

/// A gRPC span exporter for `endpoint`, optionally gzip-compressed.
pub fn grpc_exporter(endpoint: impl Into<String>, gzip: bool) -> SpanExporter {
    let mut builder = SpanExporter::builder().with_tonic().with_endpoint(endpoint);
    if gzip {
        builder = builder.with_compression(Compression::Gzip);
    }
    builder.build().expect("gRPC span exporter")
}

/// An OTLP/HTTP span exporter for the full traces `url`, optionally gzip-compressed.
pub fn http_exporter(url: impl Into<String>, protocol: Protocol, gzip: bool) -> SpanExporter {
    let mut builder = SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(url);
    if gzip {
        builder = builder.with_compression(Compression::Gzip);
    }
    builder.build().expect("HTTP span exporter")
}

pub fn provider(exporter: SpanExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("testkit-probe")
                .build(),
        )
        .with_batch_exporter(exporter)
        .build()
}

/// Exports `request` (server) → `query` (client, failed) and shuts the provider down.
pub fn export_known_tree(provider: SdkTracerProvider) {
    let tracer = provider.tracer("probe");
    tracer.in_span("request", |cx| {
        cx.span()
            .set_attribute(KeyValue::new("http.route", "/orders/{id}"));
        let mut query = tracer
            .span_builder("query")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("db.system.name", "sqlite"),
                KeyValue::new("rows", 3_i64),
            ])
            .start_with_context(&tracer, &cx);
        query.add_event("retry", vec![KeyValue::new("attempt", 2_i64)]);
        query.set_status(Status::error("disk full"));
        query.end();
    });
    provider.shutdown().expect("shutdown delivers the spans");
}

/// Asserts that the tree exported by [`export_known_tree`] arrived intact.
pub fn assert_known_tree(received: &Telemetry) {
    assert_eq!(
        received.spans.len(),
        2,
        "received {:?}",
        received.span_names()
    );
    let request = received.span("request");
    let query = received.span("query");
    assert_child_of(query, request);
    assert_eq!(request.parent_span_id, None);
    assert_eq!(request.service_name(), "testkit-probe");
    assert_eq!(request.scope, "probe");
    assert_eq!(request.attributes.str("http.route"), Some("/orders/{id}"));
    assert_eq!(query.kind, otlp_testkit::SpanKind::Client);
    assert_eq!(query.attributes.str("db.system.name"), Some("sqlite"));
    assert_eq!(query.attributes.i64("rows"), Some(3));
    assert_eq!(
        query
            .event("retry")
            .and_then(|e| e.attributes.i64("attempt")),
        Some(2)
    );
    assert_eq!(query.status, SpanStatus::Error("disk full".into()));
    assert!(query.end_unix_nano >= query.start_unix_nano && query.start_unix_nano > 0);
}
