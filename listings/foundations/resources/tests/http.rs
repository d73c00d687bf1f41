//! HTTP server and client spans as they arrive over OTLP: names, kinds, attributes and status
//! exactly as the chapter documents them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;

use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otlp_testkit::{Receiver, Span, SpanKind, SpanStatus, Telemetry, Value};
use reqwest::Method;
use resources::{CATALOG, app, http_tracer, init_tracer_provider, resource, send};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The catalog service on a random port, instrumented, exporting to its own receiver.
struct Harness {
    receiver: Receiver,
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Harness {
    async fn start() -> Harness {
        let receiver = Receiver::start().expect("receiver");
        let provider =
            init_tracer_provider(resource(&CATALOG), Some(&receiver.grpc_endpoint())).unwrap();
        let tracer = http_tracer(&provider);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(listener, app(tracer.clone()))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Harness {
            receiver,
            provider,
            tracer,
            addr,
            stop,
            server,
        }
    }

    /// One instrumented request; returns the status the client saw (None: no response).
    async fn request(&self, method: Method, url: &str) -> Option<u16> {
        let client = reqwest::Client::new();
        let request = client.request(method, url).build().unwrap();
        send(&self.tracer, &client, request)
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// Stops the server, then flushes: every span has ended and arrived when this returns.
    async fn finish(self) -> Telemetry {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        let provider = self.provider;
        tokio::task::spawn_blocking(move || provider.shutdown())
            .await
            .unwrap()
            .expect("shutdown exports every span");
        self.receiver.snapshot()
    }
}

/// The one span of this kind.
fn only(received: &Telemetry, kind: SpanKind) -> &Span {
    let spans: Vec<&Span> = received.spans.iter().filter(|s| s.kind == kind).collect();
    assert_eq!(
        spans.len(),
        1,
        "one {kind:?} span: {:?}",
        received.span_names()
    );
    spans[0]
}

fn attrs(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn s(value: &str) -> Value {
    Value::String(value.to_owned())
}

/// One request from the instrumented client to the instrumented server.
async fn exchange(method: Method, path: &str) -> (Telemetry, u16, Option<u16>) {
    let harness = Harness::start().await;
    let port = harness.addr.port();
    let url = format!("http://{}{path}", harness.addr);
    let status = harness.request(method, &url).await;
    (harness.finish().await, port, status)
}

// ANCHOR: ok
#[tokio::test(flavor = "multi_thread")]
async fn a_successful_request() {
    let (received, port, status) = exchange(Method::GET, "/products/1").await;
    assert_eq!(status, Some(200));
    let port = Value::Int(port.into());

    let server = only(&received, SpanKind::Server);
    assert_eq!(server.name, "GET /products/{id}");
    assert_eq!(server.status, SpanStatus::Unset);
    assert_eq!(
        server.attributes.0,
        attrs(&[
            ("http.request.method", s("GET")),
            ("http.route", s("/products/{id}")),
            ("url.path", s("/products/1")),
            ("url.scheme", s("http")),
            ("server.address", s("127.0.0.1")),
            ("server.port", port.clone()),
            ("network.protocol.version", s("1.1")),
            ("http.response.status_code", Value::Int(200)),
        ])
    );

    let client = only(&received, SpanKind::Client);
    assert_eq!(client.name, "GET");
    assert_eq!(client.status, SpanStatus::Unset);
    assert_eq!(
        client.attributes.0,
        attrs(&[
            ("http.request.method", s("GET")),
            (
                "url.full",
                s(&format!("http://127.0.0.1:{port}/products/1"))
            ),
            ("server.address", s("127.0.0.1")),
            ("server.port", port),
            ("network.protocol.version", s("1.1")),
            ("http.response.status_code", Value::Int(200)),
        ])
    );
    assert_eq!(client.scope, "catalog-http");
    assert_eq!(client.service_name(), server.service_name());
    // Nothing carries the trace across the wire yet: see the chapter on context propagation.
    assert_ne!(client.trace_id, server.trace_id);
}
// ANCHOR_END: ok

// ANCHOR: not-found
/// A 404 for a route that exists: the client's request failed, the server did its job.
#[tokio::test(flavor = "multi_thread")]
async fn a_404_is_an_error_for_the_client_only() {
    let (received, _, status) = exchange(Method::GET, "/products/99").await;
    assert_eq!(status, Some(404));

    let server = only(&received, SpanKind::Server);
    assert_eq!(server.name, "GET /products/{id}");
    assert_eq!(server.status, SpanStatus::Unset);
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(404)
    );
    assert_eq!(server.attributes.get("error.type"), None);

    let client = only(&received, SpanKind::Client);
    assert_eq!(client.status, SpanStatus::Error(String::new()));
    assert_eq!(
        client.attributes.i64("http.response.status_code"),
        Some(404)
    );
    assert_eq!(client.attributes.str("error.type"), Some("404"));
}
// ANCHOR_END: not-found

/// No route matched: the span name is the method alone and there is no `http.route`.
#[tokio::test(flavor = "multi_thread")]
async fn an_unrouted_path_has_no_route() {
    let (received, _, status) = exchange(Method::GET, "/nope?q=1").await;
    assert_eq!(status, Some(404));

    let server = only(&received, SpanKind::Server);
    assert_eq!(server.name, "GET");
    assert_eq!(server.attributes.get("http.route"), None);
    assert_eq!(server.attributes.str("url.path"), Some("/nope"));
    assert_eq!(server.attributes.str("url.query"), Some("q=1"));
    assert_eq!(server.status, SpanStatus::Unset);
}

// ANCHOR: server-error
/// A 500 is an error on both sides; the description stays empty, the status code says it all.
#[tokio::test(flavor = "multi_thread")]
async fn a_500_is_an_error_on_both_sides() {
    let (received, _, status) = exchange(Method::GET, "/stock/1").await;
    assert_eq!(status, Some(500));

    let server = only(&received, SpanKind::Server);
    assert_eq!(server.name, "GET /stock/{id}");
    assert_eq!(server.status, SpanStatus::Error(String::new()));
    assert_eq!(server.attributes.str("error.type"), Some("500"));
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(500)
    );

    let client = only(&received, SpanKind::Client);
    assert_eq!(client.status, SpanStatus::Error(String::new()));
    assert_eq!(client.attributes.str("error.type"), Some("500"));
}
// ANCHOR_END: server-error

/// A method the conventions do not know becomes `_OTHER`, and `HTTP` in the span name.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_method_is_other() {
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let (received, _, status) = exchange(purge, "/products/1").await;
    assert_eq!(status, Some(405));

    let server = only(&received, SpanKind::Server);
    assert_eq!(server.name, "HTTP /products/{id}");
    assert_eq!(server.attributes.str("http.request.method"), Some("_OTHER"));
    assert_eq!(
        server.attributes.str("http.request.method_original"),
        Some("PURGE")
    );
    assert_eq!(server.status, SpanStatus::Unset);

    let client = only(&received, SpanKind::Client);
    assert_eq!(client.name, "HTTP");
    assert_eq!(client.attributes.str("http.request.method"), Some("_OTHER"));
    assert_eq!(client.attributes.str("error.type"), Some("405"));
}

// ANCHOR: refused
/// No response at all: `error.type` names the failure, the description gives the cause, and
/// there is no status code to report.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let harness = Harness::start().await;
    // `Request::new` keeps credentials in the URL (`RequestBuilder` would move them to an
    // Authorization header): the instrumentation must not copy them into `url.full`.
    let url = format!("http://user:secret@127.0.0.1:{closed}/products/1");
    let request = reqwest::Request::new(Method::GET, url.parse().unwrap());
    let built = reqwest::Client::new().get(&url).build().unwrap();
    assert_eq!(
        built.url().password(),
        None,
        "RequestBuilder moved them out"
    );
    let result = send(&harness.tracer, &reqwest::Client::new(), request).await;
    assert!(result.is_err());
    let received = harness.finish().await;

    let client = only(&received, SpanKind::Client);
    assert_eq!(client.attributes.str("error.type"), Some("connect"));
    assert_eq!(client.attributes.get("http.response.status_code"), None);
    let SpanStatus::Error(description) = &client.status else {
        panic!("a refused connection is an error: {:?}", client.status);
    };
    assert!(
        description.to_lowercase().contains("refused"),
        "{description}"
    );
    // Credentials appear neither in url.full nor in the description.
    assert_eq!(
        client.attributes.str("url.full"),
        Some(format!("http://REDACTED:REDACTED@127.0.0.1:{closed}/products/1").as_str())
    );
    assert!(!description.contains("secret"));
}
// ANCHOR_END: refused

/// The program itself: four requests, eight spans, every one under the catalog's resource.
#[test]
fn the_binary_exports_a_client_and_a_server_span_per_request() {
    let receiver = Receiver::start().expect("receiver");
    let out = Command::new(env!("CARGO_BIN_EXE_resources"))
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
        .output()
        .expect("run the resources binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("service.name=catalog"), "{stdout}");
    assert!(stdout.contains("GET /stock/1 -> 500"), "{stdout}");

    let received = receiver.snapshot();
    let mut names = received.span_names();
    names.sort();
    assert_eq!(
        names,
        [
            "GET",
            "GET",
            "GET",
            "GET",
            "GET",
            "GET /products/{id}",
            "GET /products/{id}",
            "GET /stock/{id}"
        ]
    );
    assert!(received.spans.iter().all(|s| s.service_name() == "catalog"));
}
