//! Rule 9: every content chapter has exactly one `{{#verified-env}}`, alone on
//! a line before its first level-2 heading, where `ci/mdbook-versions` renders
//! the chapter's verified environment; and every `{{#versions…}}` /
//! `{{#verified-env…}}` form in `src/` is one the preprocessor accepts:
//! `{{#versions}}`, `{{#verified-env}}` or an escaped `\{{#…}}`.

// The preprocessor's own scanner, so the checker accepts exactly what it renders.
use mdbook_versions::markers::{Found, Marker, scan};

use crate::{Page, Problem, Repo};

const VERSIONS: &str = Marker::Versions.text();
const VERIFIED_ENV: &str = Marker::VerifiedEnv.text();

pub(crate) fn check(repo: &Repo, problems: &mut Vec<Problem>) {
    for page in &repo.pages {
        for (line, message) in check_page(page) {
            problems.push(repo.problem(&page.path, line, message));
        }
    }
}

fn check_page(page: &Page) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // Lines of `{{#verified-env}}`, and whether each stands alone outside code.
    let mut notes: Vec<(usize, bool)> = Vec::new();
    for (index, line) in page.doc.lines.iter().enumerate() {
        for occurrence in scan(&line.raw) {
            match occurrence.found {
                Found::Marker(Marker::VerifiedEnv) => {
                    let alone = line.raw.trim() == VERIFIED_ENV;
                    notes.push((index + 1, alone && line.prose.is_some()));
                }
                Found::Unknown(text) => found.push((
                    index + 1,
                    format!(
                        "unknown version marker {text}: mdbook-versions renders only {VERSIONS} and {VERIFIED_ENV} (write \\{text} to show it as text)"
                    ),
                )),
                Found::Marker(Marker::Versions) | Found::Escaped(_) => {}
            }
        }
    }
    if !page.is_content_chapter() {
        return found;
    }

    let first_section = page
        .doc
        .headings()
        .iter()
        .find(|h| h.level == 2)
        .map(|h| h.line);
    let Some(&(first, alone)) = notes.first() else {
        found.push((
            1,
            format!(
                "content chapter has no {VERIFIED_ENV}: put it on its own line after the opening sentences, before the first ## heading"
            ),
        ));
        return found;
    };
    if let Some(section) = first_section
        && first > section
    {
        found.push((
            first,
            format!("{VERIFIED_ENV} must come before the first ## heading (line {section})"),
        ));
    }
    if !alone {
        found.push((
            first,
            format!(
                "{VERIFIED_ENV} must stand alone on its own line outside code blocks: it renders a blockquote"
            ),
        ));
    }
    for &(line, _) in &notes[1..] {
        found.push((
            line,
            format!(
                "another {VERIFIED_ENV} (the first is on line {first}): a chapter has exactly one"
            ),
        ));
    }
    found
}
