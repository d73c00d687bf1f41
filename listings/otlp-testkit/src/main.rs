//! `cargo run -p otlp-testkit`: listens where an OTLP Collector would (4317 gRPC, 4318 HTTP)
//! and prints every span tree, metric point and log record that arrives.

use std::net::SocketAddr;
use std::process::ExitCode;

use otlp_testkit::{Receiver, render};

const USAGE: &str =
    "usage: otlp-testkit [--grpc ADDR] [--http ADDR]   (defaults 127.0.0.1:4317, 127.0.0.1:4318)";

fn parse_args() -> Result<(SocketAddr, SocketAddr), String> {
    let mut grpc = SocketAddr::from(([127, 0, 0, 1], 4317));
    let mut http = SocketAddr::from(([127, 0, 0, 1], 4318));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let target = match flag.as_str() {
            "--grpc" => &mut grpc,
            "--http" => &mut http,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        };
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs an address\n{USAGE}"))?;
        *target = value
            .parse()
            .map_err(|e| format!("{flag} {value:?} is not an IP:PORT address: {e}"))?;
    }
    Ok((grpc, http))
}

fn main() -> ExitCode {
    let (grpc, http) = match parse_args() {
        Ok(addrs) => addrs,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let receiver = Receiver::builder()
        .grpc_addr(grpc)
        .http_addr(http)
        .on_batch(|batch| {
            // One print call a batch, so concurrent exports do not interleave their lines.
            let text = [
                render::span_trees(&batch.spans),
                render::metric_lines(&batch.metrics),
                render::log_lines(&batch.logs),
            ]
            .concat();
            print!("{text}");
        });
    let receiver = match receiver.start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("otlp-testkit: {e} (is another collector already running?)");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "otlp-testkit: OTLP/gRPC on {}, OTLP/HTTP on {} — Ctrl-C to stop",
        receiver.grpc_endpoint(),
        receiver.http_endpoint()
    );
    loop {
        std::thread::park();
    }
}
