//! Rule 4: relative links between pages resolve, and fragments pointing at
//! pages name an existing heading id.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::markdown::{Doc, link_destinations};
use crate::{Page, Problem, Repo, normalize, percent_decode, read_text};

pub(crate) fn check(repo: &Repo, problems: &mut Vec<Problem>) {
    let mut ids = IdCache::default();
    // SUMMARY.md links are checked by the summary rule.
    for page in repo.pages.iter().filter(|p| !p.is_summary()) {
        for (line, prose) in page.doc.prose_lines() {
            for dest in link_destinations(prose) {
                if let Some(message) = check_link(repo, page, dest, &mut ids) {
                    problems.push(repo.problem(&page.path, line, message));
                }
            }
        }
    }
}

fn check_link(repo: &Repo, page: &Page, dest: &str, ids: &mut IdCache) -> Option<String> {
    // Site-absolute links (`/x`) depend on where the book is served; skip them.
    if dest.is_empty() || is_external(dest) || dest.starts_with('/') {
        return None;
    }
    let (path, fragment) = split_target(dest);
    let target = if path.is_empty() {
        page.path.clone()
    } else {
        normalize(&page.dir().join(&path))
    };
    if !target.exists() {
        return Some(format!("link target {path} does not exist"));
    }
    let fragment = fragment.filter(|f| !f.is_empty())?;
    if !target.is_file() || target.extension().is_none_or(|e| e != "md") {
        return None;
    }
    let found = ids.get(repo, &target).contains(&fragment);
    (!found).then(|| {
        format!(
            "fragment #{fragment} not found in page {}",
            repo.rel(&target).display()
        )
    })
}

/// True for `scheme:...` URLs (`https:`, `mailto:`, ...) and `//host/...`.
pub(crate) fn is_external(dest: &str) -> bool {
    if dest.starts_with("//") {
        return true;
    }
    dest.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// Splits a link destination into its percent-decoded path (without any
/// `?query`) and fragment.
pub(crate) fn split_target(dest: &str) -> (String, Option<String>) {
    let (before, fragment) = match dest.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (dest, None),
    };
    let path = before.split('?').next().unwrap_or("");
    (percent_decode(path), fragment.map(percent_decode))
}

/// Heading ids per Markdown file, computed once each.
#[derive(Default)]
struct IdCache {
    ids: HashMap<PathBuf, HashSet<String>>,
}

impl IdCache {
    fn get(&mut self, repo: &Repo, path: &Path) -> &HashSet<String> {
        self.ids.entry(path.to_path_buf()).or_insert_with(|| {
            match repo.pages.iter().find(|p| p.path == path) {
                Some(page) => page.doc.anchor_ids(),
                // A Markdown file outside src/, e.g. a listing's README.
                None => match read_text(path) {
                    Ok(Some(text)) => Doc::parse(&text).anchor_ids(),
                    _ => HashSet::new(),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_links() {
        assert!(is_external("https://opentelemetry.io"));
        assert!(is_external("mailto:a@b.c"));
        assert!(is_external("//cdn.example/x.js"));
        assert!(!is_external("../foundations/quickstart.md#运行示例"));
        assert!(!is_external("#a:b"));
    }

    #[test]
    fn targets_are_split_and_decoded() {
        assert_eq!(
            split_target("a.md?x=1#%E8%BF%90"),
            ("a.md".to_string(), Some("运".to_string()))
        );
        assert_eq!(
            split_target("#top"),
            (String::new(), Some("top".to_string()))
        );
    }
}
