//! Logging through `tracing`, to stderr or a file, never to stdout (stdout carries the protocol).

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::secrets::Redactor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// A level (`info`) or a full filter (`openhands_lsp=debug,tower_lsp_server=warn`).
    pub filter: Option<String>,
    pub file: Option<PathBuf>,
    pub format: LogFormat,
    /// Used when neither the option nor the environment variable says anything.
    pub default_filter: &'static str,
}

pub const ENV_VAR: &str = "OPENHANDS_LSP_LOG";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid log filter {filter:?}: {reason}")]
    BadFilter { filter: String, reason: String },
    #[error("cannot open log file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
}

/// Installs the global subscriber. `--log-level` beats `OPENHANDS_LSP_LOG`, which beats the default `info`.
pub fn init(opts: &LogOptions) -> Result<(), LogError> {
    let directive = opts
        .filter
        .clone()
        .or_else(|| std::env::var(ENV_VAR).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| if opts.default_filter.is_empty() { "info" } else { opts.default_filter }.to_owned());
    // tower-lsp-server traces every raw message, secrets included (openhands.setSecret); our transport traces the
    // protocol itself with those values masked. tungstenite's trace dumps every frame's payload in hex, which no
    // mask of the text catches: it stops at debug, and only when trace was asked for (naming it at debug otherwise
    // would switch its debug lines on under a `warn` or `info` filter).
    let traced = directive.split(',').any(|d| d.trim().eq_ignore_ascii_case("trace") || d.contains("tungstenite"));
    let cap = if traced { ",tungstenite=debug,tokio_tungstenite=debug" } else { "" };
    let directive =
        format!("{directive},tower_lsp_server::codec=off,tower_lsp_server::service::client=off,hyper_util=info{cap}");
    let filter = EnvFilter::try_new(&directive)
        .map_err(|e| LogError::BadFilter { filter: directive.clone(), reason: e.to_string() })?;

    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_target(true);
    let result = match (&opts.file, opts.format) {
        (Some(path), format) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| LogError::File { path: path.clone(), source })?;
            let writer = Masking(std::sync::Mutex::new(file));
            match format {
                LogFormat::Text => builder.with_writer(writer).try_init(),
                LogFormat::Json => builder.json().with_writer(writer).try_init(),
            }
        }
        (None, LogFormat::Text) => builder.with_writer(Masking(Routing { json: false })).try_init(),
        (None, LogFormat::Json) => builder.json().with_writer(Masking(Routing { json: true })).try_init(),
    };
    // A subscriber already installed (tests calling twice) is not an error worth failing on.
    let _ = result;
    Ok(())
}

/// A log line for an editor: its level and its text (without the timestamp and level the log file has).
pub type LogLine = (tracing::Level, String);

/// Where log lines go instead of stderr while an editor takes them (see [`forward_to`]).
static SINK: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<LogLine>>> = std::sync::Mutex::new(None);

/// Lines waiting for the editor; more are written to stderr (a flood must not grow memory or block a thread).
pub const SINK_CAPACITY: usize = 1024;

/// From now on, log lines that would go to stderr go to `sink` (the LSP front sends them as `window/logMessage`, so
/// editors show each at its level: a line on stderr is an error to Neovim's log and VS Code's output channel).
/// A log file, when one was given, keeps everything. `None` goes back to stderr (at exit).
pub fn forward_to(sink: Option<tokio::sync::mpsc::Sender<LogLine>>) {
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = sink;
}

/// Targets whose lines always stay on stderr: the protocol's own traces (sending a log line to the editor would
/// trace it again, without end).
fn stays_on_stderr(target: &str) -> bool {
    target.starts_with("openhands_lsp::lsp::transport")
}

/// Writers to stderr, or to the editor's sink while there is one.
struct Routing {
    /// Lines are JSON objects: sent whole.
    json: bool,
}

impl<'a> MakeWriter<'a> for Routing {
    type Writer = RoutedWriter;
    fn make_writer(&'a self) -> Self::Writer {
        RoutedWriter { level: None, json: self.json }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RoutedWriter { level: (!stays_on_stderr(meta.target())).then(|| *meta.level()), json: self.json }
    }
}

struct RoutedWriter {
    /// `None`: stderr whatever happens.
    level: Option<tracing::Level>,
    json: bool,
}

impl Write for RoutedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let sink = self.level.and_then(|_| SINK.lock().unwrap_or_else(|p| p.into_inner()).clone());
        if let (Some(level), Some(sink)) = (self.level, sink)
            && sink.try_send((level, for_editor(&String::from_utf8_lossy(buf), self.json))).is_ok()
        {
            return Ok(buf.len());
        }
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A formatted line without its timestamp and level (the editor shows its own), and without the line break.
fn for_editor(line: &str, json: bool) -> String {
    let line = line.trim_end();
    if json {
        return line.to_owned();
    }
    let mut rest = line.trim_start();
    for _ in 0..2 {
        match rest.split_once(' ') {
            Some((_, after)) => rest = after.trim_start(),
            None => return line.to_owned(),
        }
    }
    rest.to_owned()
}

/// What every log line is masked with: the secrets the server holds (set once, when the server has its store).
static MASK: OnceLock<Redactor> = OnceLock::new();

/// From now on, log lines carry `***` where they would carry a value `redactor` knows, at every level and from
/// every crate (a library tracing raw WebSocket frames included). The redactor follows its store, so a secret set
/// later is masked too.
pub fn mask_secrets(redactor: Redactor) {
    let _ = MASK.set(redactor);
}

/// A writer factory whose writers mask secrets. The formatter writes each event with one `write_all`, so a value
/// never straddles two writes.
struct Masking<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Masking<M> {
    type Writer = MaskingWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter(self.0.make_writer())
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        MaskingWriter(self.0.make_writer_for(meta))
    }
}

struct MaskingWriter<W>(W);

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(redactor) = MASK.get().filter(|r| !r.is_empty()) else { return self.0.write(buf) };
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redactor.redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Panics go to the log instead of the default hook's raw stderr write, with the location.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = panic_message(info.payload());
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(%location, "panic: {message}");
    }));
}

/// The text of a panic payload (`panic!("...")` gives `&str` or `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_for_the_editor_has_no_timestamp_or_level() {
        let line = "2026-11-30T10:58:00.123456Z  INFO openhands_lsp::lsp::server: openhands-lsp 0.1.0 starting\n";
        assert_eq!(for_editor(line, false), "openhands_lsp::lsp::server: openhands-lsp 0.1.0 starting");
        assert_eq!(for_editor("odd", false), "odd");
        assert_eq!(for_editor("{\"level\":\"INFO\"}\n", true), "{\"level\":\"INFO\"}");
    }
}
