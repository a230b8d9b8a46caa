//! Cells, end to end. One cell: build -> image -> boot + scenario (QMP on arm64) -> console
//! analysis -> verdict; it never returns an error: whatever goes wrong becomes the cell's ERROR
//! or TIMEOUT verdict, and every log stays in the cell's folder. Several: [`run_cells`], in
//! lanes (one per arch with `--jobs`), the report rewritten after every cell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::arch::MemoryMode;
use crate::cache::Cache;
use crate::console;
use crate::kernel::{self, KernelSource};
use crate::matrix::{Cell, MatrixFile};
use crate::progress::Progress;
use crate::report::{self, CellResult, Results};
use crate::tools;
use crate::verdict::{self, HostFacts};
use crate::vm;
use crate::vm::markers::{self, GuestParams};

mod options;

pub use options::Options;

/// Runs `cells` into `dir`, always writing the report, even on interruption: metadata.json
/// first, then results.json, junit.xml and summary.md after every cell and at the end.
pub fn run_cells(o: &Options, m: &MatrixFile, cells: Vec<Cell>, dir: &Path) -> Result<Results> {
    let plan = report::Plan::new(&o.matrix, cells.iter().map(|c| c.id().to_string()).collect(), "all".into());
    run_planned(o, m, cells, &plan, dir)
}

/// `run_cells` as one part of a larger plan (a shard, or one CI job's cells).
pub fn run_planned(o: &Options, m: &MatrixFile, cells: Vec<Cell>, plan: &report::Plan, dir: &Path) -> Result<Results> {
    let started = crate::util::now_rfc3339();
    let repo = crate::paths::repo_root();
    let ids: Vec<String> = cells.iter().map(|c| c.id().to_string()).collect();
    let run = serde_json::json!({ "cells": ids, "matrix": o.matrix, "cache": o.cache.root() });
    // Before anything that can fail or take long (resolving, even extracting, the sources): a
    // run killed at any point leaves a folder that says what it was and merges as unfinished.
    report::write_metadata(dir, &repo, &[], run.clone())?;
    let mut empty = results_of(&started, &cells, vec![], false, plan);
    empty.in_progress = true;
    report::write(dir, &empty)?;
    // Every kernel the cells need, resolved (and extracted) once, before any cell runs.
    let mut sources: BTreeMap<String, KernelSource> = BTreeMap::new();
    for c in &cells {
        if !sources.contains_key(&c.kernel.source) {
            sources.insert(c.kernel.source.clone(), kernel::resolve_source(&o.cache, &c.kernel.source)?);
        }
    }
    // Every kernel by its name on the kernel axis, in plan order: the report names them all.
    let mut kernels: Vec<(Option<&str>, &KernelSource)> = Vec::new();
    for c in &cells {
        if !kernels.iter().any(|(n, _)| *n == c.kernel.name.as_deref()) {
            kernels.push((c.kernel.name.as_deref(), &sources[&c.kernel.source]));
        }
    }
    report::write_metadata(dir, &repo, &kernels, run)?;
    let progress = Progress::new();
    for src in sources.values() {
        progress.println(&format!("kernel {} ({})", src.version, src.origin));
    }
    progress.println(&format!("results in {}", dir.display()));
    let repro = o.repro_args();
    let known = crate::known::load(&repo.join("configs/known-issues.yaml"))?;
    let ctx = Context {
        cache: &o.cache,
        repo: &repo,
        matrix: m,
        sources: &sources,
        make_jobs: o.make_jobs,
        repro_args: &repro,
        known: &known,
        lockout_evidence: o.lockout_evidence,
        debug_info: o.debug_info,
        console_cap: o.console_cap,
        guest_fault: o.guest_fault.as_deref(),
        bisecting: o.bisecting,
    };
    let done: Mutex<Vec<CellResult>> = Mutex::new(Vec::new());
    let run_lane = |lane: &[&Cell]| -> Result<()> {
        for cell in lane {
            if tools::interrupted() {
                return Ok(());
            }
            let id = cell.id().to_string();
            let mut p = progress.cell(&id);
            let r = run_cell(&ctx, cell, &dir.join(&id), &mut |s| p.stage(s));
            p.finish(&format!("{} {}", r.verdict.outcome.name(), r.verdict.reason));
            let mut d = done.lock().unwrap();
            d.push(r);
            // Partial report after every cell: a killed run still leaves the finished cells reported.
            let mut partial = results_of(&started, &cells, d.clone(), tools::interrupted(), plan);
            partial.in_progress = true;
            report::write(dir, &partial)?;
        }
        Ok(())
    };
    for group in lanes(&cells, o.jobs).chunks(o.jobs.max(1)) {
        std::thread::scope(|s| {
            let handles: Vec<_> = group.iter().map(|l| s.spawn(|| run_lane(l))).collect();
            handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a lane panicked"))))
        })?;
    }
    let results = results_of(&started, &cells, done.into_inner().unwrap(), tools::interrupted(), plan);
    report::write(dir, &results)?;
    Ok(results)
}

/// Lanes: cells of one arch stay in order in one lane (they share a build tree and switch
/// variants incrementally); with `jobs` > 1 up to that many arch lanes run side by side.
fn lanes(cells: &[Cell], jobs: usize) -> Vec<Vec<&Cell>> {
    if jobs <= 1 {
        return vec![cells.iter().collect()];
    }
    let mut by_arch: Vec<Vec<&Cell>> = Vec::new();
    for cell in cells {
        match by_arch.iter_mut().find(|l| l[0].arch == cell.arch) {
            Some(l) => l.push(cell),
            None => by_arch.push(vec![cell]),
        }
    }
    by_arch
}

/// The report of the cells run so far, in plan order whatever order the lanes finished in.
fn results_of(
    started: &str,
    planned: &[Cell],
    mut done: Vec<CellResult>,
    interrupted: bool,
    plan: &report::Plan,
) -> Results {
    done.sort_by_key(|r| planned.iter().position(|c| c.id() == r.id));
    report::parity::apply(&mut done);
    Results {
        schema: report::SCHEMA,
        started: started.to_string(),
        finished: crate::util::now_rfc3339(),
        interrupted,
        in_progress: false,
        outcome: report::outcome_of(&done),
        not_run: planned
            .iter()
            .map(Cell::id)
            .filter(|id| !done.iter().any(|r| &r.id == id))
            .map(|id| id.to_string())
            .collect(),
        cells: done,
        plan: Some(plan.clone()),
        missing: vec![],
    }
}

pub struct Context<'a> {
    pub cache: &'a Cache,
    pub repo: &'a Path,
    /// The matrix the cells came from (for hints naming its other variants).
    pub matrix: &'a MatrixFile,
    /// The kernel source of each cell, by its `kernel.source`.
    pub sources: &'a BTreeMap<String, KernelSource>,
    pub make_jobs: usize,
    /// Extra words for reproduce.sh (`--kernel-src ...`, `--matrix ...`).
    pub repro_args: &'a [String],
    pub known: &'a [crate::known::KnownIssue],
    /// Kernel tracing for the `lockout-held` check (off: `--no-lockout-evidence`).
    pub lockout_evidence: bool,
    /// Reduced DWARF, the cell's vmlinux kept and its report frames decoded (`--debug-info`).
    pub debug_info: bool,
    pub console_cap: u64,
    pub guest_fault: Option<&'a str>,
    /// A tree without the fix is judged, not refused (`bisect`).
    pub bisecting: bool,
}

pub fn run_cell(ctx: &Context, cell: &Cell, dir: &Path, stage: &mut dyn FnMut(&str)) -> CellResult {
    let _ = std::fs::create_dir_all(dir);
    report::write_reproduce(dir, ctx.repo, cell, ctx.repro_args);
    let mut clock = StageClock { stages: Vec::new(), t: Instant::now(), current: "build".into() };
    stage("build");
    let mut seen = vm::Observed::default();
    let mut absent = BTreeMap::new();
    let (built, outcome) = build_and_boot(ctx, cell, dir, &mut clock, &mut seen, &mut absent, stage);
    let host = HostFacts {
        timed_out: seen.timed_out,
        qemu_exit: seen.qemu_exit,
        harness_error: outcome.err().map(|e| format!("{}: {e:#}", clock.current)),
        dimm_removed: seen.dimm_removed,
        dimm_expected: cell.arch.machine().memory == MemoryMode::DimmHotplug,
        interrupted: tools::interrupted(),
        console_capped: seen.console_capped,
        kernel_sha256: built.as_ref().map(|b| b.image_sha256.clone()),
    };
    clock.next("analyze", stage);
    // Bounded by the console cap; the markers were parsed as the console streamed in.
    let text = std::fs::read(dir.join("console.log")).unwrap_or_default();
    let analysis = console::analyze_bytes(&text);
    let guest = markers::summarize(&seen.markers);
    let boot_line_seen = cell.variant.boot_line.as_deref().is_some_and(|l| String::from_utf8_lossy(&text).contains(l));
    let lockout = ctx.lockout_evidence.then(|| crate::lockout::analyze(&guest.trace, &cell.variant.must_call));
    let selftests = cell.selftests.as_ref().map(|p| crate::selftest::Report {
        cases: crate::selftest::results(p, &guest.selftests, &absent),
        same_as: p.same_as.clone(),
    });
    let verdict = verdict::judge(&verdict::Inputs {
        expectation: &cell.expectation,
        scenario: cell.scenario,
        analysis: &analysis,
        guest: &guest,
        host: &host,
        boot_line: cell.variant.boot_line.as_deref(),
        boot_line_seen,
        known: ctx.known,
        today: &crate::known::today(),
        cell: &cell.id().to_string(),
        lockout: lockout.as_ref(),
        must_call: &cell.variant.must_call,
        selftests: cell.selftests.as_ref().zip(selftests.as_ref().map(|s| s.cases.as_slice())),
        cycles: cell.cycles,
    });
    let decoded = built.as_ref().and_then(|b| b.vmlinux.as_deref()).map(|vmlinux| {
        clock.next("decode", stage);
        let console = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = console.lines().collect();
        let tokens = kernel::decode::frame_tokens(analysis.problems().flat_map(|f| f.lines_in(&lines).iter().copied()));
        kernel::decode::decode(cell.arch, vmlinux, &tokens, dir)
    });
    clock.next("", &mut |_| {});
    let r = CellResult {
        id: cell.id(),
        expectation: cell.expectation.clone(),
        verdict,
        findings: analysis,
        guest,
        lockout,
        host,
        stages: clock.stages,
        kernel_rebuilt: built.as_ref().map(|b| b.relinked),
        decoded,
        selftests,
        dir: dir.to_path_buf(),
    };
    let write = |name: &str, bytes: Vec<u8>| crate::util::write_atomic(&dir.join(name), &bytes);
    let _ = write("findings.json", serde_json::to_vec_pretty(&r.findings).unwrap_or_default());
    let _ = write("ksm.json", serde_json::to_vec_pretty(&r.guest).unwrap_or_default());
    let _ = write("cell.json", serde_json::to_vec_pretty(&r).unwrap_or_default());
    r
}

/// The stages that touch processes: the kernel, the initramfs, the boot. Returns the build
/// (None: no kernel) and how the stages ended.
fn build_and_boot(
    ctx: &Context,
    cell: &Cell,
    dir: &Path,
    clock: &mut StageClock,
    seen: &mut vm::Observed,
    absent: &mut BTreeMap<String, String>,
    stage: &mut dyn FnMut(&str),
) -> (Option<kernel::Built>, Result<()>) {
    let req = kernel::BuildRequest {
        cache: ctx.cache,
        repo: ctx.repo,
        src: &ctx.sources[&cell.kernel.source],
        arch: cell.arch,
        variant: &cell.variant,
        out_dir: dir,
        jobs: ctx.make_jobs,
        lockout_evidence: ctx.lockout_evidence,
        debug_info: ctx.debug_info,
    };
    if !ctx.bisecting && cell.variant.patches.is_empty() && cell.expectation.is_clean() {
        if let Err(e) = kernel::check_has_lockout(req.src) {
            return (None, Err(e));
        }
    }
    let built = match kernel::build(&req, &mut |s| stage(&format!("build:{s}"))) {
        Ok(b) => b,
        Err(e) if format!("{e:#}").contains("does not apply") => {
            let hint = applying_variants(ctx, cell, req.src);
            return (None, Err(anyhow::anyhow!("{e:#}\n{hint}")));
        }
        Err(e) => return (None, Err(e)),
    };
    // The cell's own copy of the image, booted below and not kept (the build tree has it;
    // its sha256 in cell.json says which one this cell booted).
    let _cleanup = RemoveOnDrop(built.image.clone());
    let mut extra = Vec::new();
    if let Some(plan) = &cell.selftests {
        clock.next("selftests", stage);
        match selftest_files(ctx, cell, plan) {
            Ok((files, missing)) => {
                extra = files;
                *absent = missing;
            }
            Err(e) => return (Some(built), Err(e)),
        }
    }
    clock.next("image", stage);
    let img = match vm::build_image(ctx.cache, ctx.repo, cell.arch, &extra).context("building the initramfs") {
        Ok(img) => img,
        Err(e) => return (Some(built), Err(e)),
    };
    clock.next("boot", stage);
    let boot = vm::BootRequest {
        arch: cell.arch,
        kernel: &built.image,
        initrd: &img.initrd,
        guest: GuestParams {
            scenario: cell.scenario.name(),
            mib: cell.mib,
            memory: cell.arch.machine().memory.guest_param(),
            evidence: ctx.lockout_evidence,
            run_word: &cell.variant.run_word,
            must_call: &cell.variant.must_call,
            fault: ctx.guest_fault,
            selftests: cell.selftests.is_some(),
            cycles: cell.cycles,
        },
        timeout: Duration::from_secs(cell.timeout),
        dir,
        name: &cell.id().to_string(),
        console_cap: ctx.console_cap,
    };
    let booted = vm::boot(&boot, seen, stage);
    (Some(built), booted)
}

/// The kernel selftests of the cell's tree for the image (`selftests/NAME`, `selftests/list`),
/// and the programs the tree does not have.
fn selftest_files(
    ctx: &Context,
    cell: &Cell,
    plan: &crate::matrix::SelftestPlan,
) -> Result<(Vec<vm::ExtraFile>, BTreeMap<String, String>)> {
    let src = &ctx.sources[&cell.kernel.source];
    let st = kernel::selftests::build(ctx.cache, src, cell.arch, plan)?;
    let mut files = vec![vm::ExtraFile { path: "selftests/list".into(), data: st.list.into_bytes(), mode: 0o644 }];
    for (name, path) in &st.files {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        files.push(vm::ExtraFile { path: format!("selftests/{name}"), data, mode: 0o755 });
    }
    Ok((files, st.absent))
}

/// After a series that does not apply: which of the matrix's variants on this kernel do.
fn applying_variants(ctx: &Context, cell: &Cell, src: &KernelSource) -> String {
    let kdef = ctx.matrix.kernel_defs().into_iter().find(|k| ctx.matrix.kernel_of(k).name == cell.kernel.name);
    let Some(kdef) = kdef else { return String::new() };
    let ok: Vec<String> = ctx
        .matrix
        .variants
        .values()
        .map(|b| kdef.variant(b))
        .filter(|v| v.name != cell.variant.name)
        .filter(|v| {
            kernel::expand_series(&v.patch_paths(ctx.repo))
                .and_then(|s| kernel::series_applies(&src.pristine, &s))
                .unwrap_or(false)
        })
        .map(|v| v.name)
        .collect();
    if ok.is_empty() {
        format!("no variant's series applies to this tree ({} {})", src.origin, src.version)
    } else {
        format!("variants whose series apply to this tree ({}): {}", src.version, ok.join(", "))
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Seconds spent per stage, in order.
struct StageClock {
    stages: Vec<(String, f64)>,
    t: Instant,
    current: String,
}

impl StageClock {
    fn next(&mut self, name: &str, stage: &mut dyn FnMut(&str)) {
        self.stages.push((std::mem::replace(&mut self.current, name.to_string()), self.t.elapsed().as_secs_f64()));
        self.t = Instant::now();
        if !name.is_empty() {
            stage(name);
        }
    }
}
