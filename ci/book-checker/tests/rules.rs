//! One fixture repository per rule; each test asserts the exact problem lines.

use std::fs;
use std::path::{Path, PathBuf};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(case)
}

fn problems_in(root: &Path) -> Vec<String> {
    book_checker::check(root)
        .unwrap_or_else(|error| panic!("checking {} failed: {error}", root.display()))
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn problems(case: &str) -> Vec<String> {
    problems_in(&fixture(case))
}

#[test]
fn good_fixture_has_no_problems() {
    assert_eq!(problems("good"), Vec::<String>::new());
    let report = book_checker::check_report(&fixture("good")).unwrap();
    assert_eq!((report.pages, report.listing_crates), (3, 1));
}

#[test]
fn inline_code_in_rust_and_toml_blocks() {
    assert_eq!(
        problems("inline_code"),
        [
            "src/README.md:6: inline code in rust block: include it from listings/ instead",
            "src/README.md:10: inline code in rust block: include it from listings/ instead",
            "src/README.md:15: include in toml block must come from listings/, but ../other/snippet.toml is outside it",
            "src/README.md:23: inline code in rust block: include it from listings/ instead",
            "src/README.md:29: indented include in rust block: the included lines would not be indented, which breaks the fence; move the block out of the list",
        ]
    );
}

#[test]
fn include_of_missing_file() {
    assert_eq!(
        problems("missing_file"),
        [
            "src/README.md:8: included file ../listings/demo/hello/src/missing.rs does not exist",
            "src/README.md:11: included file generated/nope.md does not exist",
            "src/README.md:15: included path ../listings/demo/hello/src is not a file",
        ]
    );
}

#[test]
fn include_of_missing_anchor_or_bad_range() {
    assert_eq!(
        problems("missing_anchor"),
        [
            "src/README.md:5: anchor \"setup\" not found in listings/demo/hello/src/main.rs",
            "src/README.md:7: line range 3:9 is outside listings/demo/hello/src/main.rs (5 lines)",
            "src/README.md:8: line range 6 is outside listings/demo/hello/src/main.rs (5 lines)",
        ]
    );
}

#[test]
fn unbalanced_anchors_in_listings() {
    assert_eq!(
        problems("unbalanced_anchor"),
        [
            "listings/demo/hello/src/main.rs:1: ANCHOR_END: stray has no open ANCHOR: stray before it",
            "listings/demo/hello/src/main.rs:2: ANCHOR: open is never closed",
            "listings/demo/hello/src/main.rs:6: ANCHOR: twice is opened again before its ANCHOR_END (first opened on line 4)",
        ]
    );
}

#[test]
fn orphan_crates_including_nested_ones() {
    assert_eq!(
        problems("orphan_crate"),
        [
            "listings/demo/outer/Cargo.toml:1: crate listings/demo/outer has no file included by any page",
            "listings/demo/unused/Cargo.toml:1: crate listings/demo/unused has no file included by any page",
        ]
    );
}

#[test]
fn pages_missing_from_summary() {
    assert_eq!(
        problems("orphan_page"),
        [
            "src/appendix/notes/deep.md:1: page is not linked from src/SUMMARY.md",
            "src/appendix/unlisted.md:1: page is not linked from src/SUMMARY.md",
        ]
    );
}

#[test]
fn summary_links_to_missing_pages() {
    assert_eq!(
        problems("summary_missing"),
        [
            "src/SUMMARY.md:7: SUMMARY.md links to missing page appendix/gone.md",
            "src/SUMMARY.md:9: SUMMARY.md links to missing page ./missing/page.md",
        ]
    );
}

#[test]
fn broken_relative_links() {
    assert_eq!(
        problems("broken_link"),
        [
            "src/README.md:3: link target appendix/nope.md does not exist",
            "src/README.md:5: link target images/missing.png does not exist",
            "src/README.md:15: link target ../listings/gone.rs does not exist",
            "src/appendix/other.md:3: link target ../../nope.md does not exist",
        ]
    );
}

#[test]
fn broken_fragments() {
    assert_eq!(
        problems("broken_fragment"),
        [
            "src/README.md:5: fragment #custom not found in page src/appendix/target.md",
            "src/README.md:5: fragment #nowhere not found in page src/README.md",
            "src/README.md:5: fragment #运行示例-2 not found in page src/appendix/target.md",
            "src/README.md:7: fragment #代码块里的标题 not found in page src/appendix/target.md",
            "src/README.md:9: fragment #Custom-ID not found in page src/appendix/target.md",
        ]
    );
}

#[test]
fn content_chapter_without_mermaid() {
    assert_eq!(
        problems("missing_mermaid"),
        ["src/patterns/sampling.md:1: content chapter has no ```mermaid diagram"]
    );
}

#[test]
fn content_chapter_missing_sections() {
    assert_eq!(
        problems("missing_section"),
        [
            "src/backends/jaeger.md:1: missing level-2 section \"参考资料\"",
            "src/backends/jaeger.md:1: missing level-2 section \"故障排查\"",
        ]
    );
}

#[test]
fn content_chapter_sections_out_of_order() {
    assert_eq!(
        problems("section_order"),
        [
            "src/frameworks/axum.md:22: section \"故障排查\" is out of order: it must come before \"检查清单\""
        ]
    );
}

#[test]
fn dependency_version_mismatches() {
    assert_eq!(
        problems("version_mismatch"),
        [
            "listings/demo/a/Cargo.toml:7: tokio \"1.48\" here but \"1.47\" in Cargo.toml",
            "listings/demo/a/Cargo.toml:12: toml \"1.1\" here but \"1.2\" in ci/tool/Cargo.toml",
            "listings/demo/b/Cargo.toml:7: opentelemetry \"0.30\" here but \"0.31\" in listings/demo/a/Cargo.toml",
            "listings/demo/b/Cargo.toml:11: serde \"1\" here but \"1.0\" in Cargo.toml",
        ]
    );
}

#[test]
fn listing_crates_outside_the_workspace() {
    assert_eq!(
        problems("not_a_member"),
        [
            "listings/patterns/hexagonal/Cargo.toml:1: crate listings/patterns/hexagonal is not a member of the root workspace: add it to [workspace] members in Cargo.toml, or CI never builds it"
        ]
    );
}

#[test]
fn invalid_manifest_is_reported_at_its_line() {
    assert_eq!(
        problems("invalid_manifest"),
        [
            "listings/demo/bad/Cargo.toml:3: invalid TOML: string values must be quoted, expected literal string"
        ]
    );
}

#[test]
fn typed_versions_of_tracked_crates() {
    let advice = "write {{#verified-env}} or {{#versions}}, which read versions from Cargo.lock";
    let expected: Vec<String> = [
        "src/README.md:3: typed version 0.33 of opentelemetry",
        "src/README.md:3: typed version 1.54.1 of tokio",
        "src/README.md:3: typed version 1.95.0 of the Rust toolchain",
        "src/README.md:7: typed version 0.3.23 of tracing-subscriber",
        "src/README.md:8: typed version 0.33 of opentelemetry_sdk",
        "src/README.md:10: typed version 0.14 of tonic",
        "src/README.md:10: typed version 0.33 of opentelemetry-otlp",
        "src/README.md:10: typed version 0.8 of axum",
        "src/README.md:10: typed version 1.95 of the Rust toolchain",
        "src/README.md:12: typed version 0.33 of opentelemetry_sdk",
        "src/README.md:12: typed version 0.34 of tracing-opentelemetry",
        "src/README.md:14: typed version 0.14.9, the locked version of tonic",
        "src/README.md:14: typed version 1.54.1, the locked version of tokio",
        "src/appendix/notes.md:5: typed version 1.95.0 of the Rust toolchain",
        "src/appendix/notes.md:8: typed version 0.33.1, the locked version of opentelemetry, opentelemetry_sdk",
    ]
    .iter()
    .map(|problem| format!("{problem}: {advice}"))
    .collect();
    // Lines 16 to 20 hold numbers that are not versions of tracked crates.
    assert_eq!(problems("typed_version"), expected);
}

#[test]
fn verified_env_and_version_markers() {
    assert_eq!(
        problems("version_marker"),
        [
            "src/README.md:7: unknown version marker {{ #verified-env }}: mdbook-versions renders only {{#versions}} and {{#verified-env}} (write \\{{ #verified-env }} to show it as text)",
            "src/README.md:7: unknown version marker {{#versions all}}: mdbook-versions renders only {{#versions}} and {{#verified-env}} (write \\{{#versions all}} to show it as text)",
            "src/README.md:9: unknown version marker {{#verified-env: mdbook-versions renders only {{#versions}} and {{#verified-env}} (write \\{{#verified-env to show it as text)",
            "src/foundations/late.md:12: {{#verified-env}} must come before the first ## heading (line 10)",
            "src/foundations/late.md:16: another {{#verified-env}} (the first is on line 12): a chapter has exactly one",
            "src/foundations/none.md:1: content chapter has no {{#verified-env}}: put it on its own line after the opening sentences, before the first ## heading",
            "src/patterns/inline.md:3: {{#verified-env}} must stand alone on its own line outside code blocks: it renders a blockquote",
        ]
    );
}

#[test]
fn cargo_test_commands_resolve() {
    // Lines 7, 10 to 12, 18 and 22 hold commands that resolve, line 26 placeholders, and
    // line 17 a chain whose first command resolves. The package `sampling` lives in
    // `listings/demo/ratio`, so `-p ratio` names no package.
    assert_eq!(
        problems("test_refs"),
        [
            "src/README.md:13: cargo test -p ratio: no listing crate named ratio",
            "src/README.md:14: cargo test -p sampling --test envv: no test target envv in listings/demo/ratio (has: custom, env, sampling)",
            "src/README.md:15: cargo test -p sampling --test env reads_otel_traces_sampler_arg: no test function matching \"reads_otel_traces_sampler_arg\" in listings/demo/ratio/tests/env.rs",
            "src/README.md:16: cargo test -p sampling --test env -- --exact reads_otel: no test function named \"reads_otel\" in listings/demo/ratio/tests/env.rs",
            "src/README.md:17: cargo test -p sampling --test sampling parent_based_x: no test function matching \"parent_based_x\" in listings/demo/ratio/tests/sampling/main.rs",
            "src/README.md:28: cargo test -p sampling no_such_test: no test function matching \"no_such_test\" in listings/demo/ratio",
        ]
    );
}

#[test]
fn invalid_cargo_lock_is_reported() {
    let root = std::env::temp_dir().join(format!("book-checker-lock-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    copy_dir(&fixture("good"), &root);
    fs::write(root.join("Cargo.lock"), "version = 4\n[[package]\n").unwrap();

    let found = problems_in(&root);
    fs::remove_dir_all(&root).unwrap();
    assert_eq!(
        found,
        ["Cargo.lock:2: invalid TOML: unclosed array table, expected `]`"]
    );
}

#[test]
fn missing_summary_is_a_tool_error() {
    let error = book_checker::check(&fixture("no_summary")).unwrap_err();
    assert!(matches!(
        error,
        book_checker::CheckError::MissingSummary { .. }
    ));
    assert!(error.to_string().contains("has no src/SUMMARY.md"));
}

/// `target/` directories are skipped even when they contain broken files
/// (they cannot live in the fixtures because git ignores them).
#[test]
fn target_directories_are_ignored() {
    let root = std::env::temp_dir().join(format!("book-checker-target-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    copy_dir(&fixture("good"), &root);
    let target = root.join("listings/foundations/quickstart/target/debug");
    fs::create_dir_all(&target).unwrap();
    fs::write(
        target.join("Cargo.toml"),
        "[dependencies]\ntokio = \"0.1\"\n",
    )
    .unwrap();
    fs::write(target.join("gen.rs"), "// ANCHOR_END: nothing\n").unwrap();

    let found = problems_in(&root);
    fs::remove_dir_all(&root).unwrap();
    assert_eq!(found, Vec::<String>::new());
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}
