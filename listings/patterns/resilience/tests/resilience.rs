//! Retries, backoff, the retry budget, timeouts and the circuit breaker, checked on the spans
//! and metrics that reach the receiver, against a real (scripted) service on loopback.

use std::time::Duration;

use axum::http::StatusCode;
use otlp_testkit::{Receiver, Span, SpanKind, SpanStatus, Telemetry as Received};
use resilience::{
    CallError, CircuitBreaker, Flaky, Jitter, PricingClient, Reason, Resilience, RetryBudget,
    RetryPolicy, Step,
};
use service_telemetry::{Service, Telemetry};

const SERVICE: Service = Service {
    name: "resilience",
    version: "0.1.0",
};
const UNAVAILABLE: Step = Step::Fail(StatusCode::SERVICE_UNAVAILABLE);

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        jitter: Jitter::None,
        attempt_timeout: Duration::from_secs(1),
        deadline: Duration::from_secs(5),
    }
}

/// A client of the service at `url`; the breaker is returned too, to look at its state.
fn client(
    url: &str,
    telemetry: &Telemetry,
    policy: RetryPolicy,
    budget: RetryBudget,
    threshold: u32,
    cool_down: Duration,
) -> (PricingClient, CircuitBreaker) {
    let meter = telemetry.meter();
    let breaker = CircuitBreaker::new("pricing", threshold, cool_down, &meter);
    let resilience = Resilience {
        policy,
        budget,
        breaker: breaker.clone(),
    };
    // As in main.rs: no redirects, so one attempt span is one request.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = PricingClient::new(http, url, resilience, &meter).unwrap();
    (client, breaker)
}

fn plenty() -> RetryBudget {
    RetryBudget::new(0.2, 10, 10).unwrap()
}

/// The logical call's span for `sku`.
fn call<'a>(received: &'a Received, sku: &str) -> &'a Span {
    let spans: Vec<_> = received
        .spans_named("get_price")
        .into_iter()
        .filter(|s| s.attributes.str("sku") == Some(sku))
        .collect();
    assert_eq!(spans.len(), 1, "one get_price span for {sku}");
    spans[0]
}

fn gap(earlier: &Span, later: &Span) -> Duration {
    Duration::from_nanos(later.start_unix_nano - earlier.end_unix_nano)
}

fn transitions(span: &Span) -> Vec<(&str, &str)> {
    span.events
        .iter()
        .filter(|e| e.name == "circuit breaker state changed")
        .map(|e| {
            let from = e.attributes.str("resilience.circuit.from").unwrap();
            (from, e.attributes.str("resilience.circuit.to").unwrap())
        })
        .collect()
}

fn metric(received: &Received, name: &str, attrs: &[(&str, &str)]) -> Option<f64> {
    received
        .metric_point(name, attrs)
        .and_then(|p| p.value.as_f64())
}

// ANCHOR: attempts
#[tokio::test]
async fn each_attempt_is_a_numbered_client_span_after_an_exponential_backoff() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy(),
        plenty(),
        100,
        Duration::MAX,
    );

    pricing.then([UNAVAILABLE, UNAVAILABLE]);
    assert_eq!(client.get_price("A-1").await.unwrap(), "A-1 costs 42.00");
    assert_eq!(pricing.hits(), 3);

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let operation = call(&received, "A-1");
    assert_eq!(operation.attributes.i64("resilience.attempts"), Some(3));
    assert_eq!(operation.status, SpanStatus::Unset);

    let attempts = received.children_of(operation);
    let resends: Vec<_> = attempts
        .iter()
        .map(|a| a.attributes.i64("http.request.resend_count"))
        .collect();
    assert_eq!(resends, [None, Some(1), Some(2)]);
    let errors: Vec<_> = attempts
        .iter()
        .map(|a| a.attributes.str("error.type"))
        .collect();
    assert_eq!(errors, [Some("503"), Some("503"), None]);
    // The status code says why; no description is repeated next to it.
    assert_eq!(attempts[0].status, SpanStatus::Error(String::new()));
    for attempt in &attempts {
        assert_eq!(
            (attempt.name.as_str(), attempt.kind),
            ("GET", SpanKind::Client)
        );
        // Each attempt reached the service: its server span is below the attempt's.
        let server = received.children_of(attempt);
        assert_eq!(server.len(), 1);
        assert_eq!(server[0].name, "GET /prices/{sku}");
        assert_eq!(server[0].attributes.str("url.scheme"), Some("http"));
    }
    // Backoff 100 ms, then 200 ms. Lower bounds are exact (a sleep never ends early); the
    // upper bounds allow 300 ms of scheduling delay on a loaded machine. The events below pin
    // the schedule exactly; the gaps show that the client really waited that long.
    let slack = Duration::from_millis(300);
    let (first, second) = (gap(attempts[0], attempts[1]), gap(attempts[1], attempts[2]));
    let (expected_first, expected_second) =
        (Duration::from_millis(100), Duration::from_millis(200));
    assert!(
        first >= expected_first && first < expected_first + slack,
        "{first:?}"
    );
    assert!(
        second >= expected_second && second < expected_second + slack,
        "{second:?}"
    );
    let backoffs: Vec<_> = operation
        .events
        .iter()
        .filter(|e| e.name == "retrying after backoff")
        .map(|e| e.attributes.i64("resilience.backoff_ms"))
        .collect();
    assert_eq!(backoffs, [Some(100), Some(200)]);
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: attempts

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let (client, breaker) = client(
        &pricing.url(),
        &telemetry,
        policy(),
        plenty(),
        1,
        Duration::MAX,
    );

    pricing.then([Step::Fail(StatusCode::NOT_FOUND)]);
    let error = client.get_price("nope").await.unwrap_err();
    assert_eq!((error.reason, error.attempts), (Reason::NotRetryable, 1));
    assert_eq!(pricing.hits(), 1);
    // The service answered: even with a threshold of 1 the breaker stays closed.
    assert_eq!(breaker.state().name(), "closed");

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let operation = call(&received, "nope");
    assert_eq!(operation.attributes.str("error.type"), Some("404"));
    assert_eq!(received.children_of(operation).len(), 1);
    telemetry.shutdown().await.unwrap();
}

// ANCHOR: budget
#[tokio::test]
async fn the_retry_budget_refuses_retries_once_spent() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    // One token to start with, 0.2 more per call.
    let budget = RetryBudget::new(0.2, 1, 10).unwrap();
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy(),
        budget,
        100,
        Duration::MAX,
    );

    pricing.then([UNAVAILABLE; 5]);
    // 1.2 tokens: one retry, then the budget says no.
    let first = client.get_price("B-1").await.unwrap_err();
    assert_eq!((first.reason, first.attempts), (Reason::BudgetExhausted, 2));
    // 0.4 tokens: no retry at all.
    let second = client.get_price("B-2").await.unwrap_err();
    assert_eq!(
        (second.reason, second.attempts),
        (Reason::BudgetExhausted, 1)
    );
    assert_eq!(pricing.hits(), 3);

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    for (sku, attempts) in [("B-1", 2), ("B-2", 1)] {
        let operation = call(&received, sku);
        assert_eq!(
            operation.attributes.i64("resilience.attempts"),
            Some(attempts)
        );
        assert_eq!(operation.attributes.str("error.type"), Some("503"));
        let event = operation.event("retry budget exhausted").unwrap();
        assert_eq!(event.attributes.i64("resilience.attempts"), Some(attempts));
        // The same `warn!` is a WARN log record, carrying the call's trace and span ids.
        let logs = received.logs_of(operation);
        let warning = logs
            .iter()
            .find(|l| l.body.as_str() == Some("retry budget exhausted"))
            .expect("the warning is a log record of the call's span");
        assert_eq!(warning.severity_text, "WARN");
    }
    let denied = metric(
        &received,
        "resilience.retry.denied",
        &[("resilience.dependency", "pricing")],
    );
    assert_eq!(denied, Some(2.0));
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: budget

// ANCHOR: timeout
#[tokio::test]
async fn a_slow_attempt_times_out_and_the_next_one_succeeds() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let policy = RetryPolicy {
        attempt_timeout: Duration::from_millis(150),
        ..policy()
    };
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy,
        plenty(),
        100,
        Duration::MAX,
    );

    pricing.then([Step::Delay(Duration::from_millis(600))]);
    assert_eq!(client.get_price("C-1").await.unwrap(), "C-1 costs 42.00");

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let attempts = received.children_of(call(&received, "C-1"));
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].attributes.str("error.type"), Some("timeout"));
    assert_eq!(attempts[0].status, SpanStatus::Error("timed out".into()));
    assert!(
        attempts[0]
            .attributes
            .i64("http.response.status_code")
            .is_none()
    );
    let waited = attempts[0].duration();
    assert!(waited >= Duration::from_millis(150) && waited < Duration::from_millis(600));
    assert_eq!(attempts[1].status, SpanStatus::Unset);
    // Giving up closed the connection; the service dropped the request half-way, so its span
    // ends with the client's timeout and has no status code.
    let [server] = received.children_of(attempts[0])[..] else {
        panic!("the timed-out attempt reached the service");
    };
    assert!(server.attributes.i64("http.response.status_code").is_none());
    assert!(server.duration() < Duration::from_millis(600));
    telemetry.shutdown().await.unwrap();
}
// ANCHOR_END: timeout

#[tokio::test]
async fn the_deadline_bounds_the_whole_call() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    // Attempt 1 times out at 300 ms, backoff 100 ms, attempt 2 times out at 700 ms; the next
    // backoff (200 ms) would reach the 900 ms deadline, so there is no attempt 3. Attempt 2
    // must start before 800 ms: 400 ms of slack for a loaded machine.
    let policy = RetryPolicy {
        max_attempts: 5,
        attempt_timeout: Duration::from_millis(300),
        deadline: Duration::from_millis(900),
        ..policy()
    };
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy,
        plenty(),
        100,
        Duration::MAX,
    );

    pricing.then([Step::Delay(Duration::from_secs(2)); 3]);
    let error = client.get_price("D-1").await.unwrap_err();
    assert_eq!(
        (error.reason, error.attempts),
        (Reason::DeadlineExceeded, 2)
    );
    assert_eq!(error.error_type(), "timeout");

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let operation = call(&received, "D-1");
    assert_eq!(operation.attributes.str("error.type"), Some("timeout"));
    assert!(
        operation
            .event("the deadline leaves no time for another attempt")
            .is_some()
    );
    // Without the deadline a third attempt would follow: 1200 ms at the very least.
    let took = operation.duration();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(1200),
        "{took:?}"
    );
    telemetry.shutdown().await.unwrap();
}

// ANCHOR: breaker
/// No retries here (one attempt per call), so each call is one step of the breaker.
#[tokio::test]
async fn the_breaker_opens_half_opens_and_closes() {
    const COOL_DOWN: Duration = Duration::from_millis(500);
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 1,
        ..policy()
    };
    let (client, breaker) = client(&pricing.url(), &telemetry, policy, plenty(), 3, COOL_DOWN);
    let open = |e: CallError| (e.reason, e.attempts) == (Reason::CircuitOpen, 0);

    pricing.then([UNAVAILABLE; 3]);
    for sku in ["E-1", "E-2", "E-3"] {
        assert_eq!(
            client.get_price(sku).await.unwrap_err().reason,
            Reason::AttemptsExhausted
        );
    }
    assert_eq!(breaker.state().name(), "open");
    assert!(open(client.get_price("E-4").await.unwrap_err()));
    assert_eq!(
        pricing.hits(),
        3,
        "an open breaker does not call the service"
    );

    tokio::time::sleep(COOL_DOWN).await;
    // No timer: the breaker stays open until the next call arrives.
    assert_eq!(breaker.state().name(), "open");
    pricing.then([UNAVAILABLE]);
    client.get_price("E-5").await.unwrap_err(); // the probe fails: open again
    assert!(open(client.get_price("E-6").await.unwrap_err()));

    tokio::time::sleep(COOL_DOWN).await;
    client.get_price("E-7").await.unwrap(); // the probe succeeds: closed
    assert_eq!(breaker.state().name(), "closed");
    assert_eq!(pricing.hits(), 5);
    // ANCHOR_END: breaker

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    // ANCHOR: breaker-spans
    // Each change is an event on the span of the call during which it happened.
    assert_eq!(transitions(call(&received, "E-2")), []);
    assert_eq!(transitions(call(&received, "E-3")), [("closed", "open")]);
    assert_eq!(
        transitions(call(&received, "E-5")),
        [("open", "half_open"), ("half_open", "open")]
    );
    assert_eq!(
        transitions(call(&received, "E-7")),
        [("open", "half_open"), ("half_open", "closed")]
    );
    // Turned away: no attempt span, marked, and fast.
    for sku in ["E-4", "E-6"] {
        let rejected = call(&received, sku);
        assert!(received.children_of(rejected).is_empty());
        assert_eq!(rejected.attributes.str("error.type"), Some("circuit_open"));
        assert_eq!(rejected.attributes.i64("resilience.attempts"), Some(0));
        assert!(matches!(rejected.status, SpanStatus::Error(_)));
        assert!(rejected.duration() < Duration::from_millis(250));
    }

    let pricing_dep = ("resilience.dependency", "pricing");
    let moved = |from, to| {
        let attrs = [
            pricing_dep,
            ("resilience.circuit.from", from),
            ("resilience.circuit.to", to),
        ];
        metric(&received, "resilience.circuit.transitions", &attrs)
    };
    assert_eq!(moved("closed", "open"), Some(1.0));
    assert_eq!(moved("open", "half_open"), Some(2.0));
    assert_eq!(moved("half_open", "open"), Some(1.0));
    assert_eq!(moved("half_open", "closed"), Some(1.0));
    let state = |s| {
        metric(
            &received,
            "resilience.circuit.state",
            &[pricing_dep, ("resilience.circuit.state", s)],
        )
    };
    assert_eq!(
        (state("closed"), state("open"), state("half_open")),
        (Some(1.0), Some(0.0), Some(0.0))
    );
    assert_eq!(
        metric(&received, "resilience.circuit.rejected", &[pricing_dep]),
        Some(2.0)
    );
    // ANCHOR_END: breaker-spans
    telemetry.shutdown().await.unwrap();
}

#[tokio::test]
async fn half_open_lets_one_probe_through_at_a_time() {
    const COOL_DOWN: Duration = Duration::from_millis(100);
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 1,
        ..policy()
    };
    let (client, breaker) = client(&pricing.url(), &telemetry, policy, plenty(), 1, COOL_DOWN);

    pricing.then([UNAVAILABLE]);
    client.get_price("H-1").await.unwrap_err();
    tokio::time::sleep(COOL_DOWN).await;
    // `join!` polls in order: H-2 takes the probe, then H-3 finds the breaker half-open.
    pricing.then([Step::Delay(Duration::from_millis(200))]);
    let (probe, other) = tokio::join!(client.get_price("H-2"), client.get_price("H-3"));
    assert_eq!(probe.unwrap(), "H-2 costs 42.00");
    let other = other.unwrap_err();
    assert_eq!((other.reason, other.attempts), (Reason::CircuitOpen, 0));
    assert_eq!(breaker.state().name(), "closed");
    assert_eq!(pricing.hits(), 2);

    // A probe whose caller gives up (the future is dropped) counts as a failure.
    pricing.then([UNAVAILABLE, Step::Delay(Duration::from_secs(1))]);
    client.get_price("H-4").await.unwrap_err();
    tokio::time::sleep(COOL_DOWN).await;
    let gave_up = tokio::time::timeout(Duration::from_millis(50), client.get_price("H-5")).await;
    assert!(gave_up.is_err());
    assert_eq!(breaker.state().name(), "open");

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let attrs = [
        ("resilience.dependency", "pricing"),
        ("resilience.circuit.from", "half_open"),
        ("resilience.circuit.to", "open"),
    ];
    assert_eq!(
        metric(&received, "resilience.circuit.transitions", &attrs),
        Some(1.0)
    );
    assert_eq!(
        transitions(call(&received, "H-5")),
        [("open", "half_open"), ("half_open", "open")]
    );
    telemetry.shutdown().await.unwrap();
}

#[tokio::test]
async fn retries_stop_when_the_breaker_opens() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 5,
        ..policy()
    };
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy,
        plenty(),
        2,
        Duration::from_secs(60),
    );

    pricing.then([UNAVAILABLE; 5]);
    let error = client.get_price("F-1").await.unwrap_err();
    assert_eq!((error.reason, error.attempts), (Reason::CircuitOpen, 2));
    assert_eq!(pricing.hits(), 2);

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let operation = call(&received, "F-1");
    assert_eq!(received.children_of(operation).len(), 2);
    assert_eq!(operation.attributes.str("error.type"), Some("circuit_open"));
    assert_eq!(transitions(operation), [("closed", "open")]);
    // One backoff (between attempts 1 and 2), none after the breaker opened.
    let backoffs = operation
        .events
        .iter()
        .filter(|e| e.name == "retrying after backoff")
        .count();
    assert_eq!(backoffs, 1);
    telemetry.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_program_retries_times_out_and_cycles_the_breaker() {
    let receiver = Receiver::start().unwrap();
    let mut program = std::process::Command::new(env!("CARGO_BIN_EXE_resilience"));
    program
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
        .env("RUST_LOG", "off");
    let output = tokio::task::spawn_blocking(move || program.output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines[0], "A-1 costs 42.00");
    assert_eq!(lines[1], "A-2 costs 42.00");
    assert!(
        lines[2].starts_with("A-3: failed (503): attempts exhausted after 3"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("A-4: failed (circuit_open)"),
        "{stdout}"
    );
    assert_eq!(lines[4], "A-5 costs 42.00");
    assert_eq!(lines[5], "the pricing service saw 8 requests");

    let received = receiver.snapshot();
    assert_eq!(received.spans_named("get_price").len(), 5);
    assert_eq!(received.spans_named("GET").len(), 8);
}

/// The last attempt's timeout is clipped to what is left of the deadline.
#[tokio::test]
async fn the_last_attempt_gets_only_the_time_left_before_the_deadline() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    // Attempt 1 times out at 500 ms, backoff 100 ms, attempt 2 gets the 200 ms that are left.
    let policy = RetryPolicy {
        attempt_timeout: Duration::from_millis(500),
        deadline: Duration::from_millis(800),
        ..policy()
    };
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy,
        plenty(),
        100,
        Duration::MAX,
    );

    pricing.then([Step::Delay(Duration::from_secs(2)); 3]);
    let error = client.get_price("T-1").await.unwrap_err();
    assert_eq!(
        (error.reason, error.attempts),
        (Reason::DeadlineExceeded, 2)
    );

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let operation = call(&received, "T-1");
    let attempts = received.children_of(operation);
    assert_eq!(attempts.len(), 2);
    // A timeout never fires early: unclipped, attempt 2 would take at least 500 ms and the
    // call at least 1100 ms.
    assert!(attempts[0].duration() >= Duration::from_millis(500));
    let second = attempts[1].duration();
    assert!(second < Duration::from_millis(450), "{second:?}");
    assert_eq!(attempts[1].attributes.str("error.type"), Some("timeout"));
    let took = operation.duration();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(1050),
        "{took:?}"
    );
    telemetry.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_429_is_retried() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy(),
        plenty(),
        100,
        Duration::MAX,
    );

    pricing.then([Step::Fail(StatusCode::TOO_MANY_REQUESTS)]);
    assert_eq!(client.get_price("R-1").await.unwrap(), "R-1 costs 42.00");
    assert_eq!(pricing.hits(), 2);

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let attempts = received.children_of(call(&received, "R-1"));
    let errors: Vec<_> = attempts
        .iter()
        .map(|a| a.attributes.str("error.type"))
        .collect();
    assert_eq!(errors, [Some("429"), None]);
    telemetry.shutdown().await.unwrap();
}

/// Nothing listens on the port: each attempt is a `connect` error, retried, and counted by
/// the breaker as a failure.
#[tokio::test]
async fn connection_errors_are_retried_and_open_the_breaker() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let policy = RetryPolicy {
        max_attempts: 2,
        ..policy()
    };
    let (client, breaker) = client(&url, &telemetry, policy, plenty(), 2, Duration::MAX);

    let error = client.get_price("C-1").await.unwrap_err();
    assert_eq!(
        (error.reason, error.attempts),
        (Reason::AttemptsExhausted, 2)
    );
    assert_eq!(error.error_type(), "connect");
    assert_eq!(breaker.state().name(), "open");

    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let operation = call(&received, "C-1");
    assert_eq!(operation.attributes.str("error.type"), Some("connect"));
    let attempts = received.children_of(operation);
    assert_eq!(attempts.len(), 2);
    for attempt in attempts {
        assert_eq!(attempt.attributes.str("error.type"), Some("connect"));
        assert!(
            attempt
                .attributes
                .i64("http.response.status_code")
                .is_none()
        );
        // No status code to explain it: the transport error is the description.
        assert!(matches!(&attempt.status, SpanStatus::Error(d) if !d.is_empty()));
    }
    telemetry.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let policy = RetryPolicy {
        max_attempts: 1,
        ..policy()
    };
    let (client, breaker) = client(
        &pricing.url(),
        &telemetry,
        policy,
        plenty(),
        2,
        Duration::MAX,
    );

    pricing.then([UNAVAILABLE]);
    client.get_price("S-1").await.unwrap_err();
    client.get_price("S-2").await.unwrap();
    pricing.then([UNAVAILABLE]);
    client.get_price("S-3").await.unwrap_err();
    // Two failures, but not consecutive.
    assert_eq!(breaker.state().name(), "closed");
    pricing.then([UNAVAILABLE]);
    client.get_price("S-4").await.unwrap_err();
    assert_eq!(breaker.state().name(), "open");
    // A cool-down too long to represent: open for good, and no panic computing it.
    let error = client.get_price("S-5").await.unwrap_err();
    assert_eq!(error.reason, Reason::CircuitOpen);
    assert_eq!(pricing.hits(), 4);

    pricing.shutdown().await.unwrap();
    telemetry.shutdown().await.unwrap();
}

/// `Duration::MAX` as the deadline means no deadline, not an overflow.
#[tokio::test]
async fn a_deadline_too_far_away_to_represent_is_no_deadline() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let policy = RetryPolicy {
        deadline: Duration::MAX,
        ..policy()
    };
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy,
        plenty(),
        100,
        Duration::MAX,
    );

    pricing.then([UNAVAILABLE]);
    assert_eq!(client.get_price("M-1").await.unwrap(), "M-1 costs 42.00");
    assert_eq!(pricing.hits(), 2);
    pricing.shutdown().await.unwrap();
    telemetry.shutdown().await.unwrap();
}

/// The SKU is one percent-encoded path segment under the base URL's path.
#[tokio::test]
async fn the_sku_is_one_encoded_path_segment() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(SERVICE, Some(&receiver.grpc_endpoint())).unwrap();
    let _guard = telemetry.set_default();
    let pricing = Flaky::start().await.unwrap();
    let (client, _) = client(
        &pricing.url(),
        &telemetry,
        policy(),
        plenty(),
        100,
        Duration::MAX,
    );

    assert_eq!(
        client.get_price("a/b?c").await.unwrap(),
        "a/b?c costs 42.00"
    );
    let error = client.get_price("..").await.unwrap_err();
    assert_eq!((error.reason, error.attempts), (Reason::InvalidSku, 0));
    assert_eq!(error.error_type(), "invalid_sku");
    assert_eq!(pricing.hits(), 1);

    pricing.shutdown().await.unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();
    let [attempt] = received.children_of(call(&received, "a/b?c"))[..] else {
        panic!("one attempt");
    };
    let url = attempt.attributes.str("url.full").unwrap();
    assert!(url.ends_with("/prices/a%2Fb%3Fc"), "{url}");
    telemetry.shutdown().await.unwrap();
}
