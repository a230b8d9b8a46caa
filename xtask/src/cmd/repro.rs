//! `cargo xtask repro`: the reported warning, as the kernel wrote it, then what we make of it.

use anyhow::{bail, Result};

use super::KernelOpts;
use crate::arch::Arch;
use crate::console::Category;
use crate::matrix::{self, Selection};

/// Build and boot s390x prefix/cancel and print the reported warning as the kernel wrote it
#[derive(clap::Args)]
pub struct Repro {
    #[arg(long, value_enum, default_value = "s390x")]
    arch: Arch,
    #[command(flatten)]
    opts: KernelOpts,
}

impl Repro {
    pub fn run(self) -> Result<i32> {
        let arch = self.arch;
        let o = self.opts.options(1);
        let m = o.load_matrix()?;
        let only = vec![format!("arch={arch}"), "variant=prefix".into(), "scenario=cancel".into()];
        let cells = matrix::select(&m, &Selection { only, ..Default::default() })?;
        if cells.is_empty() {
            bail!("the matrix {} has no {arch} prefix/cancel cell", o.matrix.display());
        }
        let dir = self.opts.results.stamped(&format!("repro-{arch}"))?;
        let r = crate::runner::run_cells(&o, &m, cells, &dir)?;
        let cell = &r.cells[0];
        let excerpts = crate::report::excerpts(cell, |f| f.category == Category::Lockdep);
        for (a, b, text) in &excerpts {
            println!("---- {} console lines {a}-{b} ----", cell.id);
            println!("{text}");
        }
        if excerpts.is_empty() {
            println!("(no lockdep report in {})", cell.dir.join("console.log").display());
        }
        println!("----");
        super::run::print_cell(cell);
        Ok(cell.verdict.outcome.exit_code())
    }
}
