//! Issue references in text: `#12`, `owner/repo#12`, GitHub / GitLab / Bitbucket issue URLs, `TODO(#12)` and
//! `FIXME(#12)`; and resolving one against a repository.

use super::{ProviderKind, ProvidersSettings, RepoRef};

/// An issue reference as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `#12`: an issue of the repository at hand.
    Local { number: u64 },
    /// `owner/repo#12` (GitLab: `group/sub/repo#12`).
    Qualified { path: String, number: u64 },
    /// An issue or pull/merge request URL (`pull`: a pull or merge request).
    Url { repo: RepoRef, number: u64, pull: bool },
}

/// A reference found in a line, with its byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub reference: Reference,
}

impl Reference {
    pub fn number(&self) -> u64 {
        match self {
            Reference::Local { number } | Reference::Qualified { number, .. } | Reference::Url { number, .. } => {
                *number
            }
        }
    }

    /// The repository and number, with `Local` and `Qualified` references resolved against `here`.
    pub fn resolve(&self, here: Option<&RepoRef>) -> Option<(RepoRef, u64)> {
        match self {
            Reference::Url { repo, number, .. } => Some((repo.clone(), *number)),
            Reference::Local { number } => here.map(|r| (r.clone(), *number)),
            Reference::Qualified { path, number } => {
                let here = here?;
                Some((RepoRef { kind: here.kind, host: here.host.clone(), path: path.clone() }, *number))
            }
        }
    }
}

/// Parses one reference given on its own (what `openhands.fixIssue` takes).
pub fn parse(text: &str, settings: &ProvidersSettings) -> Option<Reference> {
    let text = text.trim();
    let found = find_in_line(text, settings);
    found.into_iter().find(|f| f.start == 0 && f.end == text.len()).map(|f| f.reference)
}

fn is_repo_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')
}

/// Every reference in one line of text.
pub fn find_in_line(line: &str, settings: &ProvidersSettings) -> Vec<Found> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    // URLs first; their ranges are skipped by the `#N` scan.
    let mut search = 0;
    while let Some(rel) = line[search..].find("http") {
        let start = search + rel;
        let end = line[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '>' | '"' | '\'' | '`'))
            .map_or(line.len(), |e| start + e);
        let candidate = line[start..end].trim_end_matches(['.', ',', ';', ':']);
        if let Some(reference) = parse_url(candidate, settings) {
            out.push(Found { start, end: start + candidate.len(), text: candidate.to_owned(), reference });
        }
        search = end.max(start + 4);
        if search >= line.len() {
            break;
        }
    }
    let urls: Vec<(usize, usize)> = out.iter().map(|f| (f.start, f.end)).collect();
    let in_url = |i: usize| urls.iter().any(|(s, e)| i >= *s && i < *e);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'#' || in_url(i) {
            i += 1;
            continue;
        }
        let digits_end = (i + 1..bytes.len()).find(|&j| !bytes[j].is_ascii_digit()).unwrap_or(bytes.len());
        let digits = &line[i + 1..digits_end];
        // A number (not 0, at most 9 digits), followed by neither a word character nor more of a name.
        let ends_well =
            digits_end == bytes.len() || !(bytes[digits_end].is_ascii_alphanumeric() || bytes[digits_end] == b'_');
        let number = digits.parse::<u64>().ok().filter(|n| *n > 0 && digits.len() <= 9 && !digits.starts_with('0'));
        let Some(number) = number.filter(|_| ends_well) else {
            i += 1;
            continue;
        };
        // What comes before: nothing, a space or an opening bracket (`#12`, `(#12)`), or a repository path.
        let mut start = i;
        while start > 0 && (is_repo_char(bytes[start - 1]) || bytes[start - 1] == b'/') {
            start -= 1;
        }
        let prefix = &line[start..i];
        let before_ok = start == 0
            || matches!(bytes[start - 1], b' ' | b'\t' | b'(' | b'[' | b',' | b'{' | b'"' | b'\'' | b'`' | b':' | b'*');
        let reference = if prefix.is_empty() {
            Some(Reference::Local { number })
        } else {
            let parts: Vec<&str> = prefix.split('/').collect();
            let valid = parts.len() >= 2
                && parts.iter().all(|p| !p.is_empty() && !p.starts_with('.') && p.bytes().all(is_repo_char));
            valid.then(|| Reference::Qualified { path: prefix.to_owned(), number })
        };
        if let Some(reference) = reference.filter(|_| before_ok) {
            out.push(Found { start, end: digits_end, text: line[start..digits_end].to_owned(), reference });
        }
        i = digits_end;
    }
    out.sort_by_key(|f| f.start);
    out
}

/// GitHub `/{o}/{r}/issues/N` or `/pull/N`; GitLab `/{path}/-/issues/N` or `/-/merge_requests/N`; Bitbucket
/// `/{w}/{r}/issues/N` or `/pull-requests/N`.
fn parse_url(url: &str, settings: &ProvidersSettings) -> Option<Reference> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let path = path.split(['?', '#']).next()?;
    let kind = settings.kind_of_host(host)?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (repo_path, number, pull) = match kind {
        ProviderKind::GitLab => {
            let dash = segments.iter().position(|s| *s == "-")?;
            match &segments[dash + 1..] {
                [kind, n] if matches!(*kind, "issues" | "merge_requests") => {
                    (segments[..dash].join("/"), *n, *kind == "merge_requests")
                }
                _ => return None,
            }
        }
        ProviderKind::GitHub => match segments.as_slice() {
            [o, r, kind, n] if matches!(*kind, "issues" | "pull") => (format!("{o}/{r}"), *n, *kind == "pull"),
            _ => return None,
        },
        ProviderKind::Bitbucket => match segments.as_slice() {
            [w, r, kind, n, ..] if matches!(*kind, "issues" | "pull-requests") => {
                (format!("{w}/{r}"), *n, *kind == "pull-requests")
            }
            _ => return None,
        },
    };
    if repo_path.split('/').count() < 2 {
        return None;
    }
    let number = number.parse::<u64>().ok().filter(|n| *n > 0)?;
    Some(Reference::Url { repo: RepoRef { kind, host: host.to_ascii_lowercase(), path: repo_path }, number, pull })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        find_in_line(line, &ProvidersSettings::default()).into_iter().map(|f| f.text).collect()
    }

    #[test]
    fn references_that_match() {
        let cases: &[(&str, &[&str])] = &[
            ("fixes #12", &["#12"]),
            ("#7 at the start", &["#7"]),
            ("see octo/hello#12 and #3", &["octo/hello#12", "#3"]),
            ("// TODO(#12): handle empty input", &["#12"]),
            ("# FIXME(#40) later", &["#40"]),
            ("(#5)", &["#5"]),
            ("[#6]", &["#6"]),
            ("grp/sub/proj#9", &["grp/sub/proj#9"]),
            ("see https://github.com/octo/hello/issues/12.", &["https://github.com/octo/hello/issues/12"]),
            (
                "https://github.com/octo/hello/pull/3#issuecomment-1",
                &["https://github.com/octo/hello/pull/3#issuecomment-1"],
            ),
            ("<https://gitlab.com/grp/sub/proj/-/issues/4>", &["https://gitlab.com/grp/sub/proj/-/issues/4"]),
            (
                "https://bitbucket.org/team/repo/issues/8/crash-on-start",
                &["https://bitbucket.org/team/repo/issues/8/crash-on-start"],
            ),
            ("`#11`", &["#11"]),
        ];
        for (line, want) in cases {
            assert_eq!(texts(line), *want, "{line}");
        }
    }

    #[test]
    fn look_alikes_that_must_not_match() {
        for line in [
            "#include <stdio.h>",
            "color: #fff;",
            "color: #123abc;",
            "&#12;",
            "page.html#12",
            "abc#12",
            "#0",
            "#012",
            "issue #12a",
            "# 12",
            "https://example.com/o/r/issues/12",
            "https://github.com/octo/hello/blob/main/x.rs#L12",
            "https://github.com/octo/hello/issues/",
            "x = a#1",
            "../hello#12",
        ] {
            assert_eq!(texts(line), Vec::<String>::new(), "{line}");
        }
    }

    #[test]
    fn single_references_resolve() {
        let s = ProvidersSettings::default();
        let here = RepoRef { kind: ProviderKind::GitHub, host: "github.com".into(), path: "octo/hello".into() };
        let r = parse("#12", &s).unwrap();
        assert_eq!(r.resolve(Some(&here)), Some((here.clone(), 12)));
        assert_eq!(r.resolve(None), None, "a bare number needs a repository");
        let r = parse("other/repo#3", &s).unwrap();
        assert_eq!(r.resolve(Some(&here)).unwrap().0.path, "other/repo");
        let r = parse("https://gitlab.com/g/p/-/issues/5", &s).unwrap();
        assert_eq!(r.resolve(None).unwrap().0.kind, ProviderKind::GitLab);
        assert!(matches!(
            parse("https://gitlab.com/g/p/-/merge_requests/5", &s),
            Some(Reference::Url { pull: true, .. })
        ));
        assert!(matches!(parse("https://github.com/o/r/issues/5", &s), Some(Reference::Url { pull: false, .. })));
        assert_eq!(parse("fix #12 please", &s), None, "one reference, nothing else");
    }
}
