//! The order service end to end: real axum on loopback, a real SQLite file in a temporary
//! directory, spans received over OTLP by the in-process receiver.
//!
//! The subscriber is global, not per test (`set_default`): sqlx's SQLite driver runs each
//! statement on a worker thread of its own, which enters the statement's span and may drop it
//! last, and a span closed on a thread without the test's subscriber never closes its parents
//! (see `tests/thread_local_subscriber.rs`). So the binary shares one receiver and one
//! `Telemetry`, and the tests take turns.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use hexagonal::http::{ErrorBody, HttpServer, OrderBody, PlaceOrder};
use otlp_testkit::{Receiver, Span, SpanKind, SpanStatus, assert_child_of, assert_same_trace};
use reqwest::StatusCode;
use service_telemetry::{Service, Telemetry};
use sqlx::Row as _;
use sqlx::sqlite::SqlitePool;
use tempfile::TempDir;
use tokio::sync::{Mutex, MutexGuard};
use tracing_subscriber::EnvFilter;

const INSERT: &str = "INSERT INTO orders (customer, sku, quantity) VALUES (?, ?, ?) RETURNING id";
const SELECT: &str = "SELECT id, customer, sku, quantity FROM orders WHERE id = ?";

struct Shared {
    receiver: Receiver,
    telemetry: Telemetry,
    /// The exporters' gRPC connections run here, so they outlive every test's own runtime.
    _runtime: tokio::runtime::Runtime,
}

/// The process-wide receiver, providers and global subscriber, made by the first test.
/// The providers are never dropped, so they need no `shutdown()`.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let receiver = Receiver::start().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let service = Service {
            name: "orders",
            version: "test",
        };
        let telemetry = {
            let _entered = runtime.enter();
            Telemetry::init(service, Some(&receiver.grpc_endpoint())).unwrap()
        };
        opentelemetry::global::set_text_map_propagator(service_telemetry::propagator());
        tracing::subscriber::set_global_default(telemetry.subscriber(EnvFilter::new("warn")))
            .unwrap();
        Shared {
            receiver,
            telemetry,
            _runtime: runtime,
        }
    })
}

/// One service under test, with its own database; holds the turn until it finishes.
struct Harness {
    shared: &'static Shared,
    /// How many spans had arrived before this test started.
    before: usize,
    server: HttpServer,
    client: reqwest::Client,
    database_url: String,
    _dir: TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Harness {
    async fn start() -> Harness {
        static TURN: Mutex<()> = Mutex::const_new(());
        let turn = TURN.lock().await;
        let shared = shared();
        let before = shared.receiver.snapshot().spans.len();
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("orders.db").display());
        let server = hexagonal::start(SocketAddr::from(([127, 0, 0, 1], 0)), &database_url)
            .await
            .unwrap();
        Harness {
            shared,
            before,
            server,
            client: reqwest::Client::new(),
            database_url,
            _dir: dir,
            _turn: turn,
        }
    }

    async fn post(&self, quantity: i64) -> reqwest::Response {
        let body = PlaceOrder {
            customer: "ada".to_owned(),
            sku: "BOOK-42".to_owned(),
            quantity,
        };
        let url = format!("{}/orders", self.server.url());
        self.client.post(url).json(&body).send().await.unwrap()
    }

    async fn get(&self, id: i64) -> reqwest::Response {
        let url = format!("{}/orders/{id}", self.server.url());
        self.client.get(url).send().await.unwrap()
    }

    /// A second connection to the same database file, to look behind the service's back.
    async fn database(&self) -> SqlitePool {
        SqlitePool::connect(&self.database_url).await.unwrap()
    }

    /// Stops the server and returns the spans of this test once `expected` have arrived.
    /// A response can reach the client a moment before its spans end (the statement's span
    /// may be dropped last by sqlx's worker thread, and it holds its parents open), so this
    /// flushes until they are all there, for at most 5 s.
    async fn finish(self, expected: usize) -> otlp_testkit::Telemetry {
        self.server.shutdown().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            self.shared.telemetry.flush().await.unwrap();
            let mut received = self.shared.receiver.snapshot();
            received.spans.drain(..self.before);
            if received.spans.len() >= expected || tokio::time::Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The only child of `parent` called `name`.
#[track_caller]
fn child<'a>(received: &'a otlp_testkit::Telemetry, parent: &Span, name: &str) -> &'a Span {
    let children = received.children_of(parent);
    let found: Vec<&Span> = children
        .iter()
        .copied()
        .filter(|s| s.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{:?} should have one child {name:?}, has {:?}",
        parent.name,
        children.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

#[tokio::test]
async fn placed_order_runs_http_then_use_case_then_insert() {
    let harness = Harness::start().await;
    let response = harness.post(2).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: OrderBody = response.json().await.unwrap();

    // The order really is in the SQLite file.
    let row = sqlx::query("SELECT customer, sku, quantity FROM orders WHERE id = ?")
        .bind(order.id)
        .fetch_one(&harness.database().await)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("customer"), "ada");
    assert_eq!(row.get::<i64, _>("quantity"), 2);

    let received = harness.finish(3).await;
    // ANCHOR: tree
    let server = received.span("POST /orders");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(
        server.parent_span_id, None,
        "nobody called with a traceparent"
    );
    assert_eq!(server.attributes.str("http.request.method"), Some("POST"));
    assert_eq!(server.attributes.str("http.route"), Some("/orders"));
    assert_eq!(server.attributes.str("url.scheme"), Some("http"));
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(201)
    );

    let use_case = child(&received, server, "place_order");
    assert_eq!(use_case.kind, SpanKind::Internal);
    assert_eq!(use_case.attributes.i64("order.id"), Some(order.id));

    let insert = child(&received, use_case, "INSERT orders");
    assert_eq!(insert.kind, SpanKind::Client);
    assert_eq!(insert.attributes.str("db.system.name"), Some("sqlite"));
    assert_eq!(insert.attributes.str("db.operation.name"), Some("INSERT"));
    assert_eq!(insert.attributes.str("db.collection.name"), Some("orders"));
    // The statement with its placeholders: no customer data in the trace.
    assert_eq!(insert.attributes.str("db.query.text"), Some(INSERT));
    // ANCHOR_END: tree
    assert_same_trace(&[server, use_case, insert]);
    for span in [server, use_case, insert] {
        assert_eq!(span.status, SpanStatus::Unset, "{}", span.name);
        assert_eq!(span.service_name(), "orders");
    }
}

#[tokio::test]
async fn missing_order_is_a_404_without_errors() {
    let harness = Harness::start().await;
    let order: OrderBody = harness.post(1).await.json().await.unwrap();
    let found = harness.get(order.id).await;
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(found.json::<OrderBody>().await.unwrap(), order);
    let missing = harness.get(order.id + 1000).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let received = harness.finish(9).await;
    let servers = received.spans_named("GET /orders/{id}");
    assert_eq!(servers.len(), 2, "{:?}", received.span_names());
    for server in servers {
        assert_eq!(server.kind, SpanKind::Server);
        assert_eq!(server.attributes.str("http.route"), Some("/orders/{id}"));
        let status = server.attributes.i64("http.response.status_code");
        let use_case = child(&received, server, "get_order");
        let select = child(&received, use_case, "SELECT orders");
        assert_eq!(select.kind, SpanKind::Client);
        assert_eq!(select.attributes.str("db.query.text"), Some(SELECT));
        assert_eq!(select.attributes.str("db.operation.name"), Some("SELECT"));
        // ANCHOR: not_found
        // The query worked and found nothing; the client asked for something that is not
        // there. Nobody failed: no span of the 404 has an error status.
        let rows = select.attributes.i64("db.response.returned_rows");
        match status {
            Some(200) => assert_eq!(rows, Some(1)),
            Some(404) => assert_eq!(rows, Some(0)),
            other => panic!("unexpected status {other:?}"),
        }
        for span in [server, use_case, select] {
            assert_eq!(span.status, SpanStatus::Unset, "{} ({status:?})", span.name);
            assert_eq!(span.attributes.str("error.type"), None, "{}", span.name);
        }
        // ANCHOR_END: not_found
    }
}

#[tokio::test]
async fn rejected_order_is_a_422_that_never_reaches_the_database() {
    let harness = Harness::start().await;
    let response = harness.post(0).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: ErrorBody = response.json().await.unwrap();
    assert!(body.error.contains("quantity 0"), "{}", body.error);
    let count: i64 = sqlx::query("SELECT count(*) AS n FROM orders")
        .fetch_one(&harness.database().await)
        .await
        .unwrap()
        .get("n");
    assert_eq!(count, 0);

    let received = harness.finish(2).await;
    // ANCHOR: rejected
    let server = received.span("POST /orders");
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(422)
    );
    // A 4xx is the client's mistake: the server span's status stays unset.
    assert_eq!(server.status, SpanStatus::Unset);
    let use_case = child(&received, server, "place_order");
    assert_eq!(use_case.status, SpanStatus::Unset);
    let event = use_case.event("order rejected").expect("a rejection event");
    assert!(
        event
            .attributes
            .str("reason")
            .unwrap()
            .contains("quantity 0")
    );
    // The domain refused before calling the driven port: no database span at all.
    assert!(received.children_of(use_case).is_empty());
    assert!(received.spans_named("INSERT orders").is_empty());
    // ANCHOR_END: rejected
}

#[tokio::test]
async fn database_failure_is_an_error_on_every_span_up_the_tree() {
    let harness = Harness::start().await;
    // Break the storage behind the service's back: the next INSERT fails inside SQLite.
    sqlx::query("DROP TABLE orders")
        .execute(&harness.database().await)
        .await
        .unwrap();
    let response = harness.post(1).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "internal error", "no internals in the response");

    let received = harness.finish(3).await;
    // ANCHOR: failure
    let server = received.span("POST /orders");
    let use_case = child(&received, server, "place_order");
    let insert = child(&received, use_case, "INSERT orders");
    // The query span says what broke, in SQLite's own terms...
    match &insert.status {
        SpanStatus::Error(message) => assert!(message.contains("no such table"), "{message}"),
        other => panic!("the INSERT span should be an error, is {other:?}"),
    }
    assert_eq!(insert.attributes.str("db.response.status_code"), Some("1"));
    assert_eq!(insert.attributes.str("error.type"), Some("1"));
    // ...the use case failed because of it (an ERROR event, no OpenTelemetry in the domain)...
    assert!(matches!(use_case.status, SpanStatus::Error(_)));
    assert!(use_case.event("the order repository failed").is_some());
    // ...and the server answered 500, which for a server span is an error.
    assert!(matches!(server.status, SpanStatus::Error(_)));
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(500)
    );
    assert_eq!(server.attributes.str("error.type"), Some("500"));
    // ANCHOR_END: failure
}

#[tokio::test]
async fn malformed_requests_are_a_400_with_a_json_error() {
    let harness = Harness::start().await;
    let url = format!("{}/orders", harness.server.url());
    let json = "application/json";
    let cases = [
        (json, "{\"customer\": ", 400, "Failed to parse"),
        (json, "{\"customer\": \"ada\"}", 400, "missing field `sku`"),
        (
            json,
            "{\"customer\": \"ada\", \"sku\": \"B\", \"quantity\": \"two\"}",
            400,
            "quantity",
        ),
        ("text/plain", "{}", 415, "Content-Type"),
    ];
    for (content_type, body, status, message) in cases {
        let response = harness
            .client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: ErrorBody = response.json().await.unwrap();
        assert!(error.error.contains(message), "{body}: {}", error.error);
    }
    let response = harness
        .client
        .get(format!("{url}/first"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: ErrorBody = response.json().await.unwrap();
    assert!(error.error.contains("first"), "{}", error.error);

    let received = harness.finish(5).await;
    // None of them reached the use case, and a 4xx is not an error of the server span.
    assert_eq!(received.spans.len(), 5, "{:?}", received.span_names());
    for server in &received.spans {
        assert_eq!(server.kind, SpanKind::Server);
        assert_eq!(server.status, SpanStatus::Unset, "{}", server.name);
        let status = server.attributes.i64("http.response.status_code").unwrap();
        assert!(status == 400 || status == 415, "{status}");
    }
}

#[tokio::test]
async fn caller_trace_is_continued() {
    let harness = Harness::start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let response = harness
        .client
        .get(format!("{}/orders/1", harness.server.url()))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let received = harness.finish(3).await;
    let server = received.span("GET /orders/{id}");
    assert_eq!(server.trace_id, trace_id);
    assert_eq!(server.parent_span_id.as_deref(), Some(parent_id));
    let use_case = child(&received, server, "get_order");
    assert_child_of(child(&received, use_case, "SELECT orders"), use_case);
}

#[tokio::test]
async fn a_database_url_that_is_not_sqlite_is_a_clear_error() {
    let receiver = Receiver::start().unwrap();
    let mut program = std::process::Command::new(env!("CARGO_BIN_EXE_hexagonal"));
    program
        .env("DATABASE_URL", "postgres://localhost/orders")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
        .env("RUST_BACKTRACE", "0");
    // On a blocking thread: the receiver answers on this test's runtime.
    let output = tokio::task::spawn_blocking(move || program.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("\"postgres://localhost/orders\" is not a SQLite database URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
