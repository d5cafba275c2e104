//! `openhands-lsp run --tasks FILE`: many tasks, N at a time, each in its own copy of its repository at its base
//! commit, with a JSON line per instance in the predictions file (the SWE-bench harness's input). The same manager
//! and sandboxes as the editors, with nobody at the keyboard: a confirmation is refused, a spent task budget stops its
//! task, the run's own budget stops the run. Resumable: instances already in the file are skipped.

pub mod predictions;
mod progress;
pub mod query;
mod task;
pub mod tasks;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::backends::Backends;
use crate::config::{Isolation, Settings};
use crate::conversation::{Manager, Observer, Store, Update};
use predictions::Predictions;
use progress::Progress;

pub struct BatchOptions {
    pub tasks: PathBuf,
    pub out: PathBuf,
    pub parallel: usize,
    pub settings: Settings,
    /// The whole run's budget in US dollars: when spent, no task starts and the running ones are stopped.
    pub run_budget: Option<f64>,
    /// Run the instances whose line says they did not finish again.
    pub retry_failed: bool,
    /// Show a live summary line (stdout is a terminal).
    pub terminal: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{0}")]
    Setup(String),
}

/// How a run ended.
pub struct Outcome {
    /// Every instance of the task file has a `finished` line.
    pub all_finished: bool,
}

/// Why running tasks stop and queued ones do not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Halt {
    No,
    /// Ctrl-C or SIGTERM.
    Interrupted(&'static str),
    /// The run's budget is spent.
    BudgetSpent,
}

/// Hands each conversation's updates to the task that follows it.
#[derive(Default)]
struct Router(Mutex<HashMap<String, mpsc::UnboundedSender<Update>>>);

impl Router {
    fn add(&self, id: &str) -> mpsc::UnboundedReceiver<Update> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), tx);
        rx
    }

    fn remove(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

impl Observer for Router {
    fn update(&self, update: Update) {
        let id = match &update {
            Update::Changed(s) => s.meta.id.clone(),
            Update::Event(..) => return,
            Update::ConfirmationNeeded { conversation_id, .. }
            | Update::BudgetReached { conversation_id, .. }
            | Update::Progress { conversation_id, .. }
            | Update::Notice { conversation_id, .. }
            | Update::Settled { conversation_id, .. }
            | Update::Checkpoint { conversation_id, .. } => conversation_id.clone(),
        };
        if let Some(tx) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            let _ = tx.send(update);
        }
    }
}

/// What every task of a run shares.
struct Ctx {
    manager: Manager,
    router: Arc<Router>,
    settings: Settings,
    progress: Progress,
    halt: watch::Sender<Halt>,
    /// Each repository's mirror, or why it could not be made.
    mirrors: HashMap<String, Result<PathBuf, String>>,
    /// Where the tasks' checkouts are made.
    work: PathBuf,
    providers: crate::providers::Providers,
    trackers: crate::trackers::Trackers,
    run_budget: Option<f64>,
    /// The latest cost of each task of this run.
    costs: Mutex<HashMap<String, f64>>,
}

impl Ctx {
    fn halted(&self) -> Halt {
        *self.halt.borrow()
    }

    fn stop_all(&self, why: Halt) {
        self.halt.send_if_modified(|h| {
            let first = *h == Halt::No;
            if first {
                *h = why;
            }
            first
        });
    }

    /// Task `id` has spent `cost` so far: the run's budget is checked.
    fn spent(&self, id: &str, cost: f64) {
        let total: f64 = {
            let mut costs = self.costs.lock().unwrap_or_else(|p| p.into_inner());
            costs.insert(id.to_owned(), cost);
            costs.values().sum()
        };
        self.progress.cost(total);
        if let Some(budget) = self.run_budget
            && total >= budget
            && self.halted() == Halt::No
        {
            self.progress.say(&format!(
                "the run's budget of ${budget} is spent (${total:.4}): no task starts, the running ones stop"
            ));
            self.stop_all(Halt::BudgetSpent);
        }
    }
}

/// Runs the tasks of the file not yet in the predictions file.
pub async fn run(opts: BatchOptions, out: Box<dyn Write + Send>) -> Result<Outcome, BatchError> {
    let secrets = crate::credentials::secret_store();
    crate::logging::mask_secrets(secrets.redactor());
    let providers = crate::providers::Providers::new(
        crate::providers::ProvidersSettings::from_settings(&opts.settings),
        secrets.clone(),
    );
    let all = load(&opts, &providers).await?;
    if all.is_empty() {
        let mut out = out;
        let _ = writeln!(out, "{}: no open issue matches it: nothing to run", opts.tasks.display());
        return Ok(Outcome { all_finished: true });
    }
    let (mut predictions, done) = Predictions::open(&opts.out).map_err(|e| BatchError::Setup(e.to_string()))?;
    let todo = to_run(&all, &done, opts.retry_failed);
    let again: std::collections::HashSet<String> =
        todo.iter().filter(|t| done.contains_key(&t.instance_id)).map(|t| t.instance_id.clone()).collect();
    if !again.is_empty() {
        predictions.forget(&again).map_err(|e| BatchError::Setup(e.to_string()))?;
    }
    let width = todo.iter().map(|t| t.instance_id.len()).max().unwrap_or(0);
    let progress = Progress::new(out, opts.terminal, todo.len(), width);
    if todo.is_empty() {
        progress.say(&format!(
            "nothing to run: every instance of {} is in {}",
            opts.tasks.display(),
            opts.out.display()
        ));
        progress.finish();
        return Ok(Outcome {
            all_finished: all.iter().all(|t| done.get(&t.instance_id).is_some_and(|s| s == "finished")),
        });
    }
    progress.say(&format!(
        "{} of {} tasks to run, {} at a time; predictions in {}",
        todo.len(),
        all.len(),
        opts.parallel,
        opts.out.display()
    ));
    let ctx = Arc::new(context(&opts, &todo, progress, (secrets, providers)).await?);
    let listener = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let signal = crate::platform::termination().await;
            ctx.progress.say(&format!("{signal}: stopping every task and removing their sandboxes…"));
            ctx.stop_all(Halt::Interrupted(signal));
        })
    };
    let mut statuses: HashMap<String, String> = done;
    let mut running = futures::stream::iter(todo).map(|t| task::run(&ctx, t)).buffer_unordered(opts.parallel.max(1));
    while let Some(line) = running.next().await {
        let Some(line) = line else { continue };
        if let Err(e) = predictions.write(&line) {
            ctx.progress.say(&format!("error: {e}: stopping the run"));
            ctx.stop_all(Halt::Interrupted("a failed write"));
        }
        statuses.insert(line.instance_id, line.status);
    }
    drop(running);
    listener.abort();
    ctx.manager.shutdown().await;
    let _ = tokio::fs::remove_dir_all(&ctx.work).await;
    let finished = all.iter().filter(|t| statuses.get(&t.instance_id).is_some_and(|s| s == "finished")).count();
    ctx.progress.finish();
    ctx.progress.say(&format!(
        "this run: {}\n{finished} of {} instances finished (in {})",
        ctx.progress.summary(),
        all.len(),
        opts.out.display()
    ));
    if let Halt::Interrupted(why) = ctx.halted() {
        ctx.progress.say(&format!("stopped by {why}: run the same command again to go on"));
    }
    Ok(Outcome { all_finished: finished == all.len() })
}

/// The tasks not in the predictions file yet (with `retry_failed`, also those whose line says they did not finish).
fn to_run(all: &[tasks::Task], done: &HashMap<String, String>, retry_failed: bool) -> Vec<tasks::Task> {
    all.iter()
        .filter(|t| match done.get(&t.instance_id) {
            None => true,
            Some(status) => retry_failed && status != "finished",
        })
        .cloned()
        .collect()
}

/// The tasks of the file, or of the provider query (`github:owner/repo?label=bug`) when no such file exists (a
/// query may find none).
async fn load(opts: &BatchOptions, providers: &crate::providers::Providers) -> Result<Vec<tasks::Task>, BatchError> {
    let named = opts.tasks.to_string_lossy();
    if let Some(q) = query::parse(&named).filter(|_| !opts.tasks.exists()) {
        let q = q.map_err(BatchError::Setup)?;
        let here = std::env::current_dir().map_err(|e| BatchError::Setup(format!("the current folder: {e}")))?;
        return query::tasks(&q, providers, &here).await.map_err(BatchError::Setup);
    }
    let text = std::fs::read_to_string(&opts.tasks)
        .map_err(|e| BatchError::Setup(format!("cannot read the tasks {}: {e}", opts.tasks.display())))?;
    tasks::parse(&text, &opts.tasks).map_err(BatchError::Setup)
}

/// The manager, the repositories' mirrors and what the tasks share.
async fn context(
    opts: &BatchOptions,
    todo: &[tasks::Task],
    progress: Progress,
    (secrets, providers): (crate::secrets::SecretStore, crate::providers::Providers),
) -> Result<Ctx, BatchError> {
    let state_dir = crate::state_dir::resolve().map_err(|e| BatchError::Setup(e.to_string()))?;
    crate::state_dir::ensure_writable(&state_dir).map_err(|e| BatchError::Setup(e.to_string()))?;
    let mut settings = opts.settings.clone();
    // Each task in its own copy, as in the editors; the pool boots the next tasks' containers meanwhile.
    settings.isolation = Isolation::Worktree;
    settings.docker.warm_pool = opts.parallel.min(todo.len()) as u32;
    let provider = Arc::new(Backends::new(&settings, secrets.clone(), Some(&state_dir)));
    provider.configure(&settings);
    let router = Arc::new(Router::default());
    let manager = Manager::new(Store::new(&state_dir), provider, secrets.clone(), router.clone());
    let cache = state_dir.join("batch").join("repositories");
    let mut mirrors = HashMap::new();
    for repo in todo.iter().map(|t| t.repo.clone()) {
        if mirrors.contains_key(&repo) {
            continue;
        }
        progress.say(&format!("fetching {repo}…"));
        let dest = crate::git::base::mirror_path(&repo, &cache);
        let (source, at) = (repo.clone(), dest.clone());
        let made = tokio::task::spawn_blocking(move || crate::git::base::mirror(&source, &at))
            .await
            .map_err(|e| crate::git::GitError::Io { path: dest.clone(), source: std::io::Error::other(e) })
            .and_then(|r| r);
        let made = made.map_err(|e| e.to_string());
        if let Err(e) = &made {
            progress.say(&format!("cannot fetch {repo}: {e} (its tasks fail)"));
        }
        mirrors.insert(repo, made.map(|()| dest));
    }
    let work = state_dir.join("batch").join(format!("run-{}", std::process::id()));
    let trackers = crate::trackers::Trackers::new(&settings, secrets, Default::default());
    Ok(Ctx {
        manager,
        router,
        settings,
        progress,
        halt: watch::channel(Halt::No).0,
        mirrors,
        work,
        providers,
        trackers,
        run_budget: opts.run_budget,
        costs: Mutex::default(),
    })
}
