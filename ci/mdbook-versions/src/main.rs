//! Command-line entry point, as mdBook calls a preprocessor:
//! `mdbook-versions supports <renderer>`, then `mdbook-versions` with `[context, book]` on stdin.

use std::io::{self, Read, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: mdbook-versions [supports RENDERER]\n\nWithout arguments, reads mdBook's [context, book] JSON from stdin and writes the book\nwith {{#versions}} and {{#verified-env}} rendered to stdout. `supports` accepts every renderer.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {}
        ["supports", _renderer] => return ExitCode::SUCCESS,
        ["-h" | "--help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("mdbook-versions: unexpected arguments {args:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }

    let mut input = String::new();
    if let Err(error) = io::stdin().read_to_string(&mut input) {
        eprintln!("mdbook-versions: cannot read stdin: {error}");
        return ExitCode::FAILURE;
    }
    let book = match mdbook_versions::run(&input) {
        Ok(book) => book,
        Err(error) => {
            eprintln!("mdbook-versions: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = io::stdout().lock();
    if let Err(error) = out.write_all(book.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("mdbook-versions: cannot write the book to stdout: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
