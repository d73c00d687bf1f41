//! The saga over a real NATS server, with each service exporting to an in-process OTLP
//! receiver under its own `service.name`: the happy path and every compensation, orchestrated
//! and choreographed. Each test places one order, stops the services (which shuts their
//! telemetry down, so every span is at the receiver) and then looks at one trace.

use std::collections::BTreeSet;

use futures_util::StreamExt as _;

use otlp_testkit::{Receiver, Span, SpanKind, SpanStatus, Telemetry};
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
    assert_messaging_conventions(&finished.received);
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
/// follows the messaging semantic conventions; no other span has a messaging kind.
#[track_caller]
fn assert_messaging_conventions(received: &Telemetry) {
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
