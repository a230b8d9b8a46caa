//! `cargo xtask report`: result folders merged into one report (`merge`, e.g. CI shards), and
//! two result folders compared (`compare`, e.g. last night's against tonight's).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::ResultsDir;
use crate::report::compare::text::Rows;
use crate::report::{self, compare};
use crate::verdict::Outcome;

/// Results folders
#[derive(clap::Args)]
pub struct Report {
    #[command(subcommand)]
    cmd: ReportCmd,
}

#[derive(clap::Subcommand)]
enum ReportCmd {
    /// Merge result folders (e.g. CI shards) into one report
    Merge(Merge),
    /// Compare two results folders: what got worse from OLD to NEW
    ///
    /// Per cell: the outcome before and after, the kernel reports (by fingerprint) that are new,
    /// gone or persisting, and times that moved by more than 25 %. Worse is a more severe outcome
    /// (FAIL > TIMEOUT > ERROR > INCONCLUSIVE > PASS), a kernel report the cell did not have, a cell
    /// NEW planned but has no result for, or a cell only NEW has that did not pass. A time change
    /// alone is never worse. Cells only in OLD (dropped from the plan) are listed, not worse.
    ///
    /// Exit status: 0 nothing got worse, 1 something did, 2 a folder is not a results folder.
    Compare(Compare),
}

#[derive(clap::Args)]
struct Merge {
    /// Output folder (default: <results>/<stamp>-merged)
    #[arg(long)]
    out: Option<PathBuf>,
    /// A results folder to compare the merged run with: summary.md and index.html get the
    /// comparison (the exit status stays the merged outcome's; `report compare` has its own)
    #[arg(long, value_name = "OLD")]
    baseline: Option<PathBuf>,
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    #[command(flatten)]
    results: ResultsDir,
}

#[derive(clap::Args)]
struct Compare {
    /// The results folder compared against (e.g. the last green run)
    old: PathBuf,
    /// The results folder compared (local, or merged from shards)
    new: PathBuf,
    /// Markdown table (text) or the comparison as JSON
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    format: String,
}

impl Report {
    pub fn run(self) -> Result<i32> {
        match self.cmd {
            ReportCmd::Merge(a) => merge(a),
            ReportCmd::Compare(a) => compare(a),
        }
    }
}

fn name(p: &Path) -> String {
    p.display().to_string()
}

fn merge(a: Merge) -> Result<i32> {
    // The baseline read first: a wrong path fails before any copying.
    let baseline = a.baseline.as_deref().map(|b| report::load(b).map(|r| (name(b), r))).transpose()?;
    let out = match a.out {
        Some(o) => o,
        None => a.results.stamped("merged")?,
    };
    let r = report::merge(&out, &a.dirs, baseline.as_ref().map(|(n, b)| (n.as_str(), b)))?;
    println!("{}", report::table(&r));
    if let Some((n, b)) = &baseline {
        println!("{}", compare::text::markdown(&compare::compare(b, &r), n, &name(&out), Rows::Changed));
    }
    println!("outcome: {}   merged report: {}", r.outcome.name(), out.display());
    Ok(if r.outcome == Outcome::Pass { 0 } else { 1 })
}

fn compare(a: Compare) -> Result<i32> {
    let (old, new) = (report::load(&a.old)?, report::load(&a.new)?);
    let c = compare::compare(&old, &new);
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print!("{}", compare::text::markdown(&c, &name(&a.old), &name(&a.new), Rows::All));
    }
    Ok(if c.worse() { 1 } else { 0 })
}
