//! The Markdown the markers turn into.

use crate::TRACKED;
use crate::versions::Lock;

/// `{{#versions}}`: the toolchain, then every tracked crate that is in the lock.
pub fn table(rust: &str, lock: &Lock) -> String {
    let mut rows = vec![
        "| 组件 | 版本 |".to_string(),
        "|---|---|".to_string(),
        format!("| Rust 工具链 | `{rust}` |"),
    ];
    for name in TRACKED {
        let versions = lock.versions(name);
        if versions.is_empty() {
            continue;
        }
        let shown: Vec<String> = versions.iter().map(|v| format!("`{v}`")).collect();
        rows.push(format!("| `{name}` | {} |", shown.join(", ")));
    }
    rows.join("\n")
}

/// `{{#verified-env}}`: the toolchain, then each `(crate, versions)` the chapter uses.
pub fn note(rust: &str, crates: &[(&str, Vec<&str>)]) -> String {
    let mut parts = vec![format!("Rust {rust}")];
    for (name, versions) in crates {
        parts.push(format!("{name} {}", versions.join(" / ")));
    }
    format!("> 本章验证环境：{}", parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_tracked_crates_in_the_lock() {
        let lock = Lock::parse(
            r#"
[[package]]
name = "tokio"
version = "1.54.1"

[[package]]
name = "serde"
version = "1.0.228"

[[package]]
name = "opentelemetry"
version = "0.34.0"

[[package]]
name = "opentelemetry"
version = "0.33.1"
"#,
        )
        .unwrap();
        assert_eq!(
            table("1.95.0", &lock),
            "| 组件 | 版本 |\n\
             |---|---|\n\
             | Rust 工具链 | `1.95.0` |\n\
             | `opentelemetry` | `0.33.1`, `0.34.0` |\n\
             | `tokio` | `1.54.1` |"
        );
    }

    #[test]
    fn note_is_one_blockquote_line() {
        assert_eq!(
            note(
                "1.95.0",
                &[
                    ("opentelemetry", vec!["0.33.1"]),
                    ("tokio", vec!["1.54.1", "1.55.0"])
                ]
            ),
            "> 本章验证环境：Rust 1.95.0 · opentelemetry 0.33.1 · tokio 1.54.1 / 1.55.0"
        );
        assert_eq!(note("1.95.0", &[]), "> 本章验证环境：Rust 1.95.0");
    }
}
