//! `cargo run -p test-servers -- redis nats`: starts the named servers on free loopback ports,
//! prints one `REDIS_URL=…` / `NATS_URL=…` line each, and keeps them running until standard input
//! closes (then stops them and removes their directories). `ci/regen-output.sh` uses it for the
//! chapters whose program needs a server.

use std::io::{Read, Write};
use std::process::ExitCode;

use test_servers::Server;

fn main() -> ExitCode {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        eprintln!("usage: test-servers redis|nats ...  (stops them when stdin closes)");
        return ExitCode::from(2);
    }
    let mut running = Vec::new();
    for name in &names {
        let (variable, builder) = match name.as_str() {
            "redis" => ("REDIS_URL", Server::redis()),
            "nats" => ("NATS_URL", Server::nats()),
            other => {
                eprintln!("test-servers: unknown server {other:?}; known: redis, nats");
                return ExitCode::from(2);
            }
        };
        match builder.start() {
            Ok(server) => {
                println!("{variable}={}", server.url());
                running.push(server);
            }
            Err(e) => {
                eprintln!("test-servers: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if std::io::stdout().flush().is_err() {
        return ExitCode::FAILURE;
    }
    // Runs until whoever started us closes our stdin; dropping `running` stops the servers.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(running);
    ExitCode::SUCCESS
}
