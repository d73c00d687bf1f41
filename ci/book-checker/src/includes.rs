//! Rules 1 and 2: `rust`/`toml` code blocks hold only includes from
//! `listings/`; every include resolves to an existing file, anchor and line
//! range; anchors in listing files are balanced.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};

use crate::directives::{Include, Marker, Selector, anchor_marker, find_includes};
use crate::{CheckError, Page, Problem, Repo, normalize, read_text};

/// Checks includes and code blocks in every page and anchor balance in
/// every listing file. Returns the resolved path of every include, for the
/// orphan-crate rule.
pub(crate) fn check(repo: &Repo, problems: &mut Vec<Problem>) -> Result<Vec<PathBuf>, CheckError> {
    let mut files = FileCache::default();
    let mut included = Vec::new();
    for page in &repo.pages {
        for (index, line) in page.doc.lines.iter().enumerate() {
            for include in find_includes(&line.raw) {
                let target = normalize(&page.dir().join(include.path));
                if let Some(message) = check_target(repo, &mut files, &include, &target)? {
                    problems.push(repo.problem(&page.path, index + 1, message));
                }
                included.push(target);
            }
        }
        check_code_blocks(repo, page, problems);
    }
    check_anchor_balance(repo, problems)?;
    Ok(included)
}

/// Rule 1 for one page.
fn check_code_blocks(repo: &Repo, page: &Page, problems: &mut Vec<Problem>) {
    let listings = repo.root.join("listings");
    for block in &page.doc.blocks {
        let lang = block.lang();
        if lang != "rust" && lang != "toml" {
            continue;
        }
        for index in block.body.clone() {
            let line = &page.doc.lines[index].raw;
            if let Some(message) = check_code_line(line, lang, page.dir(), &listings) {
                problems.push(repo.problem(&page.path, index + 1, message));
            }
        }
    }
}

/// A code line may be blank or hold include directives pointing into `listings/`.
fn check_code_line(line: &str, lang: &str, page_dir: &Path, listings: &Path) -> Option<String> {
    let includes = find_includes(line);
    let mut rest = line.to_string();
    for include in includes.iter().rev() {
        rest.replace_range(include.span.clone(), "");
    }
    if !rest.trim().is_empty() {
        return Some(format!(
            "inline code in {lang} block: include it from listings/ instead"
        ));
    }
    // mdBook pastes the file in at the directive without repeating its indentation, so the
    // second line of the file ends an indented list item and the fence around it comes apart.
    if !includes.is_empty() && line.starts_with(char::is_whitespace) {
        return Some(format!(
            "indented include in {lang} block: the included lines would not be indented, which breaks the fence; move the block out of the list"
        ));
    }
    includes
        .iter()
        .find(|include| !normalize(&page_dir.join(include.path)).starts_with(listings))
        .map(|include| {
            format!(
                "include in {lang} block must come from listings/, but {} is outside it",
                include.path
            )
        })
}

/// Rule 2 for one directive: the file, anchor or line range must exist.
fn check_target(
    repo: &Repo,
    files: &mut FileCache,
    include: &Include<'_>,
    target: &Path,
) -> Result<Option<String>, CheckError> {
    if !target.exists() {
        return Ok(Some(format!(
            "included file {} does not exist",
            include.path
        )));
    }
    if !target.is_file() {
        return Ok(Some(format!(
            "included path {} is not a file",
            include.path
        )));
    }
    if include.selector == Selector::Whole {
        return Ok(None);
    }
    let rel = repo.rel(target);
    let Some(text) = files.get(target)? else {
        return Ok(Some(format!(
            "included file {} is not UTF-8 text, so its anchor or line range cannot be used",
            rel.display()
        )));
    };
    let message = match include.selector {
        Selector::Whole => None,
        Selector::Anchor(name) => {
            let found = text
                .lines()
                .any(|line| anchor_marker(line) == Some(Marker::Start(name)));
            (!found).then(|| format!("anchor \"{name}\" not found in {}", rel.display()))
        }
        Selector::Lines { start, end } => {
            let count = text.lines().count();
            let first = start.unwrap_or(1);
            let last = end.unwrap_or(count);
            let whole = start.is_none() && end.is_none();
            let fits = whole || (first >= 1 && first <= last && last <= count);
            (!fits).then(|| {
                format!(
                    "line range {} is outside {} ({count} lines)",
                    include.spec,
                    rel.display()
                )
            })
        }
    };
    Ok(message)
}

/// Contents of included files, read once each; `None` for binary files.
#[derive(Default)]
struct FileCache {
    texts: HashMap<PathBuf, Option<String>>,
}

impl FileCache {
    fn get(&mut self, path: &Path) -> Result<Option<&str>, CheckError> {
        let text = match self.texts.entry(path.to_path_buf()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(read_text(path)?),
        };
        Ok(text.as_deref())
    }
}

/// Every `ANCHOR: x` in a listing file is closed by a later `ANCHOR_END: x`,
/// and is not opened twice in a row.
fn check_anchor_balance(repo: &Repo, problems: &mut Vec<Problem>) -> Result<(), CheckError> {
    for path in &repo.listing_files {
        let Some(text) = read_text(path)? else {
            continue;
        };
        let mut open: HashMap<&str, usize> = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let message = match anchor_marker(line) {
                Some(Marker::Start(name)) => match open.get(name) {
                    Some(first) => Some(format!(
                        "ANCHOR: {name} is opened again before its ANCHOR_END (first opened on line {first})"
                    )),
                    None => {
                        open.insert(name, line_no);
                        None
                    }
                },
                Some(Marker::End(name)) => open
                    .remove(name)
                    .is_none()
                    .then(|| format!("ANCHOR_END: {name} has no open ANCHOR: {name} before it")),
                None => None,
            };
            if let Some(message) = message {
                problems.push(repo.problem(path, line_no, message));
            }
        }
        for (name, line_no) in open {
            let message = format!("ANCHOR: {name} is never closed");
            problems.push(repo.problem(path, line_no, message));
        }
    }
    Ok(())
}
