//! The `otlp-testkit` binary: what a reader runs to see their telemetry.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{export_known_tree, grpc_exporter, provider};

const BIN: &str = env!("CARGO_BIN_EXE_otlp-testkit");

#[tokio::test(flavor = "multi_thread")]
async fn prints_each_trace_as_a_tree() {
    let mut child = Command::new(BIN)
        .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    // "otlp-testkit: OTLP/gRPC on http://127.0.0.1:PORT, OTLP/HTTP on ..."
    let grpc = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|w| w.trim_end_matches(','))
        .unwrap_or_else(|| panic!("no endpoint in banner {banner:?}"))
        .to_string();

    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    export_known_tree(provider(grpc_exporter(grpc, false)));
    let printed: Vec<String> = (0..4)
        .map(|_| {
            received
                .recv_timeout(Duration::from_secs(10))
                .expect("a printed line")
        })
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(
        printed[0].starts_with("trace ") && printed[0].ends_with(r#"service.name="testkit-probe""#),
        "{printed:#?}"
    );
    assert!(
        printed[1].starts_with("  request [internal] "),
        "{printed:#?}"
    );
    assert!(
        printed[1].ends_with(r#"http.route="/orders/{id}""#),
        "{printed:#?}"
    );
    assert!(
        printed[2].starts_with("    query [client] "),
        "child indented under its parent: {printed:#?}"
    );
    assert!(printed[2].contains("ERROR(disk full)"), "{printed:#?}");
    assert_eq!(printed[3], "      · retry attempt=2");
}

#[test]
fn a_bad_address_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["--grpc", "localhost"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"--grpc "localhost" is not an IP:PORT address"#),
        "{stderr}"
    );
}

#[test]
fn a_busy_port_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["--grpc", &addr, "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen for OTLP/gRPC on {addr}")),
        "{stderr}"
    );
}
