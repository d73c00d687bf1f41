//! The bulkhead under load: a slow dependency fills its own compartment, the rejected calls
//! are fast, counted and marked on their spans, and the healthy dependency keeps its latency.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bulkhead::{Compartment, Downstream, Server, dependency, gateway};
use opentelemetry::metrics::Meter;
use otlp_testkit::{Receiver, SpanStatus, assert_child_of};
use service_telemetry::{Service, Telemetry};
use tokio::sync::mpsc;

const SERVICE: Service = Service {
    name: "bulkhead",
    version: "0.1.0",
};
const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// The two dependencies and the gateway in front of them.
struct Stack {
    reviews: Server,
    inventory: Server,
    gateway: Server,
}

impl Stack {
    async fn start(slow: Duration, reviews: Compartment, inventory: Compartment) -> Stack {
        let reviews_server = Server::start(LOOPBACK, dependency::reviews(slow))
            .await
            .unwrap();
        let inventory_server = Server::start(LOOPBACK, dependency::inventory())
            .await
            .unwrap();
        let gateway = Server::start(
            LOOPBACK,
            gateway::router(
                no_redirects(),
                Downstream {
                    base_url: reviews_server.url(),
                    compartment: reviews,
                },
                Downstream {
                    base_url: inventory_server.url(),
                    compartment: inventory,
                },
            ),
        )
        .await
        .unwrap();
        Stack {
            reviews: reviews_server,
            inventory: inventory_server,
            gateway,
        }
    }

    async fn shutdown(self) {
        self.gateway.shutdown().await.unwrap();
        self.reviews.shutdown().await.unwrap();
        self.inventory.shutdown().await.unwrap();
    }
}

/// The gateway's client, as in main.rs: one client span is one request.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Fires `n` concurrent requests for reviews; each sends back its status and latency.
fn burst(gateway: &str, n: u32) -> mpsc::UnboundedReceiver<(u16, Duration)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = reqwest::Client::new();
    for id in 1..=n {
        let (tx, client) = (tx.clone(), client.clone());
        let url = format!("{gateway}/products/{id}/reviews");
        tokio::spawn(async move {
            let _ = tx.send(timed_get(&client, &url).await);
        });
    }
    rx
}

async fn timed_get(client: &reqwest::Client, url: &str) -> (u16, Duration) {
    let start = Instant::now();
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), start.elapsed())
}

fn compartments(meter: &Meter) -> (Compartment, Compartment) {
    (
        Compartment::new("reviews", 4, meter).unwrap(),
        Compartment::new("inventory", 4, meter).unwrap(),
    )
}

// ANCHOR: load
/// The reviews service takes `SLOW` per call. 20 concurrent calls against a compartment of
/// 4: all 20 reach the gateway within a few milliseconds, far less than `SLOW`, so exactly 4 get in
/// and 16 are turned away. The bounds are generous for a loaded 2-core machine: a rejection or
/// a healthy call must take less than a fifth of `SLOW`, not a few milliseconds.
const SLOW: Duration = Duration::from_millis(1500);
const FAST: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_slow_dependency_fills_only_its_own_compartment() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let (reviews, inventory) = compartments(&telemetry.meter());
    let stack = Stack::start(SLOW, reviews, inventory).await;
    let gateway = stack.gateway.url();
    let client = reqwest::Client::new();

    let started = Instant::now();
    let mut results = burst(&gateway, 20);
    // The 16 rejections come back first, each fast.
    for _ in 0..16 {
        let (status, elapsed) = results.recv().await.unwrap();
        assert_eq!(
            status, 503,
            "an admitted call finished before the rejections"
        );
        assert!(elapsed < FAST, "a rejection took {elapsed:?}");
    }
    // Right now the reviews compartment is full: 4 in flight, 16 rejected.
    telemetry.flush().await.unwrap();
    let now = receiver.snapshot();
    let reviews = [("bulkhead.compartment", "reviews")];
    let in_flight = now.metric_point("bulkhead.in_flight", &reviews).unwrap();
    assert_eq!(in_flight.value.as_f64(), Some(4.0));
    let rejected = now.metric_point("bulkhead.rejected", &reviews).unwrap();
    assert_eq!(rejected.value.as_f64(), Some(16.0));

    // The healthy dependency, while the slow one's compartment is full.
    for id in 1..=10 {
        let (status, elapsed) = timed_get(&client, &format!("{gateway}/products/{id}/stock")).await;
        assert_eq!(status, 200);
        assert!(
            elapsed < FAST,
            "a call to the healthy dependency took {elapsed:?}"
        );
    }
    assert!(
        started.elapsed() < SLOW,
        "the healthy calls must have run while the slow calls were in flight"
    );
    // The 4 admitted calls finish after the slow service's delay.
    for _ in 0..4 {
        let (status, elapsed) = results.recv().await.unwrap();
        assert_eq!(status, 200);
        assert!(elapsed >= SLOW);
    }
    // ANCHOR_END: load

    stack.shutdown().await;
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();

    // ANCHOR: spans
    let gateway_spans = received.spans_named("GET /products/{id}/reviews");
    assert_eq!(gateway_spans.len(), 20);
    let (rejected, admitted): (Vec<_>, Vec<_>) = gateway_spans
        .into_iter()
        .partition(|s| s.attributes.str("error.type") == Some("bulkhead_full"));
    assert_eq!((rejected.len(), admitted.len()), (16, 4));
    for span in &rejected {
        assert_eq!(span.attributes.str("bulkhead.compartment"), Some("reviews"));
        assert_eq!(span.attributes.i64("http.response.status_code"), Some(503));
        assert_eq!(span.attributes.str("url.scheme"), Some("http"));
        assert_eq!(
            span.status,
            SpanStatus::Error(r#"compartment "reviews" is full (4 calls in flight)"#.into())
        );
        assert!(span.event("bulkhead rejected the call").is_some());
        // The same `warn!` is a WARN log record carrying this span's ids.
        let logs = received.logs_of(span);
        let warning = logs
            .iter()
            .find(|l| l.body.as_str() == Some("bulkhead rejected the call"))
            .expect("the rejection's log record belongs to its server span");
        assert_eq!(warning.severity_text, "WARN");
        // Turned away before any call to the dependency: no client span below it.
        assert!(received.children_of(span).is_empty());
        assert!(span.duration() < FAST);
    }
    for span in &admitted {
        assert_eq!(span.attributes.str("bulkhead.compartment"), Some("reviews"));
        assert_eq!(span.attributes.i64("http.response.status_code"), Some(200));
        assert_eq!(span.status, SpanStatus::Unset);
        assert!(span.event("bulkhead rejected the call").is_none());
        let [client] = received.children_of(span)[..] else {
            panic!("an admitted call has one client span");
        };
        assert_eq!(client.name, "GET");
        let [server] = received.children_of(client)[..] else {
            panic!("the reviews service's span is below the client span");
        };
        assert_eq!(server.name, "GET /reviews/{id}");
        assert_eq!(server.attributes.str("url.scheme"), Some("http"));
        assert!(server.duration() >= SLOW);
    }
    // ANCHOR_END: spans

    let stock = received.spans_named("GET /products/{id}/stock");
    assert_eq!(stock.len(), 10);
    for span in stock {
        assert_eq!(
            span.attributes.str("bulkhead.compartment"),
            Some("inventory")
        );
        assert_eq!(span.status, SpanStatus::Unset);
        let children = received.children_of(span);
        assert_eq!(children.len(), 1);
        assert_child_of(children[0], span);
        assert_eq!(children[0].name, "GET");
    }

    // ANCHOR: metrics
    let inventory = [("bulkhead.compartment", "inventory")];
    assert_eq!(
        received
            .metric_point("bulkhead.rejected", &reviews)
            .unwrap()
            .value
            .as_f64(),
        Some(16.0)
    );
    assert!(
        received
            .metric_point("bulkhead.rejected", &inventory)
            .is_none()
    );
    for compartment in [&reviews, &inventory] {
        let in_flight = received
            .metric_point("bulkhead.in_flight", compartment)
            .unwrap();
        assert_eq!(
            in_flight.value.as_f64(),
            Some(0.0),
            "all places are free again"
        );
    }
    // ANCHOR_END: metrics
    telemetry.shutdown().await.unwrap();
}

// ANCHOR: shared
/// The mistake the bulkhead exists to prevent: one limit for both dependencies. The slow
/// calls take every place, and the healthy dependency is turned away too.
#[tokio::test]
async fn one_shared_compartment_lets_the_slow_dependency_starve_the_healthy_one() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let shared = Compartment::new("shared", 4, &telemetry.meter()).unwrap();
    let stack = Stack::start(Duration::from_millis(1500), shared.clone(), shared).await;
    let gateway = stack.gateway.url();

    let mut results = burst(&gateway, 5);
    // The first answer is the fifth call's rejection: the 4 places are taken.
    assert_eq!(results.recv().await.unwrap().0, 503);
    let client = reqwest::Client::new();
    let (status, _) = timed_get(&client, &format!("{gateway}/products/1/stock")).await;
    assert_eq!(status, 503, "the healthy dependency is starved");
    // ANCHOR_END: shared
    for _ in 0..4 {
        assert_eq!(results.recv().await.unwrap().0, 200);
    }

    stack.shutdown().await;
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let stock = received.span("GET /products/{id}/stock");
    assert_eq!(stock.attributes.str("bulkhead.compartment"), Some("shared"));
    assert_eq!(stock.attributes.str("error.type"), Some("bulkhead_full"));
    let rejected = received
        .metric_point("bulkhead.rejected", &[("bulkhead.compartment", "shared")])
        .unwrap();
    assert_eq!(rejected.value.as_f64(), Some(2.0));
    telemetry.shutdown().await.unwrap();
}

/// The demo program: 2 of 5 concurrent review requests get in, the stock request succeeds,
/// and its spans reach the endpoint given by `OTEL_EXPORTER_OTLP_ENDPOINT`.
#[tokio::test]
async fn the_program_shows_rejections_and_a_healthy_stock_call() {
    let receiver = Receiver::start().unwrap();
    let mut program = std::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"));
    program
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
        .env("RUST_LOG", "off");
    let output = tokio::task::spawn_blocking(move || program.output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.matches("/reviews -> 200").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("/reviews -> 503").count(), 3, "{stdout}");
    assert!(stdout.contains("/stock    -> 200"), "{stdout}");

    let received = receiver.snapshot();
    assert_eq!(received.spans_named("GET /products/{id}/reviews").len(), 5);
    assert_eq!(
        received
            .metric_point("bulkhead.rejected", &[("bulkhead.compartment", "reviews")])
            .unwrap()
            .value
            .as_f64(),
        Some(3.0)
    );
}

/// A downstream that cannot be reached: the gateway answers 502, and both its server span and
/// its client span say why.
#[tokio::test]
async fn an_unreachable_downstream_is_a_502_with_its_error_type() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let (reviews, inventory) = compartments(&telemetry.meter());
    let closed = std::net::TcpListener::bind(LOOPBACK).unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let gateway = Server::start(
        LOOPBACK,
        gateway::router(
            no_redirects(),
            Downstream {
                base_url: nowhere.clone(),
                compartment: reviews,
            },
            Downstream {
                base_url: nowhere,
                compartment: inventory,
            },
        ),
    )
    .await
    .unwrap();

    let url = format!("{}/products/1/reviews", gateway.url());
    let (status, _) = timed_get(&reqwest::Client::new(), &url).await;
    assert_eq!(status, 502);

    gateway.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let server = received.span("GET /products/{id}/reviews");
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(502)
    );
    assert_eq!(server.attributes.str("error.type"), Some("downstream"));
    assert!(matches!(server.status, SpanStatus::Error(_)));
    let [client] = received.children_of(server)[..] else {
        panic!("the gateway tried the dependency once");
    };
    assert_eq!(client.name, "GET");
    assert_eq!(client.attributes.str("error.type"), Some("connect"));
    assert!(client.attributes.i64("http.response.status_code").is_none());
    assert!(matches!(client.status, SpanStatus::Error(_)));
    telemetry.shutdown().await.unwrap();
}

/// A caller that gives up (here: a 100 ms client timeout) closes its connection; the server
/// drops the handler, and with it the compartment place.
#[tokio::test]
async fn a_cancelled_request_gives_its_place_back() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let meter = telemetry.meter();
    let reviews = Compartment::new("reviews", 1, &meter).unwrap();
    let inventory = Compartment::new("inventory", 1, &meter).unwrap();
    let stack = Stack::start(SLOW, reviews, inventory).await;
    let url = format!("{}/products/1/reviews", stack.gateway.url());

    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let gave_up = impatient.get(&url).send().await.unwrap_err();
    assert!(gave_up.is_timeout(), "{gave_up}");

    // Bounded wait for the gateway to notice the closed connection.
    let reviews = [("bulkhead.compartment", "reviews")];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        telemetry.flush().await.unwrap();
        let in_flight = receiver
            .snapshot()
            .metric_point("bulkhead.in_flight", &reviews)
            .and_then(|p| p.value.as_f64());
        if in_flight == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "in_flight stayed at {in_flight:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The only place is free: the next call is admitted and waits for the slow service.
    let (status, elapsed) = timed_get(&reqwest::Client::new(), &url).await;
    assert_eq!(status, 200);
    assert!(elapsed >= SLOW);

    stack.shutdown().await;
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    assert!(
        received
            .metric_point("bulkhead.rejected", &reviews)
            .is_none(),
        "no call was turned away"
    );
    telemetry.shutdown().await.unwrap();
}
