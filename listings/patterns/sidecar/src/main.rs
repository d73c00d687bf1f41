//! `cargo run -p sidecar`: the application, with its sidecar in a child process, through three
//! phases: sidecar up, sidecar killed, sidecar restarted on the same port.
//! `cargo run -p sidecar -- sidecar`: only the sidecar, configured by `SIDECAR_*` variables,
//! as it would run next to the application in a pod.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use service_telemetry::{Service, Telemetry};
use sidecar::{App, AppServer, Sidecar, SidecarConfig};

const SERVICE: Service = Service {
    name: "greeter",
    version: env!("CARGO_PKG_VERSION"),
};

/// What the demo's sidecar adds when `SIDECAR_RESOURCE_ATTRIBUTES` is not set.
const DEMO_ATTRIBUTES: &str =
    "k8s.namespace.name=shop,k8s.pod.name=greeter-7d4b9c-x2x4q,deployment.environment.name=staging";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        None => demo().await,
        Some("sidecar") => run_sidecar().await,
        Some(other) => bail!("unknown command {other:?}; run without arguments, or with `sidecar`"),
    }
}

// ANCHOR: standalone
/// The sidecar alone: a local log on stderr, no telemetry of its own over OTLP (it would
/// travel through itself). Prints its address as the first line on stdout.
async fn run_sidecar() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(service_telemetry::local_filter()?)
        .with_writer(std::io::stderr)
        .init();
    let config = SidecarConfig::from_env()?;
    let sidecar = Sidecar::start(&config).await?;
    println!("{}", sidecar.addr());
    tracing::info!(listen = %sidecar.addr(), upstream = config.upstream, "sidecar started");
    sidecar.run().await
}
// ANCHOR_END: standalone

// ANCHOR: demo-setup
async fn demo() -> anyhow::Result<()> {
    // The back end is what the standard variable names; the sidecar forwards there.
    let backend = env_or("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317")?;
    let attributes = env_or("SIDECAR_RESOURCE_ATTRIBUTES", DEMO_ATTRIBUTES)?;
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let sidecar = SidecarProcess::spawn(any_port, &backend, &attributes).await?;
    let sidecar_addr = sidecar.addr;
    println!(
        "sidecar (pid {}) on {sidecar_addr}, forwarding to {backend}",
        sidecar.child.id()
    );

    // The application is pointed at the sidecar. In a pod it would need no setting at all:
    // its default endpoint, localhost:4317, is the sidecar's port.
    let telemetry = Telemetry::init(SERVICE, Some(&format!("http://{sidecar_addr}")))?;
    telemetry.install_global()?;
    // ANCHOR_END: demo-setup
    let redis = env_or("REDIS_URL", "redis://127.0.0.1:6379")?;
    let app = App::open(&redis, &telemetry.meter()).await?;
    let server = AppServer::start(&app, any_port).await?;
    let client = reqwest::Client::new();

    println!("1. sidecar up");
    greet_all(&client, &server.url(), &["ada", "grace"]).await?;
    report_flush(&telemetry).await;

    println!("2. sidecar killed");
    sidecar.kill()?;
    greet_all(&client, &server.url(), &["ada", "linus"]).await?;
    report_flush(&telemetry).await;

    println!("3. sidecar restarted on {sidecar_addr}");
    let sidecar = SidecarProcess::spawn(sidecar_addr, &backend, &attributes).await?;
    greet_all(&client, &server.url(), &["grace"]).await?;
    report_flush(&telemetry).await;

    server.shutdown().await?;
    telemetry.shutdown().await?;
    sidecar.kill()
}

/// The variable's value, or `default` if it is not set (set but not UTF-8 is an error).
fn env_or(key: &str, default: &str) -> anyhow::Result<String> {
    match std::env::var(key) {
        Ok(value) => Ok(value),
        Err(std::env::VarError::NotPresent) => Ok(default.to_owned()),
        Err(e) => Err(e).with_context(|| format!("reading {key}")),
    }
}

/// How long the demo waits for a starting sidecar to print its address.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(10);

/// This program, run as `sidecar` in a child process: a process of its own, as in a pod.
struct SidecarProcess {
    child: Child,
    addr: SocketAddr,
}

impl SidecarProcess {
    async fn spawn(listen: SocketAddr, upstream: &str, attributes: &str) -> anyhow::Result<Self> {
        let program = std::env::current_exe().context("finding this program")?;
        // Unless told otherwise, show the sidecar's one line per batch.
        let log = env_or("RUST_LOG", "info,sidecar::sidecar=debug")?;
        let mut child = Command::new(program)
            .arg("sidecar")
            .env("RUST_LOG", log)
            .env("SIDECAR_LISTEN_ADDR", listen.to_string())
            .env("SIDECAR_UPSTREAM_ENDPOINT", upstream)
            .env("SIDECAR_RESOURCE_ATTRIBUTES", attributes)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the sidecar")?;
        // The first line on its stdout is its address. Read it on a blocking thread, with a
        // bound: a sidecar that hangs before binding must not hang the demo.
        let stdout = child
            .stdout
            .take()
            .context("the sidecar's stdout is not piped")?;
        let first_line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let announced = match tokio::time::timeout(ANNOUNCE_TIMEOUT, first_line).await {
            Ok(read) => read
                .context("the task reading the sidecar's address panicked")?
                .context("reading the sidecar's address")?,
            Err(_) => {
                // Killing it also closes its stdout, which ends the blocked read.
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the sidecar did not print its address within {ANNOUNCE_TIMEOUT:?}; \
                     its log is above"
                );
            }
        };
        let addr = match announced.trim().parse() {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().context("waiting for the sidecar")?;
                bail!("the sidecar did not start ({status}); its log is above");
            }
        };
        Ok(SidecarProcess { child, addr })
    }

    /// Kills the sidecar the hard way, as a crash or an OOM kill would.
    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("killing the sidecar")?;
        self.child.wait().context("waiting for the sidecar")?;
        Ok(())
    }
}

impl Drop for SidecarProcess {
    fn drop(&mut self) {
        // On an early return: do not leave the sidecar running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn greet_all(client: &reqwest::Client, base: &str, names: &[&str]) -> anyhow::Result<()> {
    for name in names {
        let started = Instant::now();
        let response = client
            .get(format!("{base}/greet/{name}"))
            .send()
            .await
            .with_context(|| format!("GET /greet/{name}"))?;
        let status = response.status();
        let body = response.text().await.context("reading the response")?;
        let took = started.elapsed();
        let fast = if took < Duration::from_millis(100) {
            "< 100 ms"
        } else {
            ">= 100 ms"
        };
        println!("   GET /greet/{name} -> {status} {body:?} ({fast})");
    }
    Ok(())
}

/// Flushes the application's telemetry and says whether the sidecar took it.
async fn report_flush(telemetry: &Telemetry) {
    match telemetry.flush().await {
        Ok(()) => println!("   flush: ok, the sidecar accepted every batch"),
        Err(e) => {
            let e = format!("{e:#}");
            let cause = if e.contains("Connection refused") {
                "connection refused"
            } else if e.contains("Unavailable") {
                "Unavailable"
            } else {
                e.as_str()
            };
            println!("   flush failed ({cause}): these batches are lost");
        }
    }
}
