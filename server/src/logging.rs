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
    // mask of the text catches: it stops at debug.
    let directive = format!(
        "{directive},tower_lsp_server::codec=off,tower_lsp_server::service::client=off,hyper_util=info,\
         tungstenite=debug,tokio_tungstenite=debug"
    );
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
        (None, LogFormat::Text) => builder.with_writer(Masking(std::io::stderr)).try_init(),
        (None, LogFormat::Json) => builder.json().with_writer(Masking(std::io::stderr)).try_init(),
    };
    // A subscriber already installed (tests calling twice) is not an error worth failing on.
    let _ = result;
    Ok(())
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
