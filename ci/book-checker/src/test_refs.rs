//! Rule 10: every `cargo test` command in `src/` still runs what it names. The book tells
//! readers how to reproduce a result with `cargo test -p <crate> --test <file> <name>`; once a
//! test or file is renamed, a filter that matches nothing still exits 0 (libtest runs no test
//! and passes), so the book's instruction silently stops testing anything.
//!
//! Commands are read from prose (to the end of their inline code span, or outside one to the
//! first non-ASCII character) and from code blocks of every language but the `rust`/`toml`
//! includes, up to a shell separator. `-p` must name a listing crate's `[package] name`,
//! `--test` one of its test targets, and the test-name filter must be part of (with `--exact`:
//! equal to) a `fn` name in the files that target compiles. Without `-p` the filter is looked
//! up in every listing crate (the book's commands run at the workspace root); placeholders in
//! angle brackets (`-p <名称>`) are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::markdown::code_spans;
use crate::{CheckError, Page, Problem, Repo, read_text};

const COMMAND: &str = "cargo test";

/// Cargo options (before `--`) that take a value.
const CARGO_VALUE_FLAGS: [&str; 19] = [
    "-p",
    "--package",
    "--test",
    "--features",
    "-F",
    "--target-dir",
    "--manifest-path",
    "-j",
    "--jobs",
    "--bin",
    "--example",
    "--bench",
    "--exclude",
    "--target",
    "--profile",
    "--message-format",
    "--color",
    "--config",
    "-Z",
];

/// libtest options (after `--`) that take a value.
const LIBTEST_VALUE_FLAGS: [&str; 7] = [
    "--skip",
    "--test-threads",
    "--format",
    "--color",
    "--logfile",
    "--shuffle-seed",
    "-Z",
];

pub(crate) fn check(repo: &Repo, problems: &mut Vec<Problem>) -> Result<(), CheckError> {
    let crates = listing_crates(repo)?;
    for page in &repo.pages {
        for (line, words) in commands(page) {
            for message in check_command(repo, &crates, &words)? {
                problems.push(repo.problem(&page.path, line, message));
            }
        }
    }
    Ok(())
}

/// A listing crate and the test targets cargo builds for it.
struct Crate {
    name: String,
    dir: PathBuf,
    /// Test target name → the file at its root.
    tests: BTreeMap<String, PathBuf>,
}

/// The listing crates with a `[package] name`. Unreadable or invalid manifests are
/// reported by rule 6 and skipped here.
fn listing_crates(repo: &Repo) -> Result<Vec<Crate>, CheckError> {
    let mut crates = Vec::new();
    for dir in &repo.crates {
        let Some(text) = read_text(&dir.join("Cargo.toml"))? else {
            continue;
        };
        let Ok(manifest) = text.parse::<Table>() else {
            continue;
        };
        let package = manifest.get("package").and_then(Value::as_table);
        let Some(name) = package.and_then(|p| p.get("name")).and_then(Value::as_str) else {
            continue;
        };
        crates.push(Crate {
            name: name.to_string(),
            tests: test_targets(repo, dir, &manifest),
            dir: dir.clone(),
        });
    }
    Ok(crates)
}

/// Cargo's automatic test targets (`tests/T.rs`, `tests/T/main.rs`) plus `[[test]]` entries
/// that give a `path`.
fn test_targets(repo: &Repo, dir: &Path, manifest: &Table) -> BTreeMap<String, PathBuf> {
    let tests_dir = dir.join("tests");
    let mut targets = BTreeMap::new();
    for file in &repo.listing_files {
        let Some(parent) = file.parent() else {
            continue;
        };
        let name = if parent == tests_dir && is_rust(file) {
            file.file_stem()
        } else if parent.parent() == Some(&tests_dir)
            && file.file_name() == Some("main.rs".as_ref())
        {
            parent.file_name()
        } else {
            None
        };
        if let Some(name) = name {
            targets.insert(name.to_string_lossy().into_owned(), file.clone());
        }
    }
    let entries = manifest.get("test").and_then(Value::as_array);
    for entry in entries.into_iter().flatten() {
        let field = |key: &str| entry.get(key).and_then(Value::as_str);
        if let (Some(name), Some(path)) = (field("name"), field("path")) {
            targets.insert(name.to_string(), dir.join(path));
        }
    }
    targets
}

fn is_rust(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "rs")
}

/// The `cargo test` commands of a page as (1-based line, the words after `cargo test`).
fn commands(page: &Page) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (index, line) in page.doc.lines.iter().enumerate() {
        if line.prose.is_none() {
            continue;
        }
        // The raw line: commands are usually written inside inline code spans.
        let spans = code_spans(&line.raw);
        for (start, args) in command_starts(&line.raw) {
            let end = match spans.iter().find(|span| span.contains(&start)) {
                Some(span) => span.end,
                None => prose_end(&line.raw, args),
            };
            found.push((index + 1, words(&line.raw[args..end])));
        }
    }
    for block in &page.doc.blocks {
        if matches!(block.lang(), "rust" | "toml") {
            continue;
        }
        let mut index = block.body.start;
        while index < block.body.end {
            let first = index;
            // A line ending in `\` continues on the next one.
            let mut text = String::new();
            loop {
                let raw = &page.doc.lines[index].raw;
                index += 1;
                match raw.trim_end().strip_suffix('\\') {
                    Some(head) if index < block.body.end => {
                        text.push_str(head);
                        text.push(' ');
                    }
                    _ => {
                        text.push_str(raw);
                        break;
                    }
                }
            }
            for (_, args) in command_starts(&text) {
                found.push((first + 1, words(&text[args..])));
            }
        }
    }
    found
}

/// Where `cargo test` starts in a line, and where its arguments start.
fn command_starts(line: &str) -> Vec<(usize, usize)> {
    line.match_indices(COMMAND)
        .filter(|(at, _)| {
            let before = line[..*at].chars().next_back();
            let after = line[at + COMMAND.len()..].chars().next();
            before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
                && after.is_none_or(|c| c.is_whitespace() || c == '`')
        })
        .map(|(at, _)| (at, at + COMMAND.len()))
        .collect()
}

/// The end of a command written in prose outside a code span: the next backtick or
/// non-ASCII character (Chinese text and punctuation).
fn prose_end(line: &str, from: usize) -> usize {
    line[from..]
        .find(|c: char| c == '`' || !c.is_ascii())
        .map_or(line.len(), |k| from + k)
}

/// Splits a shell command into words, dropping quotes, up to the first `&&`, `||`, `|`, `;`,
/// `&`, `>` redirection or `#` comment. `<名称>` stays one word.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none_or(|c| ";|&>#".contains(*c)) {
            break;
        }
        let mut word = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => word.push(c),
                None if c == '"' || c == '\'' => quote = Some(c),
                // The end of a `<placeholder>`, not a redirection.
                None if c == '>' && word.starts_with('<') => word.push(c),
                None if c.is_whitespace() || ";|&>".contains(c) => break,
                None => word.push(c),
            }
            chars.next();
        }
        // `2>&1`: a file descriptor before a redirection is not an argument.
        if chars.peek() == Some(&'>') && word.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        words.push(word);
    }
    words
}

/// What a `cargo test` command selects.
#[derive(Debug, Default, PartialEq, Eq)]
struct Command {
    packages: Vec<String>,
    tests: Vec<String>,
    /// The first positional argument, before or after `--`.
    filter: Option<String>,
    exact: bool,
    /// `--manifest-path` picks the crate instead of `-p`.
    manifest_path: bool,
}

fn parse(words: &[String]) -> Command {
    let mut command = Command::default();
    let mut after_dashes = false;
    let mut rest = words.iter().peekable();
    while let Some(word) = rest.next() {
        if word == "--" && !after_dashes {
            after_dashes = true;
            continue;
        }
        if word.len() < 2 || !word.starts_with('-') {
            command.filter.get_or_insert_with(|| word.clone());
            continue;
        }
        let (flag, attached) = split_flag(word);
        let takes_value = if after_dashes {
            LIBTEST_VALUE_FLAGS.contains(&flag)
        } else {
            CARGO_VALUE_FLAGS.contains(&flag)
        };
        let value = match attached {
            Some(value) => Some(value.to_string()),
            None if takes_value => rest.next_if(|w| !w.starts_with('-')).cloned(),
            None => None,
        };
        match (after_dashes, flag, value) {
            (false, "-p" | "--package", Some(value)) => command.packages.push(value),
            (false, "--test", Some(value)) => command.tests.push(value),
            (false, "--manifest-path", _) => command.manifest_path = true,
            (true, "--exact", _) => command.exact = true,
            _ => {}
        }
    }
    command
}

/// Splits `--flag=value` and `-pvalue` into the flag and its attached value.
fn split_flag(word: &str) -> (&str, Option<&str>) {
    if word.starts_with("--") {
        return match word.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (word, None),
        };
    }
    match word.get(..2) {
        Some(flag) if word.len() > 2 => (flag, Some(&word[2..])),
        _ => (word, None),
    }
}

/// `<名称>`: a placeholder the reader fills in.
fn is_placeholder(word: &str) -> bool {
    word.len() > 2 && word.starts_with('<') && word.ends_with('>')
}

fn check_command(
    repo: &Repo,
    crates: &[Crate],
    words: &[String],
) -> Result<Vec<String>, CheckError> {
    let shown = std::iter::once(COMMAND)
        .chain(words.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let command = parse(words);
    let mut found = Vec::new();

    let mut selected = Vec::new();
    for package in &command.packages {
        if is_placeholder(package) {
            return Ok(found);
        }
        // `-p name@version`
        let name = package.split('@').next().unwrap_or(package);
        match crates.iter().find(|c| c.name == name) {
            Some(krate) => selected.push(krate),
            None => found.push(format!("{shown}: no listing crate named {name}")),
        }
    }
    if !found.is_empty() {
        return Ok(found);
    }
    let workspace = selected.is_empty();
    if workspace {
        if command.manifest_path {
            return Ok(found);
        }
        // Run at the workspace root: every listing crate.
        selected = crates.iter().collect();
    }

    let mut roots = Vec::new();
    for test in &command.tests {
        if is_placeholder(test) {
            return Ok(found);
        }
        let before = roots.len();
        roots.extend(selected.iter().filter_map(|c| c.tests.get(test)));
        if roots.len() == before {
            found.push(format!(
                "{shown}: no test target {test} in {}",
                describe_targets(repo, &selected, workspace)
            ));
        }
    }
    if !found.is_empty() {
        return Ok(found);
    }

    let Some(filter) = command.filter.as_deref().filter(|f| !is_placeholder(f)) else {
        return Ok(found);
    };
    let (files, place) = if roots.is_empty() {
        (
            crate_files(repo, &selected),
            describe_crates(repo, &selected, workspace),
        )
    } else {
        let mut files = Vec::new();
        for root in &roots {
            files.extend(target_files(repo, root)?);
        }
        let place = roots
            .iter()
            .map(|root| repo.rel(root).display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        (files, place)
    };
    let names = Names::read(&files)?;
    if !names.matches(filter, command.exact) {
        let how = if command.exact { "named" } else { "matching" };
        found.push(format!(
            "{shown}: no test function {how} \"{filter}\" in {place}"
        ));
    }
    Ok(found)
}

/// Where a test target was looked for, with the targets that exist when there is one crate.
fn describe_targets(repo: &Repo, selected: &[&Crate], workspace: bool) -> String {
    let place = describe_crates(repo, selected, workspace);
    match selected {
        [krate] if krate.tests.is_empty() => format!("{place} (it has no test targets)"),
        [krate] => {
            let names: Vec<&str> = krate.tests.keys().map(String::as_str).collect();
            format!("{place} (has: {})", names.join(", "))
        }
        _ => place,
    }
}

/// The crates a command selects: its `-p` crates, or without `-p` all of them.
fn describe_crates(repo: &Repo, selected: &[&Crate], workspace: bool) -> String {
    if workspace {
        return "any listing crate".to_string();
    }
    let dirs: Vec<String> = selected
        .iter()
        .map(|c| repo.rel(&c.dir).display().to_string())
        .collect();
    dirs.join(", ")
}

/// Without `--test`: every `.rs` file under the crates' `src/` and `tests/`.
fn crate_files(repo: &Repo, selected: &[&Crate]) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = selected
        .iter()
        .flat_map(|c| [c.dir.join("src"), c.dir.join("tests")])
        .collect();
    repo.listing_files
        .iter()
        .filter(|f| is_rust(f) && dirs.iter().any(|d| f.starts_with(d)))
        .cloned()
        .collect()
}

/// A test target's root file and its `mod` neighbours: for `mod common`, the sibling
/// `common.rs` and every `.rs` file under the sibling `common/`.
fn target_files(repo: &Repo, root: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let mut files = vec![root.to_path_buf()];
    let (Some(text), Some(dir)) = (read_text(root)?, root.parent()) else {
        return Ok(files);
    };
    for name in idents_after(&text, "mod") {
        let file = dir.join(format!("{name}.rs"));
        let sub = dir.join(name);
        files.extend(
            repo.listing_files
                .iter()
                .filter(|f| **f == file || (is_rust(f) && f.starts_with(&sub)))
                .cloned(),
        );
    }
    Ok(files)
}

/// The `fn` and `mod` names in a set of files: what a test's path (`module::name`) is made of.
#[derive(Default)]
struct Names {
    fns: BTreeSet<String>,
    mods: BTreeSet<String>,
}

impl Names {
    fn read(files: &[PathBuf]) -> Result<Names, CheckError> {
        let mut names = Names::default();
        for file in files {
            // A missing `[[test]]` path is cargo's error to report.
            if !file.is_file() {
                continue;
            }
            let Some(text) = read_text(file)? else {
                continue;
            };
            names
                .fns
                .extend(idents_after(&text, "fn").map(str::to_string));
            names
                .mods
                .extend(idents_after(&text, "mod").map(str::to_string));
        }
        Ok(names)
    }

    /// libtest's filter rule on test paths: a substring of `module::name`, or with `--exact`
    /// the whole path.
    fn matches(&self, filter: &str, exact: bool) -> bool {
        let pieces: Vec<&str> = filter.split("::").collect();
        let last = pieces.len() - 1;
        let mods = || self.mods.iter();
        let any = || self.fns.iter().chain(&self.mods);
        pieces.iter().enumerate().all(|(i, piece)| {
            if exact {
                return if i == last {
                    self.fns.contains(*piece)
                } else {
                    self.mods.contains(*piece)
                };
            }
            match (i == 0, i == last) {
                (true, true) => any().any(|n| n.contains(piece)),
                (true, false) => mods().any(|n| n.ends_with(piece)),
                (false, true) => any().any(|n| n.starts_with(piece)),
                (false, false) => self.mods.contains(*piece),
            }
        })
    }
}

/// Identifiers that follow the keyword in Rust source: `fn name`, `mod name`.
fn idents_after<'a>(text: &'a str, keyword: &'a str) -> impl Iterator<Item = &'a str> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(keyword).filter_map(move |(at, _)| {
        let separate = text[..at].chars().next_back().is_none_or(|c| !is_ident(c));
        let rest = &text[at + keyword.len()..];
        let trimmed = rest.trim_start();
        if !separate || trimmed.len() == rest.len() {
            return None;
        }
        let trimmed = trimmed.strip_prefix("r#").unwrap_or(trimmed);
        let len = trimmed
            .find(|c: char| !is_ident(c))
            .unwrap_or(trimmed.len());
        (len > 0).then(|| &trimmed[..len])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Command {
        parse(&words(text))
    }

    #[test]
    fn words_stop_at_shell_separators() {
        assert_eq!(
            words(" -p a --test b && cargo run"),
            ["-p", "a", "--test", "b"]
        );
        assert_eq!(words(" -p a|head"), ["-p", "a"]);
        assert_eq!(words(" -p a; echo"), ["-p", "a"]);
        assert_eq!(words(" -p a # 只跑一个"), ["-p", "a"]);
        assert_eq!(words(" -p a 2>&1"), ["-p", "a"]);
        assert_eq!(words(" -F 'x y' -- \"a b\""), ["-F", "x y", "--", "a b"]);
        assert_eq!(words(" x#y"), ["x#y"]);
        assert_eq!(words(" -p <名称> > out.txt"), ["-p", "<名称>"]);
    }

    #[test]
    fn flags_consume_their_values() {
        assert_eq!(
            parsed(" -p a --test b --features x -j 2 --locked name -- --nocapture"),
            Command {
                packages: vec!["a".into()],
                tests: vec!["b".into()],
                filter: Some("name".into()),
                ..Command::default()
            }
        );
        assert_eq!(
            parsed(" --package=a -pb --release -- --test-threads 1 --exact name"),
            Command {
                packages: vec!["a".into(), "b".into()],
                filter: Some("name".into()),
                exact: true,
                ..Command::default()
            }
        );
        let command = parsed(" --manifest-path x/Cargo.toml --target-dir t --bin b");
        assert!(command.manifest_path && command.filter.is_none());
        assert_eq!(
            parsed(" -p a first second").filter.as_deref(),
            Some("first")
        );
    }

    #[test]
    fn commands_in_prose_and_blocks() {
        let page = Page {
            path: PathBuf::from("/r/src/a.md"),
            rel: PathBuf::from("src/a.md"),
            doc: crate::markdown::Doc::parse(
                "用 `cargo test -p a x` 和 cargo test -p b y，不是 xcargo test 或 `cargo tests`。\n\
                 ```console\n$ cargo test -p c \\\n    --test d\n```\n\
                 ```rust\ncargo test -p e\n```\n",
            ),
        };
        let found: Vec<(usize, String)> = commands(&page)
            .into_iter()
            .map(|(line, words)| (line, words.join(" ")))
            .collect();
        assert_eq!(
            found,
            [
                (1, "-p a x".to_string()),
                (1, "-p b y".to_string()),
                (3, "-p c --test d".to_string()),
            ]
        );
    }

    fn names(fns: &[&str], mods: &[&str]) -> Names {
        Names {
            fns: fns.iter().map(|s| s.to_string()).collect(),
            mods: mods.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn filters_match_like_libtest() {
        let names = names(&["spans_arrive", "helper"], &["tests", "env"]);
        assert!(names.matches("arrive", false));
        assert!(names.matches("tests::spans", false));
        assert!(names.matches("sts::", false));
        assert!(names.matches("tests::spans_arrive", true));
        assert!(names.matches("spans_arrive", true));
        assert!(!names.matches("spans", true));
        assert!(!names.matches("logs_arrive", false));
        assert!(!names.matches("env::spans_arrive::x", false));
    }

    #[test]
    fn identifiers_after_keywords() {
        let text = "pub fn a() {}\nasync fn r#b()\nfn\tc_1<T>()\nlet fnx = 1; mod common;\n// fn";
        assert_eq!(
            idents_after(text, "fn").collect::<Vec<_>>(),
            ["a", "b", "c_1"]
        );
        assert_eq!(idents_after(text, "mod").collect::<Vec<_>>(), ["common"]);
    }
}
