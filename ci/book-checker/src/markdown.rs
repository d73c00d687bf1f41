//! A small, line-based Markdown scanner.
//!
//! This is not a CommonMark parser. It recognises exactly what the checks
//! need: fenced code blocks, ATX headings and their mdBook ids, and inline
//! links. Inline code spans and HTML comments are blanked out of prose lines
//! so that links inside them are ignored.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// A Markdown file split into lines, with its fenced code blocks located.
pub struct Doc {
    pub lines: Vec<Line>,
    pub blocks: Vec<CodeBlock>,
}

pub struct Line {
    pub raw: String,
    /// The line with inline code spans and HTML comments replaced by spaces
    /// (byte offsets are preserved), or `None` for fence and code lines.
    pub prose: Option<String>,
}

pub struct CodeBlock {
    pub info: String,
    /// 0-based indices of the lines between the fences.
    pub body: Range<usize>,
}

impl CodeBlock {
    /// The first token of the info string, e.g. `rust` for ```` ```rust,ignore ````.
    pub fn lang(&self) -> &str {
        self.info
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap_or("")
    }
}

pub struct Heading {
    /// 1-based line number.
    pub line: usize,
    pub level: usize,
    /// Heading text with the closing `#`s and any `{#id}` block removed.
    pub title: String,
    pub id: String,
}

impl Doc {
    pub fn parse(text: &str) -> Doc {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = Vec::new();
        let mut blocks = Vec::new();
        // The open fence and the index of the first line after it.
        let mut open: Option<(Fence, String, usize)> = None;
        let mut in_comment = false;

        for (index, raw) in text.lines().enumerate() {
            if let Some((fence, info, body_start)) = &open {
                if fence.is_closed_by(raw) {
                    blocks.push(CodeBlock {
                        info: info.clone(),
                        body: *body_start..index,
                    });
                    open = None;
                }
                lines.push(Line::code(raw));
                continue;
            }
            if !in_comment && let Some((fence, info)) = Fence::open(raw) {
                open = Some((fence, info, index + 1));
                lines.push(Line::code(raw));
                continue;
            }
            let prose = blank_spans(raw, &mut in_comment);
            lines.push(Line {
                raw: raw.to_string(),
                prose: Some(prose),
            });
        }
        // An unclosed fence runs to the end of the document.
        if let Some((_, info, body_start)) = open {
            blocks.push(CodeBlock {
                info,
                body: body_start..lines.len(),
            });
        }
        Doc { lines, blocks }
    }

    /// Prose lines as `(1-based line number, blanked text)`.
    pub fn prose_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, line)| line.prose.as_deref().map(|p| (i + 1, p)))
    }

    /// ATX headings outside code blocks, with mdBook-style unique ids.
    pub fn headings(&self) -> Vec<Heading> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut headings = Vec::new();
        for (index, line) in self.lines.iter().enumerate() {
            // Detect on the blanked text (so commented-out headings are
            // skipped) but take the title from the raw text.
            let Some(prose) = &line.prose else { continue };
            if parse_atx(prose).is_none() {
                continue;
            }
            let Some((level, content)) = parse_atx(&line.raw) else {
                continue;
            };
            let (title, explicit) = split_attributes(content);
            let id = match explicit {
                Some(id) => id.to_string(),
                None => {
                    let base = normalize_id(&plain_text(title));
                    let count = seen.entry(base.clone()).or_insert(0);
                    let id = if *count == 0 {
                        base
                    } else {
                        format!("{base}-{count}")
                    };
                    *count += 1;
                    id
                }
            };
            headings.push(Heading {
                line: index + 1,
                level,
                title: title.to_string(),
                id,
            });
        }
        headings
    }

    /// Every id a link fragment may point at: heading ids and raw HTML
    /// `id="..."` attributes outside code.
    pub fn anchor_ids(&self) -> HashSet<String> {
        let mut ids: HashSet<String> = self.headings().into_iter().map(|h| h.id).collect();
        for (_, prose) in self.prose_lines() {
            ids.extend(html_ids(prose).map(str::to_string));
        }
        ids
    }
}

impl Line {
    fn code(raw: &str) -> Line {
        Line {
            raw: raw.to_string(),
            prose: None,
        }
    }
}

struct Fence {
    marker: u8,
    len: usize,
}

impl Fence {
    /// Recognises an opening fence: up to three spaces, then three or more
    /// backticks or tildes. Returns the fence and its info string.
    fn open(line: &str) -> Option<(Fence, String)> {
        let rest = strip_indent(line)?;
        let marker = *rest.as_bytes().first()?;
        if marker != b'`' && marker != b'~' {
            return None;
        }
        let len = rest.bytes().take_while(|&b| b == marker).count();
        if len < 3 {
            return None;
        }
        let info = rest[len..].trim();
        if marker == b'`' && info.contains('`') {
            return None;
        }
        Some((Fence { marker, len }, info.to_string()))
    }

    fn is_closed_by(&self, line: &str) -> bool {
        let Some(rest) = strip_indent(line) else {
            return false;
        };
        let len = rest.bytes().take_while(|&b| b == self.marker).count();
        len >= self.len && rest[len..].trim().is_empty()
    }
}

/// Removes up to three leading spaces; `None` if the line is indented more.
fn strip_indent(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(' ');
    (line.len() - rest.len() <= 3).then_some(rest)
}

/// Replaces inline code spans and HTML comments with spaces. `in_comment`
/// carries an unterminated `<!--` over to the next line.
fn blank_spans(line: &str, in_comment: &mut bool) -> String {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if *in_comment {
            let end = match line[i..].find("-->") {
                Some(k) => {
                    *in_comment = false;
                    i + k + 3
                }
                None => line.len(),
            };
            push_blank(&mut out, end - i);
            i = end;
        } else if line[i..].starts_with("<!--") {
            *in_comment = true;
            push_blank(&mut out, 4);
            i += 4;
        } else if bytes[i] == b'\\' && bytes.get(i + 1).is_some_and(u8::is_ascii_punctuation) {
            out.push_str(&line[i..i + 2]);
            i += 2;
        } else if bytes[i] == b'`' {
            let run = backtick_run(bytes, i);
            match closing_run(bytes, i + run, run) {
                Some(close) => {
                    push_blank(&mut out, close + run - i);
                    i = close + run;
                }
                None => {
                    out.push_str(&line[i..i + run]);
                    i += run;
                }
            }
        } else {
            let ch = line[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn push_blank(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn backtick_run(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().take_while(|&&b| b == b'`').count()
}

/// Finds the start of the next backtick run of exactly `len` after `from`.
fn closing_run(bytes: &[u8], mut from: usize, len: usize) -> Option<usize> {
    while from < bytes.len() {
        if bytes[from] == b'`' {
            let run = backtick_run(bytes, from);
            if run == len {
                return Some(from);
            }
            from += run;
        } else {
            from += 1;
        }
    }
    None
}

/// Parses an ATX heading into its level and content.
fn parse_atx(line: &str) -> Option<(usize, &str)> {
    let rest = strip_indent(line)?;
    let level = rest.bytes().take_while(|&b| b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let after = &rest[level..];
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        return None;
    }
    let content = after.trim();
    // Drop an optional closing sequence of `#`s.
    let without = content.trim_end_matches('#');
    let content = if without.is_empty() {
        ""
    } else if without.ends_with([' ', '\t']) {
        without.trim_end()
    } else {
        content
    };
    Some((level, content))
}

/// Splits a trailing attribute block such as `{#my-id .class}` off a heading.
fn split_attributes(content: &str) -> (&str, Option<&str>) {
    let Some(body) = content.strip_suffix('}') else {
        return (content, None);
    };
    let Some(open) = body.rfind('{') else {
        return (content, None);
    };
    let tokens: Vec<&str> = body[open + 1..].split_whitespace().collect();
    let all_attributes = !tokens.is_empty()
        && tokens
            .iter()
            .all(|t| t.starts_with('#') || t.starts_with('.') || t.contains('='));
    if !all_attributes {
        return (content, None);
    }
    let id = tokens
        .iter()
        .find_map(|t| t.strip_prefix('#'))
        .filter(|id| !id.is_empty());
    (body[..open].trim_end(), id)
}

/// Reduces inline Markdown to the text mdBook would render: code span
/// contents and link texts stay, emphasis markers, images and HTML tags go.
pub fn plain_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        let b = bytes[i];
        if b == b'\\' && bytes.get(i + 1).is_some_and(u8::is_ascii_punctuation) {
            out.push(bytes[i + 1] as char);
            i += 2;
        } else if b == b'`' {
            let run = backtick_run(bytes, i);
            match closing_run(bytes, i + run, run) {
                Some(close) => {
                    out.push_str(text[i + run..close].trim());
                    i = close + run;
                }
                None => i += run,
            }
        } else if b == b'!' && bytes.get(i + 1) == Some(&b'[') {
            // An image renders as an <img> tag, which mdBook drops from ids.
            match link_at(text, i + 1) {
                Some(link) => i = link.end,
                None => i += 1,
            }
        } else if b == b'[' {
            match link_at(text, i) {
                Some(link) => {
                    out.push_str(&plain_text(&text[link.text]));
                    i = link.end;
                }
                None => i += 1,
            }
        } else if b == b'<' {
            i = text[i..].find('>').map_or(i + 1, |k| i + k + 1);
        } else if b == b'*' || (b == b'_' && !is_intraword(text, i)) {
            // Emphasis markers render as tags, not text.
            i += 1;
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_intraword(text: &str, i: usize) -> bool {
    let before = text[..i].chars().next_back();
    let after = text[i + 1..].chars().next();
    before.is_some_and(char::is_alphanumeric) && after.is_some_and(char::is_alphanumeric)
}

/// mdBook's id rule: keep alphanumerics, `_` and `-`, turn whitespace into
/// `-`, drop everything else, ASCII-lowercase the result.
pub fn normalize_id(text: &str) -> String {
    text.trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// Values of `id="..."` / `id='...'` attributes in a line.
fn html_ids(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices("id=").filter_map(move |(at, _)| {
        let preceded_ok = line[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        let rest = &line[at + 3..];
        let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let value = &rest[1..];
        let end = value.find(quote)?;
        preceded_ok.then_some(&value[..end])
    })
}

/// An inline link or image found in a line.
struct LinkSpan {
    text: Range<usize>,
    dest: Range<usize>,
    end: usize,
}

/// Parses `[text](dest "title")` starting at the `[` at byte `open`.
fn link_at(line: &str, open: usize) -> Option<LinkSpan> {
    let bytes = line.as_bytes();
    let mut depth = 0;
    let mut i = open;
    let close = loop {
        match bytes.get(i)? {
            b'\\' => i += 1,
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    break i;
                }
            }
            _ => {}
        }
        i += 1;
    };
    if bytes.get(close + 1) != Some(&b'(') {
        return None;
    }
    let mut start = close + 2;
    while bytes.get(start).is_some_and(|b| *b == b' ') {
        start += 1;
    }
    let (dest, mut i) = if bytes.get(start) == Some(&b'<') {
        let end = start + 1 + line[start + 1..].find('>')?;
        (start + 1..end, end + 1)
    } else {
        let mut parens = 0usize;
        let mut i = start;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' => i += 1,
                b'(' => parens += 1,
                b')' if parens == 0 => break,
                b')' => parens -= 1,
                b' ' | b'\t' => break,
                _ => {}
            }
            i += 1;
        }
        (start..i.min(line.len()), i)
    };
    // Skip an optional title up to the closing parenthesis.
    while let Some(&b) = bytes.get(i) {
        if b == b')' {
            return Some(LinkSpan {
                text: open + 1..close,
                dest,
                end: i + 1,
            });
        }
        i += 1;
    }
    None
}

/// Destinations of all inline links and images in a (blanked) prose line.
pub fn link_destinations(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    (0..bytes.len())
        .filter(|&i| bytes[i] == b'[' && (i == 0 || bytes[i - 1] != b'\\'))
        .filter_map(|i| link_at(line, i))
        .map(|link| &line[link.dest])
        .collect()
}

/// Byte ranges of the contents of the inline code spans in a raw prose line
/// (between the backtick runs), found the way [`Doc::parse`] blanks them.
pub fn code_spans(line: &str) -> Vec<Range<usize>> {
    let bytes = line.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1).is_some_and(u8::is_ascii_punctuation) {
            i += 2;
        } else if bytes[i] == b'`' {
            let run = backtick_run(bytes, i);
            match closing_run(bytes, i + run, run) {
                Some(close) => {
                    spans.push(i + run..close);
                    i = close + run;
                }
                None => i += run,
            }
        } else {
            i += 1;
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<String> {
        Doc::parse(text)
            .headings()
            .into_iter()
            .map(|h| h.id)
            .collect()
    }

    #[test]
    fn heading_ids_follow_mdbook() {
        assert_eq!(
            ids(
                "# Hello, World!\n## `my_fn` and *bold* _em_\n## 运行示例：第一步\n### Über [link](x.md)"
            ),
            [
                "hello-world",
                "my_fn-and-bold-em",
                "运行示例第一步",
                "Über-link"
            ]
        );
    }

    #[test]
    fn duplicate_and_explicit_ids() {
        assert_eq!(
            ids("# A\n# A\n# A {#custom}\n# A ##\n#NotAHeading\n```\n# code\n```"),
            ["a", "a-1", "custom", "a-2"]
        );
        assert_eq!(
            ids("\u{feff}# With BOM\r\n## 下一节\r\n"),
            ["with-bom", "下一节"]
        );
    }

    #[test]
    fn fences_of_various_shapes() {
        let doc = Doc::parse("````rust,ignore\n```\n````\n   ~~~toml\nx\n~~~\n    ```\n");
        let langs: Vec<&str> = doc.blocks.iter().map(CodeBlock::lang).collect();
        assert_eq!(langs, ["rust", "toml"]);
        assert_eq!(doc.blocks[0].body, 1..2);
        assert_eq!(doc.blocks[1].body, 4..5);
        assert!(doc.lines[6].prose.is_some());
    }

    #[test]
    fn links_skip_code_spans_and_comments() {
        let doc =
            Doc::parse("[a](x.md#f) `[b](y.md)` <!-- [c](z.md)\n[d](w.md) --> ![e](i.png \"t\")");
        let found: Vec<&str> = doc
            .prose_lines()
            .flat_map(|(_, p)| link_destinations(p))
            .collect();
        assert_eq!(found, ["x.md#f", "i.png"]);
    }

    #[test]
    fn code_span_contents() {
        let line = "运行 `cargo test -p a` 或 ``x ` y``，\\`不是代码 `未闭合";
        let found: Vec<&str> = code_spans(line).into_iter().map(|r| &line[r]).collect();
        assert_eq!(found, ["cargo test -p a", "x ` y"]);
    }
}
