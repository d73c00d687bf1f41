//! Rule 3: every listing crate is included by some page, every page is in
//! `SUMMARY.md`, and every `SUMMARY.md` link points to an existing file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::links::{is_external, split_target};
use crate::markdown::link_destinations;
use crate::{Problem, Repo, normalize};

pub(crate) fn check(repo: &Repo, included: &[PathBuf], problems: &mut Vec<Problem>) {
    check_crates(repo, included, problems);
    check_summary(repo, problems);
}

/// A crate counts as used when an include resolves inside its directory
/// and not inside a crate nested in it.
fn check_crates(repo: &Repo, included: &[PathBuf], problems: &mut Vec<Problem>) {
    let used: HashSet<&Path> = included
        .iter()
        .filter_map(|target| {
            repo.crates
                .iter()
                .filter(|dir| target.starts_with(dir))
                .max_by_key(|dir| dir.components().count())
                .map(PathBuf::as_path)
        })
        .collect();
    for dir in &repo.crates {
        if !used.contains(dir.as_path()) {
            let message = format!(
                "crate {} has no file included by any page",
                repo.rel(dir).display()
            );
            problems.push(repo.problem(&dir.join("Cargo.toml"), 1, message));
        }
    }
}

fn check_summary(repo: &Repo, problems: &mut Vec<Problem>) {
    // A SUMMARY.md that is not UTF-8 was already reported while loading.
    let Some(summary) = repo.pages.iter().find(|p| p.is_summary()) else {
        return;
    };
    let mut linked = HashSet::new();
    for (line, prose) in summary.doc.prose_lines() {
        for dest in link_destinations(prose) {
            // `[Draft]()` is an mdBook draft chapter.
            if is_external(dest) {
                continue;
            }
            let (path, _) = split_target(dest);
            if path.is_empty() {
                continue;
            }
            let target = normalize(&summary.dir().join(&path));
            if !target.is_file() {
                let message = format!("SUMMARY.md links to missing page {path}");
                problems.push(repo.problem(&summary.path, line, message));
            }
            linked.insert(target);
        }
    }
    for page in repo.pages.iter().filter(|p| p.is_book_page()) {
        if !linked.contains(&page.path) {
            let message = "page is not linked from src/SUMMARY.md".to_string();
            problems.push(repo.problem(&page.path, 1, message));
        }
    }
}
