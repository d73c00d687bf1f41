//! Interop with code nobody here wrote: the SDK exports to rotel, an independent OTLP collector,
//! which forwards to the test kit. The span tree must arrive intact through both hops.
//!
//! rotel comes from PyPI (`ci/setup.sh` installs it). Outside CI a missing rotel skips the test
//! with a printed reason; with `CI=true` it fails.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_known_tree, export_known_tree, grpc_exporter, provider};
use otlp_testkit::Receiver;

/// `$ROTEL_AGENT`, or the binary inside the installed `rotel` Python package.
fn rotel_agent() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ROTEL_AGENT") {
        return Some(PathBuf::from(path));
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (output.status.success() && path.is_file()).then_some(path)
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Kills the collector when the test ends, however it ends.
struct Collector(Child);

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn span_tree_survives_an_independent_collector() {
    let Some(agent) = rotel_agent() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "rotel is not installed; ci/setup.sh installs it"
        );
        eprintln!("skipped: rotel is not installed (run ci/setup.sh)");
        return;
    };
    let receiver = Receiver::start().unwrap();
    let (grpc, http) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("otlp-testkit-rotel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(&agent)
        .arg("start")
        .args(["--otlp-grpc-endpoint", &grpc.to_string()])
        .args(["--otlp-http-endpoint", &http.to_string()])
        .args(["--exporter", "otlp", "--otlp-exporter-protocol", "grpc"])
        .args(["--otlp-exporter-endpoint", &receiver.grpc_endpoint()])
        .args(["--batch-timeout", "100ms"])
        .arg("--pid-file")
        .arg(dir.join("rotel.pid"))
        .arg("--log-file")
        .arg(dir.join("rotel.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", agent.display()));
    let _collector = Collector(child);

    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(grpc).is_err() {
        assert!(
            Instant::now() < deadline,
            "rotel did not listen on {grpc} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    export_known_tree(provider(grpc_exporter(format!("http://{grpc}"), false)));

    // The SDK's shutdown only guarantees delivery to rotel; rotel forwards on its own schedule.
    let received = receiver
        .wait_for_spans(2)
        .await
        .expect("rotel forwards the spans");
    assert_known_tree(&received);
    let _ = std::fs::remove_dir_all(&dir);
}
