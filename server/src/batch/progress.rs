//! What a batch run shows: a line per task each time its state changes, and on a terminal one live summary line
//! below them (done / running / failed / queued, the cost so far, the time left). Without a terminal the summary is
//! a plain line after each task that ends.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Default, Clone, Copy)]
struct Counts {
    done: usize,
    failed: usize,
    running: usize,
    queued: usize,
    /// `None` until a task's cost is known (a model without a price has none).
    cost: Option<f64>,
}

pub struct Progress {
    out: Mutex<Box<dyn Write + Send>>,
    bar: ProgressBar,
    counts: Mutex<Counts>,
    started: Instant,
    width: usize,
}

impl Progress {
    /// `queued`: the tasks this run will start; `width`: the longest instance id, so that lines line up.
    pub fn new(out: Box<dyn Write + Send>, terminal: bool, queued: usize, width: usize) -> Self {
        let bar = if terminal { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let progress = Progress {
            out: Mutex::new(out),
            bar,
            counts: Mutex::new(Counts { queued, ..Counts::default() }),
            started: Instant::now(),
            width: width.min(40),
        };
        progress.refresh();
        progress
    }

    /// A line of its own, above the summary.
    pub fn say(&self, line: &str) {
        self.bar.suspend(|| {
            let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        });
    }

    /// Task `id` is now `what`.
    pub fn task(&self, id: &str, what: &str) {
        self.say(&format!("{id:<w$}  {what}", w = self.width));
    }

    pub fn started(&self) {
        self.change(|c| {
            c.queued = c.queued.saturating_sub(1);
            c.running += 1;
        });
    }

    /// A started task ended: `ok` when it finished.
    pub fn ended(&self, ok: bool) {
        self.change(|c| {
            c.running = c.running.saturating_sub(1);
            if ok { c.done += 1 } else { c.failed += 1 }
        });
        if self.bar.is_hidden() {
            self.say(&self.summary());
        }
    }

    /// A started task stopped by the run (it runs again next time).
    pub fn interrupted(&self) {
        self.change(|c| c.running = c.running.saturating_sub(1));
    }

    /// A queued task that will not start (the run was stopped).
    pub fn dropped(&self) {
        self.change(|c| c.queued = c.queued.saturating_sub(1));
    }

    /// The cost of this run's tasks so far.
    pub fn cost(&self, cost: f64) {
        self.change(|c| c.cost = Some(cost));
    }

    fn change(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.counts.lock().unwrap_or_else(|p| p.into_inner()));
        self.refresh();
    }

    fn refresh(&self) {
        self.bar.set_message(self.summary());
    }

    /// `done 5 · running 4 · failed 1 · queued 2 · $0.0123 · about 2 min left` (the cost once one is known)
    pub fn summary(&self) -> String {
        let c = *self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let ended = c.done + c.failed;
        let left = if ended > 0 && c.running + c.queued > 0 {
            let per_task = self.started.elapsed().as_secs_f64() / ended as f64;
            format!(" · about {} left", duration((c.running + c.queued) as f64 * per_task))
        } else {
            String::new()
        };
        let cost = c.cost.map(|c| format!(" · ${c:.4}")).unwrap_or_default();
        format!("done {} · running {} · failed {} · queued {}{cost}{left}", c.done, c.running, c.failed, c.queued)
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `45 s`, `3 min`, `1 h 20 min`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
