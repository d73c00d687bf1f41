//! CQRS + event sourcing against a real SQLite file and a real NATS server, with the telemetry
//! checked as it arrived at an in-process OTLP receiver.

use std::time::Duration;

use cqrs_es::commands::{CommandError, CommandHandler};
use cqrs_es::domain::{Action, Command, Event, Rejection};
use cqrs_es::read_model::{Balance, Projector, ReadModel, replay};
use cqrs_es::store::{AppendError, EventStore};
use cqrs_es::{Nats, SUBJECT, db_span, open_pool};
use otlp_testkit::{Receiver, Span, SpanKind, SpanStatus};
use service_telemetry::{Service, Telemetry};
use tempfile::TempDir;
use tracing::subscriber::DefaultGuard;

struct World {
    receiver: Receiver,
    telemetry: Telemetry,
    dir: TempDir,
    store: EventStore,
    read_model: ReadModel,
    commands: CommandHandler,
    projector: Projector,
    _guard: DefaultGuard,
    nats: Option<test_servers::Server>,
}

/// An event store and a read model in two SQLite files of a temp dir, a NATS server, the
/// projector subscribed, and telemetry going to a fresh receiver.
async fn world() -> Option<World> {
    let nats = test_servers::nats_or_skip()?;
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(
        Service {
            name: "cqrs-es-test",
            version: "0.1.0",
        },
        Some(&receiver.grpc_endpoint()),
    )
    .unwrap();
    let guard = telemetry.set_default();
    let dir = tempfile::tempdir().unwrap();
    let url = |file: &str| format!("sqlite://{}", dir.path().join(file).display());
    let store = EventStore::new(open_pool(&url("events.db")).await.unwrap())
        .await
        .unwrap();
    let read_model = ReadModel::new(open_pool(&url("read.db")).await.unwrap())
        .await
        .unwrap();
    let projector = Projector::start(
        Nats::connect(&nats.url(), "projector").await.unwrap(),
        read_model.clone(),
    )
    .await
    .unwrap();
    let commands = CommandHandler::new(
        store.clone(),
        Nats::connect(&nats.url(), "commands").await.unwrap(),
    )
    .publish_timeout(Duration::from_millis(300));
    Some(World {
        receiver,
        telemetry,
        dir,
        store,
        read_model,
        commands,
        projector,
        _guard: guard,
        nats: Some(nats),
    })
}

fn command(account: &str, action: Action, expected_version: Option<i64>) -> Command {
    Command {
        account_id: account.into(),
        expected_version,
        action,
    }
}

impl World {
    /// Runs the commands, which must all succeed, and waits until the projector applied them.
    async fn run(&mut self, commands: Vec<Command>) {
        let mut last = 0;
        for c in commands {
            last = self.commands.handle(c).await.unwrap().seq;
        }
        tokio::time::timeout(Duration::from_secs(10), self.projector.caught_up_to(last))
            .await
            .expect("the projector caught up within 10 s")
            .unwrap();
    }

    async fn finish(self) -> otlp_testkit::Telemetry {
        self.telemetry.flush().await.unwrap();
        let received = self.receiver.snapshot();
        self.projector.stop();
        self.telemetry.shutdown().await.unwrap();
        received
    }
}

fn open_and_deposit(account: &str) -> Vec<Command> {
    vec![
        command(
            account,
            Action::Open {
                owner: "Alice".into(),
            },
            None,
        ),
        command(account, Action::Deposit { amount: 100 }, None),
    ]
}

fn str_attr<'a>(span: &'a Span, key: &str) -> &'a str {
    span.attributes
        .str(key)
        .unwrap_or_else(|| panic!("span {:?} has no string attribute {key}", span.name))
}

fn assert_db_span(span: &Span, name: &str, table: &str) {
    assert_eq!(span.name, name);
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(str_attr(span, "db.system.name"), "sqlite");
    assert_eq!(str_attr(span, "db.collection.name"), table);
    assert_eq!(
        Some(str_attr(span, "db.operation.name")),
        name.split(' ').next()
    );
    assert!(str_attr(span, "db.query.text").contains("?1"));
}

fn assert_messaging(span: &Span, kind: SpanKind, operation_type: &str) {
    assert_eq!(span.kind, kind);
    assert_eq!(str_attr(span, "messaging.system"), "nats");
    assert_eq!(str_attr(span, "messaging.destination.name"), SUBJECT);
    assert_eq!(str_attr(span, "messaging.operation.type"), operation_type);
    // The server the connection was opened to: `test-servers` listens on the loopback.
    assert_eq!(str_attr(span, "server.address"), "127.0.0.1");
    assert!(
        span.attributes
            .i64("server.port")
            .is_some_and(|port| port > 0),
        "{:?}",
        span.attributes
    );
}

// ANCHOR: link_test
#[tokio::test]
async fn the_projection_span_links_to_the_command_span_and_starts_its_own_trace() {
    let Some(mut world) = world().await else {
        return;
    };
    world.run(open_and_deposit("acc-1")).await;
    let stored = world.store.load("acc-1").await.unwrap();
    let received = world.finish().await;

    let command = received.span("command Deposit");
    let process = received
        .spans_named("process bank.events")
        .into_iter()
        .find(|s| s.attributes.str("bank.event.kind") == Some("Deposited"))
        .expect("a process span for the Deposited event");
    // A new trace: no parent, another trace id …
    assert_eq!(process.parent_span_id, None);
    assert_ne!(process.trace_id, command.trace_id);
    // … and exactly one link, to the command span (not to the publish span).
    assert_eq!(process.links.len(), 1);
    assert_eq!(process.links[0].trace_id, command.trace_id);
    assert_eq!(process.links[0].span_id, command.span_id);
    // ANCHOR_END: link_test

    // The event row keeps the same context, for later replays.
    assert_eq!(
        stored[1].traceparent.as_deref(),
        Some(format!("00-{}-{}-01", command.trace_id, command.span_id).as_str())
    );

    // The command's trace: load, append, publish.
    let children: Vec<&str> = received
        .children_of(command)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        children,
        ["SELECT events", "INSERT events", "publish bank.events"]
    );
    let [load, append, publish] = received.children_of(command)[..] else {
        unreachable!()
    };
    assert_db_span(load, "SELECT events", "events");
    assert_db_span(append, "INSERT events", "events");
    assert_messaging(publish, SpanKind::Producer, "send");
    assert_eq!(str_attr(publish, "messaging.operation.name"), "publish");
    assert_eq!(command.attributes.i64("bank.event.version"), Some(2));

    // The projection's trace: process, then the read-model update.
    assert_messaging(process, SpanKind::Consumer, "process");
    assert_eq!(str_attr(process, "messaging.operation.name"), "process");
    assert_eq!(
        str_attr(process, "messaging.message.id"),
        stored[1].seq.to_string()
    );
    let [update] = received.children_of(process)[..] else {
        panic!("process should have one child");
    };
    assert_db_span(update, "UPDATE account_balances", "account_balances");
}

#[tokio::test]
async fn replaying_the_event_store_rebuilds_the_same_read_model_with_links_to_the_commands() {
    let Some(mut world) = world().await else {
        return;
    };
    let mut script = open_and_deposit("acc-1");
    script.push(command("acc-1", Action::Withdraw { amount: 30 }, None));
    script.extend(open_and_deposit("acc-2"));
    world.run(script).await;

    // ANCHOR: replay_test
    let url = format!("sqlite://{}", world.dir.path().join("rebuilt.db").display());
    let rebuilt = ReadModel::new(open_pool(&url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(replay(&world.store, &rebuilt).await.unwrap(), 5);
    let live = world.read_model.all().await.unwrap();
    assert_eq!(rebuilt.all().await.unwrap(), live);
    // ANCHOR_END: replay_test
    assert_eq!(
        live,
        [
            Balance {
                account_id: "acc-1".into(),
                owner: "Alice".into(),
                balance: 70,
                version: 3
            },
            Balance {
                account_id: "acc-2".into(),
                owner: "Alice".into(),
                balance: 100,
                version: 2
            },
        ]
    );
    // Replaying again changes nothing: every event is applied at most once.
    assert_eq!(replay(&world.store, &rebuilt).await.unwrap(), 5);
    assert_eq!(rebuilt.all().await.unwrap(), live);
    let received = world.finish().await;

    let roots = received.spans_named("replay account_balances");
    assert_eq!(roots.len(), 2);
    let root = roots[0];
    assert_eq!(root.parent_span_id, None);
    let replayed: Vec<&Span> = received
        .children_of(root)
        .into_iter()
        .filter(|s| s.name == "replay event")
        .collect();
    assert_eq!(replayed.len(), 5);
    // Each replayed event links to the command that produced it, months later or not.
    let commands: Vec<&Span> = received
        .spans
        .iter()
        .filter(|s| s.name.starts_with("command "))
        .collect();
    for (event, command) in replayed.iter().zip(&commands) {
        assert_ne!(event.trace_id, command.trace_id);
        assert_eq!(event.links.len(), 1, "{:?}", event.attributes);
        assert_eq!(event.links[0].trace_id, command.trace_id);
        assert_eq!(event.links[0].span_id, command.span_id);
    }
    let kinds: Vec<&str> = replayed
        .iter()
        .map(|s| str_attr(s, "bank.event.kind"))
        .collect();
    assert_eq!(
        kinds,
        ["Opened", "Deposited", "Withdrawn", "Opened", "Deposited"]
    );
}

// ANCHOR: conflict_test
#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_nothing_is_stored_or_published() {
    let Some(mut world) = world().await else {
        return;
    };
    world.run(open_and_deposit("acc-1")).await;
    let stale = command("acc-1", Action::Deposit { amount: 5 }, Some(1));
    let error = world.commands.handle(stale).await.unwrap_err();
    assert!(matches!(error, CommandError::Conflict { expected: 1 }));
    assert_eq!(world.store.load("acc-1").await.unwrap().len(), 2);
    // ANCHOR_END: conflict_test

    // Two writers that read the same version: exactly one append wins, whatever the order.
    let deposit = Event::Deposited { amount: 1 };
    let (a, b) = tokio::join!(
        world.store.append("acc-1", 2, &deposit, None),
        world.store.append("acc-1", 2, &deposit, None),
    );
    let conflicts = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(AppendError::Conflict { expected: 2 })))
        .count();
    assert_eq!((a.is_ok() as usize + b.is_ok() as usize, conflicts), (1, 1));
    let received = world.finish().await;

    let failed = received
        .spans_named("command Deposit")
        .into_iter()
        .find(|s| s.status != SpanStatus::Unset)
        .expect("the failed command span");
    assert!(matches!(&failed.status, SpanStatus::Error(m) if m.contains("version 1")));
    assert_eq!(str_attr(failed, "error.type"), "version_conflict");
    let children: Vec<&str> = received
        .children_of(failed)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    // The store made the decision (the INSERT ran and inserted nothing); nothing was published.
    assert_eq!(children, ["SELECT events", "INSERT events"]);
    // Not a database error: the INSERT did its job.
    assert_eq!(received.children_of(failed)[1].status, SpanStatus::Unset);
}

#[tokio::test]
async fn a_refused_command_appends_nothing_and_its_span_says_why() {
    let Some(mut world) = world().await else {
        return;
    };
    world.run(open_and_deposit("acc-1")).await;
    let greedy = command("acc-1", Action::Withdraw { amount: 500 }, None);
    let error = world.commands.handle(greedy).await.unwrap_err();
    assert!(matches!(
        error,
        CommandError::Rejected(Rejection::InsufficientFunds {
            balance: 100,
            requested: 500
        })
    ));
    assert_eq!(world.store.load("acc-1").await.unwrap().len(), 2);
    let received = world.finish().await;

    let refused = received.span("command Withdraw");
    assert_eq!(str_attr(refused, "error.type"), "insufficient_funds");
    assert!(matches!(&refused.status, SpanStatus::Error(_)));
    let children: Vec<&str> = received
        .children_of(refused)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(children, ["SELECT events"]);
}

// ANCHOR: query_test
#[tokio::test]
async fn a_query_reads_only_the_read_model() {
    let Some(mut world) = world().await else {
        return;
    };
    world.run(open_and_deposit("acc-1")).await;
    let balance = world.read_model.balance("acc-1").await.unwrap().unwrap();
    assert_eq!((balance.balance, balance.version), (100, 2));
    let received = world.finish().await;

    let query = received.span("query balance");
    let trace = received.trace(&query.trace_id);
    let tables: Vec<&str> = trace
        .iter()
        .filter_map(|s| s.attributes.str("db.collection.name"))
        .collect();
    assert_eq!(tables, ["account_balances"]);
    // ANCHOR_END: query_test
    let [select] = received.children_of(query)[..] else {
        panic!("the query should have one child");
    };
    assert_db_span(select, "SELECT account_balances", "account_balances");
}

#[tokio::test]
async fn a_redelivered_event_is_processed_but_changes_nothing() {
    let Some(mut world) = world().await else {
        return;
    };
    world.run(open_and_deposit("acc-1")).await;
    // At-least-once delivery: the same event arrives a second time.
    let stored = world.store.load("acc-1").await.unwrap().remove(1);
    let nats = async_nats::connect(world.nats.as_ref().unwrap().url())
        .await
        .unwrap();
    let body = serde_json::to_vec(&stored).unwrap();
    nats.publish(SUBJECT, body.into()).await.unwrap();
    nats.flush().await.unwrap();
    // A later command, so that waiting for it means the duplicate was processed before.
    world
        .run(vec![command(
            "acc-1",
            Action::Withdraw { amount: 30 },
            None,
        )])
        .await;
    let balance = world.read_model.balance("acc-1").await.unwrap().unwrap();
    assert_eq!((balance.balance, balance.version), (70, 3));
    let received = world.finish().await;

    let mut processed = received.spans_named("process bank.events");
    processed.sort_by_key(|s| s.start_unix_nano);
    let applied: Vec<Option<&otlp_testkit::Value>> = processed
        .iter()
        .map(|s| s.attributes.get("bank.projection.applied"))
        .collect();
    assert_eq!(
        applied,
        [
            Some(&otlp_testkit::Value::Bool(true)),
            Some(&otlp_testkit::Value::Bool(true)),
            Some(&otlp_testkit::Value::Bool(false)),
            Some(&otlp_testkit::Value::Bool(true)),
        ]
    );
    // Published without trace headers: nothing to link to, and no broken link either.
    assert!(processed[2].links.is_empty());
}

// ANCHOR: thread_test
#[tokio::test]
async fn a_child_closed_on_another_thread_leaves_its_tracing_parent_open() {
    let receiver = Receiver::start().unwrap();
    let telemetry = Telemetry::init(
        Service {
            name: "cqrs-es-test",
            version: "0.1.0",
        },
        Some(&receiver.grpc_endpoint()),
    )
    .unwrap();
    let guard = telemetry.set_default();
    // What sqlx's SQLite worker thread may do: drop the last reference to the current span.
    let parent = tracing::info_span!("tracing parent");
    let child = tracing::info_span!(parent: &parent, "tracing child");
    drop(parent);
    std::thread::spawn(move || drop(child)).join().unwrap();
    // The same with `db_span`, whose parent is an OpenTelemetry parent only.
    let parent = tracing::info_span!("otel parent");
    let child = parent.in_scope(|| db_span("SELECT", "events", "SELECT ?1"));
    drop(parent);
    std::thread::spawn(move || drop(child)).join().unwrap();
    telemetry.flush().await.unwrap();
    let received = receiver.snapshot();

    let mut names = received.span_names();
    names.sort();
    // "tracing parent" never closed: the worker thread has no subscriber to release it.
    assert_eq!(names, ["SELECT events", "otel parent", "tracing child"]);
    let db = received.span("SELECT events");
    assert!(db.is_child_of(received.span("otel parent")));
    // ANCHOR_END: thread_test
    drop(guard);
    telemetry.shutdown().await.unwrap();
}

// ANCHOR: outage_test
#[tokio::test]
async fn with_nats_down_the_command_still_succeeds_and_a_replay_catches_up() {
    let Some(mut world) = world().await else {
        return;
    };
    world.run(open_and_deposit("acc-1")).await;
    world.nats.take().unwrap().kill();
    let deposit = command("acc-1", Action::Deposit { amount: 5 }, None);
    // Bounded by the 300 ms publish timeout; 10 s only guards against a hang.
    let stored = tokio::time::timeout(Duration::from_secs(10), world.commands.handle(deposit))
        .await
        .expect("the command returned although NATS is down")
        .unwrap();
    assert_eq!(stored.version, 3);
    // The live read model missed the event; a replay from the store has it.
    let live = world.read_model.balance("acc-1").await.unwrap().unwrap();
    assert_eq!((live.balance, live.version), (100, 2));
    let url = format!("sqlite://{}", world.dir.path().join("rebuilt.db").display());
    let rebuilt = ReadModel::new(open_pool(&url).await.unwrap())
        .await
        .unwrap();
    replay(&world.store, &rebuilt).await.unwrap();
    let caught_up = rebuilt.balance("acc-1").await.unwrap().unwrap();
    assert_eq!((caught_up.balance, caught_up.version), (105, 3));
    // ANCHOR_END: outage_test
    let received = world.finish().await;

    let command = received
        .spans_named("command Deposit")
        .into_iter()
        .find(|s| s.attributes.i64("bank.event.version") == Some(3))
        .expect("the third command's span");
    assert_eq!(command.status, SpanStatus::Unset);
    let publish = *received.children_of(command).last().unwrap();
    assert_eq!(publish.name, "publish bank.events");
    assert_eq!(str_attr(publish, "error.type"), "timeout");
    assert!(matches!(&publish.status, SpanStatus::Error(m) if m.contains("did not take")));
    // The warning is logged in the `publish` span, so a backend shows it with that span.
    let logs = received.logs_of(publish);
    assert!(
        logs.iter().any(|log| log.severity_text == "WARN"
            && log.body.as_str() == Some("event stored but not published")),
        "{logs:#?}"
    );
}

#[test]
fn the_program_with_nats_unreachable_exits_with_an_error_naming_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    // The closed port also serves as the OTLP endpoint: nothing is exported, which must not
    // hide the NATS error either.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cqrs-es"))
        .env("NATS_URL", &url)
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        stderr.contains(&format!("connecting to NATS at {url}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn an_in_memory_database_keeps_its_one_connection_for_good() {
    let pool = open_pool("sqlite::memory:").await.unwrap();
    // The database lives only as long as a connection to it: the pool must never close it.
    let options = pool.options();
    assert_eq!(
        (options.get_min_connections(), options.get_max_connections()),
        (1, 1)
    );
    assert_eq!(options.get_idle_timeout(), None);
    assert_eq!(options.get_max_lifetime(), None);
    let store = EventStore::new(pool.clone()).await.unwrap();
    store
        .append(
            "acc-1",
            0,
            &Event::Opened {
                owner: "Alice".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.load("acc-1").await.unwrap().len(), 1);
}
