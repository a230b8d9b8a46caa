//! The subcommands behind `cargo xtask`: flat, each a function from parsed arguments to an
//! exit status. Arguments are parsed in main.rs (clap); the work is here.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::cache::Cache;
use crate::matrix::{self, Cell, Expect, MatrixFile, Scenario, Variant};
use crate::progress::Progress;
use crate::report::{self, Results};
use crate::runner::{self, CellResult};
use crate::verdict::Outcome;

#[derive(Clone)]
pub struct Common {
    pub cache: Cache,
    pub results: PathBuf,
    pub kernel_src: Option<PathBuf>,
    pub matrix: PathBuf,
    /// make -j
    pub make_jobs: usize,
    /// Cells run at once (one lane per arch at most: an arch's cells share one build tree).
    pub jobs: usize,
    /// Kernel tracing for the `lockout-held` check (`--no-lockout-evidence` turns it off).
    pub lockout_evidence: bool,
}

impl Common {
    pub fn load_matrix(&self) -> Result<MatrixFile> {
        matrix::load(&self.matrix)
    }

    /// `--kernel-src` wins over the matrix's kernel.source.
    fn kernel_src(&self, m: &MatrixFile) -> Option<PathBuf> {
        self.kernel_src.clone().or_else(|| (m.kernel.source != "debian").then(|| PathBuf::from(&m.kernel.source)))
    }

    fn repro_args(&self, m: &MatrixFile) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(k) = self.kernel_src(m) {
            v.push("--kernel-src".into());
            v.push(k.display().to_string());
        }
        if !self.lockout_evidence {
            v.push("--no-lockout-evidence".into());
        }
        if self.matrix != matrix::default_path(&crate::paths::repo_root()) {
            v.push("--matrix".into());
            v.push(self.matrix.display().to_string());
        }
        v
    }
}

pub struct RunArgs {
    pub arch: Arch,
    pub variant: Option<String>,
    pub scenario: Scenario,
    pub patches: Vec<PathBuf>,
    pub expect: Option<Expect>,
    pub mib: Option<u32>,
    pub timeout: Option<u64>,
}

/// `cargo xtask run`: one cell, same machinery and results folder as the matrix.
pub fn run(c: &Common, a: RunArgs) -> Result<i32> {
    let m = c.load_matrix()?;
    let mut variant = match (&a.variant, a.patches.is_empty()) {
        (Some(name), true) => m.variants.get(name).cloned().with_context(|| {
            format!(
                "unknown variant {name:?}; {} defines: {}",
                c.matrix.display(),
                m.variants.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?,
        (None, true) => bail!(
            "give --variant NAME (one of: {}) or --patch FILE...",
            m.variants.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        (name, false) => {
            let base = match name {
                Some(n) => Some(m.variants.get(n).cloned().with_context(|| {
                    format!(
                        "unknown variant {n:?} for --patch; {} defines: {}",
                        c.matrix.display(),
                        m.variants.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                })?),
                None => None,
            };
            let mut patches = base.as_ref().map(|b| b.patches.clone()).unwrap_or_default();
            for p in &a.patches {
                patches.push(p.canonicalize().with_context(|| format!("--patch {}: no such file", p.display()))?);
            }
            let mut v = base.unwrap_or_else(|| Variant {
                name: String::new(),
                description: String::new(),
                patches: vec![],
                kconfig: vec![],
                rust: false,
                expect: Expect::Clean,
                splat_locks: Default::default(),
                boot_line: None,
                run_word: "ksm_run".into(),
                must_call: vec![],
                rust_patches: vec![],
            });
            v.name = name.clone().map(|n| format!("{n}+patch")).unwrap_or_else(|| "custom".into());
            v.description = "ad hoc: --patch".into();
            v.patches = patches;
            // A candidate fix is expected to make the kernel clean unless --expect says otherwise.
            v.expect = Expect::Clean;
            v
        }
    };
    if let Some(e) = a.expect {
        variant.expect = e;
    }
    let cell = Cell {
        arch: a.arch,
        expectation: variant.expectation(a.scenario),
        scenario: a.scenario,
        timeout: a
            .timeout
            .unwrap_or_else(|| m.timeouts.get(&a.arch).copied().unwrap_or(a.arch.machine().default_timeout)),
        mib: a.mib.unwrap_or(m.workload.mib),
        variant,
    };
    let dir = c.results.join(format!("{}-run-{}", crate::util::now_stamp(), cell.id()));
    let results = run_cells(c, &m, vec![cell], &dir)?;
    let cell = &results.cells[0];
    print_cell(cell);
    println!("results: {}", dir.display());
    Ok(cell.verdict.outcome.exit_code())
}

pub fn print_cell(c: &CellResult) {
    println!("{}: {} — {}", c.id, c.verdict.outcome.name(), c.verdict.reason);
    for ch in &c.verdict.checks {
        println!(
            "  [{}] {:<26} {}",
            if ch.skipped {
                "--"
            } else if ch.ok {
                "ok"
            } else {
                "!!"
            },
            ch.name,
            ch.detail
        );
    }
    for f in c.findings.findings.iter().filter(|f| f.category != crate::console::Category::Info) {
        println!("  splat: {} [{}] (console lines {}-{})", f.title, f.fingerprint, f.first_line, f.last_line);
        if let Some(l) = &f.lockdep {
            println!("    acquiring {:?} while holding {:?}; chain {:?}", l.acquiring, l.held, l.chain);
        }
    }
    println!("  artifacts: {} (console.log, build.log, config, qmp.log, findings.json, reproduce.sh)", c.dir.display());
}

/// Runs cells one after another into `dir`, always writing the report, even on interruption.
pub fn run_cells(c: &Common, m: &MatrixFile, cells: Vec<Cell>, dir: &Path) -> Result<Results> {
    let started = crate::util::now_rfc3339();
    let src = crate::kernel::resolve_source(&c.cache, c.kernel_src(m).as_deref())?;
    report::write_metadata(
        dir,
        &crate::paths::repo_root(),
        &src,
        serde_json::json!({ "cells": cells.iter().map(Cell::id).collect::<Vec<_>>(), "matrix": c.matrix, "cache": c.cache.root() }),
    )?;
    let progress = Progress::new();
    progress.println(&format!("kernel {} ({}); results in {}", src.version, src.origin, dir.display()));
    let repro = c.repro_args(m);
    let known = crate::known::load(&crate::paths::repo_root().join("configs/known-issues.yaml"))?;
    let ctx = runner::Context {
        cache: &c.cache,
        repo: &crate::paths::repo_root(),
        src: &src,
        make_jobs: c.make_jobs,
        repro_args: &repro,
        known: &known,
        lockout_evidence: c.lockout_evidence,
    };
    // Lanes: cells of one arch stay in order in one lane (they share a build tree and switch
    // variants incrementally); with --jobs > 1 up to that many arch lanes run side by side.
    let lanes: Vec<Vec<&Cell>> = if c.jobs > 1 {
        let mut by_arch: Vec<Vec<&Cell>> = Vec::new();
        for cell in &cells {
            match by_arch.iter_mut().find(|l| l[0].arch == cell.arch) {
                Some(l) => l.push(cell),
                None => by_arch.push(vec![cell]),
            }
        }
        by_arch
    } else {
        vec![cells.iter().collect()]
    };
    let done: std::sync::Mutex<Vec<CellResult>> = std::sync::Mutex::new(Vec::new());
    let run_lane = |lane: &[&Cell]| -> Result<()> {
        for cell in lane {
            if crate::tools::interrupted() {
                return Ok(());
            }
            let mut p = progress.cell(&cell.id());
            let r = runner::run_cell(&ctx, cell, &dir.join(cell.id()), &mut |s| p.stage(s));
            p.finish(&format!("{} {}", r.verdict.outcome.name(), r.verdict.reason));
            let mut d = done.lock().unwrap();
            d.push(r);
            // Partial report after every cell: a killed run still leaves the finished cells reported.
            let mut partial = results_of(&started, &cells, d.clone(), crate::tools::interrupted());
            partial.in_progress = true;
            report::write(dir, &partial)?;
        }
        Ok(())
    };
    for group in lanes.chunks(c.jobs.max(1)) {
        std::thread::scope(|s| {
            let handles: Vec<_> = group.iter().map(|l| s.spawn(|| run_lane(l))).collect();
            handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a lane panicked"))))
        })?;
    }
    let results = results_of(&started, &cells, done.into_inner().unwrap(), crate::tools::interrupted());
    report::write(dir, &results)?;
    Ok(results)
}

/// The report of the cells run so far, in plan order whatever order the lanes finished in.
fn results_of(started: &str, planned: &[Cell], mut done: Vec<CellResult>, interrupted: bool) -> Results {
    done.sort_by_key(|r| planned.iter().position(|c| c.id() == r.id));
    Results {
        schema: report::SCHEMA,
        started: started.to_string(),
        finished: crate::util::now_rfc3339(),
        interrupted,
        in_progress: false,
        outcome: runner::outcome_of(&done),
        not_run: planned.iter().map(Cell::id).filter(|id| !done.iter().any(|r| &r.id == id)).collect(),
        cells: done,
    }
}

pub struct MatrixArgs {
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub list: bool,
    pub json: bool,
    pub cell: Vec<String>,
    pub shard: Option<(usize, usize)>,
}

pub fn select(m: &MatrixFile, a: &MatrixArgs) -> Result<Vec<Cell>> {
    let mut cells = matrix::plan(m, &a.only, &a.skip);
    if !a.cell.is_empty() {
        for id in &a.cell {
            if !cells.iter().any(|c| &c.id() == id) {
                bail!("no cell {id:?} in the matrix (see `cargo xtask matrix --list`)");
            }
        }
        cells.retain(|c| a.cell.contains(&c.id()));
    }
    if let Some((i, n)) = a.shard {
        // Contiguous shards keep one arch's cells together, so each shard builds as few trees as possible.
        let per = cells.len().div_ceil(n);
        cells = cells.into_iter().skip((i - 1) * per).take(per).collect();
    }
    Ok(cells)
}

pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or("use I/N, e.g. 1/2")?;
    let (i, n): (usize, usize) =
        (i.parse().map_err(|_| "I must be a number")?, n.parse().map_err(|_| "N must be a number")?);
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n}: need 1 <= I <= N"));
    }
    Ok((i, n))
}

pub fn matrix_cmd(c: &Common, a: MatrixArgs) -> Result<i32> {
    let m = c.load_matrix()?;
    let cells = select(&m, &a)?;
    if a.list {
        if a.json {
            let v: Vec<serde_json::Value> = cells
                .iter()
                .map(|c| serde_json::json!({"id": c.id(), "arch": c.arch, "variant": c.variant.name, "scenario": c.scenario, "expectation": c.expectation}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            for c in &cells {
                println!("{}", c.id());
            }
        }
        return Ok(0);
    }
    if cells.is_empty() {
        bail!("no cells selected (check --only/--skip/--cell/--shard)");
    }
    let (results, dir) = run_matrix(c, &m, cells)?;
    println!("{}", report::table(&results));
    println!("outcome: {}   results: {}", results.outcome.name(), dir.display());
    Ok(if results.outcome == Outcome::Pass && !results.interrupted { 0 } else { 1 })
}

fn run_matrix(c: &Common, m: &MatrixFile, cells: Vec<Cell>) -> Result<(Results, PathBuf)> {
    let dir = c.results.join(format!("{}-matrix", crate::util::now_stamp()));
    Ok((run_cells(c, m, cells, &dir)?, dir))
}

/// `cargo xtask test`: the project's whole test suite, as CI runs it: the host tests of every
/// crate (unit, property and loom model tests), then the matrix with real boots on both arches.
pub fn test_cmd(c: &Common, a: MatrixArgs) -> Result<i32> {
    let repo = crate::paths::repo_root();
    eprintln!("== host tests: cargo test --workspace --locked");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = duct::cmd!(cargo, "test", "--workspace", "--locked").dir(&repo).unchecked().run()?;
    let host_ok = st.status.success();
    // The matrix runs as two shards merged into one report, exactly as the CI fan-out does,
    // and the merged report must hold every planned cell once, in plan order.
    eprintln!("== real boots: the matrix, as shards 1/2 and 2/2, then report merge");
    let m = c.load_matrix()?;
    let planned: Vec<String> = select(&m, &a)?.iter().map(Cell::id).collect();
    let mut shard_dirs = Vec::new();
    for i in 1..=2 {
        let sa = MatrixArgs {
            only: a.only.clone(),
            skip: a.skip.clone(),
            list: false,
            json: false,
            cell: a.cell.clone(),
            shard: Some((i, 2)),
        };
        let cells = select(&m, &sa)?;
        if !cells.is_empty() {
            shard_dirs.push(run_matrix(c, &m, cells)?.1);
        }
    }
    let dir = c.results.join(format!("{}-test", crate::util::now_stamp()));
    let r = report::merge(&dir, &shard_dirs)?;
    println!("{}", report::table(&r));
    let merged: Vec<String> = r.cells.iter().map(|c| c.id.clone()).collect();
    let merge_ok = merged == planned;
    let pass = r.cells.iter().filter(|c| c.verdict.outcome == Outcome::Pass).count();
    let fail = r.cells.len() - pass + r.not_run.len();
    println!("results: {}", dir.display());
    eprintln!("== mutant kernels: each must be judged as the matrix says, never PASS");
    let mutants = run_mutants(c, &m, &a.only, &a.skip, &dir.join("mutants"))?;
    let mutants_missed = mutants.iter().filter(|(ok, _)| !ok).count();
    for (ok, line) in &mutants {
        println!("  [{}] {line}", if *ok { "caught" } else { "MISSED" });
    }
    eprintln!(
        "== error paths: a hung guest, bad patches, a panicking guest, a dropped Kconfig symbol, a broken matrix"
    );
    let errs = error_paths(c, &m, &dir.join("error-paths"))?;
    let err_fail = errs.iter().filter(|(_, ok, _)| !ok).count();
    for (name, ok, detail) in &errs {
        println!("  [{}] {name}: {detail}", if *ok { "ok" } else { "!!" });
    }
    println!("host tests: {}", if host_ok { "ok" } else { "FAILED" });
    println!("error paths: {} passed, {err_fail} failed", errs.len() - err_fail);
    println!("shards merged into the full plan: {}", if merge_ok { "ok" } else { "MISMATCH" });
    println!("mutants: {} caught, {mutants_missed} missed", mutants.len() - mutants_missed);
    println!("matrix: {pass} passed, {fail} failed");
    Ok(if host_ok && merge_ok && fail == 0 && err_fail == 0 && mutants_missed == 0 && !r.interrupted { 0 } else { 1 })
}

/// Real runs of the harness on bad input, each checked for the verdict and message it must
/// give and for the logs it must keep. They reuse the matrix's build trees, so they are cheap.
fn error_paths(c: &Common, m: &MatrixFile, dir: &Path) -> Result<Vec<(String, bool, String)>> {
    let Some(upstream) = m.variants.get("upstream") else {
        return Ok(vec![("error paths".into(), false, "the matrix has no upstream variant".into())]);
    };
    let arch = if m.arches.contains(&Arch::Arm64) { Arch::Arm64 } else { m.arches[0] };
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    // A guest that cannot finish in time: TIMEOUT, with the console kept.
    let cell = probe_cell(c, m, derived(upstream, "hung", vec![], vec![]), arch, 3, dir)?;
    let console = std::fs::metadata(cell.dir.join("console.log")).map(|md| md.len()).unwrap_or(0);
    out.push((
        "hung guest".into(),
        cell.verdict.outcome == Outcome::Timeout && console > 0 && dir.join("hung/results.json").exists(),
        format!("{} ({}), console.log kept: {console} bytes", cell.verdict.outcome.name(), cell.verdict.reason),
    ));
    // A patch that does not apply: ERROR naming the patch and hunk; the tree stays usable.
    out.push(patched_cell(
        c,
        m,
        upstream,
        arch,
        dir,
        "does-not-apply",
        "--- a/mm/ksm.c\n+++ b/mm/ksm.c\n@@ -1,3 +1,3 @@\n no such\n-line in\n+ksm.c\n here\n",
        Outcome::Error,
        &["0001-does-not-apply.patch", "Hunk #1 FAILED"],
    )?);
    // A patch that applies but does not compile: ERROR with the build's last lines and log path.
    out.push(patched_cell(c, m, upstream, arch, dir, "does-not-compile",
        "--- a/mm/ksm.c\n+++ b/mm/ksm.c\n@@ -1,3 +1,4 @@\n // SPDX-License-Identifier: GPL-2.0-only\n+#error ksm-hotremove-harness: this build must fail\n /*\n  * Memory merging support.\n",
        Outcome::Error, &["this build must fail", "build.log"])?);
    // A guest kernel that panics at MEM_GOING_OFFLINE: FAIL at once (panic=-1, -no-reboot), no timeout.
    out.push(patched_cell(c, m, upstream, arch, dir, "panics",
        "--- a/mm/ksm.c\n+++ b/mm/ksm.c\n@@ -2906,6 +2906,7 @@\n \n \tswitch (action) {\n \tcase MEM_GOING_OFFLINE:\n+\t\tpanic(\"ksm-hotremove-harness: a guest that panics\");\n \t\t/*\n \t\t * Prevent ksm_do_scan(), unmerge_and_remove_all_rmap_items()\n \t\t * and remove_all_stable_nodes() while memory is going offline:\n",
        Outcome::Fail, &["the guest kernel died", "a guest that panics"])?);
    // A Kconfig symbol the arch cannot have: the configure step names it, no build starts.
    let frag = dir.join("impossible.config");
    std::fs::write(&frag, "# s390-only: Kconfig must drop it on arm64\nCONFIG_SCLP_TTY=y\n")?;
    let cell = probe_cell(c, m, derived(upstream, "impossible-kconfig", vec![], vec![frag]), Arch::Arm64, 60, dir)?;
    let msg = cell.host.harness_error.clone().unwrap_or_default();
    out.push((
        "dropped Kconfig symbol".into(),
        cell.verdict.outcome == Outcome::Error
            && msg.contains("CONFIG_SCLP_TTY requested y")
            && !cell.dir.join("build.log").exists(),
        msg.lines().take(2).collect::<Vec<_>>().join(" / "),
    ));
    // A broken matrix file: an error located by file, line and column.
    let yaml = dir.join("broken-matrix.yaml");
    std::fs::write(&yaml, "schema: 1\nkernel: {source: debian}\narches: [s390x, sparc]\n")?;
    let e = matrix::load(&yaml).err().map(|e| format!("{e:#}")).unwrap_or_default();
    out.push((
        "broken matrix YAML".into(),
        e.contains("broken-matrix.yaml:3:"),
        e.lines().next().unwrap_or("").to_string(),
    ));
    Ok(out)
}

/// `base` under another name, with extra patches and Kconfig fragments.
fn derived(base: &Variant, name: &str, patches: Vec<PathBuf>, kconfig: Vec<PathBuf>) -> Variant {
    let mut v = base.clone();
    v.name = name.into();
    v.patches.extend(patches);
    v.kconfig.extend(kconfig);
    v
}

/// One offline cell of `variant` on `arch`, run into `dir/<variant name>`.
fn probe_cell(
    c: &Common,
    m: &MatrixFile,
    variant: Variant,
    arch: Arch,
    timeout: u64,
    dir: &Path,
) -> Result<CellResult> {
    let out = dir.join(&variant.name);
    let cell = Cell {
        arch,
        expectation: variant.expectation(Scenario::Offline),
        variant,
        scenario: Scenario::Offline,
        timeout,
        mib: m.workload.mib,
    };
    run_cells(c, m, vec![cell], &out)?.cells.into_iter().next().context("interrupted before the cell ran")
}

/// Runs `base` plus one patch and expects `outcome` with every `needles` item in the harness
/// error or the verdict's reason, no timeout, and the cell's logs kept.
#[allow(clippy::too_many_arguments)]
fn patched_cell(
    c: &Common,
    m: &MatrixFile,
    base: &Variant,
    arch: Arch,
    dir: &Path,
    name: &str,
    patch: &str,
    outcome: Outcome,
    needles: &[&str],
) -> Result<(String, bool, String)> {
    let file = dir.join(format!("0001-{name}.patch"));
    std::fs::write(&file, patch)?;
    let cell = probe_cell(c, m, derived(base, name, vec![file], vec![]), arch, 60, dir)?;
    let msg = cell.host.harness_error.clone().unwrap_or_else(|| cell.verdict.reason.clone());
    let ok = cell.verdict.outcome == outcome
        && needles.iter().all(|n| msg.contains(n))
        && cell.host.timed_out.is_none()
        && cell.dir.join("reproduce.sh").exists();
    Ok((format!("patch {name}"), ok, format!("{}: {}", cell.verdict.outcome.name(), msg.lines().next().unwrap_or(""))))
}

/// Boots every mutant kernel of the matrix into `dir` and says, per cell, whether the
/// harness judged it as it must (never PASS).
pub fn run_mutants(
    c: &Common,
    m: &MatrixFile,
    only: &[String],
    skip: &[String],
    dir: &Path,
) -> Result<Vec<(bool, String)>> {
    let cells = crate::mutants::plan(m, only, skip);
    if cells.is_empty() {
        bail!("no mutant selected (the matrix defines: {})", m.mutants.keys().cloned().collect::<Vec<_>>().join(", "));
    }
    let n = cells.len();
    let r = run_cells(c, m, cells, dir)?;
    let mut out: Vec<(bool, String)> = r.cells.iter().map(|cell| crate::mutants::caught(m, cell)).collect();
    out.extend(r.not_run.iter().map(|id| (false, format!("{id}: not run"))));
    debug_assert_eq!(out.len(), n);
    Ok(out)
}

/// `cargo xtask mutants`: the mutant kernels alone; exit 0 when every one was caught.
pub fn mutants_cmd(c: &Common, only: &[String], skip: &[String]) -> Result<i32> {
    let m = c.load_matrix()?;
    let dir = c.results.join(format!("{}-mutants", crate::util::now_stamp()));
    let res = run_mutants(c, &m, only, skip, &dir)?;
    for (ok, line) in &res {
        println!("  [{}] {line}", if *ok { "caught" } else { "MISSED" });
    }
    let missed = res.iter().filter(|(ok, _)| !ok).count();
    println!("mutants: {} caught, {missed} missed   results: {}", res.len() - missed, dir.display());
    Ok(if missed == 0 { 0 } else { 1 })
}

/// `cargo xtask repro`: the reported warning, as the kernel wrote it, then what we make of it.
pub fn repro(c: &Common, arch: Arch) -> Result<i32> {
    let m = c.load_matrix()?;
    let a = MatrixArgs {
        only: vec![format!("arch={arch}"), "variant=prefix".into(), "scenario=cancel".into()],
        skip: vec![],
        list: false,
        json: false,
        cell: vec![],
        shard: None,
    };
    let cells = select(&m, &a)?;
    if cells.is_empty() {
        bail!("the matrix {} has no {arch} prefix/cancel cell", c.matrix.display());
    }
    let dir = c.results.join(format!("{}-repro-{arch}", crate::util::now_stamp()));
    let r = run_cells(c, &m, cells, &dir)?;
    let cell = &r.cells[0];
    let console = std::fs::read(cell.dir.join("console.log")).unwrap_or_default();
    let console = String::from_utf8_lossy(&console);
    let lines: Vec<&str> = console.lines().collect();
    let mut shown = false;
    for f in cell.findings.findings.iter().filter(|f| f.category == crate::console::Category::Lockdep) {
        let (a, b) = (f.first_line as usize, (f.last_line as usize).min(lines.len()));
        if a >= 1 && a <= b {
            println!("---- {} console lines {a}-{b} ----", cell.id);
            println!("{}", lines[a - 1..b].join("\n"));
            shown = true;
        }
    }
    if !shown {
        println!("(no lockdep report in {})", cell.dir.join("console.log").display());
    }
    println!("----");
    print_cell(cell);
    Ok(cell.verdict.outcome.exit_code())
}

/// `cargo xtask bench`: wall time of the matrix, per stage, warm (the cache as it is) and, with
/// `--cold`, first in an empty cache (sources extracted, every tree built from nothing).
pub fn bench(c: &Common, a: MatrixArgs, cold: bool) -> Result<i32> {
    let m = c.load_matrix()?;
    let out = c.results.join(format!("{}-bench", crate::util::now_stamp()));
    std::fs::create_dir_all(&out)?;
    let mut runs = Vec::new();
    let cold_cache = Cache::new(out.join("cold-cache"));
    let passes: Vec<(&str, Cache)> = if cold {
        vec![("cold", cold_cache.clone()), ("warm", cold_cache.clone())]
    } else {
        vec![("warm", c.cache.clone())]
    };
    for (name, cache) in passes {
        let cc = Common { cache: cache.clone(), results: out.clone(), ..c.clone() };
        if cache == cold_cache {
            // Reuse the host's busybox: a download is not what the cold number is about.
            for arch in Arch::ALL {
                let (from, to) = (c.cache.busybox(arch), cache.busybox(arch));
                if from.exists() && !to.exists() {
                    std::fs::create_dir_all(to.parent().unwrap())?;
                    std::fs::copy(&from, &to)?;
                }
            }
        }
        let t0 = std::time::Instant::now();
        let cells = select(&m, &a)?;
        let dir = out.join(name);
        let r = run_cells(&cc, &m, cells, &dir)?;
        let wall = t0.elapsed().as_secs_f64();
        let mut stages: std::collections::BTreeMap<String, f64> = Default::default();
        for cell in &r.cells {
            for (s, t) in &cell.stages {
                *stages.entry(s.clone()).or_default() += t;
            }
        }
        println!(
            "{name}: {} cells in {wall:.0}s, outcome {}; per stage: {}",
            r.cells.len(),
            r.outcome.name(),
            stages.iter().map(|(k, v)| format!("{k} {v:.0}s")).collect::<Vec<_>>().join(", ")
        );
        runs.push(serde_json::json!({ "pass": name, "wall_seconds": wall, "cells": r.cells.len(), "outcome": r.outcome,
            "stage_seconds": stages, "cell_seconds": r.cells.iter().map(|c| (c.id.clone(), c.seconds())).collect::<std::collections::BTreeMap<_, _>>() }));
    }
    if cold {
        let _ = std::fs::remove_dir_all(cold_cache.root());
    }
    std::fs::write(
        out.join("bench.json"),
        serde_json::to_vec_pretty(&serde_json::json!({ "schema": 1, "runs": runs }))?,
    )?;
    println!("bench: {}", out.join("bench.json").display());
    Ok(0)
}

/// `cargo xtask build`: only the kernel of (arch, variant), for a developer's own boots.
pub fn build_cmd(c: &Common, arch: Arch, variant: &str) -> Result<i32> {
    let m = c.load_matrix()?;
    let v = m.variants.get(variant).with_context(|| {
        format!(
            "unknown variant {variant:?}; {} defines: {}",
            c.matrix.display(),
            m.variants.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let src = crate::kernel::resolve_source(&c.cache, c.kernel_src(&m).as_deref())?;
    let out = c.results.join(format!("{}-build-{arch}-{variant}", crate::util::now_stamp()));
    let progress = Progress::new();
    let mut p = progress.cell(&format!("{arch}-{variant}"));
    let b = crate::kernel::build(
        &crate::kernel::BuildRequest {
            cache: &c.cache,
            repo: &crate::paths::repo_root(),
            src: &src,
            arch,
            variant: v,
            out_dir: &out,
            jobs: c.make_jobs,
            lockout_evidence: c.lockout_evidence,
        },
        &mut |s| p.stage(s),
    )?;
    p.finish("built");
    println!(
        "kernel: {}\nbuild tree: {}\nlogs and .config: {}\n({:.0}s, {})",
        b.image.display(),
        b.build_dir.display(),
        out.display(),
        b.seconds,
        if b.relinked { "relinked" } else { "nothing to rebuild" }
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(shard: Option<(usize, usize)>) -> MatrixArgs {
        MatrixArgs { only: vec![], skip: vec![], list: false, json: false, cell: vec![], shard }
    }

    #[test]
    fn shards_partition_the_matrix() {
        let m = matrix::load(&matrix::default_path(&crate::paths::repo_root())).unwrap();
        let all: Vec<String> = select(&m, &args(None)).unwrap().iter().map(Cell::id).collect();
        for n in 1..=5 {
            let mut joined: Vec<String> = Vec::new();
            for i in 1..=n {
                joined.extend(select(&m, &args(Some((i, n)))).unwrap().iter().map(Cell::id));
            }
            assert_eq!(joined, all, "{n} shards");
        }
        assert!(parse_shard("0/2").is_err() && parse_shard("3/2").is_err() && parse_shard("x").is_err());
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
    }

    #[test]
    fn an_unknown_cell_is_an_error_naming_it() {
        let m = matrix::load(&matrix::default_path(&crate::paths::repo_root())).unwrap();
        let mut a = args(None);
        a.cell = vec!["s390x-nope-offline".into()];
        assert!(select(&m, &a).unwrap_err().to_string().contains("s390x-nope-offline"));
    }
}
