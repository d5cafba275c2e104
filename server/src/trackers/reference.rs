//! Tracker references in text: `PROJ-123` whose `PROJ` is a key the trackers have (so `UTF-8` and `ISO-8601` never
//! match), Jira's `<site>/browse/PROJ-123` and Linear's `https://linear.app/<workspace>/issue/ENG-42/<slug>`. In
//! branch names keys are matched in any case (`alice/eng-42-fix-login`, Linear's own branch names).

use super::TrackerKind;

/// The keys each configured tracker has, and Jira's site for its URLs.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub keys: Vec<(TrackerKind, Vec<String>)>,
    pub jira_site: Option<String>,
}

impl Known {
    fn kind_of(&self, prefix: &str, any_case: bool) -> Option<TrackerKind> {
        self.keys.iter().find_map(|(kind, keys)| {
            keys.iter().any(|k| if any_case { k.eq_ignore_ascii_case(prefix) } else { k == prefix }).then_some(*kind)
        })
    }
}

/// A reference found in a line: its byte range, its text, the key (upper case) and its tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub key: String,
    pub kind: TrackerKind,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `KEY-N` candidates: (start, end, prefix) with word boundaries around, the number not starting with 0.
fn candidates(line: &str, any_case: bool) -> Vec<(usize, usize, &str)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(is_word(bytes[i - 1]) || bytes[i - 1] == b'-' || bytes[i - 1] == b'.');
        let letter = if any_case { bytes[i].is_ascii_alphabetic() } else { bytes[i].is_ascii_uppercase() };
        if !(starts_word && letter) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'_' || bytes[j].is_ascii_alphabetic()) {
            let ok = any_case || bytes[j].is_ascii_uppercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_';
            if !ok {
                break;
            }
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b'-' {
            i = j.max(i + 1);
            continue;
        }
        let digits = j + 1;
        let mut end = digits;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let ends_word = end == bytes.len() || !is_word(bytes[end]);
        if end > digits && bytes[digits] != b'0' && end - digits <= 9 && ends_word {
            out.push((i, end, &line[i..j]));
            i = end;
        } else {
            i = j.max(i + 1);
        }
    }
    out
}

/// Every reference in one line of text (code, a commit message).
pub fn find_in_line(line: &str, known: &Known) -> Vec<Found> {
    let mut out: Vec<Found> = urls(line, known);
    // A key inside any other URL (a page that is not the issue's) is part of that URL.
    let taken = url_spans(line);
    for (start, end, prefix) in candidates(line, false) {
        if taken.iter().any(|(s, e)| start >= *s && start < *e) {
            continue;
        }
        if let Some(kind) = known.kind_of(prefix, false) {
            let text = line[start..end].to_owned();
            out.push(Found { start, end, key: text.clone(), text, kind });
        }
    }
    out.sort_by_key(|f| f.start);
    out
}

/// The reference a branch name carries (`feature/PROJ-123-x`, `alice/eng-42-fix-login`), the first if several.
pub fn in_branch(branch: &str, known: &Known) -> Option<Found> {
    candidates(branch, true).into_iter().find_map(|(start, end, prefix)| {
        let kind = known.kind_of(prefix, true)?;
        Some(Found {
            start,
            end,
            text: branch[start..end].to_owned(),
            key: branch[start..end].to_ascii_uppercase(),
            kind,
        })
    })
}

/// One reference given on its own (`PROJ-123` in any case, or its URL), as `openhands.fixIssue` takes it: the key,
/// and the tracker when the text tells (a URL, or a key already known).
pub fn parse(text: &str, known: &Known) -> Option<(String, Option<TrackerKind>)> {
    let text = text.trim();
    if let Some(found) = urls(text, known).into_iter().find(|f| f.start == 0 && f.end == text.len()) {
        return Some((found.key, Some(found.kind)));
    }
    let (start, end, prefix) = candidates(text, true).into_iter().next()?;
    (start == 0 && end == text.len()).then(|| (text.to_ascii_uppercase(), known.kind_of(prefix, true)))
}

/// Where each `http…` word of the line starts and ends.
fn url_spans(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut search = 0;
    while let Some(rel) = line[search..].find("http") {
        let start = search + rel;
        let end = line[start..].find(char::is_whitespace).map_or(line.len(), |e| start + e);
        spans.push((start, end));
        search = end.max(start + 4);
        if search >= line.len() {
            break;
        }
    }
    spans
}

/// Jira's `/browse/KEY-N` on the configured site and Linear's `linear.app/<ws>/issue/KEY-N[/slug]`.
fn urls(line: &str, known: &Known) -> Vec<Found> {
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(rel) = line[search..].find("http") {
        let start = search + rel;
        let end = line[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '>' | '"' | '\'' | '`' | '|'))
            .map_or(line.len(), |e| start + e);
        let candidate = line[start..end].trim_end_matches(['.', ',', ';', ':']);
        if let Some((key, kind)) = parse_url(candidate, known) {
            out.push(Found { start, end: start + candidate.len(), text: candidate.to_owned(), key, kind });
        }
        search = end.max(start + 4);
        if search >= line.len() {
            break;
        }
    }
    out
}

fn parse_url(url: &str, known: &Known) -> Option<(String, TrackerKind)> {
    let url = url.split(['?', '#']).next()?;
    let key_of = |segment: &str| {
        let found = candidates(segment, false);
        found.first().filter(|(s, e, _)| *s == 0 && *e == segment.len()).map(|_| segment.to_owned())
    };
    if let Some(site) = known.jira_site.as_deref().filter(|s| !s.is_empty())
        && let Some(rest) = url.strip_prefix(site.trim_end_matches('/'))
        && let Some(key) = rest.strip_prefix("/browse/")
    {
        return key_of(key.trim_end_matches('/')).map(|k| (k, TrackerKind::Jira));
    }
    let rest = url.strip_prefix("https://linear.app/")?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [_workspace, "issue", key, ..] => key_of(key).map(|k| (k, TrackerKind::Linear)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        Known {
            keys: vec![
                (TrackerKind::Jira, vec!["PROJ".into(), "OPS2".into()]),
                (TrackerKind::Linear, vec!["ENG".into()]),
            ],
            jira_site: Some("https://acme.atlassian.net".into()),
        }
    }

    fn texts(line: &str) -> Vec<String> {
        find_in_line(line, &known()).into_iter().map(|f| f.text).collect()
    }

    #[test]
    fn references_that_match() {
        let cases: &[(&str, &[&str])] = &[
            ("// TODO(PROJ-123): handle empty input", &["PROJ-123"]),
            ("fixes ENG-42 and OPS2-7.", &["ENG-42", "OPS2-7"]),
            ("see https://acme.atlassian.net/browse/PROJ-9", &["https://acme.atlassian.net/browse/PROJ-9"]),
            ("<https://linear.app/acme/issue/ENG-42/fix-login>", &["https://linear.app/acme/issue/ENG-42/fix-login"]),
            ("[PROJ-1] title", &["PROJ-1"]),
        ];
        for (line, want) in cases {
            assert_eq!(texts(line), *want, "{line}");
        }
    }

    #[test]
    fn look_alikes_that_must_not_match() {
        for line in [
            "UTF-8 and ISO-8601",
            "proj-123 in a comment",
            "PROJ-0",
            "PROJ-012",
            "PROJ-12a",
            "MYPROJ-12",
            "x.PROJ-12",
            "OTHER-12",
            "https://example.com/browse/PROJ-1",
            "PROJ-",
        ] {
            assert_eq!(texts(line), Vec::<String>::new(), "{line}");
        }
    }

    #[test]
    fn branch_names_carry_keys_in_any_case() {
        let k = known();
        let found = in_branch("alice/eng-42-fix-login", &k).unwrap();
        assert_eq!((found.key.as_str(), found.kind), ("ENG-42", TrackerKind::Linear));
        assert_eq!(in_branch("feature/PROJ-123-add-x", &k).unwrap().key, "PROJ-123");
        assert_eq!(in_branch("main", &k), None);
        assert_eq!(in_branch("release-2", &k), None);
    }

    #[test]
    fn single_references_parse() {
        let k = known();
        assert_eq!(parse("PROJ-5", &k), Some(("PROJ-5".into(), Some(TrackerKind::Jira))));
        assert_eq!(parse(" eng-42 ", &k), Some(("ENG-42".into(), Some(TrackerKind::Linear))));
        assert_eq!(parse("NEW-1", &k), Some(("NEW-1".into(), None)), "a key not yet known is checked later");
        assert_eq!(
            parse("https://linear.app/acme/issue/ENG-42/fix-login", &k),
            Some(("ENG-42".into(), Some(TrackerKind::Linear)))
        );
        assert_eq!(parse("#12", &k), None);
        assert_eq!(parse("fix PROJ-5", &k), None);
    }
}
