//! The facade, the legacy service and the new one, each on its own thread with its own
//! `service.name`, exporting to one in-process OTLP receiver.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use otlp_testkit::{MetricKind, PointValue, SpanKind, SpanStatus};
use otlp_testkit::{Receiver, Telemetry as Received, assert_child_of};
use strangler_fig::backend::OrderReply;
use strangler_fig::facade::{Switch, Switched};
use strangler_fig::http::ErrorBody;
use strangler_fig::service_thread::App;
use strangler_fig::{
    Backend, CUSTOMERS, FACADE, LEGACY, NEW, ORDERS, RoutingTable, STRANGLER_REQUESTS,
    ServiceThread, Shop, Store, Upstreams, facade_router,
};
use tempfile::TempDir;
use tracing_subscriber::EnvFilter;

/// The shop and a plain HTTP client (no telemetry of its own) that plays the caller.
struct Harness {
    shop: Shop,
    base: reqwest::Url,
    client: reqwest::Client,
    database: TempDir,
}

impl Harness {
    /// The shop on a seeded SQLite file in a fresh temporary directory.
    async fn start(receiver: &Receiver, routes: &[(&str, Backend)]) -> Harness {
        let database = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", database.path().join("shop.db").display());
        Store::connect(&url).await.unwrap().seed().await.unwrap();
        let shop = Shop::start(&url, Some(&receiver.grpc_endpoint()), quiet, routes)
            .await
            .unwrap();
        let base = shop.url().unwrap();
        Harness {
            shop,
            base,
            client: reqwest::Client::new(),
            database,
        }
    }

    /// `GET path` at the facade, optionally as part of the caller's trace `traceparent`.
    async fn get(&self, path: &str, traceparent: Option<&str>) -> (StatusCode, String) {
        let mut request = self.client.get(self.base.join(path).unwrap());
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn switch(&self, route: &str, backend: Backend) -> reqwest::Response {
        self.client
            .put(self.base.join("admin/routes").unwrap())
            .json(&Switch {
                route: route.to_owned(),
                backend,
            })
            .send()
            .await
            .unwrap()
    }

    /// Stops all three services; their telemetry is shut down, so everything is exported.
    async fn stop(self, receiver: &Receiver) -> Received {
        self.shop.stop().await.unwrap();
        receiver.snapshot()
    }
}

fn quiet() -> anyhow::Result<EnvFilter> {
    Ok(EnvFilter::new("off"))
}

/// The message of a JSON error answer (`{"error": "..."}`); panics on anything else, such as
/// axum's plain-text rejections or an empty body.
fn error_of(body: &str) -> String {
    let error: ErrorBody =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{body:?} is not a JSON error: {e}"));
    assert!(!error.error.is_empty());
    error.error
}

/// The span called `name` that `service` exported.
fn servers_of<'a>(received: &'a Received, name: &str, service: &str) -> &'a otlp_testkit::Span {
    received
        .spans_named(name)
        .into_iter()
        .find(|s| s.service_name() == service)
        .unwrap_or_else(|| panic!("no {name} span from {service}"))
}

fn served_by(body: &str) -> Backend {
    let reply: serde_json::Value = serde_json::from_str(body).unwrap();
    serde_json::from_value(reply["served_by"].clone()).unwrap()
}

const CALLER_ORDERS: (&str, &str) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
const CALLER_CUSTOMERS: (&str, &str) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");

fn traceparent((trace, span): (&str, &str)) -> String {
    format!("00-{trace}-{span}-01")
}

// ANCHOR: same_trace
#[tokio::test]
async fn both_back_ends_continue_the_callers_trace() {
    let receiver = Receiver::start().unwrap();
    let shop = Harness::start(
        &receiver,
        &[(ORDERS, Backend::Legacy), (CUSTOMERS, Backend::New)],
    )
    .await;
    let (status, body) = shop
        .get("orders/1", Some(&traceparent(CALLER_ORDERS)))
        .await;
    assert_eq!(
        (status, served_by(&body)),
        (StatusCode::OK, Backend::Legacy)
    );
    let (status, body) = shop
        .get("customers/7", Some(&traceparent(CALLER_CUSTOMERS)))
        .await;
    assert_eq!((status, served_by(&body)), (StatusCode::OK, Backend::New));
    let shop_urls = (
        shop.shop.legacy.as_ref().unwrap().url().unwrap(),
        shop.shop.new.url().unwrap(),
    );
    let received = shop.stop(&receiver).await;

    for ((trace_id, caller_span), route, backend, service) in [
        (CALLER_ORDERS, ORDERS, "legacy", LEGACY.name),
        (CALLER_CUSTOMERS, CUSTOMERS, "new", NEW.name),
    ] {
        let trace = received.trace(trace_id);
        assert_eq!(
            trace.len(),
            4,
            "facade server and client, back end server and query"
        );
        let name = format!("GET {route}");
        let facade_server = trace
            .iter()
            .find(|s| s.name == name && s.service_name() == FACADE.name)
            .expect("the facade's server span");
        assert_eq!(facade_server.kind, SpanKind::Server);
        assert_eq!(facade_server.parent_span_id.as_deref(), Some(caller_span));
        assert_eq!(
            facade_server.attributes.str("strangler.backend"),
            Some(backend)
        );
        let facade_client = trace.iter().find(|s| s.name == "GET").unwrap();
        assert_eq!(facade_client.kind, SpanKind::Client);
        assert_eq!(facade_client.service_name(), FACADE.name);
        assert_child_of(facade_client, facade_server);
        // HTTP client conventions: the full URL, and the address and port it went to.
        let upstream = match backend {
            "legacy" => shop_urls.0.clone(),
            _ => shop_urls.1.clone(),
        };
        let url_full = facade_client.attributes.str("url.full").unwrap();
        assert!(url_full.starts_with(upstream.as_str()), "{url_full}");
        assert_eq!(
            facade_client.attributes.str("server.address"),
            Some("127.0.0.1")
        );
        assert_eq!(
            facade_client.attributes.i64("server.port"),
            upstream.port().map(i64::from)
        );
        assert_eq!(facade_client.attributes.get("error.type"), None);
        let back_end = trace
            .iter()
            .find(|s| s.name == name && s.service_name() != FACADE.name)
            .expect("the back end's server span");
        assert_eq!(back_end.service_name(), service);
        assert_eq!(back_end.kind, SpanKind::Server);
        assert_child_of(back_end, facade_client);
        // HTTP server conventions, on both server spans.
        let path = if backend == "legacy" {
            "/orders/1"
        } else {
            "/customers/7"
        };
        for server in [facade_server, back_end] {
            assert_eq!(server.attributes.str("http.request.method"), Some("GET"));
            assert_eq!(server.attributes.str("http.route"), Some(route));
            assert_eq!(server.attributes.str("url.scheme"), Some("http"));
            assert_eq!(server.attributes.str("url.path"), Some(path));
            assert_eq!(
                server.attributes.i64("http.response.status_code"),
                Some(200)
            );
            assert_eq!(server.attributes.get("error.type"), None);
        }
        // The back end reads the shared database inside its own span.
        let table = route.split('/').nth(1).unwrap();
        let query = trace
            .iter()
            .find(|s| s.name == format!("SELECT {table}"))
            .expect("the database span");
        assert_eq!(query.kind, SpanKind::Client);
        assert_eq!(query.service_name(), service);
        assert_eq!(query.attributes.str("db.system.name"), Some("sqlite"));
        assert_eq!(query.attributes.str("db.collection.name"), Some(table));
        assert_eq!(query.attributes.str("db.operation.name"), Some("SELECT"));
        // Parameterised: the placeholder, never the id from the URL.
        let sql = query.attributes.str("db.query.text").unwrap();
        assert!(
            sql.starts_with("SELECT ") && sql.ends_with("WHERE id = ?"),
            "{sql}"
        );
        assert_eq!(query.attributes.get("db.response.status_code"), None);
        assert_child_of(query, back_end);
    }
}
// ANCHOR_END: same_trace

/// The latest value of every `strangler.requests` series, keyed by (route, back end, status).
fn split(received: &Received) -> BTreeMap<(String, String, i64), i64> {
    let mut split = BTreeMap::new();
    for point in received.metric_points(STRANGLER_REQUESTS) {
        assert_eq!(
            point.kind,
            MetricKind::Sum {
                monotonic: true,
                cumulative: true
            }
        );
        assert_eq!(point.unit, "{request}");
        assert_eq!(point.resource.str("service.name"), Some(FACADE.name));
        let PointValue::Int(value) = point.value else {
            panic!("{point:?} is not an integer sum");
        };
        let key = (
            point.attributes.str("http.route").unwrap().to_owned(),
            point
                .attributes
                .str("strangler.backend")
                .unwrap()
                .to_owned(),
            point.attributes.i64("http.response.status_code").unwrap(),
        );
        split.insert(key, value); // points arrive in order: the last one is the total
    }
    split
}

fn series(route: &str, backend: &str, status: i64, count: i64) -> ((String, String, i64), i64) {
    ((route.to_owned(), backend.to_owned(), status), count)
}

// ANCHOR: split
#[tokio::test]
async fn the_counter_shows_the_split_before_and_after_a_switch() {
    let receiver = Receiver::start().unwrap();
    let shop = Harness::start(
        &receiver,
        &[(ORDERS, Backend::Legacy), (CUSTOMERS, Backend::Legacy)],
    )
    .await;
    let mut before = Vec::new();
    for id in 1..=3 {
        let (_, body) = shop.get(&format!("orders/{id}"), None).await;
        assert_eq!(served_by(&body), Backend::Legacy);
        before.push(serde_json::from_str::<OrderReply>(&body).unwrap());
    }
    for _ in 1..=2 {
        shop.get("customers/7", None).await;
    }
    shop.shop.facade.flush().await.unwrap();
    assert_eq!(
        split(&receiver.snapshot()),
        BTreeMap::from([
            series(CUSTOMERS, "legacy", 200, 2),
            series(ORDERS, "legacy", 200, 3),
        ])
    );

    let switched: Switched = shop
        .switch(ORDERS, Backend::New)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(switched.previous, Backend::Legacy);
    for id in [1, 2, 3, 1] {
        let (_, body) = shop.get(&format!("orders/{id}"), None).await;
        let reply: OrderReply = serde_json::from_str(&body).unwrap();
        assert_eq!(reply.served_by, Backend::New);
        // Same database, same answer: only `served_by` differs.
        let old = &before[usize::try_from(id - 1).unwrap()];
        assert_eq!((&reply.item, reply.quantity), (&old.item, old.quantity));
    }
    shop.get("customers/8", None).await;
    let received = shop.stop(&receiver).await;

    assert_eq!(
        split(&received),
        BTreeMap::from([
            series(CUSTOMERS, "legacy", 200, 3),
            series(ORDERS, "legacy", 200, 3),
            series(ORDERS, "new", 200, 4),
        ])
    );
    // The switch is an event in the admin request's span.
    let admin = received.span("PUT /admin/routes");
    let event = admin.event("route switched").expect("the switch event");
    assert_eq!(event.attributes.str("from"), Some("legacy"));
    assert_eq!(event.attributes.str("to"), Some("new"));
}
// ANCHOR_END: split

// ANCHOR: down
#[tokio::test]
async fn a_back_end_that_is_down_gives_502_and_a_failed_client_span() {
    let receiver = Receiver::start().unwrap();
    let mut shop = Harness::start(&receiver, &[(ORDERS, Backend::Legacy)]).await;
    let legacy = shop.shop.legacy.as_ref().unwrap().url().unwrap();
    shop.shop.stop_legacy().await.unwrap();
    let (status, body) = shop.get("orders/1", None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(error_of(&body), "the back end did not answer (connect)");
    // reqwest's own message leaves the cause out; it is in the `source()` chain.
    let err = reqwest::get(legacy.join("orders/1").unwrap())
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("Connection refused"), "{err}");
    let received = shop.stop(&receiver).await;

    let server = received.span("GET /orders/{id}");
    assert_eq!(server.service_name(), FACADE.name);
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(502)
    );
    assert!(matches!(server.status, SpanStatus::Error(_)));
    assert_eq!(server.attributes.str("error.type"), Some("502"));
    let client = received.span("GET");
    assert_child_of(client, server);
    assert!(matches!(client.status, SpanStatus::Error(_)));
    assert_eq!(client.attributes.str("error.type"), Some("connect"));
    assert_eq!(client.attributes.get("http.response.status_code"), None);
    let event = client.event("the back end did not answer").unwrap();
    let error = event.attributes.str("error").unwrap();
    assert!(error.contains("Connection refused"), "{error}");
    // The same event is a log record that carries the client span's ids.
    let logs = received.logs_of(client);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].severity_text, "WARN");
    assert_eq!(logs[0].body.as_str(), Some("the back end did not answer"));
    assert_eq!(
        split(&received),
        BTreeMap::from([series(ORDERS, "legacy", 502, 1)])
    );
}
// ANCHOR_END: down

#[tokio::test]
async fn a_missing_order_is_the_back_ends_404_passed_through() {
    let receiver = Receiver::start().unwrap();
    let shop = Harness::start(&receiver, &[(ORDERS, Backend::New)]).await;
    let (status, body) = shop.get("orders/99", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body), "no order 99");
    let received = shop.stop(&receiver).await;

    let spans = received.spans_named("GET /orders/{id}");
    let facade = spans
        .iter()
        .find(|s| s.service_name() == FACADE.name)
        .unwrap();
    let back_end = spans.iter().find(|s| s.service_name() == NEW.name).unwrap();
    let client = received.span("GET");
    assert_child_of(client, facade);
    assert_child_of(back_end, client);
    // Both servers answered 404 and did their job; only the client sees an error.
    for server in [facade, back_end] {
        assert_eq!(
            server.attributes.i64("http.response.status_code"),
            Some(404)
        );
        assert_eq!(server.status, SpanStatus::Unset);
        assert_eq!(server.attributes.get("error.type"), None);
    }
    assert!(matches!(client.status, SpanStatus::Error(_)));
    assert_eq!(client.attributes.str("error.type"), Some("404"));
    assert_eq!(
        split(&received),
        BTreeMap::from([series(ORDERS, "new", 404, 1)])
    );
}

#[tokio::test]
async fn a_back_end_that_does_not_answer_in_time_gives_504() {
    let receiver = Receiver::start().unwrap();
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = reqwest::Url::parse(&format!("http://{}/", silent.local_addr().unwrap()));
    let upstreams = Upstreams {
        legacy: silent_url.clone().unwrap(),
        new: silent_url.unwrap(),
        timeout: Duration::from_millis(200),
    };
    let table = RoutingTable::new([(ORDERS, Backend::Legacy)]);
    let facade = ServiceThread::start(
        FACADE,
        Some(&receiver.grpc_endpoint()),
        quiet().unwrap(),
        async move |telemetry| facade_router(table, upstreams, &telemetry.meter()).map(App::from),
    )
    .await
    .unwrap();
    let response = reqwest::get(facade.url().unwrap().join("orders/1").unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    facade.stop().await.unwrap();
    let received = receiver.snapshot();

    let client = received.span("GET");
    assert!(matches!(client.status, SpanStatus::Error(_)));
    assert_eq!(client.attributes.str("error.type"), Some("timeout"));
    assert!(client.duration() >= Duration::from_millis(200));
    assert_eq!(
        split(&received),
        BTreeMap::from([series(ORDERS, "legacy", 504, 1)])
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_404_that_reaches_no_back_end() {
    let receiver = Receiver::start().unwrap();
    let shop = Harness::start(&receiver, &[(ORDERS, Backend::Legacy)]).await;
    let (status, body) = shop.get("reports/2026", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body), "no route for GET /reports/2026");
    let response = shop.switch("/reports/{year}", Backend::New).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        error_of(&response.text().await.unwrap()),
        "no route \"/reports/{year}\" in the routing table"
    );
    // The failed switch changed nothing: orders still go to the legacy service.
    let (_, body) = shop.get("orders/1", None).await;
    assert_eq!(served_by(&body), Backend::Legacy);
    let received = shop.stop(&receiver).await;

    let unmatched = received
        .spans_named("GET")
        .into_iter()
        .find(|s| s.kind == SpanKind::Server)
        .expect("the facade's span for the unknown route");
    assert_eq!(unmatched.service_name(), FACADE.name);
    assert_eq!(unmatched.kind, SpanKind::Server);
    assert_eq!(
        unmatched.attributes.i64("http.response.status_code"),
        Some(404)
    );
    assert_eq!(unmatched.attributes.get("http.route"), None);
    assert_eq!(
        unmatched.status,
        SpanStatus::Unset,
        "a 404 is not a server error"
    );
    assert!(received.children_of(unmatched).is_empty());
    assert_eq!(
        split(&received),
        BTreeMap::from([series(ORDERS, "legacy", 200, 1)])
    );
}

// ANCHOR: bad_input
#[tokio::test]
async fn bad_input_gets_a_json_error_and_changes_nothing() {
    let receiver = Receiver::start().unwrap();
    let shop = Harness::start(&receiver, &[(ORDERS, Backend::Legacy)]).await;
    let admin = shop.base.join("admin/routes").unwrap();
    let put = |body: &'static str, content_type: &'static str| {
        shop.client
            .put(admin.clone())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let mut answers = Vec::new();
    for response in [
        put("{\"route\": ", "application/json").await,
        put(
            r#"{"route": "/orders/{id}", "backend": "new"}"#,
            "text/plain",
        )
        .await,
        put(
            r#"{"route": "/orders/{id}", "backend": "sideways"}"#,
            "application/json",
        )
        .await,
        put(r#"{"backend": "new"}"#, "application/json").await,
        shop.client.get(admin.clone()).send().await,
        shop.client
            .get(shop.base.join("orders/abc").unwrap())
            .send()
            .await,
        shop.client
            .get(shop.base.join("orders/1/items").unwrap())
            .send()
            .await,
    ] {
        let response = response.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/json", "{status}");
        answers.push((status, error_of(&response.text().await.unwrap())));
    }
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(
        statuses,
        [400, 415, 422, 422, 405, 400, 404],
        "{answers:#?}"
    );
    assert!(
        answers[2].1.contains("unknown variant `sideways`"),
        "{answers:#?}"
    );
    assert!(
        answers[3].1.contains("missing field `route`"),
        "{answers:#?}"
    );
    assert!(answers[5].1.contains("abc"), "{answers:#?}");
    // The back ends answer with JSON too, whoever asks them.
    let legacy = shop.shop.legacy.as_ref().unwrap().url().unwrap();
    let response = reqwest::get(legacy.join("customers/x").unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    error_of(&response.text().await.unwrap());
    let response = reqwest::get(legacy.join("nowhere").unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        error_of(&response.text().await.unwrap()),
        "no route for GET /nowhere"
    );
    // None of it switched anything.
    let (_, body) = shop.get("orders/1", None).await;
    assert_eq!(served_by(&body), Backend::Legacy);
    let received = shop.stop(&receiver).await;

    // The facade forwarded `orders/abc` (the route matches) and passed the back end's 400
    // through: 4xx, so neither server span is an error; the facade's client span is.
    let abc: Vec<_> = received
        .spans
        .iter()
        .filter(|s| s.attributes.str("url.path") == Some("/orders/abc"))
        .collect();
    assert_eq!(abc.len(), 2, "the facade's and the back end's server span");
    for server in abc {
        assert_eq!(
            server.attributes.i64("http.response.status_code"),
            Some(400)
        );
        assert_eq!(server.status, SpanStatus::Unset);
    }
    let client = received
        .spans_named("GET")
        .into_iter()
        .find(|s| {
            s.kind == SpanKind::Client && s.attributes.i64("http.response.status_code") == Some(400)
        })
        .expect("the facade's client span for /orders/abc");
    assert!(matches!(client.status, SpanStatus::Error(_)));
    assert_eq!(client.attributes.str("error.type"), Some("400"));
    assert_eq!(
        split(&received),
        BTreeMap::from([
            series(ORDERS, "legacy", 200, 1),
            series(ORDERS, "legacy", 400, 1),
        ])
    );
}
// ANCHOR_END: bad_input

// ANCHOR: db_error
#[tokio::test]
async fn a_failed_query_records_the_sqlite_result_code() {
    let receiver = Receiver::start().unwrap();
    let shop = Harness::start(&receiver, &[(CUSTOMERS, Backend::Legacy)]).await;
    // Someone drops the table under the running services.
    let url = format!(
        "sqlite://{}",
        shop.database.path().join("shop.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE customers")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (status, body) = shop.get("customers/7", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_of(&body), "reading the database failed");
    let received = shop.stop(&receiver).await;

    let query = received.span("SELECT customers");
    assert!(matches!(query.status, SpanStatus::Error(_)));
    // SQLITE_ERROR ("no such table") is result code 1.
    assert_eq!(query.attributes.str("db.response.status_code"), Some("1"));
    assert_eq!(query.attributes.str("error.type"), Some("1"));
    let servers = received.spans_named("GET /customers/{id}");
    assert_eq!(servers.len(), 2, "the facade's and the back end's");
    for server in &servers {
        assert!(matches!(server.status, SpanStatus::Error(_)));
        assert_eq!(server.attributes.str("error.type"), Some("500"));
    }
    let client = received.span("GET");
    assert_eq!(client.attributes.str("error.type"), Some("500"));
    // The cause is in the back end's log, in the failed request's trace.
    let back_end = servers_of(&received, "GET /customers/{id}", LEGACY.name);
    let logs = received.logs_of(back_end);
    assert_eq!(logs.len(), 1, "{logs:?}");
    let error = logs[0].attributes.str("error").unwrap();
    assert!(error.contains("no such table: customers"), "{error}");
    assert_eq!(
        split(&received),
        BTreeMap::from([series(CUSTOMERS, "legacy", 500, 1)])
    );
}
// ANCHOR_END: db_error

/// Misconfiguration stops the program before it serves anything, with a message that names
/// the variable, and without a panic.
#[test]
fn bad_configuration_is_a_clear_error_not_a_panic() {
    for (variable, value, message) in [
        (
            "DATABASE_URL",
            "postgres://db/shop",
            "\"postgres://db/shop\" is not a SQLite database URL",
        ),
        ("RUST_LOG", "shop=loud", "RUST_LOG is not a valid filter"),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\" is not supported",
        ),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_strangler-fig"))
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .env(variable, value)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{variable}: {stderr}");
        assert!(stderr.contains(message), "{variable}: {stderr}");
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(!stderr.contains("panicked"), "{variable}: {stderr}");
    }
}

#[tokio::test]
async fn the_program_moves_orders_to_the_new_service_in_one_trace_per_request() {
    let receiver = Receiver::start().unwrap();
    let endpoint = receiver.grpc_endpoint();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_strangler-fig"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("RUST_LOG", "off")
            // A fresh SQLite file, whatever database the environment points at.
            .env_remove("DATABASE_URL")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let received = receiver.snapshot();

    // Seven calls from the storefront, each the root of its own trace.
    let calls: Vec<_> = received
        .spans
        .iter()
        .filter(|s| s.service_name() == "storefront")
        .collect();
    assert_eq!(calls.len(), 7);
    let paths: Vec<(String, Vec<&str>)> = calls
        .iter()
        .map(|call| {
            assert!(call.parent_span_id.is_none());
            let url = reqwest::Url::parse(call.attributes.str("url.full").unwrap()).unwrap();
            // The services that served this call, from the SERVER spans of its trace.
            let mut services: Vec<&str> = received
                .trace(&call.trace_id)
                .iter()
                .filter(|s| s.kind == SpanKind::Server)
                .map(|s| s.service_name())
                .collect();
            services.sort();
            (url.path().to_owned(), services)
        })
        .collect();
    assert_eq!(
        paths,
        vec![
            ("/orders/1".to_owned(), vec![FACADE.name, LEGACY.name]),
            ("/customers/7".to_owned(), vec![FACADE.name, LEGACY.name]),
            ("/admin/routes".to_owned(), vec![FACADE.name]),
            ("/orders/1".to_owned(), vec![FACADE.name, NEW.name]),
            ("/orders/99".to_owned(), vec![FACADE.name, NEW.name]),
            ("/reports/2026".to_owned(), vec![FACADE.name]),
            ("/customers/7".to_owned(), vec![FACADE.name]),
        ]
    );
    assert_eq!(
        split(&received),
        BTreeMap::from([
            series(CUSTOMERS, "legacy", 200, 1),
            series(CUSTOMERS, "legacy", 502, 1),
            series(ORDERS, "legacy", 200, 1),
            series(ORDERS, "new", 200, 1),
            series(ORDERS, "new", 404, 1),
        ])
    );
}
