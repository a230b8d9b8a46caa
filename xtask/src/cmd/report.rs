//! `cargo xtask report merge`: result folders (e.g. CI shards) into one report.

use std::path::PathBuf;

use anyhow::Result;

use super::ResultsDir;
use crate::report;
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
}

#[derive(clap::Args)]
struct Merge {
    /// Output folder (default: <results>/<stamp>-merged)
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    #[command(flatten)]
    results: ResultsDir,
}

impl Report {
    pub fn run(self) -> Result<i32> {
        let ReportCmd::Merge(a) = self.cmd;
        let out = match a.out {
            Some(o) => o,
            None => a.results.stamped("merged")?,
        };
        let r = report::merge(&out, &a.dirs)?;
        println!("{}", report::table(&r));
        println!("outcome: {}   merged report: {}", r.outcome.name(), out.display());
        Ok(if r.outcome == Outcome::Pass { 0 } else { 1 })
    }
}
