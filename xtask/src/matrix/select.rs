//! Which cells run: the plan of the matrix (every arch x variant x scenario, in build order),
//! filtered by `--only`/`--skip` terms, picked by `--cell` ids, cut into `--shard`s.

use anyhow::{bail, Result};

use super::{Cell, MatrixFile, Scenario};

/// A filter term: `s390x`, `prefix`, `cancel`, or `arch=s390x` / `variant=prefix` / `scenario=cancel`.
pub fn matches(cell: &Cell, term: &str) -> bool {
    match term.split_once('=') {
        Some(("kernel", v)) => cell.kernel.name.as_deref() == Some(v),
        Some(("arch", v)) => cell.arch.name() == v,
        Some(("variant", v)) => cell.variant.name == v,
        Some(("scenario", v)) => cell.scenario.name() == v,
        Some(_) => false,
        None => {
            term == cell.arch.name()
                || cell.kernel.name.as_deref() == Some(term)
                || term == cell.variant.name
                || term == cell.scenario.name()
                || term == cell.id().to_string()
        }
    }
}

/// Cells in a stable order (arch, kernel, variant, scenario) so that builds of one arch, and
/// of one tree, stay together. `only`: each term is a comma list; a cell must match every
/// --only given (any item of it).
pub fn plan(m: &MatrixFile, only: &[String], skip: &[String]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &arch in &m.arches {
        for k in m.kernel_defs() {
            let kernel = m.kernel_of(&k);
            for v in m.variants.values().map(|b| k.variant(b)) {
                for &scenario in &m.scenarios {
                    let cell = m.cell(kernel.clone(), arch, v.clone(), scenario);
                    if scenario == Scenario::Selftests && cell.selftests.is_none() {
                        continue;
                    }
                    let keep = only.iter().all(|o| o.split(',').any(|t| matches(&cell, t.trim())))
                        && !skip.iter().any(|s| s.split(',').any(|t| matches(&cell, t.trim())));
                    if keep {
                        cells.push(cell);
                    }
                }
            }
        }
    }
    cells
}

/// Which cells of the plan run: `--only`/`--skip` terms (see [`plan`]), `--cell` ids, and
/// `--shard I/N`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub cells: Vec<String>,
    pub shard: Option<(usize, usize)>,
}

pub fn select(m: &MatrixFile, s: &Selection) -> Result<Vec<Cell>> {
    let mut cells = plan(m, &s.only, &s.skip);
    if !s.cells.is_empty() {
        for id in &s.cells {
            if !cells.iter().any(|c| c.id().to_string() == *id) {
                bail!("no cell {id:?} in the matrix (see `cargo xtask matrix --list`)");
            }
        }
        cells.retain(|c| s.cells.contains(&c.id().to_string()));
    }
    if let Some((i, n)) = s.shard {
        // Contiguous shards keep one arch's cells together, so each shard builds as few trees as possible.
        let per = cells.len().div_ceil(n);
        cells = cells.into_iter().skip((i - 1) * per).take(per).collect();
    }
    Ok(cells)
}

/// `I/N` with 1 <= I <= N.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or("use I/N, e.g. 1/2")?;
    let (i, n): (usize, usize) =
        (i.parse().map_err(|_| "I must be a number")?, n.parse().map_err(|_| "N must be a number")?);
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n}: need 1 <= I <= N"));
    }
    Ok((i, n))
}
