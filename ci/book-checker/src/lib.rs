//! Consistency checks for the book repository, one module per rule:
//!
//! 1. `rust`/`toml` code blocks hold only includes from `listings/` (`includes`);
//! 2. includes resolve to existing files, anchors and line ranges, and anchors
//!    in listing files are balanced (`includes`);
//! 3. every listing crate is included by some page, every page is in
//!    `SUMMARY.md` and every `SUMMARY.md` link resolves (`summary`);
//! 4. relative links and their fragments resolve (`links`);
//! 5. content chapters have a mermaid diagram and the template sections in
//!    order (`chapters`);
//! 6. all manifests require a crate with the same version string (`manifests`);
//! 7. every listing crate is a workspace member (`members`);
//! 8. no typed versions of the tracked crates or the toolchain in `src/`
//!    (`typed_versions`);
//! 9. each content chapter has one `{{#verified-env}}` before its first `##`
//!    heading, and version markers take only the forms `ci/mdbook-versions`
//!    renders (`version_markers`);
//! 10. every `cargo test` command in `src/` names an existing listing crate,
//!     test target and test function (`test_refs`).
//!
//! Entry points are [`check`] and [`check_report`].

mod chapters;
mod directives;
mod includes;
mod links;
mod manifests;
mod markdown;
mod members;
mod summary;
mod test_refs;
mod typed_versions;
mod version_markers;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use markdown::Doc;

/// One problem found in the repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// Path relative to the checked root.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// A failure of the checker itself, as opposed to a problem in the book.
#[derive(Debug)]
pub enum CheckError {
    /// The root directory cannot be read.
    Root { path: PathBuf, source: io::Error },
    /// The root has no `src/SUMMARY.md`.
    MissingSummary { path: PathBuf },
    /// Some file or directory below the root cannot be read.
    Io { path: PathBuf, source: io::Error },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Root { path, source } => {
                write!(f, "cannot read book root {}: {source}", path.display())
            }
            CheckError::MissingSummary { path } => write!(
                f,
                "{} has no src/SUMMARY.md; run book-checker from the book repository root or pass it as ROOT",
                path.display()
            ),
            CheckError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for CheckError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CheckError::Root { source, .. } | CheckError::Io { source, .. } => Some(source),
            CheckError::MissingSummary { .. } => None,
        }
    }
}

/// The outcome of a run: problems plus what was looked at.
#[derive(Debug)]
pub struct Report {
    /// Sorted by path, then line.
    pub problems: Vec<Problem>,
    /// Book pages: `.md` files under `src/` except `SUMMARY.md`.
    pub pages: usize,
    /// Crates (directories with a `Cargo.toml`) under `listings/`.
    pub listing_crates: usize,
}

/// Runs every check on the repository at `root`.
pub fn check(root: &Path) -> Result<Vec<Problem>, CheckError> {
    check_report(root).map(|report| report.problems)
}

/// Like [`check`], but also reports how many pages and crates were seen.
pub fn check_report(root: &Path) -> Result<Report, CheckError> {
    let mut problems = Vec::new();
    let repo = Repo::load(root, &mut problems)?;

    let included = includes::check(&repo, &mut problems)?;
    summary::check(&repo, &included, &mut problems);
    links::check(&repo, &mut problems);
    chapters::check(&repo, &mut problems);
    manifests::check(&repo, &mut problems)?;
    members::check(&repo, &mut problems);
    typed_versions::check(&repo, &mut problems)?;
    version_markers::check(&repo, &mut problems);
    test_refs::check(&repo, &mut problems)?;

    problems.sort();
    problems.dedup();
    Ok(Report {
        problems,
        pages: repo.pages.iter().filter(|p| p.is_book_page()).count(),
        listing_crates: repo.crates.len(),
    })
}

/// Directories below `src/` whose pages are content chapters.
const CONTENT_DIRS: [&str; 6] = [
    "foundations",
    "patterns",
    "frameworks",
    "ecosystem",
    "cloud-native",
    "backends",
];

/// The files of the repository that the checks look at.
pub(crate) struct Repo {
    /// Absolute, lexically normalized root.
    root: PathBuf,
    /// Every `.md` file under `src/`, including `SUMMARY.md`.
    pages: Vec<Page>,
    /// Every file under `listings/` outside `target/` directories.
    listing_files: Vec<PathBuf>,
    /// Directories under `listings/` that hold a `Cargo.toml`.
    crates: Vec<PathBuf>,
    /// The root `Cargo.toml`, `ci/*/Cargo.toml` and the listing manifests.
    manifests: Vec<PathBuf>,
}

pub(crate) struct Page {
    path: PathBuf,
    /// Path relative to the root, e.g. `src/foundations/quickstart.md`.
    rel: PathBuf,
    doc: Doc,
}

impl Page {
    fn is_summary(&self) -> bool {
        self.rel == Path::new("src/SUMMARY.md")
    }

    /// A real page of the book, which must appear in `SUMMARY.md`.
    fn is_book_page(&self) -> bool {
        !self.is_summary()
    }

    fn is_content_chapter(&self) -> bool {
        CONTENT_DIRS
            .iter()
            .any(|dir| self.rel.starts_with(Path::new("src").join(dir)))
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }
}

impl Repo {
    fn load(root: &Path, problems: &mut Vec<Problem>) -> Result<Repo, CheckError> {
        let root_error = |source| CheckError::Root {
            path: root.to_path_buf(),
            source,
        };
        let absolute = std::path::absolute(root).map_err(root_error)?;
        let root = normalize(&absolute);
        fs::read_dir(&root).map_err(root_error)?;
        if !root.join("src/SUMMARY.md").is_file() {
            return Err(CheckError::MissingSummary { path: root });
        }

        let mut repo = Repo {
            root,
            pages: Vec::new(),
            listing_files: Vec::new(),
            crates: Vec::new(),
            manifests: Vec::new(),
        };

        for path in walk(&repo.root.join("src"))? {
            if path.extension().is_some_and(|e| e == "md") {
                let rel = repo.rel(&path);
                match read_text(&path)? {
                    Some(text) => repo.pages.push(Page {
                        doc: Doc::parse(&text),
                        path,
                        rel,
                    }),
                    None => problems.push(Problem {
                        path: rel,
                        line: 1,
                        message: "page is not valid UTF-8".to_string(),
                    }),
                }
            }
        }

        let listings = repo.root.join("listings");
        if listings.is_dir() {
            repo.listing_files = walk(&listings)?;
        }
        let listing_manifests = repo
            .listing_files
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "Cargo.toml"));
        repo.crates = listing_manifests
            .clone()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();

        let root_manifest = repo.root.join("Cargo.toml");
        if root_manifest.is_file() {
            repo.manifests.push(root_manifest);
        }
        let ci = repo.root.join("ci");
        if ci.is_dir() {
            for dir in sorted_entries(&ci)? {
                let manifest = dir.join("Cargo.toml");
                if manifest.is_file() {
                    repo.manifests.push(manifest);
                }
            }
        }
        repo.manifests.extend(listing_manifests.cloned());
        Ok(repo)
    }

    /// `path` relative to the root, or unchanged if it lies outside it.
    fn rel(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
    }

    fn problem(&self, path: &Path, line: usize, message: String) -> Problem {
        Problem {
            path: self.rel(path),
            line,
            message,
        }
    }
}

/// Lists every file below `dir`, sorted, skipping `target/` directories and
/// not following symlinked directories.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for path in sorted_entries(&dir)? {
            let file_type = fs::symlink_metadata(&path)
                .map_err(|source| io_error(&path, source))?
                .file_type();
            if file_type.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    pending.push(path);
                }
            } else if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let mut entries = fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|source| io_error(dir, source))?;
    entries.sort();
    Ok(entries)
}

fn io_error(path: &Path, source: io::Error) -> CheckError {
    CheckError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a text file; `Ok(None)` if it is binary or not UTF-8.
fn read_text(path: &Path) -> Result<Option<String>, CheckError> {
    let bytes = fs::read(path).map_err(|source| io_error(path, source))?;
    if bytes.contains(&0) {
        return Ok(None);
    }
    Ok(String::from_utf8(bytes).ok())
}

/// Resolves `.` and `..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Decodes `%XX` escapes in a link target; returns the input unchanged if
/// the result would not be UTF-8.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(
            normalize(Path::new("/a/src/foundations/../../listings/./x.rs")),
            PathBuf::from("/a/listings/x.rs")
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%E8%BF%90%E8%A1%8C"), "运行");
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%FF"), "%FF");
    }
}
