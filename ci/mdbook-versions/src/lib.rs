//! An mdBook preprocessor that renders versions read from `Cargo.lock` and `rustc`, so that no
//! version in the book is typed by hand:
//!
//! - `{{#versions}}` becomes the table of verified versions: the Rust toolchain, then every
//!   crate of [`TRACKED`] that is in the root `Cargo.lock` (all of its versions if locked twice).
//! - `{{#verified-env}}` becomes a one-line blockquote for the chapter `src/<part>/<slug>.md`: the
//!   toolchain, then the tracked crates that the crates under `listings/<part>/<slug>/` depend
//!   on directly, with the versions they are locked to.
//! - `\{{#versions}}` and `\{{#verified-env}}` are shown as written, without the backslash.
//!
//! Any other `{{#versions…}}` / `{{#verified-env…}}` form is an error, as is a chapter with
//! `{{#verified-env}}` but no listing crate, a missing `Cargo.lock` or a failing `rustc`; errors
//! name the chapter's source file and line.
//!
//! The protocol is mdBook's: [`run`] takes the `[context, book]` JSON array mdBook writes to
//! stdin and returns the book JSON to print. It is handled as plain [`serde_json::Value`]s;
//! every object with a `content` string and `sub_items` is a chapter, however deeply nested.

pub mod markers;
mod render;
mod versions;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};

use markers::{Found, Marker, scan};
use versions::{Lock, listing_crates, rust_version, sorted};

/// The crates whose versions the book shows, in the order it shows them. The book checker's rule
/// against typed versions uses this list too.
pub const TRACKED: [&str; 12] = [
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry-otlp",
    "opentelemetry-proto",
    "opentelemetry-semantic-conventions",
    "opentelemetry-appender-tracing",
    "tracing",
    "tracing-subscriber",
    "tracing-opentelemetry",
    "tokio",
    "tonic",
    "axum",
];

/// Rewrites the chapters of the `[context, book]` array mdBook sends and returns the book JSON.
pub fn run(input: &str) -> Result<String> {
    let value: Value = serde_json::from_str(input).context("cannot parse mdBook's input JSON")?;
    let Value::Array(mut pair) = value else {
        bail!("expected the [context, book] JSON array that mdBook writes to stdin");
    };
    if pair.len() != 2 {
        bail!("expected the [context, book] JSON array that mdBook writes to stdin");
    }
    let mut book = pair.pop().unwrap_or(Value::Null);
    let context = &pair[0];
    let root = context
        .get("root")
        .and_then(Value::as_str)
        .context("the mdBook context has no `root`")?;
    let src = context
        .pointer("/config/book/src")
        .and_then(Value::as_str)
        .unwrap_or("src");
    let mut sources = Sources::new(Path::new(root), src);
    walk(&mut book, &mut sources)?;
    serde_json::to_string(&book).context("cannot write the book JSON")
}

/// Visits every chapter object below `value`, rewriting its `content`.
fn walk(value: &mut Value, sources: &mut Sources) -> Result<()> {
    match value {
        Value::Object(object) => {
            if object.contains_key("sub_items")
                && let Some(Value::String(content)) = object.get("content")
            {
                let chapter = ChapterFile::of(object, &sources.root, &sources.src);
                let rewritten = rewrite(content, &chapter, sources)?;
                object.insert("content".to_string(), Value::String(rewritten));
            }
            for child in object.values_mut() {
                walk(child, sources)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, sources)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Replaces every marker form in one chapter's content.
fn rewrite(content: &str, chapter: &ChapterFile, sources: &mut Sources) -> Result<String> {
    let mut out = String::with_capacity(content.len());
    // How often each unescaped form has been seen, to find it again in the source file.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, line) in content.split_inclusive('\n').enumerate() {
        let mut copied = 0;
        for occurrence in scan(line.trim_end_matches(['\n', '\r'])) {
            out.push_str(&line[copied..occurrence.span.start]);
            copied = occurrence.span.end;
            let (marker, text) = match occurrence.found {
                Found::Escaped(text) => {
                    out.push_str(text);
                    continue;
                }
                Found::Marker(marker) => (Some(marker), marker.text()),
                Found::Unknown(text) => (None, text),
            };
            let nth = seen.entry(text).or_insert(0);
            let locate = |error: anyhow::Error| {
                let line_no = chapter.source_line(text, *nth).unwrap_or(index + 1);
                anyhow!("{}:{line_no}: {error:#}", chapter.shown)
            };
            let rendered = match marker {
                Some(Marker::Versions) => sources.table(),
                Some(Marker::VerifiedEnv) => sources.note(chapter),
                None => Err(anyhow!(
                    "unknown marker {text}: write {} or {}, or put a backslash before it to show it as text",
                    Marker::Versions.text(),
                    Marker::VerifiedEnv.text()
                )),
            };
            out.push_str(&rendered.map_err(locate)?);
            *nth += 1;
        }
        out.push_str(&line[copied..]);
    }
    Ok(out)
}

/// Where a chapter comes from, for messages and for finding its listing crates.
struct ChapterFile {
    /// Path relative to `src/` (`source_path`, else `path`), e.g. `foundations/quickstart.md`.
    rel: Option<PathBuf>,
    /// What messages call the chapter: `src/foundations/quickstart.md`, or its name.
    shown: String,
    /// The source file on disk, if the chapter has one.
    file: Option<PathBuf>,
}

impl ChapterFile {
    fn of(chapter: &Map<String, Value>, root: &Path, src: &Path) -> ChapterFile {
        // `path` is what mdBook renders to (README.md becomes index.md); `source_path` is the file.
        let rel = ["source_path", "path"]
            .iter()
            .find_map(|key| chapter.get(*key).and_then(Value::as_str))
            .map(PathBuf::from);
        let shown = match &rel {
            Some(rel) => src.join(rel).display().to_string(),
            None => {
                let name = chapter.get("name").and_then(Value::as_str).unwrap_or("");
                format!("chapter \"{name}\"")
            }
        };
        ChapterFile {
            file: rel.as_ref().map(|rel| root.join(src).join(rel)),
            shown,
            rel,
        }
    }

    /// The 1-based line of the `nth` unescaped occurrence of `text` in the source file. The
    /// content may differ from the file in line count (preprocessors such as mermaid run first).
    fn source_line(&self, text: &str, nth: usize) -> Option<usize> {
        let source = fs::read_to_string(self.file.as_ref()?).ok()?;
        source
            .lines()
            .enumerate()
            .flat_map(|(index, line)| {
                scan(line)
                    .into_iter()
                    .filter(|o| match o.found {
                        Found::Marker(marker) => marker.text() == text,
                        Found::Unknown(unknown) => unknown == text,
                        Found::Escaped(_) => false,
                    })
                    .map(move |_| index + 1)
            })
            .nth(nth)
    }
}

/// The book's root, with the toolchain version and the lock read on first use.
struct Sources {
    root: PathBuf,
    src: PathBuf,
    rust: Option<String>,
    lock: Option<Lock>,
}

impl Sources {
    fn new(root: &Path, src: &str) -> Sources {
        Sources {
            root: root.to_path_buf(),
            src: PathBuf::from(src),
            rust: None,
            lock: None,
        }
    }

    fn load(&mut self) -> Result<(&str, &Lock)> {
        let rust = match self.rust.take() {
            Some(rust) => rust,
            None => rust_version()?,
        };
        let lock = match self.lock.take() {
            Some(lock) => lock,
            None => Lock::read(&self.root.join("Cargo.lock"))?,
        };
        Ok((self.rust.insert(rust).as_str(), &*self.lock.insert(lock)))
    }

    fn table(&mut self) -> Result<String> {
        let (rust, lock) = self
            .load()
            .with_context(|| format!("cannot render {}", Marker::Versions.text()))?;
        Ok(render::table(rust, lock))
    }

    fn note(&mut self, chapter: &ChapterFile) -> Result<String> {
        self.note_for(chapter)
            .with_context(|| format!("cannot render {}", Marker::VerifiedEnv.text()))
    }

    fn note_for(&mut self, chapter: &ChapterFile) -> Result<String> {
        let rel = chapter
            .rel
            .as_ref()
            .context("the chapter has no source file, so it has no listing crate")?;
        let listing = Path::new("listings").join(rel.with_extension(""));
        let crates = listing_crates(&self.root.join(&listing))?;
        if crates.is_empty() {
            bail!(
                "the chapter has no listing crate (no Cargo.toml under {}/)",
                listing.display()
            );
        }
        let (rust, lock) = self.load()?;
        let mut used = Vec::new();
        for name in TRACKED {
            let mut versions: Vec<&str> = Vec::new();
            for krate in crates.iter().filter(|c| c.dependencies.contains(name)) {
                match &krate.name {
                    Some(package) => versions.extend(lock.versions_used_by(package, name)),
                    None => versions.extend(lock.versions(name)),
                }
            }
            let versions = sorted(versions.into_iter());
            if !versions.is_empty() {
                used.push((name, versions));
            }
        }
        Ok(render::note(rust, &used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Sources that need no rustc and no files: both are already "loaded".
    fn loaded() -> Sources {
        let mut sources = Sources::new(Path::new("/nonexistent/book"), "src");
        sources.rust = Some("1.95.0".to_string());
        sources.lock =
            Some(Lock::parse("[[package]]\nname = \"tokio\"\nversion = \"1.54.1\"\n").unwrap());
        sources
    }

    fn chapter(path: &str) -> ChapterFile {
        let object = json!({"path": path, "source_path": path});
        ChapterFile::of(
            object.as_object().unwrap(),
            Path::new("/nonexistent/book"),
            Path::new("src"),
        )
    }

    #[test]
    fn rewrite_renders_markers_and_keeps_everything_else() {
        let content =
            "前 {{#versions}} 后\r\n`\\{{#versions}}` {{#include x.md}}\n\\{{#verified-env}}";
        let out = rewrite(content, &chapter("README.md"), &mut loaded()).unwrap();
        assert_eq!(
            out,
            "前 | 组件 | 版本 |\n|---|---|\n| Rust 工具链 | `1.95.0` |\n| `tokio` | `1.54.1` | 后\r\n\
             `{{#versions}}` {{#include x.md}}\n{{#verified-env}}"
        );
    }

    #[test]
    fn unknown_marker_names_file_and_content_line() {
        let error = rewrite(
            "# 标题\n\n{{#versions}} {{#versions }}\n",
            &chapter("appendix/x.md"),
            &mut loaded(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "src/appendix/x.md:3: unknown marker {{#versions }}: write {{#versions}} or {{#verified-env}}, or put a backslash before it to show it as text"
        );
    }

    #[test]
    fn chapters_are_found_at_any_depth() {
        let leaf = |content: &str| json!({"Chapter": {"content": content, "sub_items": [], "path": "a.md"}});
        let mut book = json!({
            "items": [
                "Separator",
                {"PartTitle": "部分"},
                {"Chapter": {"content": "\\{{#versions}}", "path": "b.md", "sub_items": [
                    leaf("\\{{#verified-env}} 1"),
                    {"Chapter": {"content": "", "path": null, "sub_items": [leaf("\\{{#versions}} 2")]}},
                ]}},
            ],
            // An older layout keeps chapters under `sections`; the walk does not care.
            "sections": [leaf("\\{{#versions}} 3")],
        });
        walk(&mut book, &mut loaded()).unwrap();
        let text = book.to_string();
        assert!(!text.contains('\\'), "{text}");
        for expected in [
            "\"{{#versions}}\"",
            "{{#verified-env}} 1",
            "{{#versions}} 2",
            "{{#versions}} 3",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[test]
    fn chapter_files_come_from_source_path() {
        // mdBook renders README.md as index.md; messages name the file the author edits.
        let object = json!({"name": "前言", "path": "index.md", "source_path": "README.md"});
        let file = ChapterFile::of(
            object.as_object().unwrap(),
            Path::new("/b"),
            Path::new("src"),
        );
        assert_eq!(file.shown, "src/README.md");
        assert_eq!(file.file, Some(PathBuf::from("/b/src/README.md")));

        let draft = json!({"name": "草稿", "path": null, "source_path": null});
        let file = ChapterFile::of(
            draft.as_object().unwrap(),
            Path::new("/b"),
            Path::new("src"),
        );
        assert_eq!(file.shown, "chapter \"草稿\"");
        assert_eq!(file.file, None);
    }

    #[test]
    fn input_must_be_the_context_book_pair() {
        for input in ["{}", "[]", "[{}, {}, {}]"] {
            assert_eq!(
                run(input).unwrap_err().to_string(),
                "expected the [context, book] JSON array that mdBook writes to stdin"
            );
        }
        assert_eq!(
            run("[{}, {}]").unwrap_err().to_string(),
            "the mdBook context has no `root`"
        );
        // A book without markers needs neither rustc nor Cargo.lock.
        assert_eq!(
            run(r#"[{"root": "/nonexistent"}, {"items": [{"Chapter": {"content": "x", "sub_items": []}}]}]"#)
                .unwrap(),
            r#"{"items":[{"Chapter":{"content":"x","sub_items":[]}}]}"#
        );
    }
}
