//! One cell, end to end: build -> image -> boot + scenario (QMP on arm64) -> console analysis
//! -> verdict. It never returns an error: whatever goes wrong becomes the cell's ERROR or
//! TIMEOUT verdict, and every log stays in the cell's folder.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::arch::{BootSpec, MemoryMode, DIMM_MIB};
use crate::cache::Cache;
use crate::console::markers::{self, GuestReport};
use crate::console::{self, Analysis};
use crate::matrix::{Cell, Expectation};
use crate::qmp::Qmp;
use crate::source::KernelSource;
use crate::verdict::{self, HostFacts, Outcome, Verdict};

/// No console output for this long means the guest stopped making progress.
pub const INACTIVITY: Duration = Duration::from_secs(150);

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
    let mut host =
        HostFacts { dimm_expected: cell.arch.machine().memory == MemoryMode::DimmHotplug, ..Default::default() };
    let mut clock = StageClock { stages: Vec::new(), t: Instant::now(), current: "build".into() };
    stage("build");
    let mut kernel_rebuilt = None;
    let built = crate::build::build(
        &crate::build::BuildRequest {
            cache: ctx.cache,
            repo: ctx.repo,
            src: ctx.src,
            arch: cell.arch,
            variant: &cell.variant,
            out_dir: dir,
            jobs: ctx.make_jobs,
            lockout_evidence: ctx.lockout_evidence,
        },
        &mut |s| stage(&format!("build:{s}")),
    );
    let outcome = built.and_then(|b| {
        kernel_rebuilt = Some(b.relinked);
        clock.next("image", stage);
        let img = crate::image::build(ctx.cache, ctx.repo, cell.arch).context("building the initramfs")?;
        clock.next("boot", stage);
        boot(cell, ctx.lockout_evidence, &b.image, &img.initrd, dir, &mut host, stage)
    });
    if let Err(e) = &outcome {
        host.harness_error = Some(format!("{}: {e:#}", clock.current));
    }
    if crate::tools::interrupted() {
        host.interrupted = true;
    }
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

/// Boots the kernel and plays the scenario's host side until QEMU exits, the cell times out,
/// or the guest goes quiet. Console to console.log, QEMU's own output to qemu.log.
fn boot(
    cell: &Cell,
    evidence: bool,
    kernel: &Path,
    initrd: &Path,
    dir: &Path,
    host: &mut HostFacts,
    stage: &mut dyn FnMut(&str),
) -> Result<()> {
    let m = cell.arch.machine();
    crate::tools::require_cmd(m.qemu)?;
    let console_log = dir.join("console.log");
    let _ = std::fs::remove_file(&console_log);
    std::fs::File::create(&console_log)?;
    // Unix socket paths are limited to 108 bytes: keep the socket short and outside the results.
    let sock = std::env::temp_dir().join(format!("ksmh-{}-{}.qmp", std::process::id(), cell.id()));
    let _ = std::fs::remove_file(&sock);
    let mut extra =
        format!("ksmh.scenario={} ksmh.mib={} ksmh.memory={}", cell.scenario.name(), cell.mib, m.memory.guest_param());
    extra.push_str(&format!(" ksmh.evidence={} ksmh.run_word={}", u8::from(evidence), cell.variant.run_word));
    if !cell.variant.must_call.is_empty() {
        extra.push_str(&format!(" ksmh.must_call={}", cell.variant.must_call.join(",")));
    }
    let args =
        m.qemu_args(&BootSpec { kernel, initrd, console_log: &console_log, qmp_socket: &sock, cmdline_extra: &extra });
    std::fs::write(dir.join("qemu-cmdline.txt"), format!("{} {}\n", m.qemu, args.join(" ")))?;
    let qemu_log = dir.join("qemu.log");
    let vm = crate::tools::Group::start(
        duct::cmd(m.qemu, &args).stdin_null().stdout_path(&qemu_log).stderr_to_stdout().unchecked(),
    )
    .with_context(|| format!("starting {}", m.qemu))?;
    let qmp = Qmp::connect(&sock, &dir.join("qmp.log"), Duration::from_secs(15));
    let mut qmp = match qmp {
        Ok(q) => q,
        Err(e) => {
            std::thread::sleep(Duration::from_millis(300));
            anyhow::bail!(
                "QEMU did not start: {e:#}\n{}\n(see {})",
                crate::util::tail_lines(&qemu_log, 10),
                qemu_log.display()
            );
        }
    };
    let t0 = Instant::now();
    let mut last_output = Instant::now();
    let mut offset = 0u64;
    let mut pending = String::new();
    let mut lineno = 0u64;
    let result = loop {
        let grew = read_new(&console_log, &mut offset, &mut pending)?;
        if grew {
            last_output = Instant::now();
        }
        while let Some(nl) = pending.find('\n') {
            let line: String = pending.drain(..=nl).collect();
            lineno += 1;
            if let Some(mk) = markers::parse_line(&line, lineno) {
                if mk.event == "phase" {
                    if let Some(p) = mk.get("name") {
                        stage(&format!("guest:{p}"));
                    }
                }
                if mk.event == "hotplug-request" {
                    match mk.get("action") {
                        Some("add") => qmp.add_dimm("dimm0", DIMM_MIB)?,
                        Some("remove") => {
                            let r = qmp.remove_dimm("dimm0", Duration::from_secs(60));
                            let empty = qmp.memory_devices().map(|n| n == 0).unwrap_or(false);
                            host.dimm_removed = Some(r.is_ok() && empty);
                            if let Err(e) = r {
                                let _ = std::fs::write(dir.join("qmp-error.txt"), format!("{e:#}\n"));
                            }
                        }
                        other => anyhow::bail!("guest asked for unknown hotplug action {other:?}"),
                    }
                }
            }
        }
        if let Ok(Some(out)) = vm.handle.try_wait() {
            host.qemu_exit = out.status.code();
            break Ok(());
        }
        if crate::tools::interrupted() {
            break Ok(());
        }
        if t0.elapsed() > Duration::from_secs(cell.timeout) {
            host.timed_out = Some(format!("the cell's {} s timeout expired", cell.timeout));
            break Ok(());
        }
        if last_output.elapsed() > INACTIVITY {
            host.timed_out =
                Some(format!("no console output for {} s: the guest stopped making progress", INACTIVITY.as_secs()));
            break Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(qmp);
    drop(vm); // kills the process group if still running
    let _ = read_new(&console_log, &mut offset, &mut pending);
    let _ = std::fs::remove_file(&sock);
    result
}

fn read_new(path: &Path, offset: &mut u64, pending: &mut String) -> Result<bool> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len <= *offset {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(*offset))?;
    let mut buf = Vec::with_capacity((len - *offset) as usize);
    f.take(len - *offset).read_to_end(&mut buf)?;
    *offset += buf.len() as u64;
    pending.push_str(&String::from_utf8_lossy(&buf));
    Ok(true)
}

/// The most severe verdict of the cells (ERROR when no cell ran: nothing was shown to work).
pub fn outcome_of(results: &[CellResult]) -> Outcome {
    Outcome::worst(results.iter().map(|r| r.verdict.outcome))
}
