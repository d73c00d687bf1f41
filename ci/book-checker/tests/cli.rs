//! The binary's output format and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(case)
}

fn run(root: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_book-checker"))
        .arg(root)
        .output()
        .expect("run book-checker")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn good_repository_exits_0() {
    let output = run(&fixture("good"));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "book-checker: ok (3 pages, 1 listing crates)\n"
    );
}

#[test]
fn root_defaults_to_current_directory() {
    let output = Command::new(env!("CARGO_BIN_EXE_book-checker"))
        .current_dir(fixture("good"))
        .output()
        .expect("run book-checker");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn broken_repository_exits_1_and_lists_problems() {
    let output = run(&fixture("orphan_page"));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "src/appendix/notes/deep.md:1: page is not linked from src/SUMMARY.md\n\
         src/appendix/unlisted.md:1: page is not linked from src/SUMMARY.md\n\
         book-checker: 2 problems found\n"
    );
}

#[test]
fn root_without_summary_exits_2() {
    let output = run(&fixture("no_summary"));
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("book-checker: error: ") && stderr.contains("has no src/SUMMARY.md"),
        "unexpected stderr: {stderr}"
    );
}

#[test]
fn unreadable_root_exits_2() {
    let output = run(&fixture("does-not-exist"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("cannot read book root"),
        "unexpected stderr: {stderr}"
    );
}
