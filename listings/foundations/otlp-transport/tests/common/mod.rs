//! Shared by the test binaries that install a global subscriber: it records the events the
//! OpenTelemetry crates emit from their own threads (a `set_default` subscriber would not see them).
#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One event as a user's log would show it.
#[derive(Clone, Debug)]
pub struct Event {
    pub level: tracing::Level,
    pub target: String,
    pub name: String,
    /// `key=value` pairs, space separated.
    pub fields: String,
}

static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());
static SERIAL: Mutex<()> = Mutex::new(());

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

struct Capture;

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let meta = event.metadata();
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Event {
                level: *meta.level(),
                target: meta.target().to_string(),
                name: meta.name().to_string(),
                fields: fields.0,
            });
    }
}

/// Installs the capturing subscriber once, serialises the tests of this binary (they share the
/// global subscriber and the process environment) and clears earlier events.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry()
            .with(Capture.with_filter(tracing_subscriber::filter::LevelFilter::WARN));
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    guard
}

pub fn events() -> Vec<Event> {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A TCP server that accepts connections and never answers: a hung collector, or a firewall
/// that lets the handshake through. Lives as long as the test's runtime.
pub async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}
