//! The application exports to a sidecar on loopback; the sidecar adds resource attributes and
//! forwards to the back end (an in-process OTLP receiver). Everything asserted here crossed
//! two real gRPC hops: application → sidecar → back end.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use otlp_testkit::{Receiver, SpanKind, assert_child_of};
use service_telemetry::{Service, Telemetry};
use sidecar::{App, AppServer, Sidecar, SidecarConfig, enrich, parse_attributes, string_attribute};

const SERVICE: Service = Service {
    name: "greeter",
    version: "1.4.0",
};

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A sidecar forwarding to `upstream`, adding a pod, an environment, and a `service.version`
/// that must lose against the application's own.
fn config(listen: SocketAddr, upstream: &str) -> SidecarConfig {
    SidecarConfig {
        listen,
        upstream: upstream.to_owned(),
        resource: parse_attributes(
            "k8s.pod.name=greeter-7d4b9c-x2x4q, deployment.environment.name=staging, \
             service.version=unknown",
        )
        .unwrap(),
    }
}

/// A loopback port with nothing listening on it (bound, then released).
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind(any_port())
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn greet(client: &reqwest::Client, base: &str, name: &str) -> Duration {
    let started = Instant::now();
    let response = client
        .get(format!("{base}/greet/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    started.elapsed()
}

async fn start_app(telemetry: &Telemetry, redis: &test_servers::Server) -> AppServer {
    let app = App::open(&redis.url(), &telemetry.meter()).await.unwrap();
    AppServer::start(&app, any_port()).await.unwrap()
}

// ANCHOR: through
#[tokio::test]
async fn telemetry_reaches_the_back_end_through_the_sidecar_with_added_resource_attributes() {
    let Some(redis) = test_servers::redis_or_skip() else {
        return;
    };
    let backend = Receiver::start().unwrap();
    let sidecar = Sidecar::start(&config(any_port(), &backend.grpc_endpoint()))
        .await
        .unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&sidecar.endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let server = start_app(&telemetry, &redis).await;

    let client = reqwest::Client::new();
    greet(&client, &server.url(), "ada").await;
    telemetry.flush().await.unwrap();

    let received = backend.snapshot();
    let request = received.span("GET /greet/{name}");
    let incr = received.span("INCR");
    assert_eq!(request.kind, SpanKind::Server);
    assert_eq!(incr.kind, SpanKind::Client);
    assert_child_of(incr, request);
    assert_eq!(request.parent_span_id, None);
    assert_eq!(incr.attributes.str("db.system.name"), Some("redis"));
    assert_eq!(
        incr.attributes.i64("server.port"),
        Some(i64::from(redis.port()))
    );
    for span in [request, incr] {
        // Added by the sidecar ...
        assert_eq!(
            span.resource.str("k8s.pod.name"),
            Some("greeter-7d4b9c-x2x4q")
        );
        assert_eq!(
            span.resource.str("deployment.environment.name"),
            Some("staging")
        );
        // ... without overwriting what the application says about itself.
        assert_eq!(span.resource.str("service.name"), Some("greeter"));
        assert_eq!(span.resource.str("service.version"), Some("1.4.0"));
        assert_eq!(span.resource.str("telemetry.sdk.language"), Some("rust"));
    }
    // ANCHOR_END: through

    // Metrics and logs take the same path.
    let point = received
        .metric_point("greeter.greetings", &[("greeting.kind", "hello")])
        .expect("the counter's point");
    assert_eq!(point.value.as_f64(), Some(1.0));
    assert_eq!(
        point.resource.str("k8s.pod.name"),
        Some("greeter-7d4b9c-x2x4q")
    );
    assert_eq!(point.resource.str("service.version"), Some("1.4.0"));
    let logs = received.logs_of(request);
    assert_eq!(logs.len(), 1, "{:?}", received.logs);
    assert_eq!(logs[0].body.as_str(), Some("greeted"));
    assert_eq!(
        logs[0].resource.str("deployment.environment.name"),
        Some("staging")
    );

    server.shutdown().await.unwrap();
    telemetry.shutdown().await.unwrap();
    sidecar.stop().await.unwrap();
}

// ANCHOR: down
#[tokio::test]
async fn the_app_keeps_serving_while_the_sidecar_is_down_and_export_resumes_after_a_restart() {
    let Some(redis) = test_servers::redis_or_skip() else {
        return;
    };
    let backend = Receiver::start().unwrap();
    let sidecar = Sidecar::start(&config(any_port(), &backend.grpc_endpoint()))
        .await
        .unwrap();
    let sidecar_addr = sidecar.addr();
    let telemetry = Telemetry::init(SERVICE, Some(&sidecar.endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let server = start_app(&telemetry, &redis).await;
    let client = reqwest::Client::new();

    // Sidecar up: the latency to compare with.
    let mut up = Duration::ZERO;
    for _ in 0..20 {
        up += greet(&client, &server.url(), "ada").await;
    }
    telemetry.flush().await.unwrap();

    // Sidecar down, while the exporter is busy failing (and retrying) in the background.
    sidecar.stop().await.unwrap();
    greet(&client, &server.url(), "lost").await;
    let flush = tokio::spawn({
        let telemetry = telemetry.clone();
        async move { telemetry.flush().await }
    });
    let mut down = Duration::ZERO;
    for _ in 0..20 {
        down += greet(&client, &server.url(), "busy").await;
    }
    // Generous: a loaded 2-core CI machine jitters; an exporter on the request path (one
    // failing export with its retries per span) would add about a second per request.
    assert!(
        down < up * 5 + Duration::from_millis(500),
        "20 requests took {down:?} with the sidecar down, {up:?} with it up"
    );
    let error = flush.await.unwrap().unwrap_err();
    assert!(format!("{error:#}").contains("Unavailable"), "{error:#}");
    // ANCHOR_END: down

    // ANCHOR: restart
    // Still down, no export attempted: these spans wait in the application's queue.
    for _ in 0..20 {
        greet(&client, &server.url(), "queued").await;
    }
    // Same port, new process: the exporter's channel reconnects by itself.
    let sidecar = Sidecar::start(&config(sidecar_addr, &backend.grpc_endpoint()))
        .await
        .unwrap();
    greet(&client, &server.url(), "grace").await;
    telemetry.flush().await.unwrap();

    let received = backend.snapshot();
    let count = |path: &str| {
        received
            .spans_named("GET /greet/{name}")
            .iter()
            .filter(|s| s.attributes.str("url.path") == Some(path))
            .count()
    };
    assert_eq!(count("/greet/ada"), 20);
    assert_eq!(count("/greet/grace"), 1);
    // The batch whose export failed (after the exporter's retries) is gone: nobody kept it.
    assert_eq!(count("/greet/lost"), 0);
    // Spans that ended while no export was attempted were still queued in the application.
    assert_eq!(count("/greet/queued"), 20);
    // ANCHOR_END: restart

    server.shutdown().await.unwrap();
    telemetry.shutdown().await.unwrap();
    sidecar.stop().await.unwrap();
}

// ANCHOR: backend-down
#[tokio::test]
async fn with_the_back_end_down_the_sidecar_answers_unavailable_and_reconnects_later() {
    let backend_addr = closed_port();
    let sidecar = Sidecar::start(&config(any_port(), &format!("http://{backend_addr}")))
        .await
        .unwrap();
    let mut client = TraceServiceClient::connect(sidecar.endpoint())
        .await
        .unwrap();

    let status = client.export(one_span_batch()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(
        status
            .message()
            .starts_with("sidecar could not forward traces to the back end"),
        "{status:?}"
    );

    // The application's exporter reports the code, not the sidecar's message, and not the
    // "Connection refused" it reports when the sidecar itself is down.
    let telemetry = Telemetry::init(SERVICE, Some(&sidecar.endpoint())).unwrap();
    let _guard = telemetry.set_default();
    tracing::info_span!("checkout").in_scope(|| {});
    let error = format!("{:#}", telemetry.flush().await.unwrap_err());
    assert!(error.contains("gRPC code: Unavailable"), "{error}");
    assert!(!error.contains("Connection refused"), "{error}");
    assert!(!error.contains("sidecar could not forward"), "{error}");

    // The back end comes up on its address: the next export goes through, enriched.
    let backend = Receiver::builder().grpc_addr(backend_addr).start().unwrap();
    client.export(one_span_batch()).await.unwrap();
    let received = backend.wait_for_spans(1).await.unwrap();
    assert_eq!(received.spans[0].name, "checkout");
    assert_eq!(
        received.spans[0].resource.str("k8s.pod.name"),
        Some("greeter-7d4b9c-x2x4q")
    );
    // ANCHOR_END: backend-down
    telemetry.shutdown().await.unwrap();
    sidecar.stop().await.unwrap();
}

fn one_span_batch() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attribute("service.name", "checkout")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![ProtoSpan {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "checkout".to_owned(),
                    ..ProtoSpan::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

#[test]
fn enrich_fills_in_missing_keys_only_and_leaves_the_spans_alone() {
    let mut batch = one_span_batch();
    let before = batch.resource_spans[0].scope_spans.clone();
    let added = parse_attributes("service.name=sidecar-guess,k8s.pod.name=p-1").unwrap();
    let keys = enrich(&mut batch.resource_spans[0].resource, &added);
    assert_eq!(keys, ["k8s.pod.name"]);
    let again = enrich(&mut batch.resource_spans[0].resource, &added);
    assert!(again.is_empty(), "{again:?}");

    let resource = batch.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(
        resource.attributes,
        vec![
            string_attribute("service.name", "checkout"),
            string_attribute("k8s.pod.name", "p-1"),
        ]
    );
    assert_eq!(batch.resource_spans[0].scope_spans, before);

    // A batch without a resource gets one.
    let mut none = None;
    enrich(&mut none, &added);
    assert_eq!(none.unwrap().attributes, added);
}

#[test]
fn malformed_resource_attributes_are_errors() {
    assert_eq!(parse_attributes(" a=1 , b = two ,").unwrap().len(), 2);
    assert!(parse_attributes("").unwrap().is_empty());
    let error = parse_attributes("k8s.pod.name").unwrap_err();
    assert_eq!(error.to_string(), "\"k8s.pod.name\" is not key=value");
    assert!(parse_attributes("=x").is_err());
}
