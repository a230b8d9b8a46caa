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
            "== error paths: a hung guest, bad patches, a panicking guest, a selftest that does not build, a dropped Kconfig symbol, a broken matrix"
        );
        let errs = error_paths(&o, &m, &dir.join("error-paths"))?;
        let err_fail = super::faults::print(&errs);
        eprintln!("== --debug-info: a prefix cell with reduced DWARF, its report's frames decoded to file:line");
        let debug_info = debug_info_check(&o, &m, &dir.join("debug-info"))?;
        eprintln!("== build stamp: a build where nothing changed skips make; one byte of C or Rust never does");
        let stamp = stamp_check(&o, &m, &dir.join("build-stamp"))?;
        eprintln!("== bisect: a kernel git tree with a known history, bisected for the commit that brought the splat and the one that cured it");
        let bisect = super::bisect::suite_check(&o, &m, &dir.join("bisect"))?;
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
        println!("build stamp: {}{}", if stamp.ok { "ok: " } else { "FAILED: " }, stamp.detail);
        println!("bisect: {}{}", if bisect.ok { "ok: " } else { "FAILED: " }, bisect.detail);
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
            && stamp.ok
            && bisect.ok
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
    // A selftest that does not build (here: a library the linker cannot find, put into the
    // matrix's program on purpose): ERROR naming the program and what stopped the linker, no boot.
    let mut broken = m.clone();
    if let Some(p) = broken.selftests.programs.get_mut("ksm_tests") {
        p.libs.push("ksmh-no-such-library".into());
    }
    let variant = derived(upstream, "selftest-does-not-build", vec![], vec![]);
    let cell = probe_scenario_cell(o, &broken, variant, arch, Scenario::Selftests, 60, dir)?;
    let msg = cell.host.harness_error.clone().unwrap_or_default();
    out.push(Check::new(
        "a selftest that does not build",
        cell.verdict.outcome == Outcome::Error
            && msg.contains("the selftest ksm_tests of ")
            && msg.contains(&format!("does not build for {arch}"))
            && msg.contains("ksmh-no-such-library")
            && !cell.dir.join("console.log").exists(),
        msg.lines().take(2).collect::<Vec<_>>().join(" / "),
    ));
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
    let o = Options { debug_info: true, ..o.clone() };
    let mut ok = true;
    let mut details = Vec::new();
    // Every arch: the frame formats and the symbol tables differ (s390's relocatable vmlinux
    // has each symbol twice, arm64's entry code has no line table).
    for &arch in &m.arches {
        let (arch_ok, detail) = decode_cell_check(&o, m, prefix, arch, &dir.join(arch.name()))?;
        ok &= arch_ok;
        details.push(detail);
    }
    Ok(Check::new(name, ok, details.join("; ")))
}

/// One arch's offline prefix cell with `--debug-info`: PASS, every frame decoded as the tree's
/// faddr2line decodes it, the KSM callback in mm/ksm.c, the vmlinux kept, the page showing it.
fn decode_cell_check(o: &Options, m: &MatrixFile, prefix: &Variant, arch: Arch, dir: &Path) -> Result<(bool, String)> {
    let cell = probe_cell(o, m, m.first_kernel().1.variant(prefix), arch, 300, dir)?;
    let decoded = cell.decoded.clone().unwrap_or_default();
    // The one-pass decoding must give what faddr2line gives, frame by frame: the newest tree's
    // (6.1's skips symbols that are not FUNC, such as arm64's entry code, which later ones
    // decode; over 6.1's own frames the two agree otherwise, checked by hand on both arches).
    let newest = m.kernel_defs().pop().map(|k| m.kernel_of(&k)).unwrap_or_else(|| m.first_kernel().0);
    let reference = {
        let console = std::fs::read(cell.dir.join("console.log")).unwrap_or_default();
        let text = String::from_utf8_lossy(&console);
        let lines: Vec<&str> = text.lines().collect();
        let tokens = crate::kernel::decode::frame_tokens(
            cell.findings.problems().flat_map(|f| f.lines_in(&lines).iter().copied()),
        );
        let src = crate::kernel::resolve_source(&o.cache, &newest.source)?;
        let vmlinux = cell.dir.join(&decoded.vmlinux);
        crate::kernel::decode::decode_faddr2line(&src.pristine, arch, &vmlinux, &tokens, &cell.dir)
    };
    let differ: Vec<&String> = reference
        .frames
        .keys()
        .chain(decoded.frames.keys())
        .filter(|k| reference.frames.get(*k) != decoded.frames.get(*k))
        .collect();
    let callback = decoded.frames.iter().find(|(k, _)| k.starts_with("ksm_memory_callback+"));
    let place = callback.and_then(|(_, sites)| sites.last()).map(|s| s.place.clone()).unwrap_or_default();
    let page = std::fs::read_to_string(cell.dir.join("index.html")).unwrap_or_default();
    let ok = cell.verdict.outcome == Outcome::Pass
        && differ.is_empty()
        && place.starts_with("mm/ksm.c:")
        && cell.dir.join(&decoded.vmlinux).is_file()
        && page.contains("Stack frames decoded to file:line")
        && page.contains(&place);
    let detail = format!(
        "{} {}: {} frames decoded in one pass in {:.1} s ({}), ksm_memory_callback at {}{}",
        cell.id,
        cell.verdict.outcome.name(),
        decoded.frames.len(),
        cell.stages.iter().find(|(s, _)| s == "decode").map_or(f64::NAN, |(_, t)| *t),
        if differ.is_empty() {
            format!("as faddr2line: {} frames", reference.frames.len())
        } else {
            format!("faddr2line differs on {differ:?}")
        },
        if place.is_empty() { "(not decoded)" } else { &place },
        decoded.error.map(|e| format!(" ({e})")).unwrap_or_default()
    );
    Ok((ok, detail))
}

/// The build stamp for real, on the first kernel: a second build of an unchanged tree skips
/// make and gives the very same kernel; one byte of mm/ksm.c (a message's first letter) is
/// rebuilt and is in the new vmlinux; one byte of rust-ksm gives another kernel.
fn stamp_check(o: &Options, m: &MatrixFile, dir: &Path) -> Result<Check> {
    let name = "a no-op build is skipped, a one-byte edit never is";
    let (Some(upstream), Some(rust)) = (m.variants.get("upstream"), m.variants.get("rust")) else {
        return Ok(Check::new(name, false, "the matrix has no upstream or rust variant"));
    };
    let (k, kdef) = m.first_kernel();
    let src = crate::kernel::resolve_source(&o.cache, &k.source)?;
    let arch = if m.arches.contains(&Arch::S390x) { Arch::S390x } else { m.arches[0] };
    let repo = crate::paths::repo_root();
    let build = |v: &Variant, tag: &str| -> Result<(crate::kernel::Built, Vec<String>)> {
        let out = dir.join(tag);
        std::fs::create_dir_all(&out)?;
        let req = crate::kernel::BuildRequest {
            cache: &o.cache,
            repo: &repo,
            src: &src,
            arch,
            variant: v,
            out_dir: &out,
            jobs: o.make_jobs,
            lockout_evidence: o.lockout_evidence,
            debug_info: false,
        };
        let mut stages = Vec::new();
        let b = crate::kernel::build(&req, &mut |s| stages.push(s.to_string()))?;
        Ok((b, stages))
    };
    let fixture = |f: &str| repo.join("xtask/tests/fixtures/build-stamp").join(f);
    let in_vmlinux = |b: &crate::kernel::Built, text: &[u8]| {
        std::fs::read(b.build_dir.join("vmlinux")).is_ok_and(|v| v.windows(text.len()).any(|w| w == text))
    };
    // Seen both ways, which must agree: the stage line, and what build() returns.
    let skipped = |s: &[String], b: &crate::kernel::Built| {
        let stage = s.iter().any(|s| s == "up-to-date");
        (stage == b.up_to_date).then_some(stage)
    };
    let up = kdef.variant(upstream);
    let (b1, _) = build(&up, "1-upstream")?;
    let (b2, s2) = build(&up, "2-upstream-unchanged")?;
    let edited = derived(&up, "upstream-one-byte", vec![fixture("one-byte-ksm.patch")], vec![]);
    let (b3, s3) = build(&edited, "3-upstream-one-byte-of-ksm-c")?;
    let c_edit_in =
        in_vmlinux(&b3, b"Ksm: register sysfs failed") && !in_vmlinux(&b3, b"\x013ksm: register sysfs failed");
    let rust = kdef.variant(rust);
    let (b4, _) = build(&rust, "4-rust")?;
    let mut rust_edited = rust.clone();
    rust_edited.name = "rust-one-byte".into();
    rust_edited.rust_patches.push(fixture("one-byte-rust.patch"));
    let (b5, s5) = build(&rust_edited, "5-rust-one-byte-of-rust-ksm")?;
    let short = |b: &crate::kernel::Built| b.image_sha256.chars().take(12).collect::<String>();
    let ok = skipped(&s2, &b2) == Some(true)
        && b2.image_sha256 == b1.image_sha256
        && skipped(&s3, &b3) == Some(false)
        && b3.image_sha256 != b1.image_sha256
        && c_edit_in
        && skipped(&s5, &b5) == Some(false)
        && b5.image_sha256 != b4.image_sha256;
    let detail = format!(
        "{arch} {}: unchanged {} ({:.1} s, {} -> {}); one byte of mm/ksm.c {} ({:.0} s, {}, the new text in vmlinux: {c_edit_in}); \
         one byte of rust-ksm {} ({:.0} s, {} -> {})",
        src.id,
        match skipped(&s2, &b2) {
            Some(true) => "skipped make",
            Some(false) => "ran make",
            None => "stage and result disagree",
        },
        b2.seconds,
        short(&b1),
        short(&b2),
        if skipped(&s3, &b3) == Some(false) { "rebuilt" } else { "SKIPPED" },
        b3.seconds,
        short(&b3),
        if skipped(&s5, &b5) == Some(false) { "rebuilt" } else { "SKIPPED" },
        b5.seconds,
        short(&b4),
        short(&b5),
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
    probe_scenario_cell(o, m, variant, arch, Scenario::Offline, timeout, dir)
}

/// One cell of `variant` on `arch` in `scenario`, run into `dir/<variant name>`.
fn probe_scenario_cell(
    o: &Options,
    m: &MatrixFile,
    variant: Variant,
    arch: Arch,
    scenario: Scenario,
    timeout: u64,
    dir: &Path,
) -> Result<CellResult> {
    let out = dir.join(&variant.name);
    let mut cell = m.cell(m.first_kernel().0, arch, variant, scenario);
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

    /// The error paths alone, for real, on this machine's cache (`cargo test -p xtask --lib
    /// the_error_paths_on_the_real_cache -- --ignored --nocapture`); `cargo xtask test` runs them.
    #[test]
    #[ignore]
    fn the_error_paths_on_the_real_cache() {
        crate::cmd::run_check_on_the_real_cache("error-paths", |o, m, dir| {
            let checks = super::error_paths(o, m, dir)?;
            let failed = crate::cmd::faults::print(&checks);
            Ok(Check::new("error paths", failed == 0, format!("{failed} of {} failed", checks.len())))
        });
    }

    /// The `--debug-info` check alone, for real, on every arch (`--ignored --nocapture`).
    #[test]
    #[ignore]
    fn the_debug_info_check_on_the_real_cache() {
        crate::cmd::run_check_on_the_real_cache("debug-info-check", super::debug_info_check);
    }

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
