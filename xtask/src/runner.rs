//! One cell, end to end: build -> image -> boot + scenario (QMP on arm64) -> console analysis
//! -> verdict. It never returns an error: whatever goes wrong becomes the cell's ERROR or
//! TIMEOUT verdict, and every log stays in the cell's folder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::arch::MemoryMode;
use crate::cache::Cache;
use crate::console::{self, Analysis};
use crate::kernel::{self, KernelSource};
use crate::matrix::{Cell, Expectation};
use crate::verdict::{self, HostFacts, Outcome, Verdict};
use crate::vm;
use crate::vm::markers::{self, GuestParams, GuestReport};

pub struct Context<'a> {
    pub cache: &'a Cache,
    pub repo: &'a Path,
    pub src: &'a KernelSource,
    pub make_jobs: usize,
    /// Extra words for reproduce.sh (`--kernel-src ...`, `--matrix ...`).
    pub repro_args: &'a [String],
    pub known: &'a [crate::known::KnownIssue],
    /// Kernel tracing for the `lockout-held` check (off: `--no-lockout-evidence`).
    pub lockout_evidence: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    pub id: String,
    pub arch: String,
    pub variant: String,
    pub scenario: String,
    pub expectation: Expectation,
    pub verdict: Verdict,
    pub findings: Analysis,
    pub guest: GuestReport,
    /// The offline lockout as the kernel's trace showed it (None: evidence off).
    #[serde(default)]
    pub lockout: Option<crate::lockout::Evidence>,
    pub host: HostFacts,
    /// Seconds per stage, in order.
    pub stages: Vec<(String, f64)>,
    pub kernel_rebuilt: Option<bool>,
    pub dir: PathBuf,
}

impl CellResult {
    pub fn seconds(&self) -> f64 {
        self.stages.iter().map(|s| s.1).sum()
    }
}

pub fn run_cell(ctx: &Context, cell: &Cell, dir: &Path, stage: &mut dyn FnMut(&str)) -> CellResult {
    let _ = std::fs::create_dir_all(dir);
    write_reproduce(ctx, cell, dir);
    let mut clock = StageClock { stages: Vec::new(), t: Instant::now(), current: "build".into() };
    stage("build");
    let mut seen = vm::Observed::default();
    let (kernel_rebuilt, outcome) = build_and_boot(ctx, cell, dir, &mut clock, &mut seen, stage);
    let host = HostFacts {
        timed_out: seen.timed_out,
        qemu_exit: seen.qemu_exit,
        harness_error: outcome.err().map(|e| format!("{}: {e:#}", clock.current)),
        dimm_removed: seen.dimm_removed,
        dimm_expected: cell.arch.machine().memory == MemoryMode::DimmHotplug,
        interrupted: crate::tools::interrupted(),
    };
    clock.next("analyze", stage);
    let text = std::fs::read(dir.join("console.log")).unwrap_or_default();
    let analysis = console::analyze_bytes(&text);
    let lossy = String::from_utf8_lossy(&text);
    let guest = markers::summarize(&markers::parse(&lossy));
    let boot_line_seen = cell.variant.boot_line.as_deref().is_some_and(|l| lossy.contains(l));
    let lockout = ctx.lockout_evidence.then(|| crate::lockout::analyze(&guest.trace, &cell.variant.must_call));
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
        cell: &cell.id(),
        lockout: lockout.as_ref(),
        must_call: &cell.variant.must_call,
    });
    clock.next("", &mut |_| {});
    let r = CellResult {
        id: cell.id(),
        arch: cell.arch.name().into(),
        variant: cell.variant.name.clone(),
        scenario: cell.scenario.name().into(),
        expectation: cell.expectation.clone(),
        verdict,
        findings: analysis,
        guest,
        lockout,
        host,
        stages: clock.stages,
        kernel_rebuilt,
        dir: dir.to_path_buf(),
    };
    let _ = std::fs::write(dir.join("findings.json"), serde_json::to_vec_pretty(&r.findings).unwrap_or_default());
    let _ = std::fs::write(dir.join("ksm.json"), serde_json::to_vec_pretty(&r.guest).unwrap_or_default());
    let _ = std::fs::write(dir.join("cell.json"), serde_json::to_vec_pretty(&r).unwrap_or_default());
    r
}

/// The stages that touch processes: the kernel, the initramfs, the boot. Returns whether the
/// kernel was relinked (None: no kernel) and how the stages ended.
fn build_and_boot(
    ctx: &Context,
    cell: &Cell,
    dir: &Path,
    clock: &mut StageClock,
    seen: &mut vm::Observed,
    stage: &mut dyn FnMut(&str),
) -> (Option<bool>, Result<()>) {
    let req = kernel::BuildRequest {
        cache: ctx.cache,
        repo: ctx.repo,
        src: ctx.src,
        arch: cell.arch,
        variant: &cell.variant,
        out_dir: dir,
        jobs: ctx.make_jobs,
        lockout_evidence: ctx.lockout_evidence,
    };
    let built = match kernel::build(&req, &mut |s| stage(&format!("build:{s}"))) {
        Ok(b) => b,
        Err(e) => return (None, Err(e)),
    };
    clock.next("image", stage);
    let img = match vm::build_image(ctx.cache, ctx.repo, cell.arch).context("building the initramfs") {
        Ok(img) => img,
        Err(e) => return (Some(built.relinked), Err(e)),
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
        },
        timeout: Duration::from_secs(cell.timeout),
        dir,
        name: &cell.id(),
    };
    (Some(built.relinked), vm::boot(&boot, seen, stage))
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

fn write_reproduce(ctx: &Context, cell: &Cell, dir: &Path) {
    let mut words = vec![
        "cargo".to_string(),
        "xtask".into(),
        "run".into(),
        "--arch".into(),
        cell.arch.name().into(),
        "--variant".into(),
        cell.variant.name.clone(),
        "--scenario".into(),
        cell.scenario.name().into(),
        "--mib".into(),
        cell.mib.to_string(),
    ];
    words.extend(ctx.repro_args.iter().cloned());
    let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
    let script = format!(
        "#!/bin/sh\n# Reruns exactly this cell ({}) from the repository it came from.\nset -e\ncd {}\nexec {}\n",
        cell.id(),
        shell_quote(&ctx.repo.display().to_string()),
        quoted.join(" ")
    );
    let p = dir.join("reproduce.sh");
    let _ = std::fs::write(&p, script);
    let _ = std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The most severe verdict of the cells (ERROR when no cell ran: nothing was shown to work).
pub fn outcome_of(results: &[CellResult]) -> Outcome {
    Outcome::worst(results.iter().map(|r| r.verdict.outcome))
}
