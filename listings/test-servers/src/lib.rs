//! Real servers for tests: Redis and NATS, started on a free loopback port in a temporary
//! directory and stopped when the handle is dropped.
//!
//! `ci/setup.sh` installs both from Debian (`redis-server`, `nats-server`). A test asks for one
//! with [`redis_or_skip`] / [`nats_or_skip`]: outside CI a missing binary skips the test with a
//! printed reason; with `CI=true` it fails, so CI can never pass by skipping.
//!
//! ```no_run
//! let Some(redis) = test_servers::redis_or_skip() else { return };
//! let url = redis.url(); // redis://127.0.0.1:<port>/
//! # drop(url);
//! ```

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept its first client.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts with a fresh port when another process grabbed the chosen one first.
const PORT_ATTEMPTS: usize = 5;

/// Which server to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `redis-server` (Debian package `redis-server`).
    Redis,
    /// `nats-server` (Debian package `nats-server`).
    Nats,
}

impl Kind {
    fn binary(self) -> &'static str {
        match self {
            Kind::Redis => "redis-server",
            Kind::Nats => "nats-server",
        }
    }

    /// Environment variable that overrides where the binary is.
    fn override_var(self) -> &'static str {
        match self {
            Kind::Redis => "REDIS_SERVER",
            Kind::Nats => "NATS_SERVER",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.binary())
    }
}

/// Why a server did not start.
#[derive(Debug)]
pub enum StartError {
    /// The binary is neither at `$REDIS_SERVER`/`$NATS_SERVER` nor on `PATH` (or `/usr/sbin`).
    NotInstalled(Kind),
    /// It started but never answered, or exited; `log` is what it wrote.
    Failed {
        kind: Kind,
        reason: String,
        log: String,
    },
    /// Creating the temporary directory or spawning the process failed.
    Io(Kind, std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NotInstalled(kind) => write!(
                f,
                "{kind} is not installed (ci/setup.sh installs it; or set ${} to its path)",
                kind.override_var()
            ),
            StartError::Failed { kind, reason, log } => {
                write!(f, "{kind} did not start: {reason}")?;
                if !log.trim().is_empty() {
                    write!(f, "\n--- {kind} log ---\n{}", log.trim_end())?;
                }
                Ok(())
            }
            StartError::Io(kind, e) => write!(f, "cannot start {kind}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A running server. Dropping it kills the process and removes its directory.
#[derive(Debug)]
pub struct Server {
    kind: Kind,
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// Options for starting a server.
#[derive(Clone, Debug)]
pub struct Builder {
    kind: Kind,
    port: Option<u16>,
    binary: Option<PathBuf>,
}

impl Builder {
    /// Run this executable instead of looking the server up.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Listen on this port instead of a free one (to restart a server where clients expect it).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Starts the server and waits until it answers a client.
    pub fn start(self) -> Result<Server, StartError> {
        let binary = match &self.binary {
            Some(path) if path.is_file() => path.clone(),
            Some(_) => return Err(StartError::NotInstalled(self.kind)),
            None => find_binary(self.kind).ok_or(StartError::NotInstalled(self.kind))?,
        };
        let mut last = None;
        let attempts = if self.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        for _ in 0..attempts {
            let port = match self.port {
                Some(port) => port,
                None => free_port().map_err(|e| StartError::Io(self.kind, e))?,
            };
            match self.start_on(&binary, port) {
                Ok(server) => return Ok(server),
                // The port was free when we looked; another process may have taken it since.
                Err(e @ StartError::Failed { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_on(&self, binary: &Path, port: u16) -> Result<Server, StartError> {
        let kind = self.kind;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{kind}-"))
            .tempdir()
            .map_err(|e| StartError::Io(kind, e))?;
        let log = dir.path().join(format!("{kind}.log"));
        let mut command = Command::new(binary);
        match kind {
            Kind::Redis => {
                command
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                    .arg("--dir")
                    .arg(dir.path())
                    .arg("--logfile")
                    .arg(&log);
            }
            Kind::Nats => {
                command
                    .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                    .arg("-l")
                    .arg(&log)
                    .arg("--ports_file_dir")
                    .arg(dir.path());
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| StartError::Io(kind, e))?;
        let mut server = Server {
            kind,
            child,
            port,
            dir,
        };
        match server.wait_ready() {
            Ok(()) => Ok(server),
            Err(reason) => Err(StartError::Failed {
                kind,
                reason,
                log: server.log(),
            }),
        }
    }
}

impl Server {
    /// A Redis server on a free loopback port.
    pub fn redis() -> Builder {
        Builder {
            kind: Kind::Redis,
            port: None,
            binary: None,
        }
    }

    /// A NATS server on a free loopback port.
    pub fn nats() -> Builder {
        Builder {
            kind: Kind::Nats,
            port: None,
            binary: None,
        }
    }

    /// Which server this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The client URL: `redis://127.0.0.1:<port>/` or `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Redis => format!("redis://{}/", self.addr()),
            Kind::Nats => format!("nats://{}", self.addr()),
        }
    }

    /// The server's temporary directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server has written to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.kind)))
            .unwrap_or_default()
    }

    /// Kills the server now (a crash, as clients see it) and waits for the process to end.
    /// Start a new one on the same port with `Server::redis().port(old.port()).start()`.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_error = String::from("no attempt");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            match probe(self.kind, self.addr(), self.child.id(), self.dir.path()) {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(format!(
            "no answer on {} within {READY_TIMEOUT:?} (last error: {last_error})",
            self.addr()
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

// ANCHOR: probe
/// One client round trip that also proves the answer comes from *our* process, not from
/// another server that took the port first: Redis reports its `process_id` in `INFO server`;
/// NATS writes a ports file named after its pid once it listens, then greets with `INFO`.
fn probe(kind: Kind, addr: SocketAddr, pid: u32, dir: &Path) -> std::io::Result<()> {
    if kind == Kind::Nats && !dir.join(format!("nats-server_{pid}.ports")).is_file() {
        return Err(std::io::Error::other("no ports file yet"));
    }
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    if kind == Kind::Redis {
        stream.write_all(b"INFO server\r\n")?;
    }
    let mut reader = BufReader::new((&mut stream).take(64 * 1024));
    let mut line = String::new();
    match kind {
        Kind::Nats => {
            reader.read_line(&mut line)?;
            if !line.starts_with("INFO ") {
                return Err(std::io::Error::other(format!(
                    "expected an INFO greeting, got {:?}",
                    line.trim_end()
                )));
            }
        }
        Kind::Redis => {
            let want = format!("process_id:{pid}");
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Err(std::io::Error::other("INFO reply without process_id"));
                }
                if let Some(found) = line.trim_end().strip_prefix("process_id:") {
                    if line.trim_end() == want {
                        break;
                    }
                    return Err(std::io::Error::other(format!(
                        "port answered by another redis-server (pid {found})"
                    )));
                }
            }
        }
    }
    Ok(())
}
// ANCHOR_END: probe

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn find_binary(kind: Kind) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(kind.override_var()) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Debian puts nats-server in /usr/sbin, which is not on a normal user's PATH.
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(kind.binary()))
        .find(|candidate| candidate.is_file())
}

// ANCHOR: or-skip
fn or_skip(builder: Builder) -> Option<Server> {
    let kind = builder.kind;
    match builder.start() {
        Ok(server) => Some(server),
        Err(StartError::NotInstalled(_)) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: {}", StartError::NotInstalled(kind));
            None
        }
        Err(e) => panic!("{e}"),
    }
}
// ANCHOR_END: or-skip

/// For tests: a Redis server, or `None` (with the reason on stderr) when `redis-server` is not
/// installed and `CI` is not `true`. Panics with the server's log when it fails to start, and
/// under `CI=true` when it is missing.
pub fn redis_or_skip() -> Option<Server> {
    or_skip(Server::redis())
}

/// For tests: a NATS server, or `None` when `nats-server` is missing outside CI (see
/// [`redis_or_skip`]).
pub fn nats_or_skip() -> Option<Server> {
    or_skip(Server::nats())
}
