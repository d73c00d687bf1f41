//! Rule 8: no typed version numbers of the tracked crates or the Rust
//! toolchain anywhere in `src/`. The versions readers see are rendered from
//! `Cargo.lock` and `rustc` by `{{#verified-env}}` and `{{#versions}}`
//! (`ci/mdbook-versions`); a typed one goes stale with the next bump.
//!
//! Two patterns are flagged: a tracked name followed by a version (`tokio 1.54`,
//! `opentelemetry = "0.33"`, `Rust 1.95.0`), and any literal equal to a version
//! that `Cargo.lock` currently holds for a tracked crate (`0.33.1`), wherever it
//! stands. A bare `0.8` (a sampling ratio) or `HTTP/1.1` is neither.

use std::collections::BTreeMap;

// The crates whose versions the book shows: the preprocessor's own list, so this rule and the
// rendered versions never disagree about which crates count.
use mdbook_versions::TRACKED;
use toml::{Table, Value};

use crate::manifests::line_of;
use crate::{CheckError, Problem, Repo, read_text};

/// Names of the toolchain that a typed version may follow.
const TOOLCHAIN: [&str; 3] = ["rustc", "Rust", "rust"];

const ADVICE: &str =
    "write {{#verified-env}} or {{#versions}}, which read versions from Cargo.lock";

pub(crate) fn check(repo: &Repo, problems: &mut Vec<Problem>) -> Result<(), CheckError> {
    let locked = locked_versions(repo, problems)?;
    for page in &repo.pages {
        for (index, line) in page.doc.lines.iter().enumerate() {
            for message in check_line(&line.raw, &locked) {
                problems.push(repo.problem(&page.path, index + 1, message));
            }
        }
    }
    Ok(())
}

/// Version → tracked crates locked at it, from the root `Cargo.lock` (empty
/// without one). An unparsable lock is reported and treated as empty.
fn locked_versions(
    repo: &Repo,
    problems: &mut Vec<Problem>,
) -> Result<BTreeMap<String, Vec<&'static str>>, CheckError> {
    let mut locked: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let path = repo.root.join("Cargo.lock");
    if !path.is_file() {
        return Ok(locked);
    }
    let Some(text) = read_text(&path)? else {
        let message = "Cargo.lock is not valid UTF-8".to_string();
        problems.push(repo.problem(&path, 1, message));
        return Ok(locked);
    };
    let table = match text.parse::<Table>() {
        Ok(table) => table,
        Err(error) => {
            let line = error.span().map_or(1, |span| line_of(&text, span.start));
            let message = format!("invalid TOML: {}", error.message().trim());
            problems.push(repo.problem(&path, line, message));
            return Ok(locked);
        }
    };
    let packages = table.get("package").and_then(Value::as_array);
    for package in packages.into_iter().flatten() {
        let field = |key: &str| package.get(key).and_then(Value::as_str);
        if let (Some(name), Some(version)) = (field("name"), field("version"))
            && let Some(tracked) = TRACKED.iter().find(|t| **t == name)
        {
            let crates = locked.entry(version.to_string()).or_default();
            if !crates.contains(tracked) {
                crates.push(tracked);
            }
        }
    }
    Ok(locked)
}

/// The problems in one raw line.
fn check_line(line: &str, locked: &BTreeMap<String, Vec<&'static str>>) -> Vec<String> {
    let mut found = Vec::new();
    for (start, version) in version_literals(line) {
        if let Some(name) = named_before(&line[..start]) {
            found.push(format!("typed version {version} of {name}: {ADVICE}"));
        } else if let Some(crates) = locked.get(version) {
            found.push(format!(
                "typed version {version}, the locked version of {}: {ADVICE}",
                crates.join(", ")
            ));
        }
    }
    found
}

/// Dotted version literals (`0.33`, `1.95.0`, `v0.33.1`) as (byte offset of
/// the literal including a `v`, the numbers without it). A literal is a whole
/// run of ASCII letters, digits, `_` and `.`: `127.0.0.1` is one literal, and
/// `a1.2`, `1.5x` or `1.x` are none.
fn version_literals(line: &str) -> Vec<(usize, &str)> {
    let bytes = line.as_bytes();
    let in_token = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !in_token(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && in_token(bytes[i]) {
            i += 1;
        }
        // A sentence may end right after the version.
        let token = line[start..i].trim_end_matches('.');
        let number = token.strip_prefix(['v', 'V']).unwrap_or(token);
        let mut parts = number.split('.');
        let dotted = number.contains('.')
            && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if dotted {
            found.push((start, number));
        }
    }
    found
}

/// The tracked crate (or the toolchain) named right before a version, allowing
/// spaces, backticks, quotes, `@`, `=`, requirement operators, `*`, table
/// cell borders `|` and `版本` in between (a `v` belongs to the version literal).
fn named_before(before: &str) -> Option<&'static str> {
    let mut rest = before;
    loop {
        let trimmed =
            rest.trim_end_matches(|c: char| c.is_whitespace() || "`'\"“”‘’@=^~<>*|".contains(c));
        match trimmed.strip_suffix("版本") {
            Some(shorter) => rest = shorter,
            None => {
                rest = trimmed;
                break;
            }
        }
    }
    // The name characters are ASCII, so their count is their length in bytes.
    let len = rest
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .count();
    let word = &rest[rest.len() - len..];
    if TOOLCHAIN.contains(&word) {
        return Some("the Rust toolchain");
    }
    // Cargo treats `-` and `_` in crate names alike, and so do readers.
    let same = |a: &str, b: &str| a.replace('_', "-") == b.replace('_', "-");
    TRACKED.iter().copied().find(|name| same(name, word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals(line: &str) -> Vec<&str> {
        version_literals(line).into_iter().map(|(_, v)| v).collect()
    }

    #[test]
    fn version_literals_stand_alone() {
        assert_eq!(
            literals("0.33 和 1.95.0，v0.33.1、`1.54.1`，tokio@1.54"),
            ["0.33", "1.95.0", "0.33.1", "1.54.1", "1.54"]
        );
        assert_eq!(
            literals("127.0.0.1:4317 HTTP/1.1 0.8"),
            ["127.0.0.1", "1.1", "0.8"]
        );
        assert!(literals("W3C h2 a1.2 x.1.2 1.5x 4317 5 秒 v1 1.x env0.3 docs.rs").is_empty());
        assert_eq!(version_literals("见 v0.33.1。"), [(4, "0.33.1")]);
        assert_eq!(literals("升级到 1.54.1."), ["1.54.1"]);
    }

    #[test]
    fn names_before_a_version() {
        assert_eq!(named_before("tokio "), Some("tokio"));
        assert_eq!(
            named_before("`opentelemetry_sdk` = \""),
            Some("opentelemetry_sdk")
        );
        assert_eq!(
            named_before("opentelemetry-sdk "),
            Some("opentelemetry_sdk")
        );
        assert_eq!(
            named_before("用 tracing-subscriber 版本 "),
            Some("tracing-subscriber")
        );
        assert_eq!(named_before("axum 的版本"), None);
        assert_eq!(named_before("Rust "), Some("the Rust toolchain"));
        assert_eq!(
            named_before("tracing-opentelemetry@"),
            Some("tracing-opentelemetry")
        );
        assert_eq!(named_before("my-tokio "), None);
        assert_eq!(named_before("OTLP/HTTP "), None);
        assert_eq!(named_before("采样率 "), None);
        assert_eq!(named_before("| `tonic` | `"), Some("tonic"));
        assert_eq!(named_before("HTTP/"), None);
    }
}
