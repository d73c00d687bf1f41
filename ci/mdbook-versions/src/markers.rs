//! Finding `{{#versions}}` and `{{#verified-env}}` in a line of Markdown.

use std::ops::Range;

/// A marker the preprocessor renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// `{{#versions}}`: the table of verified versions.
    Versions,
    /// `{{#verified-env}}`: the one-line note on what a chapter was verified with.
    VerifiedEnv,
}

impl Marker {
    /// The marker exactly as a chapter writes it.
    pub const fn text(self) -> &'static str {
        match self {
            Marker::Versions => "{{#versions}}",
            Marker::VerifiedEnv => "{{#verified-env}}",
        }
    }
}

/// What a `{{#versions…}}` or `{{#verified-env…}}` form in a line turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'a> {
    Marker(Marker),
    /// Written with a leading backslash: shown as this text, without the backslash.
    Escaped(&'a str),
    /// Any other form, e.g. `{{#versions all}}` or an unclosed `{{#verified-env`.
    Unknown(&'a str),
}

/// One form found in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence<'a> {
    /// Byte range in the line, including the backslash of an escaped form.
    pub span: Range<usize>,
    pub found: Found<'a>,
}

/// Names that make `{{#name…}}` one of ours; anything starting with them is checked.
const FAMILY: [&str; 2] = ["versions", "verified-env"];

/// Finds every form of the markers in one line (without its line break), in order.
/// `{{#include …}}` and other directives are left alone.
pub fn scan(line: &str) -> Vec<Occurrence<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = line[from..].find("{{") {
        let start = from + offset;
        let after = &line[start + 2..];
        let is_ours = after
            .trim_start()
            .strip_prefix('#')
            .is_some_and(|name| FAMILY.iter().any(|f| name.starts_with(f)));
        if !is_ours {
            from = start + 1;
            continue;
        }
        // A form ends at the first `}}`; without one it runs to the end of the line.
        let end = after.find("}}").map_or(line.len(), |k| start + 2 + k + 2);
        let text = &line[start..end];
        let escaped = start > 0 && line.as_bytes()[start - 1] == b'\\';
        let (span_start, found_as) = if escaped {
            (start - 1, Found::Escaped(text))
        } else if text == Marker::Versions.text() {
            (start, Found::Marker(Marker::Versions))
        } else if text == Marker::VerifiedEnv.text() {
            (start, Found::Marker(Marker::VerifiedEnv))
        } else {
            (start, Found::Unknown(text))
        };
        found.push(Occurrence {
            span: span_start..end,
            found: found_as,
        });
        from = end;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<Found<'_>> {
        scan(line).into_iter().map(|o| o.found).collect()
    }

    #[test]
    fn markers_and_their_spans() {
        let line = "前 {{#versions}} 后 {{#verified-env}}";
        let found = scan(line);
        assert_eq!(
            found,
            [
                Occurrence {
                    span: 4..17,
                    found: Found::Marker(Marker::Versions)
                },
                Occurrence {
                    span: 22..39,
                    found: Found::Marker(Marker::VerifiedEnv)
                },
            ]
        );
        assert_eq!(&line[found[1].span.clone()], "{{#verified-env}}");
    }

    #[test]
    fn escaped_forms_keep_their_text() {
        let line = r"写 `\{{#versions}}` 或 \{{#verified-env}}";
        let found = scan(line);
        assert_eq!(
            found.iter().map(|o| o.found).collect::<Vec<_>>(),
            [
                Found::Escaped("{{#versions}}"),
                Found::Escaped("{{#verified-env}}")
            ]
        );
        assert_eq!(&line[found[0].span.clone()], r"\{{#versions}}");
        assert_eq!(
            kinds(r"\{{#versions all}}"),
            [Found::Escaped("{{#versions all}}")]
        );
    }

    #[test]
    fn unknown_forms() {
        assert_eq!(
            kinds("{{#versions all}} {{ #verified-env }} {{#versions-table}}"),
            [
                Found::Unknown("{{#versions all}}"),
                Found::Unknown("{{ #verified-env }}"),
                Found::Unknown("{{#versions-table}}"),
            ]
        );
        assert_eq!(
            kinds("unclosed {{#verified-env and more"),
            [Found::Unknown("{{#verified-env and more")]
        );
    }

    #[test]
    fn other_directives_are_not_ours() {
        assert_eq!(
            kinds("{{#include a.md}} {{#version}} {{#title x}} {{ x }} {{{#versions}}}"),
            [Found::Marker(Marker::Versions)]
        );
        assert!(scan("no markers, {{ or }} alone").is_empty());
    }
}
