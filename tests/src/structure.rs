//! The shape of `server/src` read from its source: which file refers to which (`crate::` and `super::` paths,
//! `use` trees expanded, re-exports followed to the file that defines the item), the layer of each top-level
//! module, file and function lengths. `tests/structure.rs` checks it; the closing notes of restructures print it.
//!
//! A child's references to its own ancestors (`super::Thing` in `conversation/runner.rs` naming
//! `conversation/mod.rs`) are one module's parts talking among themselves and are not edges; every other reference
//! is: between sibling files, between modules, from a parent to its children.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top down. A file may refer to its own layer (without loops) and to the layers below.
pub const LAYERS: &[(&str, &[&str])] = &[
    ("front", &["main", "lsp", "acp", "headless", "batch", "login"]),
    (
        "core",
        &[
            "conversation",
            "review",
            "declined",
            "hunks",
            "issues",
            "tasks",
            "cloud_start",
            "backends",
            "doctor",
            "smoke",
            "session",
        ],
    ),
    ("backends", &["sandbox", "cloud"]),
    ("services", &["agent_server", "providers", "trackers", "git"]),
    (
        "ground",
        &[
            "config",
            "mcp",
            "secrets",
            "state_dir",
            "logging",
            "instance",
            "platform",
            "credentials",
            "editor",
            "clock",
            "",
        ],
    ),
];

/// A module path: `["conversation", "runner"]`; the crate root is `[]`.
pub type ModPath = Vec<String>;

pub struct SourceFile {
    pub rel: String,
    pub module: ModPath,
    /// The text with comments, string and char literals blanked and `#[cfg(test)] mod … { }` removed.
    pub code: String,
    pub lines: usize,
}

pub struct Tree {
    pub files: Vec<SourceFile>,
    /// Edges between files, by index into `files`.
    pub edges: BTreeSet<(usize, usize)>,
}

pub fn server_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src")
}

impl Tree {
    pub fn read(root: &Path) -> Tree {
        let mut paths = Vec::new();
        walk(root, &mut paths);
        paths.sort();
        let files: Vec<SourceFile> = paths
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let rel = p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/");
                SourceFile {
                    module: module_of(&rel),
                    code: strip_tests(&blank(&text)),
                    lines: text.lines().count(),
                    rel,
                }
            })
            .collect();
        let by_module: BTreeMap<ModPath, usize> =
            files.iter().enumerate().filter(|(_, f)| f.rel != "main.rs").map(|(i, f)| (f.module.clone(), i)).collect();
        let reexports = reexports(&files);
        let mut edges = BTreeSet::new();
        for (i, file) in files.iter().enumerate() {
            for path in references(file, &by_module) {
                let Some(target) = resolve(&path, &by_module, &reexports) else { continue };
                let to = &files[target].module;
                let ancestor = to.len() <= file.module.len() && file.module[..to.len()] == to[..];
                if target != i && !(ancestor && file.rel != "main.rs") {
                    edges.insert((i, target));
                }
            }
        }
        Tree { files, edges }
    }

    pub fn layer_of(&self, file: usize) -> usize {
        let top = self.files[file].module.first().map(String::as_str).unwrap_or("");
        let top = if self.files[file].rel == "main.rs" { "main" } else { top };
        LAYERS.iter().position(|(_, mods)| mods.contains(&top)).unwrap_or(usize::MAX)
    }

    /// Edges from a lower layer to a higher one.
    pub fn upward(&self) -> Vec<(String, String)> {
        self.edges
            .iter()
            .filter(|(a, b)| self.layer_of(*a) > self.layer_of(*b))
            .map(|(a, b)| (self.files[*a].rel.clone(), self.files[*b].rel.clone()))
            .collect()
    }

    /// Files whose top-level module has no layer.
    pub fn unlayered(&self) -> Vec<String> {
        (0..self.files.len()).filter(|i| self.layer_of(*i) == usize::MAX).map(|i| self.files[i].rel.clone()).collect()
    }

    /// Each import loop between files, as the files in it (strongly connected components of more than one file).
    pub fn file_loops(&self) -> Vec<Vec<String>> {
        let n = self.files.len();
        let adj = |from: usize| self.edges.iter().filter(move |(a, _)| *a == from).map(|(_, b)| *b);
        sccs(n, adj)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| c.into_iter().map(|i| self.files[i].rel.clone()).collect())
            .collect()
    }

    /// Loops between top-level modules (`sandbox` -> `cloud` -> `sandbox`), even when no two files loop.
    pub fn module_loops(&self) -> Vec<Vec<String>> {
        let graph = self.module_graph();
        let names: Vec<&String> = graph.keys().collect();
        let index = |m: &String| names.iter().position(|n| *n == m).unwrap_or(0);
        let adj = |from: usize| graph[names[from]].iter().map(index).collect::<Vec<_>>().into_iter();
        sccs(names.len(), adj)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| c.into_iter().map(|i| names[i].clone()).collect())
            .collect()
    }

    /// Which top-level module refers to which (the crate root as `crate`).
    pub fn module_graph(&self) -> BTreeMap<String, BTreeSet<String>> {
        let top = |i: usize| {
            let f = &self.files[i];
            if f.rel == "main.rs" {
                "main".to_owned()
            } else {
                f.module.first().cloned().unwrap_or_else(|| "crate".into())
            }
        };
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for i in 0..self.files.len() {
            graph.entry(top(i)).or_default();
        }
        for (a, b) in &self.edges {
            let (ta, tb) = (top(*a), top(*b));
            if ta != tb {
                graph.entry(ta).or_default().insert(tb);
            }
        }
        graph
    }

    /// Functions longer than `max` lines (test code excluded), as `file: name (lines)`.
    pub fn long_functions(&self, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.files {
            for (name, lines) in functions(&f.code) {
                if lines > max {
                    out.push(format!("{}: {name} ({lines} lines)", f.rel));
                }
            }
        }
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(rel: &str) -> ModPath {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// Comments, string literals and char literals replaced by spaces (newlines kept), so that what remains is code.
pub fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let wipe = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in out.iter_mut().take(to.min(b.len())).skip(from) {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |e| i + e);
                wipe(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                wipe(&mut out, i, end);
                i = end;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                let end = text[start..].find(&close).map_or(b.len(), |e| start + e + close.len());
                wipe(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                wipe(&mut out, i, j + 1);
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}', a multi-byte char), not a lifetime.
                let rest = &text[i + 1..];
                let len = if rest.starts_with('\\') {
                    rest.find('\'').map(|e| e + 1)
                } else {
                    rest.chars().next().map(char::len_utf8).filter(|l| rest[*l..].starts_with('\''))
                };
                match len {
                    Some(l) => {
                        wipe(&mut out, i, i + l + 2);
                        i += l + 2;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes `#[cfg(test)]` items (the tests module and test-only helpers).
fn strip_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = at + "#[cfg(test)]".len();
        let end = match (out[after..].find('{'), out[after..].find(';')) {
            (Some(brace), semi) if semi.is_none_or(|s| brace < s) => matching(&out, after + brace).unwrap_or(out.len()),
            (_, Some(semi)) => after + semi + 1,
            _ => out.len(),
        };
        out.replace_range(at..end, "");
    }
    out
}

/// The index just past the brace that closes the one at `open`.
fn matching(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The path that starts at `at` (`a::b::{c, d::e}`), expanded: `[[a,b,c],[a,b,d,e]]`.
fn expand(code: &str, at: usize) -> Vec<Vec<String>> {
    let mut prefix: Vec<String> = Vec::new();
    let mut i = at;
    let b = code.as_bytes();
    loop {
        while i < b.len() && (b[i] as char).is_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'{') {
            let end = matching(code, i).unwrap_or(code.len());
            let inner = &code[i + 1..end - 1];
            let mut out = Vec::new();
            for offset in split_top(inner) {
                for mut tail in expand(inner, offset) {
                    let mut full = prefix.clone();
                    full.append(&mut tail);
                    out.push(full);
                }
            }
            return out;
        }
        let start = i;
        while i < b.len() && is_ident(b[i] as char) {
            i += 1;
        }
        if start == i {
            return if prefix.is_empty() { Vec::new() } else { vec![prefix] };
        }
        prefix.push(code[start..i].to_owned());
        if code[i..].starts_with("::") {
            i += 2;
        } else {
            return vec![prefix];
        }
    }
}

/// The comma-separated parts of a use-group, as their start offsets.
fn split_top(inner: &str) -> Vec<usize> {
    let mut parts = vec![0];
    let mut depth = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => parts.push(i + 1),
            _ => {}
        }
    }
    parts
}

/// Every module path `file` names, made absolute.
fn references(file: &SourceFile, modules: &BTreeMap<ModPath, usize>) -> Vec<Vec<String>> {
    let code = &file.code;
    let is_mod_file = file.rel.ends_with("mod.rs") || file.rel == "lib.rs";
    let mut out = Vec::new();
    let crate_name = if file.rel == "main.rs" { "openhands_lsp::" } else { "crate::" };
    let mut starts: Vec<(usize, &str)> = Vec::new();
    for prefix in [crate_name, "super::", "self::"] {
        let mut from = 0;
        while let Some(pos) = code[from..].find(prefix) {
            let at = from + pos;
            from = at + prefix.len();
            if at > 0 && (is_ident(code[..at].chars().next_back().unwrap_or(' ')) || code[..at].ends_with("::")) {
                continue;
            }
            starts.push((at, prefix));
        }
    }
    for (at, prefix) in starts {
        for path in expand(code, at) {
            let mut abs: Vec<String> = match prefix {
                "super::" => {
                    let mut base = file.module.clone();
                    let mut segs = path.into_iter().peekable();
                    // `super` from `a/b.rs` is `a`; from `a/mod.rs` it is the crate root's `a`'s parent.
                    let mut ups = 0;
                    while segs.peek().map(String::as_str) == Some("super") {
                        segs.next();
                        ups += 1;
                    }
                    for _ in 0..ups {
                        base.pop();
                    }
                    base.extend(segs);
                    base
                }
                "self::" => {
                    let mut base = file.module.clone();
                    base.extend(path.into_iter().skip(1));
                    base
                }
                _ => path.into_iter().skip(1).collect(),
            };
            abs.retain(|s| s != "self");
            out.push(abs);
        }
    }
    // In a `mod.rs`, a child named bare (`runner::spawn`, `use store::Meta`).
    if is_mod_file {
        for (module, _) in modules.range(file.module.clone()..) {
            if module.len() != file.module.len() + 1 || module[..file.module.len()] != file.module[..] {
                continue;
            }
            let child = &module[file.module.len()];
            let needle = format!("{child}::");
            let mut from = 0;
            while let Some(pos) = code[from..].find(&needle) {
                let at = from + pos;
                from = at + needle.len();
                let before = code[..at].chars().next_back().unwrap_or(' ');
                if is_ident(before) || code[..at].ends_with("::") {
                    continue;
                }
                for path in expand(code, at) {
                    let mut abs = file.module.clone();
                    abs.extend(path);
                    out.push(abs);
                }
            }
        }
    }
    out
}

/// `pub use child::{A, B}` in each file: (module, name) -> the module path the name really comes from.
fn reexports(files: &[SourceFile]) -> BTreeMap<(usize, String), Vec<String>> {
    let mut out = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let mut from = 0;
        while let Some(pos) = f.code[from..].find("pub use ") {
            let at = from + pos + "pub use ".len();
            from = at;
            for path in expand(&f.code, at) {
                let Some(name) = path.last().cloned() else { continue };
                let abs: Vec<String> = match path.first().map(String::as_str) {
                    Some("crate") => path[1..].to_vec(),
                    Some("self") => f.module.iter().cloned().chain(path[1..].iter().cloned()).collect(),
                    _ => f.module.iter().cloned().chain(path.iter().cloned()).collect(),
                };
                if abs.len() > 1 {
                    out.insert((i, name), abs);
                }
            }
        }
    }
    out
}

/// The file a path lands in: its longest module prefix, through re-exports.
fn resolve(
    path: &[String],
    modules: &BTreeMap<ModPath, usize>,
    reexports: &BTreeMap<(usize, String), Vec<String>>,
) -> Option<usize> {
    let mut path = path.to_vec();
    for _ in 0..4 {
        let (len, file) = (0..=path.len()).rev().find_map(|n| modules.get(&path[..n]).map(|f| (n, *f)))?;
        match path.get(len).and_then(|name| reexports.get(&(file, name.clone()))) {
            Some(target) if *target != path[..=len] => {
                let mut next = target.clone();
                next.extend(path[len + 1..].iter().cloned());
                path = next;
            }
            _ => return Some(file),
        }
    }
    None
}

/// `fn` items and their lengths in lines (from the `fn` to the closing brace).
fn functions(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = code[from..].find("fn ") {
        let at = from + pos;
        from = at + 3;
        if at > 0 && is_ident(code[..at].chars().next_back().unwrap_or(' ')) {
            continue;
        }
        let name: String = code[at + 3..].chars().take_while(|c| is_ident(*c)).collect();
        if name.is_empty() {
            continue;
        }
        // The body: the first `{` before any `;` (a trait method without a body has none).
        let rest = &code[at..];
        let (Some(brace), semi) = (rest.find('{'), rest.find(';')) else { continue };
        if semi.is_some_and(|s| s < brace) {
            continue;
        }
        let Some(end) = matching(code, at + brace) else { continue };
        out.push((name, code[at..end].lines().count()));
    }
    out
}

/// Tarjan's strongly connected components.
fn sccs<I: Iterator<Item = usize>>(n: usize, adj: impl Fn(usize) -> I) -> Vec<Vec<usize>> {
    struct State {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit<I: Iterator<Item = usize>>(v: usize, adj: &impl Fn(usize) -> I, s: &mut State) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for w in adj(v) {
            match s.index[w] {
                None => {
                    visit(w, adj, s);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            comp.sort();
            s.out.push(comp);
        }
    }
    let mut s = State {
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(v, &adj, &mut s);
        }
    }
    s.out
}
