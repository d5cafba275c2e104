//! What a new task is, before any protocol: the folder it runs in, its title, and its instruction with the editor's
//! context (the file and lines at hand, the selection, a problem the editor reported). Every front composes tasks
//! through here, so the agent reads the same words whichever editor the user is in.

use std::path::{Path, PathBuf};

/// Lines of a file, 0-based and inclusive, as editors count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    pub first: u32,
    pub last: u32,
}

/// A problem an editor reports in a file (a diagnostic), without the protocol's types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problem {
    /// 0-based line and column where it starts, and the line where it ends.
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    /// The tool that reported it (`rustc`, `eslint`) and its code (`E0308`).
    pub source: Option<String>,
    pub code: Option<String>,
    pub message: String,
}

/// The folder a task runs in: the workspace folder holding `file` (innermost), else the first folder; with no folder
/// at all, the file's own folder.
pub fn workspace_for(file: Option<&Path>, roots: &[PathBuf]) -> Option<PathBuf> {
    if let Some(file) = file {
        let best = roots.iter().filter(|r| file.starts_with(r)).max_by_key(|r| r.components().count());
        if let Some(root) = best {
            return Some(root.clone());
        }
        if roots.is_empty() {
            return file.parent().map(Path::to_path_buf);
        }
    }
    roots.first().cloned()
}

/// The instruction with the editor's context appended, so the agent knows which file and lines are meant, and the
/// problems the editor reports there.
pub fn compose_instruction(
    instruction: &str,
    file: Option<&Path>,
    workspace: &Path,
    lines: Option<Lines>,
    selection: Option<&str>,
    problems: &[Problem],
) -> String {
    let mut text = instruction.trim().to_owned();
    let Some(file) = file else { return text };
    let shown = file.strip_prefix(workspace).unwrap_or(file).display().to_string();
    text.push_str("\n\nContext from the editor:\n");
    match lines {
        Some(r) => text.push_str(&format!("- File: {shown}, lines {}-{}\n", r.first + 1, r.last + 1)),
        None => text.push_str(&format!("- File: {shown}\n")),
    }
    if let Some(sel) = selection.filter(|s| !s.trim().is_empty()) {
        text.push_str("- Selected text:\n```\n");
        text.push_str(sel);
        if !sel.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("```\n");
    }
    if !problems.is_empty() {
        text.push_str("- Problems the editor reports there:\n");
        for p in problems {
            text.push_str(&format!("  - {}\n", problem_line(p)));
        }
    }
    text
}

/// `line 7, column 3 (rustc E0308): mismatched types` (the message's first line).
fn problem_line(p: &Problem) -> String {
    format!(
        "line {}, column {}{}: {}",
        p.line + 1,
        p.column + 1,
        origin(p),
        p.message.lines().next().unwrap_or_default().trim_end()
    )
}

/// ` (rustc E0308)`: the tool that reported a problem and its code, where known.
fn origin(p: &Problem) -> String {
    match (&p.source, &p.code) {
        (Some(s), Some(c)) => format!(" ({s} {c})"),
        (Some(s), None) => format!(" ({s})"),
        (None, Some(c)) => format!(" ({c})"),
        (None, None) => String::new(),
    }
}

/// A task's title: the first line of what it is about, at most 60 characters.
pub fn title_from(instruction: &str) -> String {
    let line = instruction.trim().lines().next().unwrap_or_default();
    match line.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

/// Lines shown around a problem, before and after it.
const PROBLEM_CONTEXT_LINES: u32 = 5;

/// What the agent is told about a problem: where, what (source, code, message), and the code around it (`text`: the
/// file as the user sees it, unsaved edits included).
pub fn problem_instruction(p: &Problem, shown_path: &str, text: Option<&str>) -> String {
    let (line, col) = (p.line + 1, p.column + 1);
    let origin = origin(p);
    let mut out = format!("Fix this problem reported in {shown_path} at line {line}, column {col}{origin}:\n");
    out.push_str(p.message.trim_end());
    out.push('\n');
    if let Some(text) = text {
        let lines: Vec<&str> = text.lines().collect();
        let first = p.line.saturating_sub(PROBLEM_CONTEXT_LINES) as usize;
        let last = ((p.end_line + PROBLEM_CONTEXT_LINES) as usize).min(lines.len().saturating_sub(1));
        if first < lines.len() {
            let (from, to) = (p.line as usize, p.end_line as usize);
            out.push_str(&format!(
                "\nThe code around it ({shown_path}, lines {}-{}; the reported lines are marked with >>):\n```\n",
                first + 1,
                last + 1
            ));
            for (i, l) in lines.iter().enumerate().take(last + 1).skip(first) {
                let mark = if (from..=to).contains(&i) { ">>" } else { "  " };
                out.push_str(&format!("{mark} {:>4} | {l}\n", i + 1));
            }
            out.push_str("```\n");
        }
    }
    out.push_str(
        "\nFix the cause, not only the message. Then run the project's tests, if it has any, and make sure they pass.",
    );
    out
}

/// The title of a task that fixes `problem`.
pub fn problem_title(problem: &Problem) -> String {
    title_from(&format!("Fix: {}", problem.message.lines().next().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_becomes_an_instruction_with_its_origin_and_the_code_around_it() {
        let p = Problem {
            line: 6,
            column: 4,
            end_line: 6,
            source: Some("rustc".into()),
            code: Some("E0308".into()),
            message: "mismatched types\nexpected `u32`, found `&str`".into(),
        };
        let text: String = (1..=12).map(|i| format!("line {i}\n")).collect();
        let got = problem_instruction(&p, "src/lib.rs", Some(&text));
        expect_test::expect![[r#"
            Fix this problem reported in src/lib.rs at line 7, column 5 (rustc E0308):
            mismatched types
            expected `u32`, found `&str`

            The code around it (src/lib.rs, lines 2-12; the reported lines are marked with >>):
            ```
                  2 | line 2
                  3 | line 3
                  4 | line 4
                  5 | line 5
                  6 | line 6
            >>    7 | line 7
                  8 | line 8
                  9 | line 9
                 10 | line 10
                 11 | line 11
                 12 | line 12
            ```

            Fix the cause, not only the message. Then run the project's tests, if it has any, and make sure they pass."#]]
        .assert_eq(&got);
        assert_eq!(problem_title(&p), "Fix: mismatched types");
    }

    #[test]
    fn innermost_folder_wins() {
        let roots = vec![PathBuf::from("/w"), PathBuf::from("/w/sub")];
        assert_eq!(workspace_for(Some(Path::new("/w/sub/a.rs")), &roots), Some(PathBuf::from("/w/sub")));
        assert_eq!(workspace_for(Some(Path::new("/elsewhere/a.rs")), &roots), Some(PathBuf::from("/w")));
        assert_eq!(workspace_for(Some(Path::new("/lone/a.rs")), &[]), Some(PathBuf::from("/lone")));
        assert_eq!(workspace_for(None, &[]), None);
    }

    #[test]
    fn context_names_file_lines_and_selection() {
        let text = compose_instruction(
            "Fix it",
            Some(Path::new("/w/src/a.rs")),
            Path::new("/w"),
            Some(Lines { first: 2, last: 4 }),
            Some("let x = 1;"),
            &[
                Problem {
                    line: 2,
                    column: 8,
                    end_line: 2,
                    source: Some("rustc".into()),
                    code: Some("E0308".into()),
                    message: "mismatched types\nexpected u32".into(),
                },
                Problem { line: 3, message: "unused variable".into(), ..Problem::default() },
            ],
        );
        assert_eq!(
            text,
            "Fix it\n\nContext from the editor:\n- File: src/a.rs, lines 3-5\n- Selected text:\n```\nlet x = 1;\n```\n\
             - Problems the editor reports there:\n  - line 3, column 9 (rustc E0308): mismatched types\n  \
             - line 4, column 1: unused variable\n"
        );
    }

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(title_from("  Add tests\nand more"), "Add tests");
        assert_eq!(title_from(&"x".repeat(100)).chars().count(), 61);
    }
}
