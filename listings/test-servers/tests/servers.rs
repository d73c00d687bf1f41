//! The harness against the real servers: each answers a client, a killed server can be started
//! again on its port, and failures say what went wrong.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use test_servers::{Kind, Server, StartError};

/// Sends one Redis command in inline form and returns the first reply line.
fn redis_command(server: &Server, command: &str) -> String {
    let mut stream = TcpStream::connect(server.addr()).expect("connect to redis");
    stream
        .write_all(format!("{command}\r\n").as_bytes())
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

#[test]
fn redis_answers_and_keeps_data_while_running() {
    let Some(redis) = test_servers::redis_or_skip() else {
        return;
    };
    assert_eq!(redis.kind(), Kind::Redis);
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
    assert_eq!(redis_command(&redis, "SET greeting hello"), "+OK");
    assert_eq!(redis_command(&redis, "GET greeting"), "$5");
}

#[test]
fn two_servers_get_different_ports_and_directories() {
    let (Some(a), Some(b)) = (test_servers::redis_or_skip(), test_servers::redis_or_skip()) else {
        return;
    };
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    assert_eq!(redis_command(&a, "SET only-in-a 1"), "+OK");
    assert_eq!(redis_command(&b, "EXISTS only-in-a"), ":0");
}

#[test]
fn a_killed_server_is_gone_and_restarts_on_its_port() {
    let Some(redis) = test_servers::redis_or_skip() else {
        return;
    };
    let (port, dir) = (redis.port(), redis.dir().to_owned());
    redis.kill();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(!dir.exists(), "the temporary directory is removed");
    let again = Server::redis().port(port).start().unwrap();
    assert_eq!(again.port(), port);
    assert_eq!(redis_command(&again, "PING"), "+PONG");
}

#[test]
fn nats_greets_clients_with_info() {
    let Some(nats) = test_servers::nats_or_skip() else {
        return;
    };
    assert_eq!(nats.url(), format!("nats://127.0.0.1:{}", nats.port()));
    let mut line = String::new();
    BufReader::new(TcpStream::connect(nats.addr()).unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("INFO {"), "{line}");
}

#[test]
fn a_missing_binary_is_reported_as_not_installed() {
    let error = Server::redis()
        .binary("/nonexistent/redis-server")
        .start()
        .unwrap_err();
    assert!(
        matches!(error, StartError::NotInstalled(Kind::Redis)),
        "{error:?}"
    );
    assert!(error.to_string().contains("ci/setup.sh"), "{error}");
}

#[test]
fn a_server_that_exits_is_reported_with_its_exit_status() {
    let error = Server::nats().binary("/bin/false").start().unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StartError::Failed { .. }), "{error:?}");
    assert!(
        message.contains("nats-server did not start: exited with"),
        "{message}"
    );
}

#[test]
fn a_port_in_use_is_reported_with_the_server_log() {
    let Some(redis) = test_servers::redis_or_skip() else {
        return;
    };
    let error = Server::redis().port(redis.port()).start().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("redis-server did not start"), "{message}");
    assert!(message.contains("--- redis-server log ---"), "{message}");
    assert!(message.contains("Address already in use"), "{message}");
}

#[test]
fn the_binary_prints_urls_and_stops_the_servers_when_stdin_closes() {
    use std::io::Read as _;
    use std::process::{Command, Stdio};
    if test_servers::redis_or_skip().is_none() || test_servers::nats_or_skip().is_none() {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_test-servers"))
        .args(["redis", "nats"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut redis, mut nats) = (String::new(), String::new());
    stdout.read_line(&mut redis).unwrap();
    stdout.read_line(&mut nats).unwrap();
    let redis_addr = redis
        .trim_end()
        .strip_prefix("REDIS_URL=redis://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("{redis:?}"))
        .to_owned();
    let nats_addr = nats
        .trim_end()
        .strip_prefix("NATS_URL=nats://")
        .unwrap_or_else(|| panic!("{nats:?}"))
        .to_owned();
    assert!(TcpStream::connect(&redis_addr).is_ok());
    assert!(TcpStream::connect(&nats_addr).is_ok());

    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
    assert!(TcpStream::connect(&redis_addr).is_err(), "redis stopped");
    assert!(TcpStream::connect(&nats_addr).is_err(), "nats stopped");
}

#[test]
fn the_binary_rejects_an_unknown_server_name() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_test-servers"))
        .arg("postgres")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("unknown server \"postgres\""), "{stderr}");
}
