//! Each transport delivers all three signals; gzip and auth headers really cross the wire.

use opentelemetry_otlp::Compression;
use otlp_testkit::{ExportRequest, Receiver, Telemetry, Transport as Wire};
use otlp_transport::{Connection, Instruments, Transport, accept_order, init, subscriber};

/// Runs two orders through pipelines built from `c`, then shuts them down.
fn run_orders(transport: Transport, c: &Connection) {
    let pipelines = init(transport, c).expect("pipelines");
    let instruments = Instruments::new(&pipelines);
    tracing::subscriber::with_default(subscriber(&pipelines), || {
        accept_order(7, &instruments);
        accept_order(8, &instruments);
    });
    pipelines.shutdown().expect("shutdown");
}

fn connection(receiver: &Receiver, transport: Transport) -> Connection {
    let endpoint = match transport {
        Transport::Grpc => receiver.grpc_endpoint(),
        _ => receiver.http_endpoint(),
    };
    Connection {
        endpoint: Some(endpoint),
        ..Connection::default()
    }
}

fn wire(transport: Transport) -> Wire {
    match transport {
        Transport::Grpc => Wire::Grpc,
        Transport::HttpProtobuf => Wire::HttpProtobuf,
        Transport::HttpJson => Wire::HttpJson,
    }
}

// ANCHOR: three-signals
/// Spans, metric points and log records arrived over `transport`, sharing one resource,
/// each signal at its own path (gRPC service or HTTP URL).
fn assert_three_signals(received: &Telemetry, requests: &[ExportRequest], transport: Transport) {
    let expected = wire(transport);
    assert_eq!(received.spans_named("accept_order").len(), 2);
    let point = received
        .metric_point("shop.orders", &[("shop.channel", "web")])
        .expect("the counter arrived");
    let logs: Vec<_> = received
        .logs
        .iter()
        .filter(|l| l.body.as_str() == Some("order accepted"))
        .collect();
    assert_eq!(logs.len(), 2);

    // One resource describes the process, whatever the signal.
    let span = received.spans_named("accept_order")[0];
    assert_eq!(span.resource.str("service.name"), Some("otlp-transport"));
    assert_eq!(point.resource, span.resource);
    assert_eq!(logs[0].resource, span.resource);
    // The scope names the code that produced the item.
    assert_eq!(
        (span.scope.as_str(), point.scope.as_str()),
        ("otlp-transport", "otlp-transport")
    );
    // A log record written inside a span carries its trace and span id.
    assert!(logs.iter().any(|l| l.belongs_to(span)));

    assert!(received.spans.iter().all(|s| s.transport == expected));
    assert!(received.metrics.iter().all(|m| m.transport == expected));
    assert!(received.logs.iter().all(|l| l.transport == expected));

    let mut paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    paths.dedup();
    let want: &[&str] = match transport {
        Transport::Grpc => &[
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        ],
        _ => &["/v1/logs", "/v1/metrics", "/v1/traces"],
    };
    assert_eq!(paths, want);
}
// ANCHOR_END: three-signals

fn delivers(transport: Transport) {
    let receiver = Receiver::start().expect("receiver");
    run_orders(transport, &connection(&receiver, transport));
    // shutdown() returned Ok only after every export was answered: no waiting needed.
    assert_three_signals(&receiver.snapshot(), &receiver.requests(), transport);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_delivers_three_signals() {
    delivers(Transport::Grpc);
}

#[test]
fn http_protobuf_delivers_three_signals() {
    delivers(Transport::HttpProtobuf);
}

#[test]
fn http_json_delivers_three_signals() {
    delivers(Transport::HttpJson);
}

// ANCHOR: gzip
/// Sends the same kind of batch plain and gzip-compressed; returns the body sizes seen by the
/// receiver for spans, and checks that the gzip requests really arrived compressed.
fn body_sizes(transport: Transport) -> (usize, usize) {
    let plain = Receiver::start().expect("receiver");
    run_orders(transport, &connection(&plain, transport));
    let gzip = Receiver::start().expect("receiver");
    let c = Connection {
        compression: Some(Compression::Gzip),
        ..connection(&gzip, transport)
    };
    run_orders(transport, &c);

    assert_three_signals(&gzip.snapshot(), &gzip.requests(), transport);
    for request in gzip.requests() {
        assert_eq!(request.compression.as_deref(), Some("gzip"), "{request:?}");
    }
    for request in plain.requests() {
        assert_eq!(request.compression, None, "{request:?}");
    }
    let traces = |r: &Receiver| {
        r.requests()
            .iter()
            .filter(|q| q.path.contains("trace"))
            .map(|q| q.body_bytes)
            .sum::<usize>()
    };
    (traces(&plain), traces(&gzip))
}
// ANCHOR_END: gzip

#[tokio::test(flavor = "multi_thread")]
async fn gzip_arrives_compressed_over_grpc() {
    let (plain, gzip) = body_sizes(Transport::Grpc);
    eprintln!("gRPC span batch: {plain} bytes plain, {gzip} bytes gzip");
    assert!(gzip * 2 < plain, "gzip {gzip} bytes, plain {plain} bytes");
}

#[test]
fn gzip_arrives_compressed_over_http() {
    let (plain, gzip) = body_sizes(Transport::HttpProtobuf);
    eprintln!("HTTP span batch: {plain} bytes plain, {gzip} bytes gzip");
    assert!(gzip * 2 < plain, "gzip {gzip} bytes, plain {plain} bytes");
}

// ANCHOR: headers
fn auth_headers_arrive(transport: Transport) {
    let receiver = Receiver::start().expect("receiver");
    let c = Connection {
        headers: vec![
            ("authorization".into(), "Bearer s3cr3t".into()),
            ("x-tenant".into(), "acme".into()),
        ],
        ..connection(&receiver, transport)
    };
    run_orders(transport, &c);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3, "one request per signal: {requests:?}");
    for request in &requests {
        assert_eq!(request.header("authorization"), Some("Bearer s3cr3t"));
        assert_eq!(request.header("x-tenant"), Some("acme"));
    }
}
// ANCHOR_END: headers

#[tokio::test(flavor = "multi_thread")]
async fn auth_metadata_arrives_over_grpc() {
    auth_headers_arrive(Transport::Grpc);
}

#[test]
fn auth_headers_arrive_over_http() {
    auth_headers_arrive(Transport::HttpProtobuf);
}

/// Header values that cannot be sent are a build error, not a silent drop.
#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_header_value_is_a_build_error() {
    let c = Connection {
        headers: vec![("authorization".into(), "Bearer\nline".into())],
        ..Connection::default()
    };
    let error = init(Transport::Grpc, &c).err().expect("build fails");
    assert!(
        format!("{error:#}").contains("invalid gRPC metadata"),
        "{error:#}"
    );
}

/// JSON carries the same data in a much larger body than protobuf.
#[test]
fn json_bodies_are_larger_than_protobuf() {
    let sizes = |transport| {
        let receiver = Receiver::start().expect("receiver");
        run_orders(transport, &connection(&receiver, transport));
        receiver
            .requests()
            .iter()
            .filter(|q| q.path == "/v1/traces")
            .map(|q| q.body_bytes)
            .sum::<usize>()
    };
    let (protobuf, json) = (sizes(Transport::HttpProtobuf), sizes(Transport::HttpJson));
    assert!(
        json > 2 * protobuf,
        "json {json} bytes, protobuf {protobuf} bytes"
    );
}

/// An `https://` gRPC endpoint needs one of the TLS features, which this crate does not enable.
#[tokio::test(flavor = "multi_thread")]
async fn https_without_a_tls_feature_is_a_build_error() {
    let c = Connection {
        endpoint: Some("https://collector.example:4317".into()),
        ..Connection::default()
    };
    let error = format!(
        "{:#}",
        init(Transport::Grpc, &c).err().expect("build fails")
    );
    assert!(error.contains("no TLS feature is enabled"), "{error}");
}
