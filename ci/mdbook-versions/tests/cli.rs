//! The binary as mdBook runs it, on inputs captured from mdBook 0.5.4 (see tests/fixtures/README.md).

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// The stand-in rustc, which always reports 1.95.0.
fn fake_rustc() -> PathBuf {
    let path = fixture("bin/rustc");
    // Git may not keep the mode bits on every checkout; a chmod does not open the file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

/// A captured input with its `root` pointed at the fixture directory it belongs to.
fn captured_input(case: &str) -> Value {
    let text = std::fs::read_to_string(fixture(case).join("input.json")).unwrap();
    let mut input: Value = serde_json::from_str(&text).unwrap();
    input[0]["root"] = json!(fixture(case).to_str().unwrap());
    input
}

/// The captured book input with its chapters replaced by `(source_path, content)` pairs.
fn input_with_chapters(chapters: &[(&str, &str)]) -> Value {
    let mut input = captured_input("book");
    let items: Vec<Value> = chapters
        .iter()
        .map(|(path, content)| {
            json!({"Chapter": {
                "name": "章节",
                "content": content,
                "number": [1],
                "sub_items": [],
                "path": path,
                "source_path": path,
                "parent_names": [],
            }})
        })
        .collect();
    input[1] = json!({ "items": items });
    input
}

fn run_with(args: &[&str], stdin: &str, rustc: &OsStr) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdbook-versions"))
        .args(args)
        .env("RUSTC", rustc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mdbook-versions");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn run(input: &Value, rustc: &OsStr) -> Output {
    run_with(&[], &input.to_string(), rustc)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs on `input` expecting failure; returns stderr.
fn error(input: &Value, rustc: &OsStr) -> String {
    let output = run(input, rustc);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    text(&output.stderr)
}

/// Every chapter object below `value`, in document order.
fn chapters(value: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    match value {
        Value::Object(object) => {
            if object.contains_key("sub_items") && object.contains_key("content") {
                found.push(value);
            }
            for child in object.values() {
                found.extend(chapters(child));
            }
        }
        Value::Array(items) => {
            for item in items {
                found.extend(chapters(item));
            }
        }
        _ => {}
    }
    found
}

const TABLE: &str = "| 组件 | 版本 |
|---|---|
| Rust 工具链 | `1.95.0` |
| `opentelemetry` | `0.33.1` |
| `opentelemetry_sdk` | `0.33.1` |
| `opentelemetry-otlp` | `0.33.1` |
| `opentelemetry-proto` | `0.33.1` |
| `opentelemetry-semantic-conventions` | `0.33.1` |
| `opentelemetry-appender-tracing` | `0.33.1` |
| `tracing` | `0.1.44` |
| `tracing-subscriber` | `0.3.23` |
| `tracing-opentelemetry` | `0.34.0` |
| `tokio` | `0.2.25`, `1.54.1` |
| `tonic` | `0.14.9` |";

const QUICKSTART_NOTE: &str = "> 本章验证环境：Rust 1.95.0 · opentelemetry 0.33.1 · opentelemetry_sdk 0.33.1 · opentelemetry-otlp 0.33.1 · opentelemetry-semantic-conventions 0.33.1 · tracing 0.1.44 · tracing-subscriber 0.3.23 · tracing-opentelemetry 0.34.0 · tokio 1.54.1";

/// testing-telemetry owns two crates; fake-db adds opentelemetry-proto (renamed) and tonic.
const TESTING_NOTE: &str = "> 本章验证环境：Rust 1.95.0 · opentelemetry 0.33.1 · opentelemetry_sdk 0.33.1 · opentelemetry-otlp 0.33.1 · opentelemetry-proto 0.33.1 · opentelemetry-semantic-conventions 0.33.1 · opentelemetry-appender-tracing 0.33.1 · tracing 0.1.44 · tracing-subscriber 0.3.23 · tracing-opentelemetry 0.34.0 · tokio 1.54.1 · tonic 0.14.9";

#[test]
fn supports_every_renderer() {
    for renderer in ["html", "markdown", "pagefind"] {
        let output = run_with(&["supports", renderer], "", OsStr::new("rustc"));
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        assert!(output.stdout.is_empty() && output.stderr.is_empty());
    }
}

#[test]
fn renders_the_captured_book() {
    let input = captured_input("book");
    let output = run(&input, fake_rustc().as_os_str());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
    let book: Value = serde_json::from_slice(&output.stdout).unwrap();

    let before = chapters(&input[1]);
    let after = chapters(&book);
    let names: Vec<&str> = after.iter().filter_map(|c| c["name"].as_str()).collect();
    // The nested chapter and the draft chapter under it are found too.
    assert_eq!(
        names,
        [
            "前言",
            "快速开始",
            "测试你的遥测",
            "尚未完成的小节",
            "术语表"
        ]
    );

    let content = |chapter: &Value| chapter["content"].as_str().unwrap().to_string();
    let expected = [
        content(before[0])
            .replace("\n{{#versions}}\n", &format!("\n{TABLE}\n"))
            .replace(r"\{{#", "{{#"),
        content(before[1]).replace("{{#verified-env}}", QUICKSTART_NOTE),
        content(before[2]).replace("{{#verified-env}}", TESTING_NOTE),
        String::new(),
        content(before[4]),
    ];
    for (chapter, expected) in after.iter().zip(&expected) {
        assert_eq!(&content(chapter), expected, "chapter {}", chapter["name"]);
    }
    assert!(content(after[0]).contains("章节用 `{{#verified-env}}` 写出本章的验证环境"));

    // Apart from `content`, the book comes back as it went in.
    assert_eq!(without_content(&book), without_content(&input[1]));
}

/// `value` with the content of every chapter blanked.
fn without_content(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let is_chapter = object.contains_key("sub_items");
            let object = object
                .iter()
                .map(|(key, child)| {
                    let child = if is_chapter && key == "content" {
                        Value::Null
                    } else {
                        without_content(child)
                    };
                    (key.clone(), child)
                })
                .collect();
            Value::Object(object)
        }
        Value::Array(items) => Value::Array(items.iter().map(without_content).collect()),
        other => other.clone(),
    }
}

#[test]
fn missing_lock_is_reported_at_the_source_line() {
    // mermaid ran first in the capture, so the marker is on line 12 of the content but on line
    // 10 of the file the author edits.
    let input = captured_input("no-lock");
    let content = chapters(&input[1])[0]["content"].as_str().unwrap();
    assert_eq!(
        content.lines().position(|l| l == "{{#verified-env}}"),
        Some(11)
    );
    let lock = fixture("no-lock").join("Cargo.lock");
    assert_eq!(
        error(&input, fake_rustc().as_os_str()),
        format!(
            "mdbook-versions: src/foundations/quickstart.md:10: cannot render {{{{#verified-env}}}}: cannot read {}: No such file or directory (os error 2)\n",
            lock.display()
        )
    );
}

#[test]
fn unknown_marker_is_an_error() {
    let input = input_with_chapters(&[(
        "foundations/quickstart.md",
        "# 快速开始\n\n{{#verified-env}}\n\n正文 {{#versions all}}\n",
    )]);
    assert_eq!(
        error(&input, fake_rustc().as_os_str()),
        "mdbook-versions: src/foundations/quickstart.md:5: unknown marker {{#versions all}}: write {{#versions}} or {{#verified-env}}, or put a backslash before it to show it as text\n"
    );
}

#[test]
fn unclosed_marker_is_an_error() {
    let input = input_with_chapters(&[("appendix/glossary.md", "# 术语表\n{{#verified-env\n")]);
    assert_eq!(
        error(&input, fake_rustc().as_os_str()),
        "mdbook-versions: src/appendix/glossary.md:2: unknown marker {{#verified-env: write {{#versions}} or {{#verified-env}}, or put a backslash before it to show it as text\n"
    );
}

#[test]
fn verified_env_without_listing_crate_is_an_error() {
    let input = input_with_chapters(&[
        ("foundations/quickstart.md", "{{#verified-env}}\n"),
        (
            "appendix/glossary.md",
            "# 术语表\n\n\\{{#verified-env}} 可以\n\n{{#verified-env}}\n",
        ),
    ]);
    assert_eq!(
        error(&input, fake_rustc().as_os_str()),
        "mdbook-versions: src/appendix/glossary.md:5: cannot render {{#verified-env}}: the chapter has no listing crate (no Cargo.toml under listings/appendix/glossary/)\n"
    );
}

#[test]
fn rustc_that_cannot_run_is_an_error() {
    // No such file under src/: the line is counted in the content.
    let input = input_with_chapters(&[("appendix/versions.md", "# 版本\n\n{{#versions}}\n")]);
    let missing = fixture("bin/no-such-rustc");
    assert_eq!(
        error(&input, missing.as_os_str()),
        format!(
            "mdbook-versions: src/appendix/versions.md:3: cannot render {{{{#versions}}}}: cannot run `{} --version`: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

#[test]
fn rustc_that_fails_is_an_error() {
    // No such file under src/: the line is counted in the content.
    let input = input_with_chapters(&[("appendix/versions.md", "# 版本\n\n{{#versions}}\n")]);
    assert_eq!(
        error(&input, OsStr::new("false")),
        "mdbook-versions: src/appendix/versions.md:3: cannot render {{#versions}}: `false --version` failed (exit status: 1)\n"
    );
}

#[test]
fn input_that_is_not_mdbook_json_is_an_error() {
    let output = run_with(&[], "{\"not\": \"a pair\"}", fake_rustc().as_os_str());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "mdbook-versions: expected the [context, book] JSON array that mdBook writes to stdin\n"
    );
    let output = run_with(&[], "[", fake_rustc().as_os_str());
    assert!(
        text(&output.stderr).starts_with("mdbook-versions: cannot parse mdBook's input JSON: "),
        "{output:?}"
    );
}

#[test]
fn unexpected_arguments_exit_2() {
    let output = run_with(&["supports"], "", fake_rustc().as_os_str());
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).starts_with("mdbook-versions: unexpected arguments"));
}
