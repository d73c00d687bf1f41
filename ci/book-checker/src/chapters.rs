//! Rule 5: content chapters have a mermaid diagram and the five template
//! sections as level-2 headings, in order.

use crate::{Page, Problem, Repo};

/// The template sections every content chapter ends with, in order.
const SECTIONS: [&str; 5] = [
    "运行示例",
    "测试如何验证",
    "故障排查",
    "检查清单",
    "参考资料",
];

pub(crate) fn check(repo: &Repo, problems: &mut Vec<Problem>) {
    for page in repo.pages.iter().filter(|p| p.is_content_chapter()) {
        for (line, message) in check_chapter(page) {
            problems.push(repo.problem(&page.path, line, message));
        }
    }
}

fn check_chapter(page: &Page) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    if !page.doc.blocks.iter().any(|b| b.lang() == "mermaid") {
        found.push((1, "content chapter has no ```mermaid diagram".to_string()));
    }

    // Template sections in the order they appear, as (line, section index).
    let headings = page.doc.headings();
    let mut present: Vec<(usize, usize)> = Vec::new();
    for heading in headings.iter().filter(|h| h.level == 2) {
        let index = SECTIONS.iter().position(|s| *s == heading.title.trim());
        if let Some(index) = index
            && !present.iter().any(|&(_, seen)| seen == index)
        {
            present.push((heading.line, index));
        }
    }

    for (index, section) in SECTIONS.iter().enumerate() {
        if !present.iter().any(|&(_, seen)| seen == index) {
            found.push((1, format!("missing level-2 section \"{section}\"")));
        }
    }

    // A section is out of order when a later template section came before it.
    let mut latest: Option<usize> = None;
    for &(line, index) in &present {
        match latest {
            Some(previous) if previous > index => found.push((
                line,
                format!(
                    "section \"{}\" is out of order: it must come before \"{}\"",
                    SECTIONS[index], SECTIONS[previous]
                ),
            )),
            _ => latest = Some(index),
        }
    }
    found
}
