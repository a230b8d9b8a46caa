//! Progress of long work: an indicatif spinner per cell on a terminal (stage + elapsed), and
//! plain line-per-event output when stderr is not a terminal or `CI` is set.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Set by `watch`, which prints one line per round: no spinners, no stage lines.
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

pub struct Progress {
    multi: Option<MultiProgress>,
    t0: Instant,
}

pub struct CellProgress {
    bar: Option<ProgressBar>,
    id: String,
    t0: Instant,
    stage: String,
    stage_t0: Instant,
}

impl Progress {
    pub fn new() -> Progress {
        let fancy = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Progress { multi: fancy.then(MultiProgress::new), t0: Instant::now() }
    }

    pub fn cell(&self, id: &str) -> CellProgress {
        let bar = self.multi.as_ref().filter(|_| !quiet()).map(|m| {
            let b = m.add(ProgressBar::new_spinner());
            b.set_style(ProgressStyle::with_template("{spinner} {prefix:<28} {msg:<24} {elapsed:>4}").unwrap());
            b.set_prefix(id.to_string());
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        CellProgress { bar, id: id.to_string(), t0: Instant::now(), stage: String::new(), stage_t0: Instant::now() }
    }

    /// A line that does not belong to a cell (printed above the bars).
    pub fn println(&self, s: &str) {
        if quiet() {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(s);
            }
            None => eprintln!("[{:7.1}s] {s}", self.t0.elapsed().as_secs_f64()),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl CellProgress {
    pub fn stage(&mut self, stage: &str) {
        match &self.bar {
            _ if quiet() => {}
            Some(b) => b.set_message(stage.to_string()),
            None if self.stage.is_empty() => {
                eprintln!("[{:7.1}s] {}: {stage}", self.t0.elapsed().as_secs_f64(), self.id)
            }
            None => eprintln!(
                "[{:7.1}s] {}: {stage} ({} took {:.1}s)",
                self.t0.elapsed().as_secs_f64(),
                self.id,
                self.stage,
                self.stage_t0.elapsed().as_secs_f64()
            ),
        }
        self.stage = stage.to_string();
        self.stage_t0 = Instant::now();
    }

    pub fn finish(&self, outcome: &str) {
        match &self.bar {
            _ if quiet() => {}
            Some(b) => b.finish_with_message(outcome.to_string()),
            None => eprintln!("[{:7.1}s] {}: {outcome}", self.t0.elapsed().as_secs_f64(), self.id),
        }
    }
}
