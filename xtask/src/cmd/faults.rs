//! The fault tests of `cargo xtask test` (and `cargo xtask faults` alone): real runs of the
//! harness, as separate processes, hurt the way unattended runs get hurt: two runs at once on
//! one arch, a SIGKILL mid-boot, a kill in the middle of a patch switch, a guest that floods its
//! console. Each must end with the right verdict and a clear message, leave no QEMU running,
//! lose no result, and leave the next run correct.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::CellsOpts;
use crate::report::Results;
use crate::runner::Options;
use crate::tools::Group;
use crate::verdict::Check;

/// Runs the fault tests alone: two runs at once, SIGKILL mid-boot, a killed patch switch, a flood
#[derive(clap::Args)]
pub struct Faults {
    #[command(flatten)]
    cells: CellsOpts,
}

impl Faults {
    pub fn run(self) -> Result<i32> {
        let o = self.cells.options();
        let dir = self.cells.kernel.results.stamped("faults")?;
        let checks = run_faults(&o, &dir)?;
        let failed = print(&checks);
        println!("results: {}", dir.display());
        Ok(i32::from(failed > 0))
    }
}

/// Prints the checks; how many failed.
pub(super) fn print(checks: &[Check]) -> usize {
    for c in checks {
        println!("  [{}] {}: {}", if c.ok { "ok" } else { "!!" }, c.name, c.detail);
    }
    checks.iter().filter(|c| !c.ok).count()
}

/// A harness run of our own binary, started in its own group (so the suite can kill it and
/// only it), its output captured.
struct Harness {
    group: Group,
}

impl Harness {
    fn start(args: &[String], env: &[(&str, &str)]) -> Result<Harness> {
        let exe = own_binary()?;
        let mut e = duct::cmd(exe, args).stdout_capture().stderr_capture().unchecked();
        for (k, v) in env {
            e = e.env(k, v);
        }
        Ok(Harness { group: Group::start(e).context("starting a harness run")? })
    }

    fn pid(&self) -> i32 {
        self.group.handle.pids().first().copied().unwrap_or(0) as i32
    }

    /// Exit code (None: killed by a signal, with the signal) and stdout + stderr.
    fn wait(self) -> Result<(Option<i32>, Option<i32>, String)> {
        use std::os::unix::process::ExitStatusExt as _;
        let out = self.group.handle.wait()?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok((out.status.code(), out.status.signal(), text))
    }
}

/// Our own binary. The suite's `cargo test` and clippy may rebuild it while we run, and then
/// /proc/self/exe names the replaced file as `PATH (deleted)`: the new binary at PATH is the
/// same code, so that is the one to start.
fn own_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding our own binary")?;
    if exe.exists() {
        return Ok(exe);
    }
    let s = exe.to_string_lossy();
    let path = PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s));
    anyhow::ensure!(path.exists(), "our own binary {} is gone", exe.display());
    Ok(path)
}

/// `run` of one cell into `results` with the options the suite itself runs with.
fn run_args(o: &Options, results: &Path, cell: &[&str], extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["run".into()];
    v.extend(cell.iter().map(|s| s.to_string()));
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend(o.passthrough_args());
    v.extend(["--results-dir".into(), results.display().to_string()]);
    v
}

/// The single results folder a `run` made in `root`, and its results.json.
fn only_results(root: &Path) -> Result<(PathBuf, Results)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let d = dirs.pop().with_context(|| format!("no results folder in {}", root.display()))?;
    let p = d.join("results.json");
    let r = serde_json::from_slice(&std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?)
        .with_context(|| format!("{} is not valid", p.display()))?;
    Ok((d, r))
}

/// The one cell folder of a `run`'s results folder (its name carries the kernel when the
/// matrix has a kernel axis, so it is found rather than spelled).
fn cell_dir(results: &Path) -> Option<PathBuf> {
    std::fs::read_dir(results).ok()?.flatten().map(|e| e.path()).find(|p| p.is_dir())
}

/// Processes whose command line mentions `needle` (QEMU names its console file in the results).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) || name == std::process::id().to_string() {
            continue;
        }
        if let Ok(b) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&b).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(format!("pid {name}: {}", cmd.chars().take(120).collect::<String>()));
            }
        }
    }
    out
}

pub(super) fn run_faults(o: &Options, dir: &Path) -> Result<Vec<Check>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    // A test that cannot even start is a failed check, not the end of the suite's report.
    let failed = |name: &str, e: anyhow::Error| vec![Check::new(name, false, format!("{e:#}"))];
    eprintln!("== faults: two runs at once on one arch");
    out.extend(concurrent(o, &dir.join("concurrent")).unwrap_or_else(|e| failed("two runs at once", e)));
    eprintln!("== faults: the harness SIGKILLed mid-boot");
    out.extend(killed_mid_boot(o, &dir.join("sigkill")).unwrap_or_else(|e| failed("SIGKILL mid-boot", e)));
    eprintln!("== faults: a patch switch killed half-way");
    out.extend(killed_patch_switch(o, &dir.join("patch-switch")).unwrap_or_else(|e| failed("killed patch switch", e)));
    eprintln!("== faults: a guest that floods its console");
    out.extend(flood(o, &dir.join("flood")).map(|c| vec![c]).unwrap_or_else(|e| failed("console flood", e)));
    eprintln!("== faults: watch, a round per edit, then Ctrl-C");
    out.extend(watch(o, &dir.join("watch")).map(|c| vec![c]).unwrap_or_else(|e| failed("watch", e)));
    Ok(out)
}

/// `watch` as a developer uses it: a first round, an edit of its `--patch` file (one byte of
/// mm/ksm.c's message) starts a second round that names the file and boots the edited kernel;
/// SIGINT between rounds ends it with exit 0.
fn watch(o: &Options, dir: &Path) -> Result<Check> {
    std::fs::create_dir_all(dir)?;
    let patch = dir.join("candidate.patch");
    let text =
        std::fs::read_to_string(crate::paths::repo_root().join("xtask/tests/fixtures/build-stamp/one-byte-ksm.patch"))?;
    std::fs::write(&patch, &text)?;
    let results = dir.join("results");
    let p = patch.display().to_string();
    let mut args: Vec<String> =
        ["watch", "--arch", "s390x", "--patch", &p, "--settle-ms", "300"].map(String::from).into();
    args.extend(o.passthrough_args());
    args.extend(["--results-dir".into(), results.display().to_string()]);
    let out = dir.join("watch.out");
    let g = Group::start(duct::cmd(own_binary()?, &args).stderr_to_stdout().stdout_path(&out).unchecked())
        .context("starting watch")?;
    let rounds = |n: usize, limit: Duration| -> Vec<String> {
        let t = Instant::now();
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let lines: Vec<String> = text.lines().filter(|l| l.starts_with('[')).map(str::to_string).collect();
            if lines.len() >= n || t.elapsed() > limit || g.handle.try_wait().ok().flatten().is_some() {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let first = rounds(1, Duration::from_secs(900));
    std::fs::write(&patch, text.replace("+\t\tpr_err(\"Ksm: register", "+\t\tpr_err(\"KSm: register"))?;
    let both = rounds(2, Duration::from_secs(900));
    // SAFETY: a signal to the process group we started.
    unsafe { libc::kill(-g.pgid, libc::SIGINT) };
    let t = Instant::now();
    let code = loop {
        if let Some(o) = g.handle.try_wait()? {
            break o.status.code();
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = g.handle.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let shas: Vec<Option<String>> = {
        let mut dirs: Vec<PathBuf> =
            std::fs::read_dir(&results)?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        dirs.iter()
            .map(|d| {
                let r: Option<Results> =
                    std::fs::read(d.join("results.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
                r.and_then(|r| r.cells.first().and_then(|c| c.host.kernel_sha256.clone()))
            })
            .collect()
    };
    let second = both.get(1).cloned().unwrap_or_default();
    let ok = first.len() == 1
        && first[0].contains(": PASS — ")
        && second.contains("candidate.patch changed: ")
        && second.contains(": PASS — ")
        && shas.len() == 2
        && shas[0].is_some()
        && shas[0] != shas[1]
        && code == Some(0);
    Ok(Check::new(
        "watch runs a round per edit and stops on Ctrl-C",
        ok,
        format!(
            "rounds: {:?}; kernels of the rounds differ: {}; exit after SIGINT {code:?}",
            both,
            shas.len() == 2 && shas[0] != shas[1]
        ),
    ))
}

/// Two runs of different variants on one arch at once: the second waits for the tree (and says
/// so), both are judged right, and they booted different kernels. A third with `--no-wait`
/// fails at once naming the holder.
fn concurrent(o: &Options, dir: &Path) -> Result<Vec<Check>> {
    let (ra, rb, rc) = (dir.join("a"), dir.join("b"), dir.join("c"));
    let a = Harness::start(
        &run_args(o, &ra, &["--arch", "s390x", "--variant", "prefix", "--scenario", "cancel"], &[]),
        &[],
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let b = Harness::start(
        &run_args(o, &rb, &["--arch", "s390x", "--variant", "upstream", "--scenario", "offline"], &[]),
        &[],
    )?;
    std::thread::sleep(Duration::from_secs(1));
    let c = Harness::start(
        &run_args(o, &rc, &["--arch", "s390x", "--variant", "upstream", "--scenario", "offline"], &["--no-wait"]),
        &[],
    )?;
    let (c_code, _, c_text) = c.wait()?;
    let (a_code, _, a_text) = a.wait()?;
    let (b_code, _, b_text) = b.wait()?;
    let waited = [&a_text, &b_text].iter().any(|t| t.contains("waiting for the s390x kernel tree"));
    let sha = |r: &Path| {
        only_results(r).ok().and_then(|(_, res)| res.cells.first().and_then(|c| c.host.kernel_sha256.clone()))
    };
    let (sa, sb) = (sha(&ra), sha(&rb));
    let verdict = |r: &Path| {
        only_results(r)
            .map(|(_, res)| res.cells.first().map_or("no cell".into(), |c| c.verdict.outcome.name().to_string()))
            .unwrap_or_else(|e| format!("{e:#}"))
    };
    Ok(vec![
        Check::new(
            "two runs at once on s390x",
            a_code == Some(0) && b_code == Some(0) && waited && sa.is_some() && sa != sb,
            format!(
                "prefix/cancel {} (exit {a_code:?}), upstream/offline {} (exit {b_code:?}); one waited for the tree: {waited}; different kernels booted: {}",
                verdict(&ra),
                verdict(&rb),
                sa.is_some() && sa != sb
            ),
        ),
        Check::new(
            "--no-wait while another run holds the tree",
            c_code == Some(2) && c_text.contains("is held by pid"),
            format!("exit {c_code:?}: {}", c_text.lines().find(|l| l.contains("held by")).unwrap_or("(no message)")),
        ),
    ])
}

/// SIGKILL of the harness while its guest boots: QEMU must not outlive it, the partial
/// results must be valid and merge as unfinished, and the next run must pass.
fn killed_mid_boot(o: &Options, dir: &Path) -> Result<Vec<Check>> {
    let cell = ["--arch", "arm64", "--variant", "upstream", "--scenario", "offline"];
    let first = dir.join("killed");
    let h = Harness::start(&run_args(o, &first, &cell, &[]), &[])?;
    let pid = h.pid();
    let t0 = Instant::now();
    let console = loop {
        let found = std::fs::read_dir(&first)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .and_then(|e| cell_dir(&e.path()))
            .map(|c| c.join("console.log"));
        if let Some(c) =
            found.filter(|c| std::fs::read_to_string(c).is_ok_and(|t| t.contains("@@KSMH phase name=boot")))
        {
            break Some(c);
        }
        if t0.elapsed() > Duration::from_secs(600) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // SAFETY: kill sends a signal to the harness process we started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let (_, signal, _) = h.wait()?;
    std::thread::sleep(Duration::from_secs(2));
    let left = processes_mentioning(&first.display().to_string());
    let mut checks = vec![Check::new(
        "SIGKILL mid-boot leaves no QEMU",
        console.is_some() && signal == Some(libc::SIGKILL) && left.is_empty(),
        match (&console, left.first()) {
            (None, _) => "the guest never reached its boot phase".to_string(),
            (Some(_), Some(p)) => format!("still running: {p}"),
            (Some(_), None) => format!("killed (signal {signal:?}) mid-boot; no process left"),
        },
    )];
    // The killed run's folder: a valid results.json in progress, which merges as unfinished.
    let merged = dir.join("merged");
    let partial = only_results(&first);
    let merge = partial.as_ref().ok().map(|(d, _)| crate::report::merge(&merged, std::slice::from_ref(d), None));
    let detail = match (&partial, &merge) {
        (Err(e), _) => format!("{e:#}"),
        (Ok(_), Some(Ok(r))) => format!("merge: {} ({})", r.outcome.name(), r.missing.join("; ")),
        (Ok(_), Some(Err(e))) => format!("merge refused it: {e:#}"),
        (Ok(_), None) => unreachable!(),
    };
    let ok = matches!(&partial, Ok((_, r)) if r.in_progress)
        && matches!(&merge, Some(Ok(r)) if r.outcome == crate::verdict::Outcome::Error && r.missing.iter().any(|m| m.contains("unfinished")));
    checks.push(Check::new("a killed run's results merge as unfinished", ok, detail));
    let (code, _, text) = Harness::start(&run_args(o, &dir.join("next"), &cell, &[]), &[])?.wait()?;
    checks.push(Check::new(
        "the run after the SIGKILL",
        code == Some(0),
        format!("exit {code:?}: {}", text.lines().find(|l| l.contains("arm64-upstream-offline: ")).unwrap_or("")),
    ));
    Ok(checks)
}

/// A kill between two patches of the rust series (fault point `patch-switch`): the next run
/// restores the half-switched tree by itself and passes.
fn killed_patch_switch(o: &Options, dir: &Path) -> Result<Vec<Check>> {
    let cell = ["--arch", "s390x", "--variant", "rust", "--scenario", "offline"];
    // First a run of another variant, so that the rust series really has to be switched in.
    let (pre, _, _) =
        Harness::start(&run_args(o, &dir.join("before"), &["--arch", "s390x", "--variant", "upstream"], &[]), &[])?
            .wait()?;
    let (_, signal, text) =
        Harness::start(&run_args(o, &dir.join("killed"), &cell, &[]), &[("KSMH_FAULT", "patch-switch")])?.wait()?;
    let killed = signal == Some(libc::SIGKILL) && text.contains("KSMH_FAULT=patch-switch");
    let (code, _, text) = Harness::start(&run_args(o, &dir.join("next"), &cell, &[]), &[])?.wait()?;
    Ok(vec![Check::new(
        "a patch switch killed half-way recovers",
        pre == Some(0) && killed && code == Some(0),
        format!(
            "killed between patches: {killed}; next run exit {code:?}: {}",
            text.lines().find(|l| l.contains("s390x-rust-offline: ")).unwrap_or("")
        ),
    )])
}

/// A guest that prints without end is stopped at the console cap: ERROR saying so, the console
/// kept at exactly the cap, no QEMU left.
fn flood(o: &Options, dir: &Path) -> Result<Check> {
    let cap_mib = 8u64;
    let cap = cap_mib.to_string();
    let args = run_args(
        o,
        dir,
        &["--arch", "s390x", "--variant", "upstream"],
        &["--guest-fault", "flood", "--console-cap-mib", &cap],
    );
    let (code, _, _) = Harness::start(&args, &[])?.wait()?;
    let r = only_results(dir);
    let cell = r.as_ref().ok().and_then(|(_, r)| r.cells.first().cloned());
    let size = r
        .as_ref()
        .ok()
        .and_then(|(d, _)| cell_dir(d))
        .and_then(|c| std::fs::metadata(c.join("console.log")).ok())
        .map(|m| m.len());
    let left = processes_mentioning(&dir.display().to_string());
    let reason = cell.as_ref().map(|c| c.verdict.reason.clone()).unwrap_or_default();
    Ok(Check::new(
        "a console flood is stopped at the cap",
        code == Some(2) && reason.contains("cap") && size == Some(cap_mib << 20) && left.is_empty(),
        format!("exit {code:?}: {reason}; console.log {size:?} bytes; processes left: {}", left.len()),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_processes_by_command_line() {
        let mut child = std::process::Command::new("sleep").arg("30.123456").spawn().unwrap();
        // Polled: between fork and exec the child still shows our own command line.
        let mut found = vec![];
        for _ in 0..50 {
            found = super::processes_mentioning("sleep 30.123456");
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        let _ = child.wait();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(super::processes_mentioning("no-such-process-ksmh-xyz").is_empty());
    }
}
