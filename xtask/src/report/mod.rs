//! The results folder: metadata.json first, then per cell its own folder (written by the
//! runner), and at the end (also when cells failed or the run was interrupted) results.json,
//! junit.xml and summary.md, plus the same table on the terminal.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::console::{Analysis, Finding};
use crate::lockout::Evidence;
use crate::matrix::{CellId, Expectation};
use crate::report::compare::Comparison;
use crate::verdict::{HostFacts, Outcome, Verdict};
use crate::vm::markers::GuestReport;

pub mod compare;
pub mod html;
mod junit;
mod metadata;
pub mod parity;
mod summary;

pub use metadata::{kernels_of, write_metadata, write_reproduce, KernelLine};
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
    /// The plan this folder is a part of (absent in folders of older harness versions).
    #[serde(default)]
    pub plan: Option<Plan>,
    /// After `report merge`: planned cells no shard reported, each with where it should have
    /// come from. Any makes the merged outcome at least ERROR.
    #[serde(default)]
    pub missing: Vec<String>,
}

/// What a run was a part of: the whole selection of cells, which part this run ran, and what
/// defined them. Shards of one plan merge; shards of different plans do not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub cells: Vec<String>,
    /// `all`, `shard I/N` or `cells ID,...`.
    pub part: String,
    pub matrix_sha256: String,
    pub commit: String,
}

impl Plan {
    pub fn new(matrix: &Path, cells: Vec<String>, part: String) -> Plan {
        use sha2::Digest as _;
        let matrix_sha256 = std::fs::read(matrix).map(|b| format!("{:x}", sha2::Sha256::digest(b))).unwrap_or_default();
        let commit = crate::tools::shell()
            .ok()
            .and_then(|sh| {
                sh.change_dir(crate::paths::repo_root());
                xshell::cmd!(sh, "git rev-parse HEAD").quiet().ignore_stderr().read().ok()
            })
            .unwrap_or_default();
        Plan { cells, part, matrix_sha256, commit }
    }

    /// Where a planned cell should have come from, for the message about a missing one.
    fn source_of(&self, id: &str) -> String {
        let shards =
            self.part.strip_prefix("shard ").and_then(|p| p.split_once('/')).and_then(|(_, n)| n.parse::<usize>().ok());
        match (shards, self.cells.iter().position(|c| c == id)) {
            (Some(n), Some(pos)) => format!("shard {}/{n}", pos / self.cells.len().div_ceil(n) + 1),
            _ => "its job".into(),
        }
    }
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
    /// With `--debug-info`: the stack frames of its reports decoded to file:line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<crate::kernel::decode::Decoded>,
    /// The kernel's own selftests, a result per case (None: the cell runs none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selftests: Option<crate::selftest::Report>,
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
        let l = f.lines_in(&lines);
        if !l.is_empty() {
            let a = f.first_line as usize;
            out.push((a, a + l.len() - 1, l.join("\n")));
        }
    }
    out
}

pub fn write(dir: &Path, results: &Results) -> Result<()> {
    write_compared(dir, results, None)
}

/// [`write`], and with `baseline` (what it is called, the comparison with it) the comparison
/// as a section of summary.md and index.html.
pub fn write_compared(dir: &Path, results: &Results, baseline: Option<(&str, &Comparison)>) -> Result<()> {
    // Every path inside results.json relative to its folder: a folder downloaded or moved
    // anywhere (a CI shard) still merges.
    let mut portable = results.clone();
    for c in &mut portable.cells {
        if let Ok(rel) = c.dir.strip_prefix(dir) {
            c.dir = rel.to_path_buf();
        }
    }
    let write = |name: &str, bytes: &[u8]| {
        crate::util::write_atomic(&dir.join(name), bytes)
            .with_context(|| format!("writing {name} in {}", dir.display()))
    };
    write("results.json", &serde_json::to_vec_pretty(&portable)?)?;
    write("junit.xml", junit::junit(results)?.as_bytes())?;
    let meta = std::fs::read(dir.join("metadata.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let kernels = metadata::kernels_of(meta.as_ref(), results);
    write("summary.md", summary::summary_md(results, &kernels, baseline).as_bytes())?;
    crate::report::html::write(dir, results, meta.as_ref(), baseline)
}

/// A results folder's results.json, or an error that says what the folder is not and what to
/// give instead (these come from a person's command line or a CI artifact path).
pub fn load(dir: &Path) -> Result<Results> {
    let p = dir.join("results.json");
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a folder: give a results folder (results/<stamp>-<command>, as a run prints it)",
            dir.display()
        );
    }
    let bytes = std::fs::read(&p).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a results folder: no {} ({e}); give the folder a run printed as 'results in ...' \
             (a CI shard's is <artifact>/<stamp>-matrix)",
            dir.display(),
            p.display()
        )
    })?;
    let r: Results = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} does not read as a results.json of this harness (schema {SCHEMA}): written by another \
             version, or damaged? Give folders this version wrote",
            p.display()
        )
    })?;
    if r.schema != SCHEMA {
        anyhow::bail!("{} is of schema {}; this harness reads schema {SCHEMA}", p.display(), r.schema);
    }
    Ok(r)
}

/// `report merge`: several result folders (shards) into one, cells copied in. Shards must come
/// from one plan; every planned cell that no shard reported is listed as missing. With
/// `baseline` (its name, its results) the merged report also shows what changed since.
pub fn merge(out: &Path, dirs: &[PathBuf], baseline: Option<(&str, &Results)>) -> Result<Results> {
    std::fs::create_dir_all(out)?;
    let mut cells: Vec<CellResult> = Vec::new();
    let (mut started, mut finished, mut interrupted) = (String::new(), String::new(), false);
    let mut not_run = Vec::new();
    // Cells a shard planned but never finished because it was cut short (killed, interrupted).
    let mut unfinished: Vec<(String, PathBuf)> = Vec::new();
    let mut plan: Option<(Plan, PathBuf)> = None;
    let mut metas: Vec<serde_json::Value> = Vec::new();
    for d in dirs {
        let r = load(d)?;
        if let Some(rp) = &r.plan {
            match &plan {
                None => plan = Some((rp.clone(), d.clone())),
                Some((first, from))
                    if (&first.cells, &first.matrix_sha256, &first.commit)
                        != (&rp.cells, &rp.matrix_sha256, &rp.commit) =>
                {
                    anyhow::bail!(
                        "{} and {} are shards of different plans (matrix {} vs {}, commit {} vs {}, {} vs {} cells): merge shards of one run only",
                        from.display(), d.display(), short(&first.matrix_sha256), short(&rp.matrix_sha256),
                        short(&first.commit), short(&rp.commit), first.cells.len(), rp.cells.len()
                    );
                }
                Some(_) => {}
            }
        }
        if started.is_empty() || r.started < started {
            started = r.started.clone();
        }
        if r.finished > finished {
            finished = r.finished.clone();
        }
        interrupted |= r.interrupted || r.in_progress;
        if r.interrupted || r.in_progress {
            unfinished.extend(r.not_run.iter().map(|id| (id.clone(), d.clone())));
        }
        not_run.extend(r.not_run);
        for mut c in r.cells {
            // Relative (this harness) or an absolute path of another machine: the cell's folder
            // is always <shard>/<cell id>.
            let from = if c.dir.is_relative() { d.join(&c.dir) } else { d.join(c.id.to_string()) };
            let dest = out.join(c.id.to_string());
            copy_dir(&from, &dest).with_context(|| format!("copying {}", from.display()))?;
            c.dir = dest;
            cells.retain(|x| x.id != c.id);
            cells.push(c);
        }
        if let Some(m) = std::fs::read(d.join("metadata.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
            metas.push(m);
        }
    }
    // The first shard's metadata stands for the merged run, with every shard's kernels.
    if let Some(m) = metadata::merged(&metas) {
        crate::util::write_atomic(&out.join("metadata.json"), &serde_json::to_vec_pretty(&m)?)?;
    }
    let ids: Vec<String> = cells.iter().map(|c| c.id.to_string()).collect();
    let reported = |id: &str| ids.iter().any(|c| c == id);
    let missing: Vec<String> = match &plan {
        Some((p, _)) => p
            .cells
            .iter()
            .filter(|id| !reported(id))
            .map(|id| match unfinished.iter().find(|(u, _)| u == id) {
                Some((_, d)) => format!("{id}: unfinished: the run in {} was cut short before this cell", d.display()),
                None => format!("{id}: no result from {}", p.source_of(id)),
            })
            .collect(),
        None => vec![],
    };
    if let Some((p, _)) = &plan {
        // Plan order, whatever order the shards came in.
        cells.sort_by_key(|c| p.cells.iter().position(|id| *id == c.id.to_string()));
        not_run = p.cells.iter().filter(|id| !reported(id)).cloned().collect();
    } else {
        not_run.retain(|id| !reported(id));
    }
    parity::apply(&mut cells);
    let mut outcome = outcome_of(&cells);
    if !missing.is_empty() {
        outcome = Outcome::worst([outcome, Outcome::Error]);
    }
    let r = Results {
        schema: SCHEMA,
        started,
        finished,
        interrupted,
        in_progress: false,
        outcome,
        not_run,
        cells,
        plan: plan.map(|(p, _)| Plan { part: "merged".into(), ..p }),
        missing,
    };
    let cmp = baseline.map(|(name, old)| (name, compare::compare(old, &r)));
    write_compared(out, &r, cmp.as_ref().map(|(name, c)| (*name, c)))?;
    Ok(r)
}

fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    if from == to {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)?.flatten() {
        let p = e.path();
        if !p.is_file() {
            continue;
        }
        let dest = to.join(e.file_name());
        // A --debug-info cell's vmlinux (tens of MB, never written again): a hard link where
        // both folders are on one filesystem, a copy where they are not.
        if e.file_name() == "vmlinux" {
            let _ = std::fs::remove_file(&dest);
            if std::fs::hard_link(&p, &dest).is_ok() {
                continue;
            }
        }
        std::fs::copy(&p, &dest)?;
    }
    Ok(())
}

/// The most severe verdict of the cells (ERROR when no cell ran: nothing was shown to work).
pub fn outcome_of(results: &[CellResult]) -> Outcome {
    Outcome::worst(results.iter().map(|r| r.verdict.outcome))
}

#[cfg(test)]
mod tests;
