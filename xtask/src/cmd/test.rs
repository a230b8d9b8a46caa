//! `cargo xtask test`: the project's whole test suite as CI runs it: the host tests of every
//! crate (unit, property and loom model tests), the matrix with real boots as two shards merged
//! like the CI fan-out, the mutant kernels, and the harness's own error paths.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::CellsOpts;
use crate::arch::Arch;
use crate::matrix::{self, Cell, CellId, MatrixFile, Scenario, Selection, Variant};
use crate::report::{self, CellResult};
use crate::runner::{self, Options};
use crate::tools;
use crate::verdict::{Check, Outcome};

/// The whole test suite as CI runs it: host tests (cargo test), then the matrix with real boots
#[derive(clap::Args)]
pub struct Test {
    #[command(flatten)]
    cells: CellsOpts,
}

impl Test {
    pub fn run(self) -> Result<i32> {
        let o = self.cells.options();
        eprintln!("== host tests: cargo test --workspace --locked");
        let repo = crate::paths::repo_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Each in its own process group, like every long child: a killed suite leaves none behind.
        let visible = |args: &[&str]| tools::run_visible(duct::cmd(&cargo, args).dir(&repo)).unwrap_or(false);
        let host_ok = visible(&["test", "--workspace", "--locked"]);
        eprintln!("== cargo clippy --workspace --all-targets -- -D warnings");
        let clippy_ok = visible(&["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]);
        eprintln!("== rust-ksm under cargo-mutants: every viable mutant caught (.cargo/mutants.toml)");
        let (rust_mutants_ok, mutants_line) = match tools::which("cargo-mutants") {
            Some(_) => match visible(&["mutants", "-p", "rust-ksm"]) {
                true => (true, "ok: no missed mutant (target/mutants.out)".to_string()),
                false => (false, "FAILED (see target/mutants.out/missed.txt)".to_string()),
            },
            None => (false, "FAILED: cargo-mutants is not installed: run cargo xtask setup".to_string()),
        };
        eprintln!("== the Actions workflow under zizmor --offline");
        let (zizmor_ok, zizmor_line) = match tools::which("zizmor") {
            Some(_) => match tools::run_visible(duct::cmd!("zizmor", "--offline", ".github/workflows/").dir(&repo)) {
                Ok(true) => (true, "ok: zizmor --offline .github/workflows/ has no finding".to_string()),
                _ => (false, "FAILED: zizmor --offline .github/workflows/ reports findings".to_string()),
            },
            // Not every machine can install it (PyPI); say so instead of passing in silence.
            None => (
                true,
                "SKIPPED: zizmor not installed (cargo xtask setup installs it from PyPI when it can)".to_string(),
            ),
        };
        // The matrix runs as two shards merged into one report, exactly as the CI fan-out does,
        // and the merged report must hold every planned cell once, in plan order.
        eprintln!("== real boots: the matrix, as shards 1/2 and 2/2, then report merge");
        let m = o.load_matrix()?;
        let selection = self.cells.filter.selection();
        let planned: Vec<CellId> = matrix::select(&m, &selection)?.iter().map(Cell::id).collect();
        let planned_ids: Vec<String> = planned.iter().map(CellId::to_string).collect();
        let mut shard_dirs = Vec::new();
        let mut shard_cells: Vec<Vec<String>> = Vec::new();
        for i in 1..=2 {
            let cells = matrix::select(&m, &Selection { shard: Some((i, 2)), ..selection.clone() })?;
            if !cells.is_empty() {
                shard_cells.push(cells.iter().map(|c| c.id().to_string()).collect());
                let plan = report::Plan::new(&o.matrix, planned_ids.clone(), format!("shard {i}/2"));
                shard_dirs.push(super::matrix::run_matrix(&o, &self.cells.kernel, &m, cells, &plan)?.1);
            }
        }
        let dir = self.cells.kernel.results.stamped("test")?;
        // The CI rehearsal: the shard folders moved elsewhere (as if downloaded from other
        // machines) and merged there; then merged again without the last shard.
        let away = dir.join("shards-moved");
        std::fs::create_dir_all(&away)?;
        let mut moved = Vec::new();
        for (i, d) in shard_dirs.iter().enumerate() {
            let to = away.join(format!("shard-{}", i + 1));
            std::fs::rename(d, &to).with_context(|| format!("moving {} to {}", d.display(), to.display()))?;
            moved.push(to);
        }
        let r = report::merge(&dir, &moved, None)?;
        let (rehearsal_ok, rehearsal_line) = missing_shard_check(&away, &moved, &shard_cells)?;
        println!("{}", report::table(&r));
        let merged: Vec<CellId> = r.cells.iter().map(|c| c.id.clone()).collect();
        let merge_ok = merged == planned;
        let pass = r.cells.iter().filter(|c| c.verdict.outcome == Outcome::Pass).count();
        let fail = r.cells.len() - pass + r.not_run.len();
        println!("results: {}", dir.display());
        eprintln!("== the merged report's index.html in headless Chromium");
        let (html_ok, html_line) =
            crate::report::html::browser::suite_check(&dir, &planned.iter().map(CellId::to_string).collect::<Vec<_>>());
        eprintln!("== mutant kernels: each must be judged as the matrix says, never PASS");
        let mutants = super::mutants::run_mutants(&o, &m, &self.cells.filter, &dir.join("mutants"))?;
        let mutants_missed = mutants.iter().filter(|(ok, _)| !ok).count();
        super::print_mutants(&mutants);
        eprintln!(
            "== error paths: a hung guest, bad patches, a panicking guest, a dropped Kconfig symbol, a broken matrix"
        );
        let errs = error_paths(&o, &m, &dir.join("error-paths"))?;
        let err_fail = super::faults::print(&errs);
        eprintln!("== --debug-info: a prefix cell with reduced DWARF, its report's frames decoded to file:line");
        let debug_info = debug_info_check(&o, &m, &dir.join("debug-info"))?;
        eprintln!("== faults: concurrent runs, SIGKILL, a killed patch switch, a console flood");
        let faults = super::faults::run_faults(&o, &dir.join("faults"))?;
        let faults_fail = super::faults::print(&faults);
        println!("host tests: {}", if host_ok { "ok" } else { "FAILED" });
        println!("clippy -D warnings: {}", if clippy_ok { "ok" } else { "FAILED" });
        println!("error paths: {} passed, {err_fail} failed", errs.len() - err_fail);
        println!("faults: {} passed, {faults_fail} failed", faults.len() - faults_fail);
        println!("shards merged into the full plan: {}", if merge_ok { "ok" } else { "MISMATCH" });
        println!("merge without a shard: {rehearsal_line}");
        println!("workflow lint: {zizmor_line}");
        println!("debug info: {}{}", if debug_info.ok { "ok: " } else { "FAILED: " }, debug_info.detail);
        println!("rust-ksm mutation testing: {mutants_line}");
        println!("html report: {html_line}");
        println!("mutants: {} caught, {mutants_missed} missed", mutants.len() - mutants_missed);
        println!("matrix: {pass} passed, {fail} failed");
        let all = host_ok
            && clippy_ok
            && merge_ok
            && rehearsal_ok
            && zizmor_ok
            && rust_mutants_ok
            && html_ok
            && fail == 0
            && err_fail == 0
            && faults_fail == 0
            && debug_info.ok
            && mutants_missed == 0
            && !r.interrupted;
        Ok(if all { 0 } else { 1 })
    }
}

/// The inputs of the error paths: patches, a Kconfig fragment and a matrix file, each broken on
/// purpose. Fixture files rather than patches/: they are test inputs of the harness, not
/// kernel variants, and keeping them beside the other fixtures leaves patches/ what the matrix
/// builds.
fn fixture(name: &str) -> PathBuf {
    crate::paths::repo_root().join("xtask/tests/fixtures/error-paths").join(name)
}

/// The patched cells: the fixture `0001-NAME.patch` on top of upstream, the outcome it must
/// get, and what the harness error or verdict reason must name.
const PATCHED: &[(&str, Outcome, &[&str])] = &[
    // A patch that does not apply: ERROR naming the patch and hunk; the tree stays usable.
    ("does-not-apply", Outcome::Error, &["0001-does-not-apply.patch", "Hunk #1 FAILED"]),
    // A patch that applies but does not compile: ERROR with the build's last lines and log path.
    ("does-not-compile", Outcome::Error, &["this build must fail", "build.log"]),
    // A guest kernel that panics at MEM_GOING_OFFLINE: FAIL at once (panic=-1, -no-reboot), no timeout.
    ("panics", Outcome::Fail, &["the guest kernel died", "a guest that panics"]),
];

/// Real runs of the harness on bad input, each checked for the verdict and message it must
/// give and for the logs it must keep. They reuse the matrix's build trees, so they are cheap.
fn error_paths(o: &Options, m: &MatrixFile, dir: &Path) -> Result<Vec<Check>> {
    let Some(upstream) = m.variants.get("upstream") else {
        return Ok(vec![Check::new("error paths", false, "the matrix has no upstream variant")]);
    };
    let arch = if m.arches.contains(&Arch::Arm64) { Arch::Arm64 } else { m.arches[0] };
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    // A guest that cannot finish in time: TIMEOUT, with the console kept.
    let cell = probe_cell(o, m, derived(upstream, "hung", vec![], vec![]), arch, 3, dir)?;
    let console = std::fs::metadata(cell.dir.join("console.log")).map(|md| md.len()).unwrap_or(0);
    out.push(Check::new(
        "hung guest",
        cell.verdict.outcome == Outcome::Timeout && console > 0 && dir.join("hung/results.json").exists(),
        format!("{} ({}), console.log kept: {console} bytes", cell.verdict.outcome.name(), cell.verdict.reason),
    ));
    for &(name, outcome, needles) in PATCHED {
        let patch = fixture(&format!("0001-{name}.patch"));
        let cell = probe_cell(o, m, derived(upstream, name, vec![patch], vec![]), arch, 60, dir)?;
        let msg = cell.host.harness_error.clone().unwrap_or_else(|| cell.verdict.reason.clone());
        let ok = cell.verdict.outcome == outcome
            && needles.iter().all(|n| msg.contains(n))
            && cell.host.timed_out.is_none()
            && cell.dir.join("reproduce.sh").exists();
        let detail = format!("{}: {}", cell.verdict.outcome.name(), msg.lines().next().unwrap_or(""));
        out.push(Check::new(format!("patch {name}"), ok, detail));
    }
    // A Kconfig symbol the arch cannot have: the configure step names it, no build starts.
    let frag = fixture("impossible.config");
    let cell = probe_cell(o, m, derived(upstream, "impossible-kconfig", vec![], vec![frag]), Arch::Arm64, 60, dir)?;
    let msg = cell.host.harness_error.clone().unwrap_or_default();
    out.push(Check::new(
        "dropped Kconfig symbol",
        cell.verdict.outcome == Outcome::Error
            && msg.contains("CONFIG_SCLP_TTY requested y")
            && !cell.dir.join("build.log").exists(),
        msg.lines().take(2).collect::<Vec<_>>().join(" / "),
    ));
    // --kernel-src trees the harness cannot use: each a clear error before any build.
    let fake = |name: &str, version: (u32, u32), ksm: &str| -> Result<PathBuf> {
        let t = dir.join(name);
        std::fs::create_dir_all(t.join("mm"))?;
        std::fs::create_dir_all(t.join("scripts/kconfig"))?;
        std::fs::write(
            t.join("Makefile"),
            format!("VERSION = {}\nPATCHLEVEL = {}\nSUBLEVEL = 0\nEXTRAVERSION =\n", version.0, version.1),
        )?;
        std::fs::write(t.join("mm/ksm.c"), ksm)?;
        std::fs::write(t.join("scripts/kconfig/merge_config.sh"), "")?;
        Ok(t)
    };
    let old = Options { kernel_src: Some(fake("tree-5.15", (5, 15), "KSM_RUN_OFFLINE")?), ..o.clone() };
    let e = old.load_matrix().err().map(|e| format!("{e:#}")).unwrap_or_default();
    out.push(Check::new("--kernel-src older than every kernel", e.contains("older than the oldest kernel"), e));
    let nofix = Options { kernel_src: Some(fake("tree-nofix", (6, 12), "/* no lockout */")?), ..o.clone() };
    let nm = nofix.load_matrix()?;
    let cell = probe_cell(&nofix, &nm, nm.first_kernel().1.variant(upstream), arch, 60, &dir.join("nofix"))?;
    let msg = cell.host.harness_error.clone().unwrap_or_default();
    out.push(Check::new(
        "--kernel-src without the offline lockout, upstream expected clean",
        cell.verdict.outcome == Outcome::Error
            && msg.contains("no KSM_RUN_OFFLINE")
            && !cell.dir.join("build.log").exists(),
        msg.lines().next().unwrap_or("").to_string(),
    ));
    // A broken matrix file: an error located by file, line and column.
    let e = broken_matrix_error();
    out.push(Check::new("broken matrix YAML", e.contains("broken-matrix.yaml:3:"), e.lines().next().unwrap_or("")));
    Ok(out)
}

/// `--debug-info` for real: an offline prefix cell built with reduced DWARF (its own build tree:
/// cold the first time on a cache). Its lockdep report's frames must come back decoded, the KSM
/// callback in mm/ksm.c, with the vmlinux kept beside them and the cell page showing them.
fn debug_info_check(o: &Options, m: &MatrixFile, dir: &Path) -> Result<Check> {
    let name = "--debug-info decodes the splat's frames";
    let Some(prefix) = m.variants.get("prefix") else {
        return Ok(Check::new(name, false, "the matrix has no prefix variant"));
    };
    let arch = if m.arches.contains(&Arch::S390x) { Arch::S390x } else { m.arches[0] };
    let o = Options { debug_info: true, ..o.clone() };
    let cell = probe_cell(&o, m, m.first_kernel().1.variant(prefix), arch, 300, dir)?;
    let decoded = cell.decoded.clone().unwrap_or_default();
    let callback = decoded.frames.iter().find(|(k, _)| k.starts_with("ksm_memory_callback+"));
    let place = callback.and_then(|(_, sites)| sites.last()).map(|s| s.place.clone()).unwrap_or_default();
    let page = std::fs::read_to_string(cell.dir.join("index.html")).unwrap_or_default();
    let ok = cell.verdict.outcome == Outcome::Pass
        && place.starts_with("mm/ksm.c:")
        && cell.dir.join(&decoded.vmlinux).is_file()
        && page.contains("Stack frames decoded to file:line")
        && page.contains(&place);
    let detail = format!(
        "{} {}: {} frames decoded, ksm_memory_callback at {}{}",
        cell.id,
        cell.verdict.outcome.name(),
        decoded.frames.len(),
        if place.is_empty() { "(not decoded)" } else { &place },
        decoded.error.map(|e| format!(" ({e})")).unwrap_or_default()
    );
    Ok(Check::new(name, ok, detail))
}

fn broken_matrix_error() -> String {
    matrix::load(&fixture("broken-matrix.yaml")).err().map(|e| format!("{e:#}")).unwrap_or_default()
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
    o: &Options,
    m: &MatrixFile,
    variant: Variant,
    arch: Arch,
    timeout: u64,
    dir: &Path,
) -> Result<CellResult> {
    let out = dir.join(&variant.name);
    let mut cell = m.cell(m.first_kernel().0, arch, variant, Scenario::Offline);
    cell.timeout = timeout;
    runner::run_cells(o, m, vec![cell], &out)?.cells.into_iter().next().context("interrupted before the cell ran")
}

/// Merges all shards but the last: the merge must not be green, and must name exactly the
/// last shard's cells as missing.
fn missing_shard_check(
    away: &std::path::Path,
    moved: &[PathBuf],
    shard_cells: &[Vec<String>],
) -> Result<(bool, String)> {
    let (Some(last), true) = (shard_cells.last(), moved.len() >= 2) else {
        return Ok((true, "SKIPPED: fewer than two shards".into()));
    };
    let partial = report::merge(&away.join("merged-without-last-shard"), &moved[..moved.len() - 1], None)?;
    let named: Vec<&str> = partial.missing.iter().filter_map(|m| m.split(':').next()).collect();
    let want: Vec<&str> = last.iter().map(String::as_str).collect();
    let ok = partial.outcome != Outcome::Pass && named == want;
    Ok((
        ok,
        format!(
            "{} ({}), missing: {}",
            if ok { "ok" } else { "WRONG" },
            partial.outcome.name(),
            partial.missing.join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The broken inputs are broken in the way the error paths expect (the kernel-side ones
    /// only show with a real build and boot).
    #[test]
    fn the_error_path_inputs_are_there_and_the_matrix_one_fails_with_its_location() {
        for (name, _, _) in PATCHED {
            let text = std::fs::read_to_string(fixture(&format!("0001-{name}.patch"))).unwrap();
            assert!(text.starts_with("--- a/mm/ksm.c\n+++ b/mm/ksm.c\n@@ "), "{name}");
        }
        assert!(std::fs::read_to_string(fixture("impossible.config")).unwrap().contains("CONFIG_SCLP_TTY=y"));
        assert!(broken_matrix_error().contains("broken-matrix.yaml:3:"), "{}", broken_matrix_error());
    }
}
