//! Running the four services in one process, each as if it were its own: its own thread, its
//! own single-threaded Tokio runtime, its own NATS connection and its own `Telemetry` (so its
//! own `service.name`). On a `current_thread` runtime every task runs on that one thread, so
//! the thread's default subscriber is the service's for everything the service does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use async_nats::Message;
use futures_util::StreamExt as _;
use service_telemetry::nats::subscription_ready;
use service_telemetry::{Service, Telemetry};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::messaging::Nats;
use crate::{Ledger, Outcome, Role, choreography, orchestration};

/// The two ways to run the same saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Orchestration,
    Choreography,
}

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Orchestration => "orchestration",
            Style::Choreography => "choreography",
        }
    }
}

/// Where the services connect to.
#[derive(Clone, Debug)]
pub struct Config {
    pub nats_url: String,
    /// `None`: the OTLP exporters read `OTEL_EXPORTER_OTLP_ENDPOINT` or use their default.
    pub otlp_endpoint: Option<String>,
}

/// What a message handler has at hand.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub nats: Nats,
    pub ledger: Ledger,
    pub pending: Pending,
}

/// The order service's sagas in flight (choreography): who is waiting for which order.
#[derive(Clone, Default)]
pub(crate) struct Pending(Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>);

impl Pending {
    pub fn insert(&self, order_id: &str, waiter: oneshot::Sender<Outcome>) {
        let mut waiters = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        waiters.insert(order_id.to_owned(), waiter);
    }

    pub fn remove(&self, order_id: &str) -> Option<oneshot::Sender<Outcome>> {
        let mut waiters = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        waiters.remove(order_id)
    }

    pub fn resolve(&self, order_id: &str, outcome: Outcome) {
        if let Some(waiter) = self.remove(order_id) {
            // The requester may have given up already; nothing to do then.
            let _ = waiter.send(outcome);
        }
    }
}

/// One running service.
pub struct Running {
    role: Role,
    ledger: Ledger,
    stop: oneshot::Sender<()>,
    done: oneshot::Receiver<anyhow::Result<()>>,
}

impl Running {
    pub fn role(&self) -> Role {
        self.role
    }

    /// The service's state (in memory).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Stops taking messages, waits for the handlers in flight, shuts the service's telemetry
    /// down (which exports what is left) and returns how that went.
    pub async fn stop(self) -> anyhow::Result<()> {
        let name = self.role.service_name();
        // If the service already ended, `done` has its result.
        let _ = self.stop.send(());
        self.done
            .await
            .map_err(|_| anyhow!("the {name} service's thread panicked"))?
            .with_context(|| format!("the {name} service failed"))
    }
}

// ANCHOR: start
/// Starts `role` on its own thread and returns once it is subscribed to its subjects.
pub async fn start(role: Role, style: Style, config: &Config) -> anyhow::Result<Running> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let ledger = Ledger::default();
    let (config, state) = (config.clone(), ledger.clone());
    thread::Builder::new()
        .name(role.service_name().to_owned())
        .spawn(move || {
            let _ = done_tx.send(serve(role, style, config, state, ready_tx, stop_rx));
        })
        .context("spawning a service thread")?;
    let mut running = Running {
        role,
        ledger,
        stop: stop_tx,
        done: done_rx,
    };
    if ready_rx.await.is_err() {
        // The thread ended before it was ready: its result says why.
        let result = (&mut running.done).await;
        return Err(match result {
            Ok(Err(error)) => error,
            _ => anyhow!("the {} service stopped while starting", role.service_name()),
        });
    }
    Ok(running)
}

fn serve(
    role: Role,
    style: Style,
    config: Config,
    ledger: Ledger,
    ready: oneshot::Sender<()>,
    stop: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the service's runtime")?;
    let service = Service {
        name: role.service_name(),
        version: env!("CARGO_PKG_VERSION"),
    };
    // The gRPC exporters must be built inside the runtime that will drive them.
    let telemetry =
        runtime.block_on(async { Telemetry::init(service, config.otlp_endpoint.as_deref()) })?;
    let served = {
        // This thread's default subscriber: every span of this service gets its service.name.
        let _guard = telemetry.set_default();
        runtime.block_on(run(role, style, &config.nats_url, ledger, ready, stop))
    };
    let shut_down = runtime.block_on(telemetry.shutdown());
    served.and(shut_down)
}
// ANCHOR_END: start

// ANCHOR: run
async fn run(
    role: Role,
    style: Style,
    nats_url: &str,
    ledger: Ledger,
    ready: oneshot::Sender<()>,
    mut stop: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let client = async_nats::ConnectOptions::new()
        .name(role.service_name())
        .connection_timeout(Duration::from_secs(3))
        .connect(nats_url)
        .await
        .with_context(|| format!("connecting to NATS at {nats_url}"))?;
    let subjects = match style {
        Style::Orchestration => orchestration::subjects(role),
        Style::Choreography => choreography::subjects(role),
    };
    let mut subscriptions = Vec::new();
    for subject in subjects {
        let subscription = client
            .subscribe(subject)
            .await
            .with_context(|| format!("subscribing to {subject}"))?;
        subscriptions.push(subscription);
    }
    let mut messages = futures_util::stream::select_all(subscriptions);
    // Only once the server has processed our subscriptions do messages for them reach us.
    subscription_ready(&client).await?;
    let _ = ready.send(());

    let server = nats_url
        .parse()
        .with_context(|| format!("{nats_url:?} is not a NATS URL"))?;
    let ctx = Ctx {
        nats: Nats {
            client: client.clone(),
            server,
        },
        ledger,
        pending: Pending::default(),
    };
    let mut handlers = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            message = messages.next() => match message {
                Some(message) => {
                    handlers.spawn(handle(role, style, ctx.clone(), message));
                }
                None => break,
            },
            Some(finished) = handlers.join_next(), if !handlers.is_empty() => report(finished),
        }
    }
    drop(messages);
    // Let the handlers in flight finish, so their spans end before telemetry shuts down.
    while let Some(finished) = handlers.join_next().await {
        report(finished);
    }
    client.flush().await.context("flushing the NATS connection")
}
// ANCHOR_END: run

async fn handle(role: Role, style: Style, ctx: Ctx, message: Message) -> anyhow::Result<()> {
    match style {
        Style::Orchestration => orchestration::handle(role, ctx, message).await,
        Style::Choreography => choreography::handle(role, ctx, message).await,
    }
}

fn report(finished: Result<anyhow::Result<()>, tokio::task::JoinError>) {
    match finished {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(error = format!("{error:#}"), "a message handler failed"),
        Err(error) => tracing::error!(%error, "a message handler panicked"),
    }
}

/// The four services of one saga style.
pub struct Saga {
    services: Vec<Running>,
}

impl Saga {
    /// Starts the participants first and the order service last, so that nothing is sent
    /// before someone listens.
    pub async fn start(style: Style, config: &Config) -> anyhow::Result<Saga> {
        Saga::start_only(&Role::ALL, style, config).await
    }

    /// Starts only some of the services (a test leaves one out to see a missing participant).
    pub async fn start_only(roles: &[Role], style: Style, config: &Config) -> anyhow::Result<Saga> {
        let mut saga = Saga {
            services: Vec::new(),
        };
        for role in roles.iter().rev() {
            match start(*role, style, config).await {
                Ok(running) => saga.services.push(running),
                Err(error) => {
                    // Do not leave the ones already started running.
                    let _ = saga.stop().await;
                    return Err(error);
                }
            }
        }
        Ok(saga)
    }

    /// The ledger of `role`'s service; an empty one if it was not started.
    pub fn ledger(&self, role: Role) -> Ledger {
        self.services
            .iter()
            .find(|running| running.role() == role)
            .map(|running| running.ledger().clone())
            .unwrap_or_default()
    }

    /// Stops every service; the first error, if any, after trying all of them.
    pub async fn stop(self) -> anyhow::Result<()> {
        let mut result = Ok(());
        for running in self.services.into_iter().rev() {
            let stopped = running.stop().await;
            if result.is_ok() {
                result = stopped;
            }
        }
        result
    }
}
