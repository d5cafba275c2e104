use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use openhands_lsp::logging::{self, LogFormat, LogOptions};
use openhands_lsp::{acp, batch, config, doctor, headless, lsp};

/// The OpenHands language server: agent commands for any LSP editor. With no subcommand it serves LSP on stdio.
#[derive(Parser)]
#[command(name = "openhands-lsp", version, about)]
struct Cli {
    /// Serve LSP on stdin/stdout (the default; accepted because editors pass it).
    #[arg(long, global = false)]
    stdio: bool,
    /// Log level or filter, e.g. `debug` or `openhands_lsp=trace`. Default `info`, or the OPENHANDS_LSP_LOG variable.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
    /// Append logs to this file instead of stderr.
    #[arg(long, global = true, value_name = "PATH")]
    log_file: Option<PathBuf>,
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check what the server can use right now; exits non-zero when something required is missing.
    Doctor {
        /// Print the report as JSON (the same object `openhands.status` returns).
        #[arg(long)]
        json: bool,
        /// Settings as JSON, the same object editors send as initializationOptions.
        #[arg(long, value_name = "JSON")]
        settings: Option<String>,
        /// Skip the agent-server smoke check (booting it and creating a conversation with it takes seconds).
        #[arg(long)]
        quick: bool,
        /// The folder whose conversations' sandbox image is reported (docker backend; default: this directory).
        #[arg(long, value_name = "DIR")]
        folder: Option<PathBuf>,
    },
    /// Remove the images built for projects' dev containers and the volumes holding the agent-server for projects'
    /// images (made again when needed), except what a container uses.
    CleanImages,
    /// Run one task to the end in the terminal: live steps, the final message, the files that changed. With --tasks,
    /// many tasks from a file, N at a time, each with a line in a predictions file.
    Run(Box<RunArgs>),
    /// Serve the Agent Client Protocol on stdin/stdout, for agent panels (Zed, JetBrains, Emacs, Neovim ACP plugins).
    Acp {
        /// The `openhands` settings as JSON (default: $XDG_CONFIG_HOME/openhands-lsp/settings.json, when it exists).
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
        /// `login`: what a panel's terminal sign-in runs (the agent's command with `login` appended).
        #[command(subcommand)]
        action: Option<AcpAction>,
    },
    /// Sign in: the model and its API key (or, with --cloud, the OpenHands Cloud key), kept in the OS keyring for
    /// the editors and agent panels that start this program without your environment.
    Login(LoginArgs),
    /// Forget what `login` kept.
    Logout,
    /// Watches a server's sandboxes and removes them once it is gone (started by the server itself).
    #[command(hide = true, name = "reap")]
    Reap,
    /// Print generated reference material (used to keep docs and the VS Code manifest in sync).
    #[command(hide = true)]
    Generate {
        #[arg(value_enum)]
        what: Generated,
    },
}

#[derive(Subcommand)]
enum AcpAction {
    /// Sign in, as `openhands-lsp login` (the ACP `terminal` auth method).
    Login(LoginArgs),
}

#[derive(clap::Args)]
struct LoginArgs {
    /// Sign in to OpenHands Cloud (its API key) instead of a model's provider.
    #[arg(long)]
    cloud: bool,
    /// Keep the key in $XDG_CONFIG_HOME/openhands-lsp/credentials.json (mode 0600), for systems without a keyring.
    #[arg(long)]
    file: bool,
    /// Say what is kept and where (never the values), and change nothing.
    #[arg(long)]
    status: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    /// What the agent should do (with --continue: the message that goes on with it).
    #[arg(long, required_unless_present = "tasks", conflicts_with = "tasks")]
    task: Option<String>,
    /// A batch run: a file of tasks, one JSON object per line (`instance_id`, `repo`: a folder or a git URL,
    /// `base_commit`, and `problem_statement` or `issue`), each in its own copy of its repository; or a provider
    /// query, `github:owner/repo?label=bug` (also `gitlab:`, `bitbucket:`): its open issues.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["continue_id", "workspace"])]
    tasks: Option<PathBuf>,
    /// How many tasks of --tasks run at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64), requires = "tasks")]
    parallel: u16,
    /// Where --tasks writes a line per instance (SWE-bench predictions, with status, cost and times). Instances
    /// already there are skipped: running the same command again goes on where a run stopped.
    #[arg(long, value_name = "FILE", default_value = "predictions.jsonl", requires = "tasks")]
    out: PathBuf,
    /// The budget of the whole --tasks run in US dollars: once spent, no task starts and the running ones stop.
    #[arg(long, value_name = "USD", requires = "tasks")]
    budget: Option<f64>,
    /// Run again the instances whose line in --out says they did not finish.
    #[arg(long, requires = "tasks")]
    retry_failed: bool,
    /// Go on with an earlier conversation (its id, as `run` printed it): --task is the next message, the agent
    /// starts again where it was, in the conversation's own folder or copy.
    #[arg(long = "continue", value_name = "ID")]
    continue_id: Option<String>,
    /// The folder the agent works in.
    #[arg(long, default_value = ".")]
    workspace: PathBuf,
    /// Where the agent runs: `docker` (the default) or `process` (implied by --agent-server).
    #[arg(long, value_enum)]
    backend: Option<config::Backend>,
    /// Shorthand for the `docker.image` setting.
    #[arg(long)]
    image: Option<String>,
    /// Settings as JSON, the same object editors send as initializationOptions, e.g. '{"llm":{"model":"openai/gpt-4o"}}'.
    #[arg(long, value_name = "JSON")]
    settings: Option<String>,
    /// Shorthand for the `llm.model` setting.
    #[arg(long)]
    model: Option<String>,
    /// Shorthand for the `llm.baseUrl` setting.
    #[arg(long)]
    base_url: Option<String>,
    /// Shorthand for the `process.command` setting; selects the `process` backend unless --backend says otherwise.
    #[arg(long, value_name = "COMMAND")]
    agent_server: Option<String>,
    /// Shorthand for the `confirmation` setting.
    #[arg(long, value_enum)]
    confirmation: Option<openhands_lsp::config::ConfirmationMode>,
    /// `none` (the default here): the agent changes the folder itself, as a terminal user expects.
    /// `worktree`: it works in its own copy, and the run ends with the list of changes and where they are.
    #[arg(long, value_enum, default_value_t = config::Isolation::None)]
    isolation: config::Isolation,
    /// No terminal bell when the agent waits for an answer (a confirmation, its budget).
    #[arg(long)]
    no_bell: bool,
}

impl RunArgs {
    /// The settings of the run: `--settings`, then the shorthands over them. `None` when `--settings` is not JSON.
    fn settings(&self) -> Option<config::Settings> {
        let mut s = settings_from_flag(self.settings.as_deref())?.settings;
        if self.agent_server.is_some() {
            s.backend = config::Backend::Process;
        }
        if let Some(b) = self.backend {
            s.backend = b;
        }
        if let Some(i) = &self.image {
            s.docker.image = i.clone();
        }
        if let Some(m) = &self.model {
            s.llm.model = m.clone();
        }
        if self.base_url.is_some() {
            s.llm.base_url = self.base_url.clone();
        }
        if let Some(c) = &self.agent_server {
            s.process.command = c.clone();
        }
        if let Some(c) = self.confirmation {
            s.confirmation = c;
        }
        s.isolation = self.isolation;
        Some(s)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Generated {
    /// The settings table of docs/configuration.md.
    SettingsMarkdown,
    /// `contributes.configuration.properties` for editors/vscode/package.json.
    VscodeSettings,
    /// The commands the server implements, one per line.
    Commands,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The watcher logs nothing and needs no runtime of the server's.
    if matches!(cli.command, Some(Command::Reap)) {
        return openhands_lsp::sandbox::reap();
    }
    // A terminal command's output is its report: the servers' info lines would only be noise on its stderr.
    let terminal = matches!(
        cli.command,
        Some(
            Command::Run { .. }
                | Command::Doctor { .. }
                | Command::Login(_)
                | Command::Logout
                | Command::Acp { action: Some(_), .. }
        )
    );
    let default_filter = if terminal { "warn" } else { "info" };
    let log = LogOptions {
        filter: cli.log_level.clone(),
        file: cli.log_file.clone(),
        format: cli.log_format,
        default_filter,
    };
    if let Err(e) = logging::init(&log) {
        let _ = writeln!(std::io::stderr(), "openhands-lsp: {e}");
        return ExitCode::from(2);
    }
    logging::install_panic_hook();

    // One thread for all async work: the server's job is relaying small messages between sockets and stdio, and
    // every hand-off between worker threads costs a futex wake-up and a context switch (with two workers a relayed
    // event crossed threads twice; on one, the 10-conversation relay went from 19.5k to 30.6k events/s and its p99
    // from 5 ms to 1.8 ms). Blocking work (git, reading event logs, file copies) goes to the blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };

    match cli.command {
        None => {
            let outcome = runtime.block_on(lsp::serve_stdio());
            // Exit at once: a client may keep stdin open, and nothing else is left to wait for.
            std::process::exit(outcome.exit_code());
        }
        Some(Command::Doctor { json, settings, quick, folder }) => {
            let Some(parsed) = settings_from_flag(settings.as_deref()) else { return ExitCode::from(2) };
            let defaults = doctor::Inputs::from_env(parsed);
            let inputs = doctor::Inputs { smoke: !quick, folder: folder.or(defaults.folder.clone()), ..defaults };
            let report = runtime.block_on(doctor::run(&inputs));
            let text = if json {
                serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
            } else {
                report.render_table()
            };
            let _ = std::io::stdout().write_all(text.as_bytes());
            if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Some(Command::CleanImages) => clean_images(&runtime),
        Some(Command::Run(args)) => run(*args, &runtime),
        Some(Command::Acp { action: Some(AcpAction::Login(args)), .. }) | Some(Command::Login(args)) => login(&args),
        Some(Command::Logout) => {
            let _ = openhands_lsp::login::logout(&mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Some(Command::Acp { settings, action: None }) => {
            let code = runtime.block_on(acp::serve_stdio(acp::Options { settings_file: settings }));
            // Exit at once: the thread reading stdin may be blocked on a client that keeps it open.
            std::process::exit(code);
        }
        Some(Command::Generate { what }) => generate(what),
        Some(Command::Reap) => openhands_lsp::sandbox::reap(),
    }
}

/// `openhands-lsp run`: one task (or the next message of an earlier one) to the end in the terminal.
fn run(args: RunArgs, runtime: &tokio::runtime::Runtime) -> ExitCode {
    let Some(settings) = args.settings() else { return ExitCode::from(2) };
    if let Some(tasks) = args.tasks {
        return batch(args_batch(tasks, args.out, args.parallel, (args.budget, args.retry_failed), settings), runtime);
    }
    let opts = headless::RunOptions {
        task: args.task.unwrap_or_default(),
        workspace: args.workspace,
        settings,
        continue_id: args.continue_id,
        bell: !args.no_bell,
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(headless::run(opts, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        // A conversation that ended badly has said so as its last line: the error is said once.
        Err(headless::RunError::Failed { .. }) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(stdout, "error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn args_batch(
    tasks: PathBuf,
    out: PathBuf,
    parallel: u16,
    (run_budget, retry_failed): (Option<f64>, bool),
    settings: config::Settings,
) -> batch::BatchOptions {
    use std::io::IsTerminal as _;
    let terminal = std::io::stdout().is_terminal();
    batch::BatchOptions { tasks, out, parallel: parallel.into(), settings, run_budget, retry_failed, terminal }
}

/// `openhands-lsp run --tasks`: exit 0 only when every instance finished; 2 when the run could not begin.
fn batch(opts: batch::BatchOptions, runtime: &tokio::runtime::Runtime) -> ExitCode {
    match runtime.block_on(batch::run(opts, Box::new(std::io::stdout()))) {
        Ok(outcome) if outcome.all_finished => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `openhands-lsp login` (and `acp login`): asks on the terminal, keeps the key, says where; `--status` only says.
fn login(args: &LoginArgs) -> ExitCode {
    use std::io::IsTerminal as _;
    let mut out = std::io::stdout();
    if args.status {
        return if openhands_lsp::login::status(&mut out).is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let stdin = std::io::stdin();
    let is_tty = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut term = openhands_lsp::login::Terminal { input: &mut input, out: &mut out, is_tty };
    let opts = openhands_lsp::login::LoginOptions { cloud: args.cloud, to_file: args.file };
    match openhands_lsp::login::login(&opts, &mut term) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints generated reference material.
fn generate(what: Generated) -> ExitCode {
    let text = match what {
        Generated::SettingsMarkdown => config::markdown_reference(),
        Generated::VscodeSettings => {
            serde_json::to_string_pretty(&config::vscode_properties()).unwrap_or_default() + "\n"
        }
        Generated::Commands => lsp::COMMANDS.iter().map(|c| format!("{c}\n")).collect(),
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// `--settings JSON`: problems are reported and the defaults used for them; `None` when it is not JSON at all.
fn settings_from_flag(flag: Option<&str>) -> Option<config::Parsed> {
    let parsed = match flag.map(serde_json::from_str::<serde_json::Value>) {
        None => config::Parsed::default(),
        Some(Ok(v)) => config::parse(&v),
        Some(Err(e)) => {
            tracing::error!("--settings is not JSON: {e}");
            return None;
        }
    };
    for p in &parsed.problems {
        tracing::warn!("{p}");
    }
    Some(parsed)
}

/// `clean-images`: what was removed, a line each.
fn clean_images(runtime: &tokio::runtime::Runtime) -> ExitCode {
    let (text, code) = match runtime.block_on(openhands_lsp::sandbox::docker::clean_images()) {
        Ok(removed) if removed.is_empty() => ("nothing to remove\n".to_owned(), ExitCode::SUCCESS),
        Ok(removed) => (removed.iter().map(|l| format!("removed {l}\n")).collect(), ExitCode::SUCCESS),
        Err(e) => (format!("error: {e}\n"), ExitCode::FAILURE),
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    code
}
