//! The results folder: metadata.json first, then per cell its own folder (written by the
//! runner), and at the end (also when cells failed or the run was interrupted) results.json,
//! junit.xml and summary.md, plus the same table on the terminal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::runner::CellResult;
use crate::verdict::Outcome;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    pub started: String,
    pub finished: String,
    pub interrupted: bool,
    /// Written while cells are still running: `outcome` is only that of the cells so far.
    #[serde(default)]
    pub in_progress: bool,
    pub outcome: Outcome,
    /// Cells planned but never run (interrupted, or a previous cell stopped the run).
    pub not_run: Vec<String>,
    pub cells: Vec<CellResult>,
}

fn tool_version(cmd: &str, arg: &str) -> String {
    duct::cmd!(cmd, arg)
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .read()
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "not found".into())
}

/// Written before anything runs, so even a killed run says what it was.
pub fn write_metadata(
    dir: &Path,
    repo: &Path,
    src: &crate::kernel::KernelSource,
    extra: serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let sh = crate::tools::shell()?;
    sh.change_dir(repo);
    let git = |args: &[&str]| cmd!(sh, "git {args...}").ignore_stderr().read().unwrap_or_default();
    let tools: BTreeMap<&str, String> = [
        ("qemu-system-s390x", tool_version("qemu-system-s390x", "--version")),
        ("qemu-system-aarch64", tool_version("qemu-system-aarch64", "--version")),
        ("s390x-linux-gnu-gcc", tool_version("s390x-linux-gnu-gcc", "--version")),
        ("aarch64-linux-gnu-gcc", tool_version("aarch64-linux-gnu-gcc", "--version")),
        ("make", tool_version("make", "--version")),
        ("ccache", tool_version("ccache", "--version")),
        (
            "rustc (kernel side)",
            crate::kernel::rust_toolchain()
                .map(|t| format!("{} ({})", t.version, t.source))
                .unwrap_or_else(|e| format!("{e}")),
        ),
    ]
    .into_iter()
    .collect();
    let meta = serde_json::json!({
        "schema": SCHEMA,
        "started": crate::util::now_rfc3339(),
        "command_line": std::env::args().collect::<Vec<_>>(),
        "host": {
            "uname": cmd!(sh, "uname -srvm").read().unwrap_or_default(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        },
        "tools": tools,
        "kernel_source": { "id": src.id, "version": src.version, "origin": src.origin, "path": src.pristine },
        "git": { "revision": git(&["rev-parse", "HEAD"]).trim(), "dirty": !git(&["status", "--porcelain"]).trim().is_empty() },
        "run": extra,
    });
    std::fs::write(dir.join("metadata.json"), serde_json::to_vec_pretty(&meta)?)?;
    Ok(())
}

fn junit(results: &Results) -> Result<String> {
    let mut report = Report::new("ksm-hotremove-harness");
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for c in &results.cells {
        // A kernel that misbehaved is a failure; a harness problem or an inconclusive run an error.
        let kind = match c.verdict.outcome {
            Outcome::Pass => None,
            Outcome::Fail | Outcome::Timeout => Some(NonSuccessKind::Failure),
            Outcome::Error | Outcome::Inconclusive => Some(NonSuccessKind::Error),
        };
        let status = match kind {
            None => TestCaseStatus::success(),
            Some(kind) => {
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(format!("{}: {}", c.verdict.outcome.name(), c.verdict.reason));
                s.set_type(c.verdict.outcome.name());
                s.set_description(failure_text(c));
                s
            }
        };
        let mut tc = TestCase::new(c.scenario.clone(), status);
        tc.set_classname(format!("{}.{}", c.arch, c.variant));
        tc.set_time(std::time::Duration::from_secs_f64(c.seconds()));
        tc.set_system_out(format!(
            "verdict: {} ({})\nfolder: {}\n",
            c.verdict.outcome.name(),
            c.verdict.reason,
            c.dir.display()
        ));
        suites.entry(c.arch.clone()).or_insert_with(|| TestSuite::new(c.arch.clone())).add_test_case(tc);
    }
    for (_, s) in suites {
        report.add_test_suite(s);
    }
    Ok(report.to_string()?)
}

/// The failure text of a cell: the splat as the kernel printed it, if any.
fn failure_text(c: &CellResult) -> String {
    let console = std::fs::read(c.dir.join("console.log")).unwrap_or_default();
    let console = String::from_utf8_lossy(&console);
    let lines: Vec<&str> = console.lines().collect();
    let mut out = format!("{}\n", c.verdict.reason);
    for f in c.findings.findings.iter().filter(|f| f.category != crate::console::Category::Info) {
        let (a, b) = (f.first_line as usize, (f.last_line as usize).min(lines.len()));
        if a >= 1 && a <= b {
            out.push_str(&lines[a - 1..b].join("\n"));
            out.push('\n');
        }
    }
    out
}

pub fn table(results: &Results) -> String {
    let mut s = String::from("| cell | verdict | expected | splat | fingerprint | KSM pages merged | blocks removed | time |\n|---|---|---|---|---|---|---|---|\n");
    for c in &results.cells {
        let f = c.findings.findings.iter().find(|f| f.category != crate::console::Category::Info);
        let exp = match &c.expectation {
            crate::matrix::Expectation::Clean => "clean".to_string(),
            crate::matrix::Expectation::Splat { .. } => "splat".to_string(),
        };
        let mut removed = c.guest.blocks_offlined().iter().map(|b| b.to_string()).collect::<Vec<_>>().join(",");
        if c.host.dimm_removed == Some(true) {
            removed.push_str(" +DIMM");
        }
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0}s |\n",
            c.id,
            c.verdict.outcome.name(),
            exp,
            f.map(|f| f.title.as_str()).unwrap_or("-"),
            f.map(|f| f.fingerprint.as_str()).unwrap_or("-"),
            c.guest.merged().map(|k| k.pages_sharing.to_string()).unwrap_or_else(|| "-".into()),
            if removed.is_empty() { "-".into() } else { removed },
            c.seconds()
        ));
    }
    s
}

/// The lockout evidence per cell: the windows, ksmd's batches in and before them, the write
/// held across them, and the check's word on it.
fn lockout_table(results: &Results) -> String {
    let mut s = String::from(
        "\n## Offline lockout (kernel trace)\n\n| cell | lockout-held | windows | longest window | ksmd batches inside | batches in the 3 s before | run word after GOING_OFFLINE | run write held |\n|---|---|---|---|---|---|---|---|\n",
    );
    for c in &results.cells {
        let check = c.verdict.checks.iter().find(|k| k.name == "lockout-held");
        let word = match check {
            Some(k) if k.skipped => "SKIPPED",
            Some(k) if k.ok => "held",
            Some(_) => "NOT SHOWN",
            None => "n/a (splat expected)",
        };
        let Some(e) = &c.lockout else {
            s.push_str(&format!("| {} | {word} | - | - | - | - | - | - |\n", c.id));
            continue;
        };
        let longest =
            e.windows.iter().max_by(|a, b| a.length_ms.unwrap_or(f64::MAX).total_cmp(&b.length_ms.unwrap_or(f64::MAX)));
        let held = e
            .writes_in_windows()
            .map(|(w, _)| {
                w.returned
                    .map(|r| format!("{:.0} ms", (r - w.entered) * 1000.0))
                    .unwrap_or_else(|| "never returned".into())
            })
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!(
            "| {} | {word} | {} | {} | {} | {} | {} | {} |\n",
            c.id,
            e.windows.len(),
            longest
                .map(|w| w.length_ms.map(|l| format!("{l:.0} ms")).unwrap_or_else(|| "never closed".into()))
                .unwrap_or_else(|| "-".into()),
            e.windows.iter().map(|w| w.scans_inside.to_string()).collect::<Vec<_>>().join("/"),
            e.windows.iter().map(|w| w.scans_before.to_string()).collect::<Vec<_>>().join("/"),
            e.windows.iter().map(|w| w.run_after_going_offline.to_string()).collect::<Vec<_>>().join("/"),
            if held.is_empty() { "-".into() } else { held },
        ));
    }
    s
}

fn summary_md(results: &Results) -> String {
    let done = results.cells.len();
    let planned = done + results.not_run.len();
    let status = if results.in_progress {
        format!("**IN PROGRESS** ({done} of {planned} cells finished; outcome so far {})", results.outcome.name())
    } else if results.interrupted {
        format!("**{}** (interrupted: partial report, {done} of {planned} cells)", results.outcome.name())
    } else {
        format!("**{}**", results.outcome.name())
    };
    let mut s = format!(
        "# ksm-hotremove-harness results\n\noutcome: {status}; started {}, updated {}\n\n",
        results.started, results.finished
    );
    s.push_str(&table(results));
    s.push_str(&lockout_table(results));
    // Each distinct report once, with the cells it appeared in.
    let mut uniq: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for c in &results.cells {
        for f in c.findings.findings.iter().filter(|f| f.category != crate::console::Category::Info) {
            uniq.entry(f.fingerprint.clone()).or_insert_with(|| (f.title.clone(), Vec::new())).1.push(c.id.clone());
        }
    }
    if !uniq.is_empty() {
        s.push_str("\n## Kernel reports (deduplicated)\n\n| fingerprint | title | cells |\n|---|---|---|\n");
        for (fp, (title, cells)) in uniq {
            s.push_str(&format!("| {fp} | {title} | {} |\n", cells.join(", ")));
        }
    }
    s.push_str("\n## Verdict reasons\n\n");
    for c in &results.cells {
        s.push_str(&format!("- {}: {} — {}\n", c.id, c.verdict.outcome.name(), c.verdict.reason));
    }
    if !results.not_run.is_empty() {
        s.push_str(&format!("\nnot run: {}\n", results.not_run.join(", ")));
    }
    s
}

pub fn write(dir: &Path, results: &Results) -> Result<()> {
    std::fs::write(dir.join("results.json"), serde_json::to_vec_pretty(results)?).context("writing results.json")?;
    std::fs::write(dir.join("junit.xml"), junit(results)?).context("writing junit.xml")?;
    std::fs::write(dir.join("summary.md"), summary_md(results)).context("writing summary.md")?;
    Ok(())
}

/// `report merge`: several result folders (shards) into one, cells copied in.
pub fn merge(out: &Path, dirs: &[PathBuf]) -> Result<Results> {
    std::fs::create_dir_all(out)?;
    let mut cells: Vec<CellResult> = Vec::new();
    let (mut started, mut finished, mut interrupted) = (String::new(), String::new(), false);
    let mut not_run = Vec::new();
    for d in dirs {
        let p = d.join("results.json");
        let r: Results =
            serde_json::from_slice(&std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("{} is not a results.json of schema {SCHEMA}", p.display()))?;
        if started.is_empty() || r.started < started {
            started = r.started.clone();
        }
        if r.finished > finished {
            finished = r.finished.clone();
        }
        interrupted |= r.interrupted;
        not_run.extend(r.not_run);
        for mut c in r.cells {
            let dest = out.join(&c.id);
            copy_dir(&c.dir, &dest).with_context(|| format!("copying {}", c.dir.display()))?;
            c.dir = dest;
            cells.retain(|x| x.id != c.id);
            cells.push(c);
        }
        // The first shard's metadata stands for the merged run.
        if !out.join("metadata.json").exists() {
            let _ = std::fs::copy(d.join("metadata.json"), out.join("metadata.json"));
        }
    }
    // Input order: shards are contiguous slices of the plan, so shard 1..n gives plan order.
    not_run.retain(|id| !cells.iter().any(|c| &c.id == id));
    let r = Results {
        schema: SCHEMA,
        started,
        finished,
        interrupted,
        in_progress: false,
        outcome: crate::runner::outcome_of(&cells),
        not_run,
        cells,
    };
    write(out, &r)?;
    Ok(r)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    if from == to {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)?.flatten() {
        let p = e.path();
        if p.is_file() {
            std::fs::copy(&p, to.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Check, HostFacts, Verdict};

    fn cell(dir: &Path, id: &str, outcome: Outcome, console: &str) -> CellResult {
        let d = dir.join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("console.log"), console).unwrap();
        let parts: Vec<&str> = id.split('-').collect();
        CellResult {
            id: id.into(),
            arch: parts[0].into(),
            variant: parts[1].into(),
            scenario: parts[2].into(),
            expectation: crate::matrix::Expectation::Clean,
            verdict: Verdict {
                outcome,
                reason: "r".into(),
                checks: vec![Check { name: "x".into(), ok: true, detail: String::new(), skipped: false }],
            },
            findings: crate::console::analyze_bytes(console.as_bytes()),
            guest: crate::vm::markers::summarize(&crate::vm::markers::parse(console)),
            lockout: None,
            host: HostFacts::default(),
            stages: vec![("boot".into(), 1.5)],
            kernel_rebuilt: Some(false),
            dir: d,
        }
    }

    #[test]
    fn junit_has_a_testcase_per_cell_and_the_splat_as_failure_text() {
        let dir = std::env::temp_dir().join(format!("ksmh-report-{}", std::process::id()));
        let splat = std::fs::read_to_string(
            crate::paths::repo_root().join("xtask/tests/fixtures/runs/s390x-prefix-cancel.console.log"),
        )
        .unwrap();
        let clean = std::fs::read_to_string(
            crate::paths::repo_root().join("xtask/tests/fixtures/runs/arm64-upstream-offline.console.log"),
        )
        .unwrap();
        let r = Results {
            schema: SCHEMA,
            started: "a".into(),
            finished: "b".into(),
            interrupted: false,
            in_progress: false,
            outcome: Outcome::Fail,
            not_run: vec![],
            cells: vec![
                cell(&dir, "s390x-upstream-cancel", Outcome::Fail, &splat),
                cell(&dir, "arm64-upstream-offline", Outcome::Pass, &clean),
            ],
        };
        write(&dir, &r).unwrap();
        let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(parsed.tests, 2);
        assert_eq!(parsed.failures, 1);
        let cases: Vec<&TestCase> = parsed.test_suites.iter().flat_map(|s| s.test_cases.iter()).collect();
        let failed = cases.iter().find(|c| c.classname.as_deref() == Some("s390x.upstream")).unwrap();
        match &failed.status {
            TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, description, .. } => {
                let d = description.as_ref().unwrap().to_string();
                assert!(
                    d.contains("WARNING: possible circular locking dependency detected")
                        && d.contains("(memory_chain).rwsem"),
                    "{d}"
                );
            }
            s => panic!("{s:?}"),
        }
        assert!(cases
            .iter()
            .any(|c| c.classname.as_deref() == Some("arm64.upstream")
                && matches!(c.status, TestCaseStatus::Success { .. })));
        let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        assert!(
            md.contains("ksm_thread_mutex/1 -> (memory_chain).rwsem")
                && md.contains("| arm64-upstream-offline | PASS |")
        );
        let back: Results = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
        assert_eq!(back.cells.len(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
