//! The structure of `server/src` (see `src/structure.rs` for how it is read): a tree of files, layers referring
//! only downward, short files and functions, and every file on the architecture page.

use openhands_lsp_tests::structure::{LAYERS, Tree, server_src};

fn tree() -> Tree {
    Tree::read(&server_src())
}

/// Writes the graph between top-level modules, layer by layer, to `target/test-logs/structure/module-graph.txt`.
#[test]
fn the_module_graph_in_words() {
    let tree = tree();
    let graph = tree.module_graph();
    let mut text = String::new();
    for (layer, modules) in LAYERS {
        for m in *modules {
            let name = if m.is_empty() { "crate" } else { m };
            if let Some(to) = graph.get(name) {
                let to: Vec<&str> = to.iter().map(String::as_str).collect();
                let to = if to.is_empty() { "-".to_owned() } else { to.join(", ") };
                text.push_str(&format!("{layer:>8}  {name} -> {to}\n"));
            }
        }
    }
    let dir = server_src().join("../../target/test-logs/structure");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("module-graph.txt"), &text).unwrap();
    assert!(graph.len() > 10, "server/src was not read: {graph:?}");
}

#[test]
fn no_file_imports_in_a_loop() {
    let tree = tree();
    assert!(tree.edges.len() > 50, "too few references found; is the reader broken? {}", tree.edges.len());
    let loops = tree.file_loops();
    assert!(loops.is_empty(), "import loops between files: {loops:#?}");
    let loops = tree.module_loops();
    assert!(loops.is_empty(), "import loops between top-level modules: {loops:#?}");
}

#[test]
fn no_layer_imports_from_a_layer_above_it() {
    let tree = tree();
    assert!(tree.unlayered().is_empty(), "modules without a layer in structure::LAYERS: {:?}", tree.unlayered());
    let upward = tree.upward();
    assert!(upward.is_empty(), "imports that run up the layers: {upward:#?}");
}

#[test]
fn files_and_functions_are_short() {
    let tree = tree();
    let long: Vec<String> =
        tree.files.iter().filter(|f| f.lines > 700).map(|f| format!("{} ({} lines)", f.rel, f.lines)).collect();
    let functions = tree.long_functions(80);
    assert!(
        long.is_empty() && functions.is_empty(),
        "files over 700 lines: {long:#?}; functions over 80 lines: {functions:#?}"
    );
}

#[test]
fn the_architecture_page_names_every_file() {
    let page = std::fs::read_to_string(server_src().join("../../docs/architecture.md")).unwrap();
    let missing: Vec<String> =
        tree().files.iter().map(|f| f.rel.clone()).filter(|rel| !page.contains(&format!("`{rel}`"))).collect();
    assert!(missing.is_empty(), "docs/architecture.md does not name: {missing:#?}");
}

/// Only `platform/` names a system: everything else builds on Windows as it does on Linux (scripts/test builds the
/// portable side with the `portable-platform` feature, which this makes a proof of that). Test code is exempt: the
/// tests run on Linux.
#[test]
fn only_the_platform_module_names_a_system() {
    const SYSTEM: &[&str] = &[
        "libc::",
        "std::os::unix",
        "std::os::fd",
        "std::os::windows",
        "windows_sys",
        "signal::unix",
        "cfg(unix",
        "cfg(windows",
        "target_os",
        "target_family",
    ];
    let tree = tree();
    let offending: Vec<String> = tree
        .files
        .iter()
        .filter(|f| !f.rel.starts_with("platform/") && !f.rel.ends_with("tests.rs"))
        .flat_map(|f| {
            SYSTEM.iter().filter(|word| f.code.contains(**word)).map(move |word| format!("{}: {word}", f.rel))
        })
        .collect();
    assert!(offending.is_empty(), "system-specific code outside server/src/platform/: {offending:#?}");
    let unix = tree.files.iter().find(|f| f.rel == "platform/unix.rs").expect("platform/unix.rs");
    assert!(unix.code.contains("libc::"), "the check reads the code it is meant to: {}", unix.rel);
}
