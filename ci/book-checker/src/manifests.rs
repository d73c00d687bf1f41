//! Rule 6: every manifest requires a given crate with the same version
//! requirement string.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::{Table, Value};

use crate::{CheckError, Problem, Repo, read_text};

const KINDS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

/// One `name = "req"` found in a manifest.
struct Requirement {
    /// The real crate name (after `package = "..."` renames).
    name: String,
    req: String,
    manifest: PathBuf,
    line: usize,
}

pub(crate) fn check(repo: &Repo, problems: &mut Vec<Problem>) -> Result<(), CheckError> {
    let mut requirements = Vec::new();
    for manifest in &repo.manifests {
        let Some(text) = read_text(manifest)? else {
            let message = "manifest is not valid UTF-8".to_string();
            problems.push(repo.problem(manifest, 1, message));
            continue;
        };
        match text.parse::<Table>() {
            Ok(table) => {
                for (table_path, deps) in dependency_tables(&table) {
                    for (key, value) in deps {
                        let Some((name, req)) = requirement(key, value) else {
                            continue;
                        };
                        let mut entry_path = table_path.clone();
                        entry_path.push(key.clone());
                        requirements.push(Requirement {
                            name,
                            req,
                            manifest: repo.rel(manifest),
                            line: entry_line(&text, &entry_path),
                        });
                    }
                }
            }
            Err(error) => {
                let line = error.span().map_or(1, |span| line_of(&text, span.start));
                let message = format!("invalid TOML: {}", error.message().trim());
                problems.push(repo.problem(manifest, line, message));
            }
        }
    }
    report_mismatches(&requirements, problems);
    Ok(())
}

/// The dependency tables of a manifest, each with its key path.
fn dependency_tables(manifest: &Table) -> Vec<(Vec<String>, &Table)> {
    let mut tables = Vec::new();
    add_kinds(&mut tables, &[], manifest);
    if let Some(Value::Table(targets)) = manifest.get("target") {
        for (cfg, target) in targets {
            if let Value::Table(target) = target {
                add_kinds(&mut tables, &["target", cfg], target);
            }
        }
    }
    if let Some(Value::Table(workspace)) = manifest.get("workspace")
        && let Some(Value::Table(deps)) = workspace.get("dependencies")
    {
        let path = vec!["workspace".to_string(), "dependencies".to_string()];
        tables.push((path, deps));
    }
    tables
}

/// Adds the `[dependencies]`-like tables found directly in `table`.
fn add_kinds<'a>(tables: &mut Vec<(Vec<String>, &'a Table)>, prefix: &[&str], table: &'a Table) {
    for kind in KINDS {
        if let Some(Value::Table(deps)) = table.get(kind) {
            let mut path: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
            path.push(kind.to_string());
            tables.push((path, deps));
        }
    }
}

/// `(crate name, version requirement)` of a dependency entry, if it has a version.
fn requirement(key: &str, value: &Value) -> Option<(String, String)> {
    match value {
        Value::String(req) => Some((key.to_string(), req.trim().to_string())),
        Value::Table(entry) => {
            let req = entry.get("version")?.as_str()?;
            let name = entry.get("package").and_then(Value::as_str).unwrap_or(key);
            Some((name.to_string(), req.trim().to_string()))
        }
        _ => None,
    }
}

/// For each crate required with several different strings, the most common
/// string (earliest on a tie) is taken as the reference and every other
/// occurrence is reported.
fn report_mismatches(requirements: &[Requirement], problems: &mut Vec<Problem>) {
    let mut by_name: BTreeMap<&str, Vec<&Requirement>> = BTreeMap::new();
    for requirement in requirements {
        by_name
            .entry(&requirement.name)
            .or_default()
            .push(requirement);
    }
    for (name, mut uses) in by_name {
        uses.sort_by(|a, b| (&a.manifest, a.line).cmp(&(&b.manifest, b.line)));
        let count = |req: &str| uses.iter().filter(|u| u.req == req).count();
        // `max_by_key` keeps the last maximum, so searching from the end
        // yields the earliest occurrence of the most common string.
        let Some(reference) = uses.iter().rev().max_by_key(|u| count(&u.req)) else {
            continue;
        };
        for other in uses.iter().filter(|u| u.req != reference.req) {
            problems.push(Problem {
                path: other.manifest.clone(),
                line: other.line,
                message: format!(
                    "{name} \"{}\" here but \"{}\" in {}",
                    other.req,
                    reference.req,
                    reference.manifest.display()
                ),
            });
        }
    }
}

/// The 1-based line on which a key path (such as `dependencies.tokio`) is
/// defined, found by tracking table headers and dotted keys line by line.
/// Falls back to line 1.
fn entry_line(text: &str, wanted: &[String]) -> usize {
    let mut header: Vec<String> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let path = if let Some(inner) = line.strip_prefix('[') {
            let inner = inner.strip_prefix('[').unwrap_or(inner);
            let Some(end) = find_unquoted(inner, ']') else {
                continue;
            };
            header = split_dotted(&inner[..end]);
            header.clone()
        } else if let Some(eq) = find_unquoted(line, '=') {
            let mut path = header.clone();
            path.extend(split_dotted(&line[..eq]));
            path
        } else {
            continue;
        };
        if path.starts_with(wanted) {
            return index + 1;
        }
    }
    1
}

/// Byte index of the first `wanted` outside TOML quotes.
fn find_unquoted(text: &str, wanted: char) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == wanted => return Some(i),
            None => {}
        }
    }
    None
}

/// Splits a dotted TOML key (`target.'cfg(unix)'.dependencies`) into parts.
fn split_dotted(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = key;
    while let Some(dot) = find_unquoted(rest, '.') {
        parts.push(unquote(&rest[..dot]));
        rest = &rest[dot + 1..];
    }
    parts.push(unquote(rest));
    parts
}

fn unquote(part: &str) -> String {
    let part = part.trim();
    for q in ['"', '\''] {
        if let Some(inner) = part.strip_prefix(q).and_then(|p| p.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    part.to_string()
}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_entry_lines() {
        let text = "[package]\nname = \"x\"\n\n[dependencies]\nserde = \"1\"\n\"tokio\" = { version = \"1\" }\n\n[dependencies.tracing]\nversion = \"0.1\"\n\n[target.'cfg(unix)'.dev-dependencies]\nlibc.version = \"0.2\"\n";
        assert_eq!(entry_line(text, &path(&["dependencies", "serde"])), 5);
        assert_eq!(entry_line(text, &path(&["dependencies", "tokio"])), 6);
        assert_eq!(entry_line(text, &path(&["dependencies", "tracing"])), 8);
        assert_eq!(
            entry_line(
                text,
                &path(&["target", "cfg(unix)", "dev-dependencies", "libc"])
            ),
            12
        );
        assert_eq!(entry_line(text, &path(&["dependencies", "missing"])), 1);
    }

    #[test]
    fn requirements_follow_renames() {
        let table: Table = "a = \"1\"\nb = { version = \"2\", package = \"real-b\" }\nc = { path = \"../c\" }\nd = { workspace = true }"
            .parse()
            .unwrap();
        let found: Vec<_> = table
            .iter()
            .filter_map(|(k, v)| requirement(k, v))
            .collect();
        assert_eq!(
            found,
            [
                ("a".to_string(), "1".to_string()),
                ("real-b".to_string(), "2".to_string())
            ]
        );
    }
}
