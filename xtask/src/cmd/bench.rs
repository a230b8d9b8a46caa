//! `cargo xtask bench`: wall time of the matrix, per stage, warm (the cache as it is) and, with
//! `--cold`, first in an empty cache (sources extracted, every tree built from nothing).

use std::collections::BTreeMap;

use anyhow::Result;

use super::CellsOpts;
use crate::arch::Arch;
use crate::cache::Cache;
use crate::matrix;
use crate::runner::{self, Options};

/// Time the matrix (warm cache; with --cold first in an empty cache) into <results>/<stamp>-bench
#[derive(clap::Args)]
pub struct Bench {
    #[arg(long)]
    cold: bool,
    #[command(flatten)]
    cells: CellsOpts,
}

impl Bench {
    pub fn run(self) -> Result<i32> {
        let o = self.cells.options();
        let m = o.load_matrix()?;
        let out = self.cells.kernel.results.stamped("bench")?;
        std::fs::create_dir_all(&out)?;
        let mut runs = Vec::new();
        let cold_cache = Cache::new(out.join("cold-cache"));
        let passes: Vec<(&str, Cache)> = if self.cold {
            vec![("cold", cold_cache.clone()), ("warm", cold_cache.clone())]
        } else {
            vec![("warm", o.cache.clone())]
        };
        for (name, cache) in passes {
            if cache == cold_cache {
                // Reuse the host's busybox: a download is not what the cold number is about.
                for arch in Arch::ALL {
                    let (from, to) = (o.cache.busybox(arch), cache.busybox(arch));
                    if from.exists() && !to.exists() {
                        std::fs::create_dir_all(to.parent().unwrap())?;
                        std::fs::copy(&from, &to)?;
                    }
                }
            }
            let t0 = std::time::Instant::now();
            let cells = matrix::select(&m, &self.cells.filter.selection())?;
            let r = runner::run_cells(&Options { cache, ..o.clone() }, &m, cells, &out.join(name))?;
            let wall = t0.elapsed().as_secs_f64();
            let mut stages: BTreeMap<String, f64> = Default::default();
            for cell in &r.cells {
                for (s, t) in &cell.stages {
                    *stages.entry(s.clone()).or_default() += t;
                }
            }
            let per_stage = stages.iter().map(|(k, v)| format!("{k} {v:.0}s")).collect::<Vec<_>>().join(", ");
            println!(
                "{name}: {} cells in {wall:.0}s, outcome {}; per stage: {per_stage}",
                r.cells.len(),
                r.outcome.name()
            );
            let cell_seconds: BTreeMap<String, f64> = r.cells.iter().map(|c| (c.id.to_string(), c.seconds())).collect();
            runs.push(
                serde_json::json!({ "pass": name, "wall_seconds": wall, "cells": r.cells.len(), "outcome": r.outcome,
                "stage_seconds": stages, "cell_seconds": cell_seconds }),
            );
        }
        if self.cold {
            let _ = std::fs::remove_dir_all(cold_cache.root());
        }
        let bench = out.join("bench.json");
        std::fs::write(&bench, serde_json::to_vec_pretty(&serde_json::json!({ "schema": 1, "runs": runs }))?)?;
        println!("bench: {}", bench.display());
        Ok(0)
    }
}
