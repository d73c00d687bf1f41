//! The saga over a real NATS server, with each service exporting to an in-process OTLP
//! receiver under its own `service.name`: the happy path and every compensation, orchestrated
//! and choreographed. Each test places one order, stops the services (which shuts their
//! telemetry down, so every span is at the receiver) and then looks at one trace.

use std::collections::BTreeSet;

use futures_util::StreamExt as _;

use otlp_testkit::{Receiver, Span, SpanKind, SpanStatus, Telemetry};
use saga::orchestration::StepReply;
use saga::{Config, Failure, Order, Outcome, Role, Saga, Style, place_order};

struct Finished {
    outcome: Outcome,
    /// Each participant's ledger for the order, in `Role::ALL` order.
    histories: Vec<(Role, Vec<&'static str>)>,
    received: Telemetry,
}

impl Finished {
    fn history(&self, role: Role) -> &[&'static str] {
        &self
            .histories
            .iter()
            .find(|(r, _)| *r == role)
            .expect("every role has a history")
            .1
    }

    /// The one span called `name` from `service`.
    #[track_caller]
    fn span(&self, service: &str, name: &str) -> &Span {
        let found: Vec<&Span> = self
            .received
            .spans_named(name)
            .into_iter()
            .filter(|s| s.service_name() == service)
            .collect();
        assert_eq!(found.len(), 1, "spans {name:?} of {service}: {found:#?}");
        found[0]
    }

    /// `service: name` of every span with an error status.
    fn errors(&self) -> BTreeSet<String> {
        self.received
            .spans
            .iter()
            .filter(|s| matches!(s.status, SpanStatus::Error(_)))
            .map(label)
            .collect()
    }

    fn children(&self, parent: &Span) -> Vec<String> {
        self.received
            .children_of(parent)
            .into_iter()
            .map(label)
            .collect()
    }
}

fn label(span: &Span) -> String {
    format!("{}: {}", span.service_name(), span.name)
}

/// Starts the services of `style` (all of them, or `roles`), places `order`, stops them.
async fn run(style: Style, roles: &[Role], fail_at: Option<Failure>) -> Option<Finished> {
    let server = test_servers::nats_or_skip()?;
    let receiver = Receiver::start().unwrap();
    let config = Config {
        nats_url: server.url(),
        otlp_endpoint: Some(receiver.grpc_endpoint()),
    };
    let saga = Saga::start_only(roles, style, &config).await.unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let order = Order {
        id: "o-1".into(),
        item: "book".into(),
        amount_cents: 4200,
        fail_at,
    };
    let outcome = place_order(&client, &order).await.unwrap();
    let histories = Role::ALL
        .into_iter()
        .map(|role| (role, saga.ledger(role).history(&order.id)))
        .collect();
    // Stopping a service shuts its telemetry down: once this returns, every span has arrived.
    saga.stop().await.unwrap();
    let finished = Finished {
        outcome,
        histories,
        received: receiver.snapshot(),
    };
    assert_one_trace(&finished.received);
    assert_messaging_conventions(&finished.received, &server.url());
    Some(finished)
}

// ANCHOR: one_trace
/// Every span of the saga, from every service, is in one trace with one root.
#[track_caller]
fn assert_one_trace(received: &Telemetry) {
    let all: Vec<&Span> = received.spans.iter().collect();
    otlp_testkit::assert_same_trace(&all);
    let roots: Vec<String> = received.roots().into_iter().map(label).collect();
    assert_eq!(roots, ["order: process order.place"]);
}
// ANCHOR_END: one_trace

/// Every message span (named `send …`, `publish …` or `process …`) has the right kind and
/// follows the messaging semantic conventions, including the server it talked to (`nats_url`);
/// no other span has a messaging kind.
#[track_caller]
fn assert_messaging_conventions(received: &Telemetry, nats_url: &str) {
    for span in &received.spans {
        let operation = span.name.split(' ').next().unwrap_or_default();
        let (kind, operation_type) = match operation {
            "send" | "publish" => (SpanKind::Producer, "send"),
            "process" => (SpanKind::Consumer, "process"),
            _ => {
                assert!(!matches!(
                    span.kind,
                    SpanKind::Producer | SpanKind::Consumer
                ));
                continue;
            }
        };
        let attrs = &span.attributes;
        let destination = attrs.str("messaging.destination.name").unwrap_or_default();
        assert_eq!(span.kind, kind, "{span:?}");
        assert_eq!(attrs.str("messaging.system"), Some("nats"), "{span:?}");
        assert_eq!(attrs.str("messaging.operation.type"), Some(operation_type));
        assert_eq!(attrs.str("messaging.operation.name"), Some(operation));
        assert_eq!(span.name, format!("{operation} {destination}"));
        let server = (attrs.str("server.address"), attrs.i64("server.port"));
        let (Some(address), Some(port)) = server else {
            panic!("no server.address and server.port: {span:?}");
        };
        assert_eq!(format!("nats://{address}:{port}"), nats_url);
        // A failed messaging span says what kind of failure, in `error.type`.
        if matches!(span.status, SpanStatus::Error(_)) {
            assert!(attrs.str("error.type").is_some(), "{span:?}");
        }
    }
}

fn all() -> &'static [Role] {
    &Role::ALL
}

// ---------------------------------------------------------------------------------------
// Orchestration

// ANCHOR: orchestration_happy
#[tokio::test]
async fn orchestration_happy_path_is_one_trace_across_four_services() {
    let Some(run) = run(Style::Orchestration, all(), None).await else {
        return;
    };
    assert_eq!(run.outcome, Outcome::Completed);
    assert_eq!(run.history(Role::Payment), ["charged"]);
    assert_eq!(run.history(Role::Inventory), ["reserved"]);
    assert_eq!(run.history(Role::Shipping), ["scheduled"]);
    assert_eq!(run.history(Role::Order), ["completed"]);

    let services: BTreeSet<&str> = run
        .received
        .spans
        .iter()
        .map(|s| s.service_name())
        .collect();
    assert_eq!(
        services,
        BTreeSet::from(["inventory", "order", "payment", "shipping"])
    );
    // A fan-out: the orchestrator's saga span is the parent of every command.
    let saga = run.span("order", "order saga");
    otlp_testkit::assert_child_of(saga, run.span("order", "process order.place"));
    assert_eq!(
        run.children(saga),
        [
            "order: send payment.charge",
            "order: send inventory.reserve",
            "order: send shipping.schedule"
        ]
    );
    for (service, command) in [
        ("payment", "payment.charge"),
        ("inventory", "inventory.reserve"),
        ("shipping", "shipping.schedule"),
    ] {
        let send = run.span("order", &format!("send {command}"));
        let process = run.span(service, &format!("process {command}"));
        assert_eq!(
            (send.kind, process.kind),
            (SpanKind::Producer, SpanKind::Consumer)
        );
        otlp_testkit::assert_child_of(process, send);
        assert_eq!(process.attributes.str("saga.action"), Some(command));
        assert_eq!(process.attributes.str("order.id"), Some("o-1"));
    }
    assert_eq!(saga.attributes.str("saga.outcome"), Some("completed"));
    assert!(run.errors().is_empty(), "{:?}", run.errors());
}
// ANCHOR_END: orchestration_happy

// ANCHOR: orchestration_out_of_stock
#[tokio::test]
async fn orchestration_out_of_stock_refunds_the_payment() {
    let Some(run) = run(Style::Orchestration, all(), Some(Failure::OutOfStock)).await else {
        return;
    };
    let reason = "inventory.reserve: out of stock";
    assert_eq!(
        run.outcome,
        Outcome::Compensated {
            reason: reason.into()
        }
    );
    assert_eq!(run.history(Role::Payment), ["charged", "refunded"]);
    assert_eq!(run.history(Role::Inventory), ["out_of_stock"]);
    assert!(run.history(Role::Shipping).is_empty());

    // Error where the step failed, and on the saga that did not complete; nowhere else.
    assert_eq!(
        run.errors(),
        BTreeSet::from([
            "inventory: process inventory.reserve".to_string(),
            "order: order saga".to_string()
        ])
    );
    let failed = run.span("inventory", "process inventory.reserve");
    assert_eq!(failed.status, SpanStatus::Error(reason.into()));
    assert_eq!(failed.attributes.str("error.type"), Some("out_of_stock"));

    let saga = run.span("order", "order saga");
    assert_eq!(
        run.children(saga),
        [
            "order: send payment.charge",
            "order: send inventory.reserve",
            "order: compensate payment.charge"
        ]
    );
    let compensate = run.span("order", "compensate payment.charge");
    assert_eq!(
        compensate.attributes.str("saga.compensates"),
        Some("payment.charge")
    );
    assert_eq!(run.children(compensate), ["order: send payment.refund"]);
    let refund = run.span("payment", "process payment.refund");
    otlp_testkit::assert_child_of(refund, run.span("order", "send payment.refund"));
    assert_eq!(
        refund.attributes.str("saga.compensates"),
        Some("payment.charge")
    );
    assert_eq!(refund.status, SpanStatus::Unset);
}
// ANCHOR_END: orchestration_out_of_stock

#[tokio::test]
async fn orchestration_shipping_failure_releases_then_refunds() {
    let Some(run) = run(
        Style::Orchestration,
        all(),
        Some(Failure::ShippingUnavailable),
    )
    .await
    else {
        return;
    };
    let reason = "shipping.schedule: no courier available";
    assert_eq!(
        run.outcome,
        Outcome::Compensated {
            reason: reason.into()
        }
    );
    assert_eq!(run.history(Role::Payment), ["charged", "refunded"]);
    assert_eq!(run.history(Role::Inventory), ["reserved", "released"]);
    assert_eq!(run.history(Role::Shipping), ["unavailable"]);
    assert_eq!(
        run.errors(),
        BTreeSet::from([
            "shipping: process shipping.schedule".to_string(),
            "order: order saga".to_string()
        ])
    );
    // The compensations run newest step first.
    let saga = run.span("order", "order saga");
    assert_eq!(
        run.children(saga),
        [
            "order: send payment.charge",
            "order: send inventory.reserve",
            "order: send shipping.schedule",
            "order: compensate inventory.reserve",
            "order: compensate payment.charge"
        ]
    );
    let release = run.span("inventory", "process inventory.release");
    otlp_testkit::assert_child_of(release, run.span("order", "send inventory.release"));
    assert_eq!(
        release.attributes.str("saga.compensates"),
        Some("inventory.reserve")
    );
}

#[tokio::test]
async fn orchestration_declined_payment_has_nothing_to_compensate() {
    let Some(run) = run(Style::Orchestration, all(), Some(Failure::PaymentDeclined)).await else {
        return;
    };
    let reason = "payment.charge: card declined";
    assert_eq!(
        run.outcome,
        Outcome::Rejected {
            reason: reason.into()
        }
    );
    assert_eq!(run.history(Role::Payment), ["declined"]);
    assert!(run.history(Role::Inventory).is_empty());
    assert!(run.history(Role::Shipping).is_empty());
    assert_eq!(
        run.errors(),
        BTreeSet::from([
            "payment: process payment.charge".to_string(),
            "order: order saga".to_string()
        ])
    );
    let saga = run.span("order", "order saga");
    assert_eq!(run.children(saga), ["order: send payment.charge"]);
    assert_eq!(saga.attributes.str("saga.outcome"), Some("rejected"));
    let declined = run.span("payment", "process payment.charge");
    assert_eq!(declined.attributes.str("error.type"), Some("card_declined"));
}

// ANCHOR: missing_participant
#[tokio::test]
async fn orchestration_missing_participant_fails_the_send_span() {
    // No shipping service: the command has no responder, which is a transport failure.
    let roles = [Role::Order, Role::Payment, Role::Inventory];
    let Some(run) = run(Style::Orchestration, &roles, None).await else {
        return;
    };
    assert!(
        matches!(&run.outcome, Outcome::Compensated { reason } if reason.starts_with("shipping.schedule: ")),
        "{:?}",
        run.outcome
    );
    assert_eq!(run.history(Role::Payment), ["charged", "refunded"]);
    assert_eq!(run.history(Role::Inventory), ["reserved", "released"]);
    assert_eq!(
        run.errors(),
        BTreeSet::from([
            "order: send shipping.schedule".to_string(),
            "order: order saga".to_string()
        ])
    );
    let send = run.span("order", "send shipping.schedule");
    assert_eq!(send.attributes.str("error.type"), Some("no_responders"));
}
// ANCHOR_END: missing_participant

// ---------------------------------------------------------------------------------------
// Choreography

// ANCHOR: chain
/// The trace as a chain: from the root, each span's only child, down to the leaf. Panics if a
/// span has more than one child, which is what choreography's trace must not look like.
#[track_caller]
fn chain(run: &Finished) -> Vec<String> {
    let mut span = run.received.roots()[0];
    let mut links = vec![label(span)];
    loop {
        match run.received.children_of(span).as_slice() {
            [] => return links,
            [only] => {
                links.push(label(only));
                span = only;
            }
            many => panic!("{} has {} children: {links:?}", label(span), many.len()),
        }
    }
}
// ANCHOR_END: chain

// ANCHOR: choreography_happy
#[tokio::test]
async fn choreography_happy_path_is_a_chain_of_events() {
    let Some(run) = run(Style::Choreography, all(), None).await else {
        return;
    };
    assert_eq!(run.outcome, Outcome::Completed);
    assert_eq!(run.history(Role::Payment), ["charged"]);
    assert_eq!(run.history(Role::Inventory), ["reserved"]);
    assert_eq!(run.history(Role::Shipping), ["scheduled"]);
    assert_eq!(run.history(Role::Order), ["completed"]);
    assert_eq!(
        chain(&run),
        [
            "order: process order.place",
            "order: publish order.placed",
            "payment: process order.placed",
            "payment: publish payment.charged",
            "inventory: process payment.charged",
            "inventory: publish inventory.reserved",
            "shipping: process inventory.reserved",
            "shipping: publish shipping.scheduled",
            "order: process shipping.scheduled",
        ]
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    let end = run.span("order", "process shipping.scheduled");
    assert_eq!(end.attributes.str("saga.outcome"), Some("completed"));
}
// ANCHOR_END: choreography_happy

// ANCHOR: choreography_out_of_stock
#[tokio::test]
async fn choreography_out_of_stock_refunds_the_payment() {
    let Some(run) = run(Style::Choreography, all(), Some(Failure::OutOfStock)).await else {
        return;
    };
    let reason = "inventory.reserve: out of stock";
    assert_eq!(
        run.outcome,
        Outcome::Compensated {
            reason: reason.into()
        }
    );
    assert_eq!(run.history(Role::Payment), ["charged", "refunded"]);
    assert_eq!(run.history(Role::Inventory), ["out_of_stock"]);
    assert!(run.history(Role::Shipping).is_empty());
    assert_eq!(
        chain(&run),
        [
            "order: process order.place",
            "order: publish order.placed",
            "payment: process order.placed",
            "payment: publish payment.charged",
            "inventory: process payment.charged",
            "inventory: publish inventory.failed",
            "payment: process inventory.failed",
            "payment: publish payment.refunded",
            "order: process payment.refunded",
        ]
    );
    // Only the step that failed is an error: nobody owns the saga as a whole.
    assert_eq!(
        run.errors(),
        BTreeSet::from(["inventory: process payment.charged".to_string()])
    );
    let failed = run.span("inventory", "process payment.charged");
    assert_eq!(failed.status, SpanStatus::Error(reason.into()));
    assert_eq!(failed.attributes.str("error.type"), Some("out_of_stock"));
    let refund = run.span("payment", "process inventory.failed");
    assert_eq!(refund.attributes.str("saga.action"), Some("payment.refund"));
    assert_eq!(
        refund.attributes.str("saga.compensates"),
        Some("payment.charge")
    );
    let end = run.span("order", "process payment.refunded");
    assert_eq!(end.attributes.str("saga.outcome"), Some("compensated"));
}
// ANCHOR_END: choreography_out_of_stock

#[tokio::test]
async fn choreography_shipping_failure_releases_then_refunds() {
    let Some(run) = run(
        Style::Choreography,
        all(),
        Some(Failure::ShippingUnavailable),
    )
    .await
    else {
        return;
    };
    let reason = "shipping.schedule: no courier available";
    assert_eq!(
        run.outcome,
        Outcome::Compensated {
            reason: reason.into()
        }
    );
    assert_eq!(run.history(Role::Payment), ["charged", "refunded"]);
    assert_eq!(run.history(Role::Inventory), ["reserved", "released"]);
    assert_eq!(run.history(Role::Shipping), ["unavailable"]);
    assert_eq!(
        chain(&run)[6..],
        [
            "shipping: process inventory.reserved",
            "shipping: publish shipping.failed",
            "inventory: process shipping.failed",
            "inventory: publish inventory.released",
            "payment: process inventory.released",
            "payment: publish payment.refunded",
            "order: process payment.refunded",
        ]
    );
    assert_eq!(
        run.errors(),
        BTreeSet::from(["shipping: process inventory.reserved".to_string()])
    );
    let release = run.span("inventory", "process shipping.failed");
    assert_eq!(
        release.attributes.str("saga.compensates"),
        Some("inventory.reserve")
    );
    let refund = run.span("payment", "process inventory.released");
    assert_eq!(
        refund.attributes.str("saga.compensates"),
        Some("payment.charge")
    );
}

#[tokio::test]
async fn choreography_declined_payment_has_nothing_to_compensate() {
    let Some(run) = run(Style::Choreography, all(), Some(Failure::PaymentDeclined)).await else {
        return;
    };
    let reason = "payment.charge: card declined";
    assert_eq!(
        run.outcome,
        Outcome::Rejected {
            reason: reason.into()
        }
    );
    assert_eq!(run.history(Role::Payment), ["declined"]);
    assert!(run.history(Role::Inventory).is_empty());
    assert!(run.history(Role::Shipping).is_empty());
    assert_eq!(
        chain(&run),
        [
            "order: process order.place",
            "order: publish order.placed",
            "payment: process order.placed",
            "payment: publish payment.declined",
            "order: process payment.declined",
        ]
    );
    assert_eq!(
        run.errors(),
        BTreeSet::from(["payment: process order.placed".to_string()])
    );
}

// ---------------------------------------------------------------------------------------
// Error paths

/// A request that must be answered within 2 s: a service that stays silent fails the test
/// long before the client's own 10 s request timeout.
async fn prompt_request(
    client: &async_nats::Client,
    subject: &str,
    body: &str,
) -> async_nats::Message {
    let request = client.request(subject.to_owned(), body.to_owned().into());
    tokio::time::timeout(std::time::Duration::from_secs(2), request)
        .await
        .unwrap_or_else(|_| panic!("no reply to {subject} within 2 s"))
        .unwrap()
}

// ANCHOR: malformed
#[tokio::test]
async fn a_malformed_request_gets_a_failure_reply_at_once() {
    let Some(server) = test_servers::nats_or_skip() else {
        return;
    };
    let receiver = Receiver::start().unwrap();
    let config = Config {
        nats_url: server.url(),
        otlp_endpoint: Some(receiver.grpc_endpoint()),
    };
    let roles = [Role::Order, Role::Payment];
    let saga = Saga::start_only(&roles, Style::Orchestration, &config)
        .await
        .unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();

    // A participant answers a command it cannot read with a failure.
    let reply = prompt_request(&client, "payment.charge", "not json").await;
    let reply: StepReply = serde_json::from_slice(&reply.payload).unwrap();
    let failure = reply.failure.expect("a failure");
    assert!(failure.starts_with("payment.charge: decoding"), "{failure}");
    // The order service answers an order it cannot read with an error reply.
    let reply = prompt_request(&client, "order.place", "{}").await;
    let headers = reply.headers.expect("error headers");
    assert_eq!(
        headers.get("Nats-Service-Error-Code").unwrap().as_str(),
        "400"
    );
    assert!(headers.get("Nats-Service-Error").is_some());
    saga.stop().await.unwrap();

    let received = receiver.snapshot();
    for (service, name) in [
        ("payment", "process payment.charge"),
        ("order", "process order.place"),
    ] {
        let span = received
            .spans_named(name)
            .into_iter()
            .find(|s| s.service_name() == service)
            .unwrap_or_else(|| panic!("{service}: {name}"));
        assert!(matches!(&span.status, SpanStatus::Error(m) if m.contains("decoding")));
        assert_eq!(span.attributes.str("error.type"), Some("decode"));
    }
}
// ANCHOR_END: malformed

#[tokio::test]
async fn an_unreadable_event_for_a_step_publishes_its_failure_event() {
    let Some(server) = test_servers::nats_or_skip() else {
        return;
    };
    let receiver = Receiver::start().unwrap();
    let config = Config {
        nats_url: server.url(),
        otlp_endpoint: Some(receiver.grpc_endpoint()),
    };
    let saga = Saga::start_only(&[Role::Payment], Style::Choreography, &config)
        .await
        .unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut declined = client.subscribe("payment.declined").await.unwrap();
    client.flush().await.unwrap();
    // The order's id is there, the rest is not: the step fails, and says so.
    let event = serde_json::json!({ "order": { "id": "o-3" } });
    client
        .publish("order.placed", event.to_string().into())
        .await
        .unwrap();
    let wait = tokio::time::timeout(std::time::Duration::from_secs(2), declined.next());
    let message = wait.await.expect("a failure event within 2 s").unwrap();
    let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(body["order"]["id"], "o-3");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("payment.charge: unreadable event"),
        "{reason}"
    );
    saga.stop().await.unwrap();

    let received = receiver.snapshot();
    let process = received.span("process order.placed");
    assert_eq!(process.attributes.str("error.type"), Some("decode"));
    let publish = received.span("publish payment.declined");
    otlp_testkit::assert_child_of(publish, process);
}

#[tokio::test]
async fn choreography_without_an_ending_event_replies_with_an_error() {
    let Some(server) = test_servers::nats_or_skip() else {
        return;
    };
    let receiver = Receiver::start().unwrap();
    let config = Config {
        nats_url: server.url(),
        otlp_endpoint: Some(receiver.grpc_endpoint()),
    };
    // No participants: `order.placed` reaches nobody, so no ending event ever comes.
    let saga = Saga::start_only(&[Role::Order], Style::Choreography, &config)
        .await
        .unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let order = Order {
        id: "o-4".into(),
        item: "book".into(),
        amount_cents: 4200,
        fail_at: None,
    };
    // The order service gives up after 5 s, well before the client's 10 s request timeout.
    let started = std::time::Instant::now();
    let error = format!("{:#}", place_order(&client, &order).await.unwrap_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    assert!(error.contains("no ending event for order o-4"), "{error}");
    assert!(error.contains("(504)"), "{error}");
    saga.stop().await.unwrap();
}

// ANCHOR: compensation_failed
#[tokio::test]
async fn a_failed_compensation_is_an_error_span_and_an_error_log() {
    let Some(server) = test_servers::nats_or_skip() else {
        return;
    };
    let receiver = Receiver::start().unwrap();
    let config = Config {
        nats_url: server.url(),
        otlp_endpoint: Some(receiver.grpc_endpoint()),
    };
    // A stand-in payment service that charges but cannot refund: nobody listens on
    // `payment.refund`, so the compensation gets no responders.
    let payment = async_nats::connect(server.url()).await.unwrap();
    let mut charges = payment.subscribe("payment.charge").await.unwrap();
    service_telemetry::nats::subscription_ready(&payment)
        .await
        .unwrap();
    let charger = tokio::spawn(async move {
        while let Some(charge) = charges.next().await {
            let ok = serde_json::to_vec(&StepReply { failure: None }).unwrap();
            payment
                .publish(charge.reply.unwrap(), ok.into())
                .await
                .unwrap();
        }
    });
    let roles = [Role::Order, Role::Inventory, Role::Shipping];
    let saga = Saga::start_only(&roles, Style::Orchestration, &config)
        .await
        .unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let order = Order {
        id: "o-5".into(),
        item: "book".into(),
        amount_cents: 4200,
        fail_at: Some(Failure::OutOfStock),
    };
    let outcome = place_order(&client, &order).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Compensated { .. }),
        "{outcome:?}"
    );
    saga.stop().await.unwrap();
    charger.abort();

    let received = receiver.snapshot();
    let order_span = |name: &str| {
        received
            .spans_named(name)
            .into_iter()
            .find(|s| s.service_name() == "order")
            .unwrap_or_else(|| panic!("order: {name}"))
    };
    let compensate = order_span("compensate payment.charge");
    assert!(matches!(&compensate.status, SpanStatus::Error(m) if m.contains("no responders")));
    let refund = order_span("send payment.refund");
    assert!(matches!(refund.status, SpanStatus::Error(_)));
    assert_eq!(refund.attributes.str("error.type"), Some("no_responders"));
    otlp_testkit::assert_child_of(refund, compensate);
    let logs = received.logs_of(compensate);
    assert!(
        logs.iter()
            .any(|log| log.severity_text == "ERROR"
                && log.body.as_str() == Some("compensation failed")),
        "{logs:#?}"
    );
}
// ANCHOR_END: compensation_failed

// ---------------------------------------------------------------------------------------
// Configuration

#[tokio::test]
async fn an_unreachable_nats_server_is_a_clear_error() {
    let receiver = Receiver::start().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = Config {
        nats_url: format!("nats://127.0.0.1:{port}"),
        otlp_endpoint: Some(receiver.grpc_endpoint()),
    };
    let error = match Saga::start(Style::Orchestration, &config).await {
        Ok(_) => panic!("started without a NATS server"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains(&format!("connecting to NATS at nats://127.0.0.1:{port}")),
        "{error}"
    );
}

// ANCHOR: no_headers
#[tokio::test]
async fn an_event_without_trace_headers_starts_a_new_trace() {
    let Some(server) = test_servers::nats_or_skip() else {
        return;
    };
    let receiver = Receiver::start().unwrap();
    let config = Config {
        nats_url: server.url(),
        otlp_endpoint: Some(receiver.grpc_endpoint()),
    };
    let saga = Saga::start(Style::Choreography, &config).await.unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut refunded = client.subscribe("payment.refunded").await.unwrap();
    client.flush().await.unwrap();
    // A failure event published the way a hand-written script would: no headers.
    let event = serde_json::json!({
        "order": { "id": "o-2", "item": "book", "amount_cents": 4200 },
        "reason": "inventory.reserve: out of stock",
    });
    client
        .publish("inventory.failed", event.to_string().into())
        .await
        .unwrap();
    let wait = tokio::time::timeout(std::time::Duration::from_secs(5), refunded.next());
    assert!(wait.await.unwrap().is_some());
    assert_eq!(saga.ledger(Role::Payment).history("o-2"), ["refunded"]);
    saga.stop().await.unwrap();

    // The refund happened, but its trace starts at the payment service.
    let received = receiver.snapshot();
    let roots: Vec<String> = received.roots().into_iter().map(label).collect();
    assert_eq!(roots, ["payment: process inventory.failed"]);
}
// ANCHOR_END: no_headers

// ---------------------------------------------------------------------------------------
// The program

#[tokio::test]
async fn the_program_runs_four_sagas_each_in_one_trace() {
    let Some(server) = test_servers::nats_or_skip() else {
        return;
    };
    let receiver = Receiver::start().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_saga"));
    command
        .env("NATS_URL", server.url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for line in [
        "orchestration orchestration-ok: Completed",
        "orchestration orchestration-no-stock: Compensated { reason: \"inventory.reserve: out of stock\" }",
        "choreography choreography-ok: Completed",
        "choreography choreography-no-stock: Compensated { reason: \"inventory.reserve: out of stock\" }",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} not in\n{stdout}"
        );
    }
    // 8 + 9 spans orchestrated, 9 + 9 choreographed.
    let received = receiver.wait_for_spans(35).await.unwrap();
    let roots: Vec<&Span> = received.roots();
    assert_eq!(roots.len(), 4, "{:?}", received.span_names());
    for root in roots {
        assert_eq!(label(root), "order: process order.place");
        let services: BTreeSet<&str> = received
            .trace(&root.trace_id)
            .iter()
            .map(|s| s.service_name())
            .collect();
        let ok = root.attributes.str("order.id").unwrap().ends_with("-ok");
        let expected = if ok { 4 } else { 3 };
        assert_eq!(services.len(), expected, "{services:?}");
    }
}
