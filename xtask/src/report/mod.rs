//! The results folder: metadata.json first, then per cell its own folder (written by the
//! runner), and at the end (also when cells failed or the run was interrupted) results.json,
//! junit.xml and summary.md, plus the same table on the terminal.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::console::{Analysis, Finding};
use crate::lockout::Evidence;
use crate::matrix::{CellId, Expectation};
use crate::verdict::{HostFacts, Outcome, Verdict};
use crate::vm::markers::GuestReport;

mod junit;
mod metadata;
mod summary;

pub use metadata::{write_metadata, write_reproduce};
pub use summary::table;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    pub started: String,
    pub finished: String,
    pub interrupted: bool,
    /// Written while cells are still running: `outcome` is only that of the cells so far.
    #[serde(default)]
    pub in_progress: bool,
    pub outcome: Outcome,
    /// Cells planned but never run (interrupted, or a previous cell stopped the run).
    pub not_run: Vec<String>,
    pub cells: Vec<CellResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    /// Written as `id`, `arch`, `variant`, `scenario`.
    #[serde(flatten)]
    pub id: CellId,
    pub expectation: Expectation,
    pub verdict: Verdict,
    pub findings: Analysis,
    pub guest: GuestReport,
    /// The offline lockout as the kernel's trace showed it (None: evidence off).
    #[serde(default)]
    pub lockout: Option<Evidence>,
    pub host: HostFacts,
    /// Seconds per stage, in order.
    pub stages: Vec<(String, f64)>,
    pub kernel_rebuilt: Option<bool>,
    pub dir: PathBuf,
}

impl CellResult {
    pub fn seconds(&self) -> f64 {
        self.stages.iter().map(|s| s.1).sum()
    }
}

/// The findings of a cell that `keep` selects, as the kernel printed them in its console.log:
/// (first line, last line, the lines).
pub fn excerpts(c: &CellResult, keep: impl Fn(&Finding) -> bool) -> Vec<(usize, usize, String)> {
    let console = std::fs::read(c.dir.join("console.log")).unwrap_or_default();
    let console = String::from_utf8_lossy(&console);
    let lines: Vec<&str> = console.lines().collect();
    let mut out = Vec::new();
    for f in c.findings.findings.iter().filter(|f| keep(f)) {
        let (a, b) = (f.first_line as usize, (f.last_line as usize).min(lines.len()));
        if a >= 1 && a <= b {
            out.push((a, b, lines[a - 1..b].join("\n")));
        }
    }
    out
}

pub fn write(dir: &Path, results: &Results) -> Result<()> {
    std::fs::write(dir.join("results.json"), serde_json::to_vec_pretty(results)?).context("writing results.json")?;
    std::fs::write(dir.join("junit.xml"), junit::junit(results)?).context("writing junit.xml")?;
    std::fs::write(dir.join("summary.md"), summary::summary_md(results)).context("writing summary.md")?;
    crate::html::write(dir, results)
}

/// `report merge`: several result folders (shards) into one, cells copied in.
pub fn merge(out: &Path, dirs: &[PathBuf]) -> Result<Results> {
    std::fs::create_dir_all(out)?;
    let mut cells: Vec<CellResult> = Vec::new();
    let (mut started, mut finished, mut interrupted) = (String::new(), String::new(), false);
    let mut not_run = Vec::new();
    for d in dirs {
        let p = d.join("results.json");
        let r: Results =
            serde_json::from_slice(&std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("{} is not a results.json of schema {SCHEMA}", p.display()))?;
        if started.is_empty() || r.started < started {
            started = r.started.clone();
        }
        if r.finished > finished {
            finished = r.finished.clone();
        }
        interrupted |= r.interrupted;
        not_run.extend(r.not_run);
        for mut c in r.cells {
            let dest = out.join(c.id.to_string());
            copy_dir(&c.dir, &dest).with_context(|| format!("copying {}", c.dir.display()))?;
            c.dir = dest;
            cells.retain(|x| x.id != c.id);
            cells.push(c);
        }
        // The first shard's metadata stands for the merged run.
        if !out.join("metadata.json").exists() {
            let _ = std::fs::copy(d.join("metadata.json"), out.join("metadata.json"));
        }
    }
    // Input order: shards are contiguous slices of the plan, so shard 1..n gives plan order.
    not_run.retain(|id| !cells.iter().any(|c| c.id.to_string() == *id));
    let r = Results {
        schema: SCHEMA,
        started,
        finished,
        interrupted,
        in_progress: false,
        outcome: outcome_of(&cells),
        not_run,
        cells,
    };
    write(out, &r)?;
    Ok(r)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    if from == to {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)?.flatten() {
        let p = e.path();
        if p.is_file() {
            std::fs::copy(&p, to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// The most severe verdict of the cells (ERROR when no cell ran: nothing was shown to work).
pub fn outcome_of(results: &[CellResult]) -> Outcome {
    Outcome::worst(results.iter().map(|r| r.verdict.outcome))
}

#[cfg(test)]
mod tests;
