//! Metrics and logs arrive decoded over both HTTP encodings (gRPC is covered by the chapters'
//! own tests): counter, histogram and gauge points with their attributes; log records with
//! body, severity, attributes and the trace context of the span they were emitted in.

use opentelemetry::KeyValue;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_testkit::{MetricKind, PointValue, Receiver, Transport, Value};

fn record_metrics(receiver: &Receiver, protocol: Protocol) {
    let exporter = MetricExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(receiver.http_metrics_url())
        .build()
        .unwrap();
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .build();
    let meter = provider.meter("probe");
    let orders = meter.u64_counter("orders").with_unit("{order}").build();
    orders.add(2, &[KeyValue::new("region", "eu")]);
    orders.add(3, &[KeyValue::new("region", "eu")]);
    orders.add(1, &[KeyValue::new("region", "us")]);
    let latency = meter
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    for seconds in [0.05, 0.5, 0.7, 3.0] {
        latency.record(seconds, &[]);
    }
    meter.i64_gauge("queue.depth").build().record(-4, &[]);
    provider
        .shutdown()
        .expect("shutdown exports the last collection");
}

fn assert_metrics(receiver: &Receiver, transport: Transport) {
    let received = receiver.snapshot();
    let eu = received
        .metric_point("orders", &[("region", "eu")])
        .expect("orders{region=eu}");
    assert_eq!(eu.value, PointValue::Int(5));
    assert_eq!(eu.unit, "{order}");
    assert_eq!(
        eu.kind,
        MetricKind::Sum {
            monotonic: true,
            cumulative: true
        }
    );
    assert_eq!(eu.transport, transport);
    let us = received
        .metric_point("orders", &[("region", "us")])
        .expect("orders{region=us}");
    assert_eq!(us.value, PointValue::Int(1));

    let latency = received.metric_point("latency", &[]).expect("latency");
    let PointValue::Histogram {
        count,
        sum,
        bounds,
        bucket_counts,
    } = &latency.value
    else {
        panic!("latency is not a histogram: {latency:?}");
    };
    assert_eq!((*count, bounds.as_slice()), (4, &[0.1, 1.0][..]));
    assert_eq!(bucket_counts, &[1, 2, 1]);
    assert!((sum.unwrap() - 4.25).abs() < 1e-9);

    let depth = received
        .metric_point("queue.depth", &[])
        .expect("queue.depth");
    assert_eq!(
        (depth.kind, &depth.value),
        (MetricKind::Gauge, &PointValue::Int(-4))
    );
}

/// Emits one record outside any span and one inside the span `work`.
fn record_logs(receiver: &Receiver, protocol: Protocol) {
    let exporter = LogExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(receiver.http_logs_url())
        .build()
        .unwrap();
    let logs = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let logger = logs.logger("probe");
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(
            SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(receiver.http_traces_url())
                .build()
                .unwrap(),
        )
        .build();

    let mut record = logger.create_log_record();
    record.set_body(AnyValue::from("starting"));
    record.set_severity_number(Severity::Info);
    record.set_severity_text("INFO");
    logger.emit(record);

    tracer_provider.tracer("probe").in_span("work", |cx| {
        assert!(cx.span().span_context().is_valid());
        let mut record = logger.create_log_record();
        record.set_body(AnyValue::from("disk almost full"));
        record.set_severity_number(Severity::Warn);
        record.set_severity_text("WARN");
        record.add_attribute("free.bytes", 1024_i64);
        logger.emit(record);
    });
    logs.shutdown().unwrap();
    tracer_provider.shutdown().unwrap();
}

fn assert_logs(receiver: &Receiver, transport: Transport) {
    let received = receiver.snapshot();
    assert_eq!(received.logs.len(), 2);
    let starting = &received.logs[0];
    assert_eq!(starting.body, Value::String("starting".into()));
    assert_eq!(
        (starting.trace_id.as_deref(), starting.span_id.as_deref()),
        (None, None)
    );
    assert_eq!(starting.transport, transport);

    let work = received.span("work");
    let in_span = received.logs_of(work);
    assert_eq!(
        in_span.len(),
        1,
        "the record emitted inside `work` carries its ids"
    );
    assert_eq!(in_span[0].severity_text, "WARN");
    assert_eq!(in_span[0].severity_number, Severity::Warn as i32);
    assert_eq!(in_span[0].attributes.i64("free.bytes"), Some(1024));
}

#[test]
fn metrics_over_http_protobuf() {
    let receiver = Receiver::start().unwrap();
    record_metrics(&receiver, Protocol::HttpBinary);
    assert_metrics(&receiver, Transport::HttpProtobuf);
}

#[test]
fn metrics_over_http_json() {
    let receiver = Receiver::start().unwrap();
    record_metrics(&receiver, Protocol::HttpJson);
    assert_metrics(&receiver, Transport::HttpJson);
}

#[test]
fn logs_over_http_protobuf() {
    let receiver = Receiver::start().unwrap();
    record_logs(&receiver, Protocol::HttpBinary);
    assert_logs(&receiver, Transport::HttpProtobuf);
}

#[test]
fn logs_over_http_json() {
    let receiver = Receiver::start().unwrap();
    record_logs(&receiver, Protocol::HttpJson);
    assert_logs(&receiver, Transport::HttpJson);
}
