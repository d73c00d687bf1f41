//! mdBook directives: `{{#include}}` / `{{#rustdoc_include}}` in pages and
//! `ANCHOR:` / `ANCHOR_END:` markers in included files. (The version markers
//! are read with `mdbook_versions::markers`, the preprocessor's own scanner.)

use std::ops::Range;

/// What part of a file an include directive selects.
#[derive(Debug, PartialEq, Eq)]
pub enum Selector<'a> {
    Whole,
    Anchor(&'a str),
    /// 1-based inclusive bounds; `None` means the start or end of the file.
    Lines {
        start: Option<usize>,
        end: Option<usize>,
    },
}

/// An `{{#include ...}}` or `{{#rustdoc_include ...}}` directive.
#[derive(Debug, PartialEq, Eq)]
pub struct Include<'a> {
    /// Byte range of the whole directive in the line.
    pub span: Range<usize>,
    pub path: &'a str,
    /// The argument after the path (e.g. `anchor` or `3:10`), for messages.
    pub spec: &'a str,
    pub selector: Selector<'a>,
}

/// Finds include directives in a line, skipping escaped `\{{#...}}` ones.
pub fn find_includes(line: &str) -> Vec<Include<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = line[from..].find("{{") {
        let start = from + offset;
        let Some(close) = line[start..].find("}}").map(|k| start + k) else {
            break;
        };
        from = start + 2;
        if start > 0 && line.as_bytes()[start - 1] == b'\\' {
            continue;
        }
        let Some(body) = line[start + 2..close].trim_start().strip_prefix('#') else {
            continue;
        };
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, args) = body.split_at(name_len);
        if !matches!(name, "include" | "rustdoc_include") || !args.starts_with(char::is_whitespace)
        {
            continue;
        }
        let Some(target) = args.split_whitespace().next() else {
            continue;
        };
        let (path, spec) = target.split_once(':').unwrap_or((target, ""));
        let selector = if target.contains(':') {
            parse_selector(spec)
        } else {
            Selector::Whole
        };
        found.push(Include {
            span: start..close + 2,
            path,
            spec,
            selector,
        });
        from = close + 2;
    }
    found
}

/// Follows mdBook: a non-numeric first part is an anchor name, otherwise
/// `N`, `N:M`, `N:` or `:M` select lines.
fn parse_selector(spec: &str) -> Selector<'_> {
    let (first, second) = match spec.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (spec, None),
    };
    let start = first.parse::<usize>().ok();
    if start.is_none() && !first.is_empty() {
        return Selector::Anchor(first);
    }
    let end = match second {
        None => start,
        Some(b) => b.parse::<usize>().ok(),
    };
    Selector::Lines { start, end }
}

/// An `ANCHOR:` or `ANCHOR_END:` marker found in a listing line.
#[derive(Debug, PartialEq, Eq)]
pub enum Marker<'a> {
    Start(&'a str),
    End(&'a str),
}

pub fn anchor_marker(line: &str) -> Option<Marker<'_>> {
    if let Some(at) = line.find("ANCHOR_END:") {
        return anchor_name(&line[at + "ANCHOR_END:".len()..]).map(Marker::End);
    }
    let at = line.find("ANCHOR:")?;
    anchor_name(&line[at + "ANCHOR:".len()..]).map(Marker::Start)
}

fn anchor_name(rest: &str) -> Option<&str> {
    let rest = rest.trim_start();
    let len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    (len > 0).then(|| &rest[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_directives() {
        let line = r"{{#include a.rs}} {{#rustdoc_include b.rs:main}} {{#include c.rs:2:5}} \{{#include d.rs}} {{#title x}}";
        let found = find_includes(line);
        let summary: Vec<(&str, &Selector)> = found.iter().map(|i| (i.path, &i.selector)).collect();
        assert_eq!(
            summary,
            [
                ("a.rs", &Selector::Whole),
                ("b.rs", &Selector::Anchor("main")),
                (
                    "c.rs",
                    &Selector::Lines {
                        start: Some(2),
                        end: Some(5)
                    }
                ),
            ]
        );
        assert_eq!(
            parse_selector("7"),
            Selector::Lines {
                start: Some(7),
                end: Some(7)
            }
        );
        assert_eq!(
            parse_selector(":4"),
            Selector::Lines {
                start: None,
                end: Some(4)
            }
        );
    }

    #[test]
    fn anchor_markers() {
        assert_eq!(
            anchor_marker("// ANCHOR: main"),
            Some(Marker::Start("main"))
        );
        assert_eq!(
            anchor_marker("# ANCHOR_END: a-b_c"),
            Some(Marker::End("a-b_c"))
        );
        assert_eq!(anchor_marker("// ANCHOR:"), None);
        assert_eq!(anchor_marker("let x = 1;"), None);
    }
}
