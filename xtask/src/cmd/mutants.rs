//! `cargo xtask mutants`: the mutant kernels of the matrix alone, each of which the harness
//! must judge as the matrix says, never PASS.

use std::path::Path;

use anyhow::{bail, Result};

use super::{CellsOpts, Filter};
use crate::matrix::MatrixFile;
use crate::runner::{self, Options};

/// Boot the mutant kernels of the matrix (kernels the harness must never pass) and check each verdict
#[derive(clap::Args)]
pub struct Mutants {
    #[command(flatten)]
    cells: CellsOpts,
}

impl Mutants {
    /// Exit 0 when every mutant was caught.
    pub fn run(self) -> Result<i32> {
        let o = self.cells.options();
        let m = o.load_matrix()?;
        let dir = self.cells.kernel.results.stamped("mutants")?;
        let res = run_mutants(&o, &m, &self.cells.filter, &dir)?;
        super::print_mutants(&res);
        let missed = res.iter().filter(|(ok, _)| !ok).count();
        println!("mutants: {} caught, {missed} missed   results: {}", res.len() - missed, dir.display());
        Ok(if missed == 0 { 0 } else { 1 })
    }
}

/// Boots every selected mutant kernel into `dir` and says, per cell, whether the harness judged
/// it as it must.
pub(super) fn run_mutants(o: &Options, m: &MatrixFile, f: &Filter, dir: &Path) -> Result<Vec<(bool, String)>> {
    let cells = crate::mutants::plan(m, &f.only, &f.skip);
    if cells.is_empty() {
        bail!("no mutant selected (the matrix defines: {})", m.mutants.keys().cloned().collect::<Vec<_>>().join(", "));
    }
    let n = cells.len();
    let r = runner::run_cells(o, m, cells, dir)?;
    let mut out: Vec<(bool, String)> = r.cells.iter().map(|cell| crate::mutants::caught(m, cell)).collect();
    out.extend(r.not_run.iter().map(|id| (false, format!("{id}: not run"))));
    debug_assert_eq!(out.len(), n);
    Ok(out)
}
