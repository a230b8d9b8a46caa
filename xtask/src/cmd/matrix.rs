//! `cargo xtask matrix`: the cells of configs/matrix.yaml, listed or run, with the report.

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::{CellsOpts, KernelOpts};
use crate::matrix::{self, Cell, MatrixFile, Selection};
use crate::report::{self, Results};
use crate::runner::{self, Options};
use crate::verdict::Outcome;

/// Run the matrix (configs/matrix.yaml) and write the report
#[derive(clap::Args)]
pub struct Matrix {
    /// Print the cells instead of running them
    #[arg(long)]
    list: bool,
    /// With --list: JSON
    #[arg(long, value_parser = ["json", "text"], default_value = "text")]
    format: String,
    /// Run only these cells (ids from --list)
    #[arg(long)]
    cell: Vec<String>,
    /// Run shard I of N (e.g. 1/2)
    #[arg(long, value_parser = matrix::parse_shard)]
    shard: Option<(usize, usize)>,
    #[command(flatten)]
    cells: CellsOpts,
}

impl Matrix {
    pub fn run(self) -> Result<i32> {
        let o = self.cells.options();
        let m = o.load_matrix()?;
        let selection = Selection { cells: self.cell.clone(), shard: self.shard, ..self.cells.filter.selection() };
        let cells = matrix::select(&m, &selection)?;
        if self.list {
            return list(&cells, self.format == "json").map(|_| 0);
        }
        if cells.is_empty() {
            bail!("no cells selected (check --only/--skip/--cell/--shard)");
        }
        let whole = matrix::select(&m, &Selection { cells: vec![], shard: None, ..self.cells.filter.selection() })?;
        let part = match (self.shard, self.cell.is_empty()) {
            (Some((i, n)), _) => format!("shard {i}/{n}"),
            (None, false) => format!("cells {}", self.cell.join(",")),
            (None, true) => "all".into(),
        };
        let plan = report::Plan::new(&o.matrix, whole.iter().map(|c| c.id().to_string()).collect(), part);
        let (results, dir) = run_matrix(&o, &self.cells.kernel, &m, cells, &plan)?;
        println!("{}", report::table(&results));
        println!("outcome: {}   results: {}", results.outcome.name(), dir.display());
        Ok(if results.outcome == Outcome::Pass && !results.interrupted { 0 } else { 1 })
    }
}

fn list(cells: &[Cell], json: bool) -> Result<()> {
    if json {
        let v: Vec<serde_json::Value> = cells
            .iter()
            .map(|c| {
                serde_json::json!({"id": c.id().to_string(), "kernel": c.kernel.name, "arch": c.arch, "variant": c.variant.name, "scenario": c.scenario, "expectation": c.expectation})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for c in cells {
            println!("{}", c.id());
        }
    }
    Ok(())
}

/// The cells into a new `<results>/<stamp>-matrix` folder.
pub(super) fn run_matrix(
    o: &Options,
    opts: &KernelOpts,
    m: &MatrixFile,
    cells: Vec<Cell>,
    plan: &report::Plan,
) -> Result<(Results, PathBuf)> {
    let dir = opts.results.stamped("matrix")?;
    Ok((runner::run_planned(o, m, cells, plan, &dir)?, dir))
}
