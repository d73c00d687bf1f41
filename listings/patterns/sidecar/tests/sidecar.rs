//! The application exports to a sidecar on loopback; the sidecar adds resource attributes and
//! forwards to the back end (an in-process OTLP receiver). Everything asserted here crossed
//! two real gRPC hops: application → sidecar → back end.

use std::env::VarError;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt as _;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use otlp_testkit::{Receiver, SpanKind, SpanStatus, assert_child_of};
use service_telemetry::{Service, Telemetry};
use sidecar::{App, AppServer, Sidecar, SidecarConfig, enrich, parse_attributes, string_attribute};

const SERVICE: Service = Service {
    name: "greeter",
    version: "1.4.0",
};

/// The `BatchSpanProcessor`'s default `scheduled_delay` (`OTEL_BSP_SCHEDULE_DELAY`).
const SCHEDULED_DELAY: Duration = Duration::from_secs(5);

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
    assert_eq!(request.attributes.str("url.scheme"), Some("http"));
    assert_eq!(request.attributes.str("error.type"), None);
    assert_eq!(incr.attributes.str("db.namespace"), Some("0"));
    assert_eq!(incr.attributes.str("db.query.text"), Some("INCR visits:?"));
    assert_eq!(incr.attributes.str("error.type"), None);
    assert_no_attribute_contains(incr, "ada");

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
    let flush_started = Instant::now();
    let flush = tokio::spawn({
        let telemetry = telemetry.clone();
        async move { telemetry.flush().await }
    });
    let mut down = Duration::ZERO;
    for _ in 0..20 {
        down += greet(&client, &server.url(), "busy").await;
    }
    // Generous: a loaded 2-core CI machine jitters. An exporter on the request path (one
    // failing export with its retries per span, > 0.7 s each) would add > 14 s to these 20.
    assert!(
        down < up * 5 + Duration::from_secs(3),
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
    // The batch processor's next scheduled export comes 5 s (its default delay) after the
    // failed flush began exporting, so not before `flush_started + 5 s`.
    let outage = flush_started.elapsed();
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
    if outage < SCHEDULED_DELAY {
        assert_eq!(count("/greet/queued"), 20, "sidecar back after {outage:?}");
    } else {
        // Too slow a machine to tell: a scheduled export may have tried and dropped them.
        eprintln!("queued spans not checked: the sidecar was back only after {outage:?}");
    }
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

/// The user name is in the URL path and in the log record by design; the Redis span carries
/// the command's shape only.
fn assert_no_attribute_contains(span: &otlp_testkit::Span, text: &str) {
    for (key, value) in &span.attributes.0 {
        assert!(
            !value.to_string().contains(text),
            "{}: {key}={value} contains {text:?}",
            span.name
        );
    }
}

#[tokio::test]
async fn a_failed_redis_call_marks_both_spans_as_errors() {
    let Some(redis) = test_servers::redis_or_skip() else {
        return;
    };
    // A list where the counter should be: INCR answers WRONGTYPE.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("visits:mallory")
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    let backend = Receiver::start().unwrap();
    let sidecar = Sidecar::start(&config(any_port(), &backend.grpc_endpoint()))
        .await
        .unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&sidecar.endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let server = start_app(&telemetry, &redis).await;

    let response = reqwest::get(format!("{}/greet/mallory", server.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    telemetry.flush().await.unwrap();

    let received = backend.snapshot();
    let request = received.span("GET /greet/{name}");
    let incr = received.span("INCR");
    assert!(matches!(incr.status, SpanStatus::Error(_)), "{incr:?}");
    assert_eq!(incr.attributes.str("error.type"), Some("WRONGTYPE"));
    assert_eq!(incr.attributes.str("db.namespace"), Some("0"));
    assert_no_attribute_contains(incr, "mallory");
    assert_eq!(
        request.attributes.i64("http.response.status_code"),
        Some(500)
    );
    assert_eq!(request.attributes.str("error.type"), Some("500"));
    assert!(
        matches!(request.status, SpanStatus::Error(_)),
        "{request:?}"
    );

    server.shutdown().await.unwrap();
    telemetry.shutdown().await.unwrap();
    sidecar.stop().await.unwrap();
}

/// A back end that refuses every trace export with `RESOURCE_EXHAUSTED`, details and metadata.
struct OverQuota;

#[tonic::async_trait]
impl TraceService for OverQuota {
    async fn export(
        &self,
        _: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert("x-quota-window", "60s".parse().unwrap());
        Err(tonic::Status::with_details_and_metadata(
            tonic::Code::ResourceExhausted,
            "quota exceeded",
            retry_after_2s().into(),
            metadata,
        ))
    }
}

/// A `google.rpc.Status` whose details hold one `google.rpc.RetryInfo` (retry after 2 s),
/// protobuf-encoded by hand (every length here is below 128, so it fits one byte).
fn retry_after_2s() -> Vec<u8> {
    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }
    let duration = [0x08, 2]; // Duration { seconds: 2 }
    let retry_info = field(1, &duration); // RetryInfo { retry_delay }
    let mut any = field(1, b"type.googleapis.com/google.rpc.RetryInfo");
    any.extend(field(2, &retry_info));
    let mut status = vec![0x08, 8]; // code: RESOURCE_EXHAUSTED
    status.extend(field(2, b"quota exceeded"));
    status.extend(field(3, &any));
    status
}

#[tokio::test]
async fn the_sidecar_passes_the_back_ends_error_details_and_metadata_through() {
    let listener = tokio::net::TcpListener::bind(any_port()).await.unwrap();
    let backend_addr = listener.local_addr().unwrap();
    let backend = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(OverQuota))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let sidecar = Sidecar::start(&config(any_port(), &format!("http://{backend_addr}")))
        .await
        .unwrap();
    let mut client = TraceServiceClient::connect(sidecar.endpoint())
        .await
        .unwrap();

    let status = client.export(one_span_batch()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "sidecar could not forward traces to the back end: quota exceeded"
    );
    // The RetryInfo the back end sent, byte for byte, and its metadata.
    assert_eq!(status.details(), retry_after_2s());
    assert_eq!(
        status
            .metadata()
            .get("x-quota-window")
            .map(|v| v.to_str().unwrap()),
        Some("60s")
    );

    sidecar.stop().await.unwrap();
    backend.abort();
}

fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Result<String, VarError> + 'a {
    move |key| {
        vars.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
            .ok_or(VarError::NotPresent)
    }
}

#[test]
fn config_defaults_apply_only_to_unset_variables() {
    let config = SidecarConfig::from_lookup(lookup(&[(
        "SIDECAR_UPSTREAM_ENDPOINT",
        "http://collector:4317",
    )]))
    .unwrap();
    assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 4317)));
    assert_eq!(config.upstream, "http://collector:4317");
    assert!(config.resource.is_empty());

    let config = SidecarConfig::from_lookup(lookup(&[
        ("SIDECAR_LISTEN_ADDR", "127.0.0.1:14317"),
        ("SIDECAR_UPSTREAM_ENDPOINT", "http://collector:4317"),
        ("SIDECAR_RESOURCE_ATTRIBUTES", "k8s.pod.name=p-1"),
    ]))
    .unwrap();
    assert_eq!(config.listen.port(), 14317);
    assert_eq!(config.resource, [string_attribute("k8s.pod.name", "p-1")]);
}

#[test]
fn missing_or_malformed_configuration_is_an_error() {
    let error = |vars: &[(&str, &str)]| {
        format!(
            "{:#}",
            SidecarConfig::from_lookup(lookup(vars)).unwrap_err()
        )
    };
    let upstream = ("SIDECAR_UPSTREAM_ENDPOINT", "http://collector:4317");
    assert_eq!(
        error(&[]),
        "SIDECAR_UPSTREAM_ENDPOINT must name the back end, e.g. http://collector:4317"
    );
    assert!(
        error(&[("SIDECAR_UPSTREAM_ENDPOINT", "collector:4317")])
            .contains("is not http://host:port")
    );
    assert!(
        error(&[upstream, ("SIDECAR_LISTEN_ADDR", "localhost")])
            .starts_with("SIDECAR_LISTEN_ADDR=\"localhost\" is not an address")
    );
    assert!(
        error(&[upstream, ("SIDECAR_RESOURCE_ATTRIBUTES", "k8s.pod.name")])
            .starts_with("SIDECAR_RESOURCE_ATTRIBUTES: ")
    );

    // Set, but not UTF-8: an error, not "unset" (which would mean listening on 4317).
    let not_utf8 = SidecarConfig::from_lookup(|key| match key {
        "SIDECAR_LISTEN_ADDR" => Err(VarError::NotUnicode(OsStr::from_bytes(b"\xff").into())),
        _ => lookup(&[upstream])(key),
    })
    .unwrap_err();
    assert_eq!(
        not_utf8.to_string(),
        "SIDECAR_LISTEN_ADDR=\"\\xFF\" is not UTF-8"
    );
}

#[test]
fn the_sidecar_program_exits_with_the_reason_when_its_configuration_is_bad() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sidecar"))
        .arg("sidecar")
        .env("SIDECAR_UPSTREAM_ENDPOINT", "http://127.0.0.1:1")
        .env("SIDECAR_LISTEN_ADDR", OsStr::from_bytes(b"127.0.0.1:\xff"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a sidecar that took the variable for unset would listen until killed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the sidecar kept running with a non-UTF-8 SIDECAR_LISTEN_ADDR");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("SIDECAR_LISTEN_ADDR=\"127.0.0.1:\\xFF\" is not UTF-8"),
        "{stderr}"
    );
}
