//! The hunks of an agent's change to a text file: each run of changed lines, with both sides' line ranges and text
//! and an id that stays the same while that part of the change does (it is made of the file's path, where the run
//! starts in the original, and both sides' text), so an editor can accept or decline them one by one.

use serde::Serialize;

/// One run of changed lines. Lines are 1-based; a side with no lines (a pure insertion or deletion) starts where
/// the other side's lines go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hunk {
    pub id: String,
    pub original_start: usize,
    pub original_lines: usize,
    pub proposed_start: usize,
    pub proposed_lines: usize,
    /// The lines as they were, and as the agent proposes them (each with its line end).
    pub original: String,
    pub proposed: String,
}

impl Hunk {
    /// Where it is in the agent's version, in words: `line 10`, `lines 10-12`, `the removal of lines 5-6`.
    pub fn describe(&self) -> String {
        match self.proposed_lines {
            0 => format!(
                "the removal of lines {}-{}",
                self.original_start,
                self.original_start + self.original_lines - 1
            ),
            1 => format!("line {}", self.proposed_start),
            n => format!("lines {}-{}", self.proposed_start, self.proposed_start + n - 1),
        }
    }
}

/// The hunks of `original` -> `proposed` for the file at `path`.
pub fn hunks(path: &str, original: &str, proposed: &str) -> Vec<Hunk> {
    runs(original, proposed)
        .into_iter()
        .filter_map(|run| match run {
            Run::Same { .. } => None,
            Run::Changed { old, new, old_start, new_start } => {
                let (original, proposed) = (old.concat(), new.concat());
                Some(Hunk {
                    id: id_of(path, old_start, &original, &proposed),
                    original_start: old_start + 1,
                    original_lines: old.len(),
                    proposed_start: new_start + 1,
                    proposed_lines: new.len(),
                    original,
                    proposed,
                })
            }
        })
        .collect()
}

/// `original` with only the hunks `take` accepts applied: the text a partial apply merges into the user's.
pub fn apply_only(path: &str, original: &str, proposed: &str, take: impl Fn(&str) -> bool) -> String {
    select(path, original, proposed, take)
}

/// `proposed` with the hunks `undo` names put back as they were: the agent's copy after declined hunks are reverted.
pub fn revert(path: &str, original: &str, proposed: &str, undo: impl Fn(&str) -> bool) -> String {
    select(path, original, proposed, |id| !undo(id))
}

/// Each run as the proposed side when `proposed_for` says so, else as the original side.
fn select(path: &str, original: &str, proposed: &str, proposed_for: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(proposed.len().max(original.len()));
    for run in runs(original, proposed) {
        match run {
            Run::Same { lines } => out.extend(lines),
            Run::Changed { old, new, old_start, .. } => {
                let id = id_of(path, old_start, &old.concat(), &new.concat());
                out.extend(if proposed_for(&id) { new } else { old });
            }
        }
    }
    out
}

enum Run<'a> {
    Same {
        lines: Vec<&'a str>,
    },
    /// `old_start`, `new_start`: 0-based line numbers.
    Changed {
        old: Vec<&'a str>,
        new: Vec<&'a str>,
        old_start: usize,
        new_start: usize,
    },
}

/// The texts as alternating runs of equal and changed lines (adjacent changes form one run).
fn runs<'a>(original: &'a str, proposed: &'a str) -> Vec<Run<'a>> {
    let diff = similar::TextDiff::from_lines(original, proposed);
    let (old, new) = (diff.old_slices(), diff.new_slices());
    let mut out: Vec<Run<'a>> = Vec::new();
    for op in diff.ops() {
        let (o, n) = (op.old_range(), op.new_range());
        if op.tag() == similar::DiffTag::Equal {
            out.push(Run::Same { lines: old[o].to_vec() });
            continue;
        }
        match out.last_mut() {
            Some(Run::Changed { old: lo, new: ln, .. }) => {
                lo.extend_from_slice(&old[o]);
                ln.extend_from_slice(&new[n]);
            }
            _ => out.push(Run::Changed {
                old: old[o.clone()].to_vec(),
                new: new[n.clone()].to_vec(),
                old_start: o.start,
                new_start: n.start,
            }),
        }
    }
    out
}

/// 64-bit FNV-1a of the hunk's place and texts, as 16 hex digits.
fn id_of(path: &str, old_start: usize, original: &str, proposed: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [path.as_bytes(), &old_start.to_le_bytes(), original.as_bytes(), b"\0", proposed.as_bytes()] {
        for byte in part.iter().chain([0xffu8].iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "one\ntwo\nthree\nfour\nfive\nsix\n";
    const PROPOSED: &str = "ONE\ntwo\nthree\nfour\nFIVE\nfive and a half\nsix\n";

    #[test]
    fn each_run_of_changed_lines_is_a_hunk_with_both_sides() {
        let h = hunks("a.txt", ORIGINAL, PROPOSED);
        assert_eq!(h.len(), 2, "{h:#?}");
        assert_eq!((h[0].original_start, h[0].original_lines, h[0].proposed_start, h[0].proposed_lines), (1, 1, 1, 1));
        assert_eq!((h[0].original.as_str(), h[0].proposed.as_str()), ("one\n", "ONE\n"));
        assert_eq!((h[1].original_start, h[1].original_lines, h[1].proposed_start, h[1].proposed_lines), (5, 1, 5, 2));
        assert_eq!(h[1].proposed, "FIVE\nfive and a half\n");
        assert_ne!(h[0].id, h[1].id);
    }

    #[test]
    fn ids_stay_while_their_part_of_the_change_does() {
        let first = hunks("a.txt", ORIGINAL, PROPOSED);
        // The agent changes the first hunk again: the second keeps its id, the first gets a new one.
        let again = hunks("a.txt", ORIGINAL, "One!\ntwo\nthree\nfour\nFIVE\nfive and a half\nsix\n");
        assert_eq!(first[1].id, again[1].id);
        assert_ne!(first[0].id, again[0].id);
        // The same change in another file is another hunk.
        assert_ne!(first[0].id, hunks("b.txt", ORIGINAL, PROPOSED)[0].id);
    }

    #[test]
    fn a_chosen_hunk_applies_alone_and_a_declined_one_reverts_alone() {
        let h = hunks("a.txt", ORIGINAL, PROPOSED);
        let second_only = apply_only("a.txt", ORIGINAL, PROPOSED, |id| id == h[1].id);
        assert_eq!(second_only, "one\ntwo\nthree\nfour\nFIVE\nfive and a half\nsix\n");
        assert_eq!(apply_only("a.txt", ORIGINAL, PROPOSED, |_| true), PROPOSED);
        assert_eq!(apply_only("a.txt", ORIGINAL, PROPOSED, |_| false), ORIGINAL);
        let first_undone = revert("a.txt", ORIGINAL, PROPOSED, |id| id == h[0].id);
        assert_eq!(first_undone, "one\ntwo\nthree\nfour\nFIVE\nfive and a half\nsix\n");
        // Without a final newline, and with insertions and deletions at the ends.
        for (o, p) in [("a\nb", "a\nB"), ("", "x\n"), ("x\n", ""), ("a\n", "z\na\ny\n")] {
            assert_eq!(apply_only("f", o, p, |_| true), p, "{o:?} -> {p:?}");
            assert_eq!(revert("f", o, p, |_| true), o, "{o:?} -> {p:?}");
        }
    }
}
