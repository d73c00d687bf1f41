//! Command-line entry point: `book-checker [ROOT]`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: book-checker [ROOT]\n\nChecks the book repository at ROOT (default: the current directory).\nExit status: 0 if no problems, 1 if problems were found, 2 on usage or I/O errors.";

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.len() > 1 {
        eprintln!("book-checker: expected at most one argument\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let root = args
        .first()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);

    let report = match book_checker::check_report(&root) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("book-checker: error: {error}");
            return ExitCode::from(2);
        }
    };

    // Ignore write errors (e.g. a closed pipe); the exit code still tells.
    let mut out = io::stdout().lock();
    if report.problems.is_empty() {
        let _ = writeln!(
            out,
            "book-checker: ok ({} pages, {} listing crates)",
            report.pages, report.listing_crates
        );
        return ExitCode::SUCCESS;
    }
    for problem in &report.problems {
        let _ = writeln!(out, "{problem}");
    }
    let count = report.problems.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    let _ = writeln!(out, "book-checker: {count} {noun} found");
    ExitCode::from(1)
}
