//! The scripted LLM as a program, for test suites outside Rust (the VS Code extension's `npm test`):
//!
//!   scripted-llm SCRIPT.json
//!
//! Serves the script (a JSON list of steps, as in `tests/fixtures/llm-scripts/`) on 127.0.0.1, prints one line
//! `{"baseUrl": "http://127.0.0.1:PORT/v1"}` on stdout, and runs until its stdin closes (so it never outlives the
//! test that started it). A test that needs the recorded requests is written in Rust.
#![allow(clippy::print_stdout, clippy::print_stderr)] // its one line on stdout and its usage errors are its output

use std::io::Read;
use std::process::ExitCode;

use openhands_lsp_tests::llm::{ScriptedLlm, Step};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: scripted-llm SCRIPT.json");
        return ExitCode::from(2);
    };
    let script: Vec<Step> = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
    {
        Ok(script) => script,
        Err(e) => {
            eprintln!("scripted-llm: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let llm = ScriptedLlm::start(script);
    println!("{}", serde_json::json!({ "baseUrl": llm.base_url() }));
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    ExitCode::SUCCESS
}
