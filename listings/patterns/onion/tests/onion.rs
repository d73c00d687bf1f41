//! The onion's rules, checked two ways: by reading the source (dependencies point inwards) and by
//! driving the real service over HTTP on a SQLite file and reading what arrived over OTLP.

use onion::Bank;
use onion::domain::model::{AccountId, Amount};
use onion::domain::services::{AccountRepository, RepositoryError};
use onion::infrastructure::SqliteAccounts;
use otlp_testkit::{Receiver, Span, SpanKind, SpanStatus, Telemetry as Received};
use serde_json::{Value, json};
use service_telemetry::{Service, Telemetry};
use sqlx::Row as _;
use sqlx::sqlite::SqlitePoolOptions;
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// The rings, read from the source.

// ANCHOR: rings
/// Each ring module, its file, and its ring (1 = the centre).
const RINGS: &[(&str, &str, u8)] = &[
    ("model", "src/domain/model.rs", 1),
    ("services", "src/domain/services.rs", 2),
    ("application", "src/application.rs", 3),
    ("infrastructure", "src/infrastructure.rs", 4),
    ("web", "src/web.rs", 4),
    ("bootstrap", "src/bootstrap.rs", 4),
];

/// External crates a ring must not name: the domain knows no technology at all, the
/// application ring no database and no HTTP.
fn forbidden_crates(ring: u8) -> &'static [&'static str] {
    match ring {
        1 | 2 => &[
            "sqlx",
            "axum",
            "reqwest",
            "serde",
            "tokio",
            "tracing",
            "tracing_opentelemetry",
            "opentelemetry",
        ],
        3 => &["sqlx", "axum", "reqwest", "serde"],
        _ => &[],
    }
}

/// What in `source` (a file of ring `ring`) points outwards: a `crate::`/`super::` path that
/// names a module of an outer ring, or a forbidden crate.
fn outward_references(source: &str, ring: u8) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let words: Vec<&str> = code
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if code.contains("crate::") || code.contains("super::") {
            for (module, _, other) in RINGS {
                if *other > ring && words.contains(module) {
                    found.push(format!("line {}: names {module} (ring {other})", n + 1));
                }
            }
        }
        for krate in forbidden_crates(ring) {
            let path = format!("{krate}::");
            let at_word_start = code.match_indices(&path).any(|(i, _)| {
                !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if at_word_start {
                found.push(format!("line {}: uses the crate {krate}", n + 1));
            }
        }
    }
    found
}

#[test]
fn rings_depend_only_inward() {
    for (module, file, ring) in RINGS {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let source = std::fs::read_to_string(&path).unwrap();
        let outward = outward_references(&source, *ring);
        assert!(
            outward.is_empty(),
            "{module} (ring {ring}) points outwards: {outward:#?}"
        );
    }
}
// ANCHOR_END: rings

#[test]
fn the_ring_check_catches_outward_references() {
    // Each of these would be a broken onion; the check must say so.
    let broken = [
        ("use crate::infrastructure::SqliteAccounts;", 2),
        (
            "use crate::{application::BankService, domain::model::Account};",
            1,
        ),
        ("use super::services::AccountRepository;", 1),
        ("let row = sqlx::query(SELECT);", 2),
        ("tracing::info!(\"deposited\");", 1),
        ("use axum::Json;", 3),
    ];
    for (line, ring) in broken {
        assert!(!outward_references(line, ring).is_empty(), "missed: {line}");
    }
    let fine = [
        ("use crate::domain::model::{Account, AccountId};", 2),
        ("use crate::domain::services::{self, AccountRepository};", 3),
        ("use tracing::{Instrument, Span};", 3),
        ("// the web ring (crate::web) is outside", 1),
    ];
    for (line, ring) in fine {
        assert_eq!(
            outward_references(line, ring),
            Vec::<String>::new(),
            "{line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The service, over HTTP and SQLite, seen through OTLP.

struct Harness {
    receiver: Receiver,
    telemetry: Telemetry,
    bank: Bank,
    client: reqwest::Client,
    database_url: String,
    _dir: TempDir,
}

impl Harness {
    async fn start() -> (Harness, tracing::subscriber::DefaultGuard) {
        let receiver = Receiver::start().unwrap();
        let telemetry = Telemetry::init(
            Service {
                name: "onion-bank",
                version: "test",
            },
            Some(&receiver.grpc_endpoint()),
        )
        .unwrap();
        let guard = telemetry.set_default();
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("bank.db").display());
        let bank = Bank::start(&database_url, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let harness = Harness {
            receiver,
            telemetry,
            bank,
            client: reqwest::Client::new(),
            database_url,
            _dir: dir,
        };
        (harness, guard)
    }

    async fn post(&self, path: &str, body: Value) -> u16 {
        let response = self
            .client
            .post(format!("{}{path}", self.bank.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// The status and the JSON body of a `POST` with a raw body and content type.
    async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.bank.url()))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// A second connection to the SQLite file, past every ring.
    async fn database(&self) -> sqlx::SqlitePool {
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&self.database_url)
            .await
            .unwrap()
    }

    /// Balance and version straight from the SQLite file, past every ring.
    async fn stored(&self, id: &str) -> (i64, i64) {
        let pool = self.database().await;
        let row = sqlx::query("SELECT balance_cents, version FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        let stored = (row.get("balance_cents"), row.get("version"));
        pool.close().await;
        stored
    }

    /// Stops the server, exports everything and returns what the receiver got.
    async fn finish(self) -> Received {
        self.bank.shutdown().await.unwrap();
        self.telemetry.shutdown().await.unwrap();
        self.receiver.snapshot()
    }
}

/// The server span of the `nth` request (0-based) to `route` and its whole trace.
fn request<'a>(received: &'a Received, name: &str, nth: usize) -> (&'a Span, Vec<&'a Span>) {
    let mut servers = received.spans_named(name);
    servers.sort_by_key(|s| s.start_unix_nano);
    let server = servers[nth];
    (server, received.trace(&server.trace_id))
}

fn named<'a>(spans: &[&'a Span], name: &str) -> Vec<&'a Span> {
    spans.iter().copied().filter(|s| s.name == name).collect()
}

fn event_names(span: &Span) -> Vec<&str> {
    span.events.iter().map(|e| e.name.as_str()).collect()
}

fn assert_db_span(span: &Span, operation: &str) {
    assert_eq!(span.name, format!("{operation} accounts"));
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(span.attributes.str("db.system.name"), Some("sqlite"));
    assert_eq!(span.attributes.str("db.operation.name"), Some(operation));
    assert_eq!(span.attributes.str("db.collection.name"), Some("accounts"));
    let query = span.attributes.str("db.query.text").unwrap();
    assert!(
        query.starts_with(operation) && query.contains('?'),
        "{query}"
    );
    assert!(
        !query.contains("alice"),
        "values must not reach telemetry: {query}"
    );
}

#[tokio::test]
async fn each_use_case_is_a_span_between_http_and_the_database() {
    let (h, _guard) = Harness::start().await;
    assert_eq!(h.post("/accounts", json!({ "id": "alice" })).await, 201);
    let deposit = json!({ "amount_cents": 10000 });
    assert_eq!(h.post("/accounts/alice/deposits", deposit).await, 200);
    let withdrawal = json!({ "amount_cents": 3000 });
    assert_eq!(h.post("/accounts/alice/withdrawals", withdrawal).await, 200);
    assert_eq!(h.stored("alice").await, (7000, 2));
    let received = h.finish().await;

    // Opening: the event of the aggregate's birth, on the use-case span.
    let (_, trace) = request(&received, "POST /accounts", 0);
    let open = named(&trace, "BankService.open")[0];
    assert_eq!(event_names(open), ["AccountOpened"]);
    assert_db_span(named(&trace, "INSERT accounts")[0], "INSERT");

    // ANCHOR: tree
    let (server, _) = request(&received, "POST /accounts/{id}/withdrawals", 0);
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(200)
    );
    let [use_case] = received.children_of(server)[..] else {
        panic!("one use-case span under the server span")
    };
    assert_eq!(use_case.name, "BankService.withdraw");
    assert_eq!(use_case.kind, SpanKind::Internal);
    let db: Vec<&str> = received
        .children_of(use_case)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(db, ["SELECT accounts", "UPDATE accounts"]);

    let withdrawn = use_case.event("MoneyWithdrawn").unwrap();
    assert_eq!(withdrawn.attributes.str("bank.account.id"), Some("alice"));
    assert_eq!(withdrawn.attributes.i64("bank.amount_cents"), Some(3000));
    assert_eq!(withdrawn.attributes.i64("bank.balance_cents"), Some(7000));
    // ANCHOR_END: tree
    assert_eq!(server.attributes.str("url.scheme"), Some("http"));
    assert_eq!(server.attributes.str("error.type"), None);
    for span in received.children_of(use_case) {
        let operation = span.name.split(' ').next().unwrap();
        assert_db_span(span, operation);
    }
    assert!(received.spans.iter().all(|s| s.status == SpanStatus::Unset));

    let (_, trace) = request(&received, "POST /accounts/{id}/deposits", 0);
    let deposit = named(&trace, "BankService.deposit")[0];
    let deposited = deposit.event("MoneyDeposited").unwrap();
    assert_eq!(deposited.attributes.i64("bank.balance_cents"), Some(10000));
}

#[tokio::test]
async fn an_overdraft_is_an_error_of_the_use_case_span_only() {
    let (h, _guard) = Harness::start().await;
    assert_eq!(h.post("/accounts", json!({ "id": "alice" })).await, 201);
    let deposit = json!({ "amount_cents": 2000 });
    assert_eq!(h.post("/accounts/alice/deposits", deposit).await, 200);
    let overdraft = json!({ "amount_cents": 8000 });
    assert_eq!(h.post("/accounts/alice/withdrawals", overdraft).await, 422);
    // Nothing was written: the balance and the version are those of after the deposit.
    assert_eq!(h.stored("alice").await, (2000, 1));
    let received = h.finish().await;

    // ANCHOR: overdraft
    let (server, trace) = request(&received, "POST /accounts/{id}/withdrawals", 0);
    let failed: Vec<&str> = trace
        .iter()
        .filter(|s| matches!(s.status, SpanStatus::Error(_)))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(failed, ["BankService.withdraw"]);

    let use_case = named(&trace, "BankService.withdraw")[0];
    let SpanStatus::Error(description) = &use_case.status else {
        unreachable!()
    };
    assert_eq!(
        description,
        "insufficient funds in account alice: balance 2000 cents, requested 8000 cents"
    );
    assert_eq!(event_names(use_case), ["WithdrawalRejected"]);
    let rejected = use_case.event("WithdrawalRejected").unwrap();
    assert_eq!(rejected.attributes.i64("bank.amount_cents"), Some(8000));
    assert_eq!(rejected.attributes.i64("bank.balance_cents"), Some(2000));

    // A 4xx leaves the server span unset; the read succeeded; nothing was updated.
    assert_eq!(server.status, SpanStatus::Unset);
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(422)
    );
    let db: Vec<&str> = received
        .children_of(use_case)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(db, ["SELECT accounts"]);
    // ANCHOR_END: overdraft
}

#[tokio::test]
async fn a_duplicate_account_fails_the_statement_and_the_use_case() {
    let (h, _guard) = Harness::start().await;
    assert_eq!(h.post("/accounts", json!({ "id": "alice" })).await, 201);
    assert_eq!(h.post("/accounts", json!({ "id": "alice" })).await, 409);
    let received = h.finish().await;

    // Here the database itself refused (a unique constraint): the statement's span is an error,
    // with SQLite's error code; so is the use case; the 409 leaves the server span unset.
    let (server, trace) = request(&received, "POST /accounts", 1);
    let insert = named(&trace, "INSERT accounts")[0];
    assert!(matches!(&insert.status, SpanStatus::Error(d) if d.contains("UNIQUE")));
    let code = insert.attributes.str("error.type").unwrap();
    assert!(
        code.parse::<i64>().is_ok(),
        "SQLite error code, got {code:?}"
    );
    let open = named(&trace, "BankService.open")[0];
    assert_eq!(
        open.status,
        SpanStatus::Error("account alice already exists".into())
    );
    assert!(
        open.events.is_empty(),
        "no AccountOpened for an account not stored"
    );
    assert_eq!(server.status, SpanStatus::Unset);
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(409)
    );
}

#[tokio::test]
async fn a_transfer_is_one_use_case_over_two_aggregates() {
    let (h, _guard) = Harness::start().await;
    assert_eq!(h.post("/accounts", json!({ "id": "alice" })).await, 201);
    assert_eq!(h.post("/accounts", json!({ "id": "bob" })).await, 201);
    let deposit = json!({ "amount_cents": 10000 });
    assert_eq!(h.post("/accounts/alice/deposits", deposit).await, 200);
    let transfer = json!({ "from": "alice", "to": "bob", "amount_cents": 4000 });
    assert_eq!(h.post("/transfers", transfer).await, 204);
    let too_much = json!({ "from": "alice", "to": "bob", "amount_cents": 9000 });
    assert_eq!(h.post("/transfers", too_much).await, 422);
    assert_eq!(h.stored("alice").await, (6000, 2));
    assert_eq!(h.stored("bob").await, (4000, 1));
    let received = h.finish().await;

    // Both aggregates' events, in the order the domain raised them, on one span.
    let (_, trace) = request(&received, "POST /transfers", 0);
    let done = named(&trace, "BankService.transfer")[0];
    assert_eq!(done.status, SpanStatus::Unset);
    assert_eq!(event_names(done), ["MoneyWithdrawn", "MoneyDeposited"]);
    let ids: Vec<_> = done
        .events
        .iter()
        .map(|e| e.attributes.str("bank.account.id"))
        .collect();
    assert_eq!(ids, [Some("alice"), Some("bob")]);
    let db: Vec<&str> = received
        .children_of(done)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        db,
        [
            "SELECT accounts",
            "SELECT accounts",
            "UPDATE accounts",
            "UPDATE accounts"
        ]
    );

    // The refused transfer: an error of the use case, Bob untouched, no UPDATE at all.
    let (server, trace) = request(&received, "POST /transfers", 1);
    let refused = named(&trace, "BankService.transfer")[0];
    assert!(matches!(&refused.status, SpanStatus::Error(d) if d.starts_with("insufficient funds")));
    assert_eq!(event_names(refused), ["WithdrawalRejected"]);
    assert_eq!(server.status, SpanStatus::Unset);
    assert!(named(&trace, "UPDATE accounts").is_empty());
    assert!(
        named(&trace, "SELECT accounts")
            .iter()
            .all(|s| s.status == SpanStatus::Unset)
    );
}

// ANCHOR: error_field
/// Reproduces a mistake to avoid in the web ring: an event whose first field is `error` (what
/// `#[instrument(err)]` emits) makes tracing-opentelemetry set the status of the span it is in.
/// With a message first, the same field is only an attribute of the event.
#[tokio::test]
async fn an_event_led_by_an_error_field_marks_the_enclosing_span_as_failed() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(
        Service {
            name: "onion-bank",
            version: "test",
        },
        Some(&receiver.grpc_endpoint()),
    )
    .unwrap();
    let guard = telemetry.set_default();
    #[tracing::instrument(err)]
    fn refuse() -> Result<(), String> {
        Err("insufficient funds".to_owned())
    }
    let _ = refuse();
    let reason = "insufficient funds";
    tracing::info_span!("error field first").in_scope(|| tracing::info!(error = %reason));
    tracing::info_span!("message first").in_scope(|| tracing::info!(error = %reason, "refused"));
    drop(guard);
    telemetry.shutdown().await.unwrap();
    let received = receiver.snapshot();
    assert!(matches!(
        received.span("refuse").status,
        SpanStatus::Error(_)
    ));
    assert!(matches!(
        received.span("error field first").status,
        SpanStatus::Error(_)
    ));
    assert_eq!(received.span("message first").status, SpanStatus::Unset);
}
// ANCHOR_END: error_field

// ANCHOR: conflict
/// Optimistic concurrency: saving an account loaded before someone else's save is a conflict.
/// The transaction is rolled back explicitly, without the caller's span: dropped inside the use
/// case, it would hand that span to sqlx's worker thread, and under a per-thread subscriber
/// (`set_default`, as here) the spans above it would never be closed nor exported.
#[tokio::test]
async fn a_stale_save_is_a_conflict_and_the_callers_spans_still_end() {
    const ROUNDS: usize = 20;
    let (h, _guard) = Harness::start().await;
    assert_eq!(h.post("/accounts", json!({ "id": "alice" })).await, 201);
    let accounts = SqliteAccounts::connect(&h.database_url).await.unwrap();
    let alice = AccountId::new("alice");
    let mut first = accounts.find(&alice).await.unwrap().unwrap();
    let mut stale = accounts.find(&alice).await.unwrap().unwrap();
    first.deposit(Amount::of_cents(500).unwrap());
    accounts.save(&[&first]).await.unwrap();

    // Whether sqlx's worker thread or this one drops the span last is a race; a few rounds
    // make sure the worker wins at least once.
    stale.deposit(Amount::of_cents(700).unwrap());
    for _ in 0..ROUNDS {
        let request = tracing::info_span!("request");
        let use_case = tracing::info_span!(parent: &request, "use case");
        let saved = tracing::Instrument::instrument(accounts.save(&[&stale]), use_case).await;
        drop(request);
        assert!(matches!(saved, Err(RepositoryError::Conflict(id)) if id == alice));
    }
    // The first save stands; the stale ones changed nothing.
    assert_eq!(h.stored("alice").await, (500, 1));
    let received = h.finish().await;

    // Every caller's span arrived, each with its use case and the UPDATE that matched no row:
    // the repository's verdict, not an error of the database.
    let requests = received.spans_named("request");
    assert_eq!(requests.len(), ROUNDS, "every caller's span arrived");
    for request in requests {
        let [use_case] = received.children_of(request)[..] else {
            panic!("one use case under each request")
        };
        let [update] = received.children_of(use_case)[..] else {
            panic!("one UPDATE under the use case")
        };
        assert_db_span(update, "UPDATE");
        assert_eq!(update.status, SpanStatus::Unset);
    }
}
// ANCHOR_END: conflict

#[tokio::test]
async fn malformed_requests_are_a_400_with_a_json_error() {
    let (h, _guard) = Harness::start().await;
    let json = "application/json";
    let cases = [
        ("/accounts", json, "{\"id\": ", 400, "Failed to parse"),
        ("/accounts", json, "{}", 400, "missing field `id`"),
        (
            "/accounts",
            "text/plain",
            "{\"id\": \"a\"}",
            415,
            "Content-Type",
        ),
        (
            "/accounts",
            json,
            "{\"id\": \"\"}",
            400,
            "invalid account id \"\"",
        ),
        (
            "/accounts",
            json,
            "{\"id\": \"a/b\"}",
            400,
            "must not contain '/'",
        ),
        (
            "/accounts/a%2Fb/deposits",
            json,
            "{\"amount_cents\": 1}",
            400,
            "invalid account id",
        ),
        (
            "/accounts/alice/deposits",
            json,
            "{\"amount_cents\": \"ten\"}",
            400,
            "amount_cents",
        ),
    ];
    for (path, content_type, body, status, message) in cases {
        let (got, answer) = h.post_raw(path, content_type, body).await;
        let error = answer["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert!(error.contains(message), "{path} {body}: {error}");
    }
    let received = h.finish().await;

    // None of them became a use case, and a 4xx is not an error of the server span.
    let servers: Vec<&Span> = received
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .collect();
    assert_eq!(servers.len(), cases.len());
    for server in servers {
        assert_eq!(server.status, SpanStatus::Unset, "{}", server.name);
        assert!(received.children_of(server).is_empty(), "{}", server.name);
        let status = server.attributes.i64("http.response.status_code").unwrap();
        assert!((400..500).contains(&status) && status != 422, "{status}");
    }
}

#[tokio::test]
async fn a_database_failure_is_an_error_of_every_span_up_the_tree() {
    let (h, _guard) = Harness::start().await;
    assert_eq!(h.post("/accounts", json!({ "id": "alice" })).await, 201);
    // Break the storage behind the service's back: the next SELECT fails inside SQLite.
    let database = h.database().await;
    sqlx::query("DROP TABLE accounts")
        .execute(&database)
        .await
        .unwrap();
    database.close().await;
    let (status, answer) = h
        .post_raw(
            "/accounts/alice/deposits",
            "application/json",
            "{\"amount_cents\": 100}",
        )
        .await;
    assert_eq!(status, 500, "{answer}");
    let received = h.finish().await;

    // ANCHOR: failure
    let (server, trace) = request(&received, "POST /accounts/{id}/deposits", 0);
    let use_case = named(&trace, "BankService.deposit")[0];
    let select = named(&trace, "SELECT accounts")[0];
    assert!(matches!(&select.status, SpanStatus::Error(d) if d.contains("no such table")));
    // SQLite's primary result code: 1 is SQLITE_ERROR.
    assert_eq!(select.attributes.str("db.response.status_code"), Some("1"));
    assert_eq!(select.attributes.str("error.type"), Some("1"));
    assert!(matches!(&use_case.status, SpanStatus::Error(d) if d.contains("no such table")));
    assert!(matches!(server.status, SpanStatus::Error(_)));
    assert_eq!(
        server.attributes.i64("http.response.status_code"),
        Some(500)
    );
    assert_eq!(server.attributes.str("error.type"), Some("500"));
    // ANCHOR_END: failure
}

#[tokio::test]
async fn the_callers_trace_is_continued() {
    let (h, _guard) = Harness::start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let response = h
        .client
        .get(format!("{}/accounts/nobody", h.bank.url()))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let received = h.finish().await;

    let (server, trace) = request(&received, "GET /accounts/{id}", 0);
    assert_eq!(server.trace_id, trace_id);
    assert_eq!(server.parent_span_id.as_deref(), Some(parent_id));
    let use_case = named(&trace, "BankService.balance")[0];
    assert_eq!(
        use_case.parent_span_id.as_deref(),
        Some(server.span_id.as_str())
    );
    let select = named(&trace, "SELECT accounts")[0];
    assert_eq!(
        select.parent_span_id.as_deref(),
        Some(use_case.span_id.as_str())
    );
}

#[tokio::test]
async fn a_database_url_that_is_not_sqlite_is_a_clear_error() {
    let error = Bank::start("postgres://localhost/bank", "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .expect("a non-SQLite URL must be refused");
    assert!(
        error
            .to_string()
            .contains("\"postgres://localhost/bank\" is not a SQLite database URL"),
        "{error:#}"
    );
}
