//! Rule 7: every listing crate is a member of the root workspace. Cargo silently leaves a crate
//! out of `cargo test --workspace` when no `members` pattern matches it, and then nothing in CI
//! compiles the code the book shows.

use std::path::Path;

use toml::Table;

use crate::{Problem, Repo, read_text};

pub(crate) fn check(repo: &Repo, problems: &mut Vec<Problem>) {
    let manifest = repo.root.join("Cargo.toml");
    // An unreadable or invalid root manifest is reported by rule 6.
    let Ok(Some(text)) = read_text(&manifest) else {
        return;
    };
    let Ok(table) = text.parse::<Table>() else {
        return;
    };
    let Some(workspace) = table.get("workspace").and_then(|w| w.as_table()) else {
        return;
    };
    let Some(members) = workspace.get("members").and_then(|m| m.as_array()) else {
        return;
    };
    let strings = |list: &[toml::Value]| -> Vec<String> {
        list.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let members = strings(members);
    let excluded = workspace
        .get("exclude")
        .and_then(|e| e.as_array())
        .map(|e| strings(e))
        .unwrap_or_default();

    for dir in &repo.crates {
        let rel = repo.rel(dir);
        let is_member = members.iter().any(|p| matches(p, &rel))
            && !excluded.iter().any(|p| rel.starts_with(p));
        if !is_member {
            let message = format!(
                "crate {} is not a member of the root workspace: add it to [workspace] members in Cargo.toml, or CI never builds it",
                rel.display()
            );
            problems.push(repo.problem(&dir.join("Cargo.toml"), 1, message));
        }
    }
}

/// Cargo's member patterns, as far as the book uses them: path components compared one by
/// one, where `*` in a component matches any run of characters.
fn matches(pattern: &str, path: &Path) -> bool {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let path: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, name)| component_matches(p, name))
}

fn component_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => {
            let Some(tail) = name.strip_prefix(prefix) else {
                return false;
            };
            // Try every split point for the part after the star.
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| component_matches(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_patterns() {
        let path = Path::new("listings/foundations/quickstart");
        assert!(matches("listings/foundations/*", path));
        assert!(matches("listings/foundations/quick*", path));
        assert!(matches("listings/*/quickstart/", path));
        assert!(matches("listings/foundations/quickstart", path));
        assert!(!matches("listings/*", path));
        assert!(!matches("listings/patterns/*", path));
        assert!(!matches("listings/foundations/*-x", path));
    }
}
