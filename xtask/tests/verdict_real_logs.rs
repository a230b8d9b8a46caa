//! The verdict on real console logs of every (arch, variant, scenario) this project boots,
//! and on the same logs with one piece of evidence taken away: each mutation must move the
//! verdict away from PASS in the documented direction.

use std::path::PathBuf;

use xtask::arch::{Arch, MemoryMode};
use xtask::console;
use xtask::lockout;
use xtask::matrix::{self, Expectation, Scenario};
use xtask::verdict::{self, HostFacts, Outcome};
use xtask::vm::markers;

use real_run::cells;

mod real_run;

fn fixture(cell: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs").join(format!("{cell}.console.log"));
    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).into_owned()
}

fn matrix() -> matrix::MatrixFile {
    matrix::load(&matrix::default_path(&xtask::paths::repo_root())).unwrap()
}

fn expectation(variant: &str, scenario: Scenario) -> (Expectation, Option<String>, Vec<String>) {
    let m = matrix();
    let v = &m.variants[variant];
    (v.expectation(scenario), v.boot_line.clone(), v.must_call.clone())
}

fn judge_text(arch: Arch, variant: &str, scenario: Scenario, text: &str, host: Option<HostFacts>) -> verdict::Verdict {
    judge_with(arch, variant, scenario, text, host, true)
}

/// `evidence`: judged as a run with lockout evidence (the default) or `--no-lockout-evidence`.
fn judge_with(
    arch: Arch,
    variant: &str,
    scenario: Scenario,
    text: &str,
    host: Option<HostFacts>,
    evidence: bool,
) -> verdict::Verdict {
    let (exp, boot_line, must_call) = expectation(variant, scenario);
    let analysis = console::analyze_bytes(text.as_bytes());
    let guest = markers::summarize(&markers::parse(text));
    let lockout = evidence.then(|| lockout::analyze(&guest.trace, &must_call));
    let dimm = arch.machine().memory == MemoryMode::DimmHotplug;
    let host = host.unwrap_or(HostFacts {
        qemu_exit: Some(0),
        dimm_expected: dimm,
        dimm_removed: dimm.then_some(true),
        ..Default::default()
    });
    verdict::judge(&verdict::Inputs {
        expectation: &exp,
        scenario,
        analysis: &analysis,
        guest: &guest,
        host: &host,
        boot_line: boot_line.as_deref(),
        boot_line_seen: boot_line.as_deref().is_some_and(|l| text.contains(l)),
        known: &[],
        today: "2026-11-26",
        cell: "test",
        lockout: lockout.as_ref(),
        must_call: &must_call,
        selftests: None,
        cycles: None,
    })
}

/// The verdict of a matrix cell (by id, from the repo's plan) on `text`, with the cell's own
/// expectation on its own kernel.
fn judge(cell: &str, text: &str) -> verdict::Verdict {
    let m = matrix();
    let c = matrix::plan(&m, &[], &[]).into_iter().find(|c| c.id().to_string() == cell).expect("a cell of the plan");
    judge_cell(&c, text)
}

/// The verdict of `c` on `text`, as the runner judges it: its expectation, kernel, selftests
/// and soak cycles.
fn judge_cell(c: &matrix::Cell, text: &str) -> verdict::Verdict {
    let analysis = console::analyze_bytes(text.as_bytes());
    let guest = markers::summarize(&markers::parse(text));
    let lockout = lockout::analyze(&guest.trace, &c.variant.must_call);
    let selftests = c
        .selftests
        .as_ref()
        .map(|p| xtask::selftest::results(p, &guest.selftests, &real_run::absent(c.kernel.name.as_deref())));
    let dimm = c.arch.machine().memory == MemoryMode::DimmHotplug;
    let host =
        HostFacts { qemu_exit: Some(0), dimm_expected: dimm, dimm_removed: dimm.then_some(true), ..Default::default() };
    let boot_line = c.variant.boot_line.as_deref();
    verdict::judge(&verdict::Inputs {
        expectation: &c.expectation,
        scenario: c.scenario,
        analysis: &analysis,
        guest: &guest,
        host: &host,
        boot_line,
        boot_line_seen: boot_line.is_some_and(|l| text.contains(l)),
        known: &[],
        today: "2026-11-26",
        cell: &c.id().to_string(),
        lockout: Some(&lockout),
        must_call: &c.variant.must_call,
        selftests: c.selftests.as_ref().zip(selftests.as_deref()),
        cycles: c.cycles,
    })
}

#[test]
fn every_real_run_passes_against_its_own_expectation() {
    for cell in &cells() {
        let v = judge(cell, &fixture(cell));
        assert_eq!(v.outcome, Outcome::Pass, "{cell}: {} {:#?}", v.reason, v.checks);
    }
}

#[test]
fn prefix_logs_fail_when_judged_as_clean_and_clean_logs_fail_when_a_splat_is_expected() {
    for (arch, scen, sc) in [(Arch::S390x, "cancel", Scenario::Cancel), (Arch::Arm64, "offline", Scenario::Offline)] {
        let prefix = fixture(&format!("6.1-{arch}-prefix-{scen}"));
        let v = judge_text(arch, "upstream", sc, &prefix, None);
        assert_eq!(v.outcome, Outcome::Fail, "{arch}: {}", v.reason);
        assert!(v.reason.contains("circular locking"), "{}", v.reason);
        let clean = fixture(&format!("6.1-{arch}-upstream-{scen}"));
        let v = judge_text(arch, "prefix", sc, &clean, None);
        assert_eq!(v.outcome, Outcome::Fail, "{arch}: {}", v.reason);
        assert!(v.checks.iter().any(|c| c.name == "expected-splat" && !c.ok));
    }
}

#[test]
fn the_cancel_splat_must_name_the_notifier_rwsem() {
    // The offline path's splat (pcp_batch_high_lock) does not satisfy the cancel expectation.
    let v = judge_text(Arch::S390x, "prefix", Scenario::Cancel, &fixture("6.1-s390x-prefix-offline"), None);
    assert_ne!(v.outcome, Outcome::Pass, "{}", v.reason);
}

fn replace_marker(text: &str, event_prefix: &str, with: &str) -> String {
    text.lines()
        .map(|l| if l.starts_with(event_prefix) { with.to_string() } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn missing_evidence_is_never_a_pass() {
    let cell = "6.1-s390x-upstream-offline";
    let base = fixture(cell);
    // Nothing merged: inconclusive.
    let t = replace_marker(
        &base,
        "@@KSMH ksm when=merged",
        "@@KSMH ksm when=merged run=1 pages_shared=0 pages_sharing=0 pages_unshared=0 full_scans=3",
    );
    assert_eq!(judge(cell, &t).outcome, Outcome::Inconclusive);
    // Nothing went offline: inconclusive.
    let t = replace_marker(
        &base,
        "@@KSMH offline block=8 result=ok",
        "@@KSMH offline block=8 result=fail reason=Device-or-resource-busy",
    );
    assert_eq!(judge(cell, &t).outcome, Outcome::Inconclusive);
    // Lockdep already off before the trigger: inconclusive.
    let t = replace_marker(
        &base,
        "@@KSMH lockdep-stats when=before-trigger",
        "@@KSMH lockdep-stats when=before-trigger debug_locks=0",
    );
    assert_eq!(judge(cell, &t).outcome, Outcome::Inconclusive);
    // Corrupted data: fail.
    let t =
        replace_marker(&base, "@@KSMH verify", "@@KSMH verify result=fail bytes=33554432 bad_bytes=4096 bad_pages=1");
    assert_eq!(judge(cell, &t).outcome, Outcome::Fail);
    // ksmd never scanned again: the lockout did not end: fail.
    let t = replace_marker(&base, "@@KSMH ksmd-scans", "@@KSMH ksmd-scans before=10 after=10");
    assert_eq!(judge(cell, &t).outcome, Outcome::Fail);
    // The console stops half-way (QEMU died): a harness error, not a pass.
    let half: String = base.lines().take_while(|l| !l.contains("phase name=offline")).collect::<Vec<_>>().join("\n");
    assert_eq!(judge(cell, &half).outcome, Outcome::Error);
    // A WARNING anywhere in a clean cell: fail.
    let t = base.replacen("@@KSMH phase name=offline", "[   20.0] ------------[ cut here ]------------\n[   20.0] WARNING: CPU: 1 PID: 1 at mm/page_alloc.c:5000 foo+0x1/0x2\n[   20.0] Call Trace:\n[   20.0]  [<0000000000411378>] foo+0x1/0x2\n[   20.0] ---[ end trace 0000000000000000 ]---\n@@KSMH phase name=offline", 1);
    assert_eq!(judge(cell, &t).outcome, Outcome::Fail);
}

#[test]
fn the_arm64_dimm_must_really_leave_the_machine() {
    let cell = "6.1-arm64-upstream-offline";
    let host = HostFacts { qemu_exit: Some(0), dimm_expected: true, dimm_removed: Some(false), ..Default::default() };
    let v = judge_text(Arch::Arm64, "upstream", Scenario::Offline, &fixture(cell), Some(host));
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.reason);
    assert!(v.reason.contains("dimm-removed"));
}

#[test]
fn timeouts_harness_errors_and_panics_are_kept_apart() {
    let base = fixture("6.1-s390x-upstream-offline");
    let t = HostFacts { timed_out: Some("the cell's 3 s timeout expired".into()), ..Default::default() };
    let half: String = base.lines().take(40).collect::<Vec<_>>().join("\n");
    assert_eq!(judge_text(Arch::S390x, "upstream", Scenario::Offline, &half, Some(t)).outcome, Outcome::Timeout);
    let e = HostFacts { harness_error: Some("boot: QEMU did not start".into()), ..Default::default() };
    assert_eq!(judge_text(Arch::S390x, "upstream", Scenario::Offline, "", Some(e)).outcome, Outcome::Error);
    let panic = format!("{half}\n[   30.1] Kernel panic - not syncing: Fatal exception\n");
    assert_eq!(judge_text(Arch::S390x, "upstream", Scenario::Offline, &panic, None).outcome, Outcome::Fail);
}

#[test]
fn the_rust_variant_must_prove_its_gate_is_in_use() {
    let t =
        fixture("6.1-s390x-rust-cancel").replace("ksm: offline lockout implemented in Rust (rust-ksm)", "ksm: hello");
    let v = judge_text(Arch::S390x, "rust", Scenario::Cancel, &t, None);
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.reason);
    assert!(v.reason.contains("boot-line"));
}

#[test]
fn a_known_issue_is_shown_but_does_not_fail_until_it_expires() {
    let prefix = fixture("6.1-s390x-prefix-cancel");
    let analysis = console::analyze_bytes(prefix.as_bytes());
    let fp = analysis.findings.iter().find(|f| f.category == console::Category::Lockdep).unwrap().fingerprint.clone();
    let guest = markers::summarize(&markers::parse(&prefix));
    let known = vec![xtask::known::KnownIssue {
        fingerprint: fp,
        reason: "testing".into(),
        expires: "2026-12-31".into(),
        cells: vec![],
    }];
    let host = HostFacts { qemu_exit: Some(0), ..Default::default() };
    let run = |today: &str| {
        verdict::judge(&verdict::Inputs {
            expectation: &Expectation::Clean,
            scenario: Scenario::Cancel,
            analysis: &analysis,
            guest: &guest,
            host: &host,
            boot_line: None,
            boot_line_seen: false,
            known: &known,
            today,
            cell: "s390x-upstream-cancel",
            lockout: None,
            must_call: &[],
            selftests: None,
            cycles: None,
        })
    };
    let v = run("2026-11-26");
    assert_eq!(v.outcome, Outcome::Pass, "{}", v.reason);
    assert!(v.checks.iter().any(|c| c.name == "known-issues" && c.detail.contains("testing")));
    assert_eq!(run("2027-01-01").outcome, Outcome::Fail);
}

/// Real consoles of the mutant kernels (patches/mutants/), judged as their cells are (kernel,
/// arch, scenario, selftests, soak cycles as the mutant plan makes them): each must get the
/// verdict the matrix names for it, with the named check failing, and never PASS.
#[test]
fn every_real_mutant_log_is_judged_as_the_matrix_says() {
    let m = matrix();
    let mut seen = std::collections::BTreeSet::new();
    for cell in xtask::mutants::plan(&m, &[], &[]) {
        let id = cell.id().to_string();
        let name = cell.variant.name.strip_prefix("mutant-").unwrap().to_string();
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs").join(format!("{id}.console.log"));
        if !p.exists() || seen.contains(&name) {
            continue;
        }
        seen.insert(name.clone());
        let mu = &m.mutants[&name];
        let text = fixture(&id);
        let v = judge_cell(&cell, &text);
        assert_eq!(v.outcome, mu.outcome, "{id}: {}", v.reason);
        let failed: Vec<&str> = v.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
        assert!(failed.contains(&mu.check.as_str()), "{id}: {:#?}", v.checks);
        // The two mutants made for it are caught by that check alone: our own workload passes
        // everything else on them.
        if ["unmerge-refused-rust", "leaky-lockout-rust"].contains(&name.as_str()) {
            assert_eq!(failed, vec![mu.check.as_str()], "{id}: {:#?}", v.checks);
        }
    }
    assert_eq!(seen.len(), m.mutants.len(), "a real log for every mutant: have {seen:?}");
}

fn without_lines(text: &str, pat: &str) -> String {
    text.lines().filter(|l| !l.contains(pat)).collect::<Vec<_>>().join("\n")
}

#[test]
fn clean_needs_the_lockout_shown_held_by_the_kernel_trace() {
    for cell in ["6.1-s390x-upstream-offline", "6.1-arm64-upstream-cancel", "6.1-s390x-rust-cancel"] {
        let base = fixture(cell);
        let variant = cell.split('-').nth(2).unwrap();
        let (arch, sc) =
            if cell.contains("-s390x-") { (Arch::S390x, Scenario::Offline) } else { (Arch::Arm64, Scenario::Cancel) };
        let sc = if cell.ends_with("cancel") { Scenario::Cancel } else { sc };
        let held = judge_text(arch, variant, sc, &base, None);
        let c = held.checks.iter().find(|c| c.name == "lockout-held").unwrap();
        assert!(c.ok && c.detail.contains("0 ksmd batches inside"), "{cell}: {c:?}");
        // No trace at all: no evidence either way.
        let v = judge_text(arch, variant, sc, &without_lines(&base, "@@KSMH trace "), None);
        assert_eq!(v.outcome, Outcome::Inconclusive, "{cell}: {}", v.reason);
        // The bit not set after MEM_GOING_OFFLINE: fail.
        let t = base.replace(" ret=1 run=5 ", " ret=1 run=1 ");
        assert_ne!(t, base, "{cell}: the fixture has a callback return with run=5");
        let v = judge_text(arch, variant, sc, &t, None);
        assert_eq!(v.outcome, Outcome::Fail, "{cell}: {}", v.reason);
        assert!(v.reason.contains("KSM_RUN_OFFLINE was not set"), "{}", v.reason);
        // ksmd was not scanning before the windows: inconclusive.
        let v = judge_text(arch, variant, sc, &without_lines(&base, "ev=tick"), None);
        assert_eq!(v.outcome, Outcome::Inconclusive, "{cell}: {}", v.reason);
        assert!(v.reason.contains("not scanning right before"), "{}", v.reason);
        // --no-lockout-evidence: PASS, with the check shown as skipped.
        let v = judge_with(arch, variant, sc, &base, None, false);
        assert_eq!(v.outcome, Outcome::Pass, "{cell}: {}", v.reason);
        assert!(v.checks.iter().any(|c| c.name == "lockout-held" && c.skipped) && v.reason.contains("SKIPPED"));
    }
}

#[test]
fn a_batch_or_a_write_inside_the_window_fails_the_lockout() {
    let cell = "6.1-s390x-upstream-offline";
    let base = fixture(cell);
    let g = markers::summarize(&markers::parse(&base));
    let e = lockout::analyze(&g.trace, &[]);
    let w = &e.windows[0];
    let (start, end) = (w.start, w.end.unwrap());
    let mid = (start + end) / 2.0;
    // A ksmd batch that moved the cursor in the middle of the window.
    let tick = format!("@@KSMH trace t={mid:.6} ev=tick pid=25 addr=1 seq=999");
    let v = judge(cell, &format!("{base}\n{tick}\n"));
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.reason);
    assert!(v.reason.contains("ksmd scanned inside an offline window"), "{}", v.reason);
    // The held write returning inside the window.
    let (wr, _) = e.writes_in_windows().next().unwrap();
    let early = format!("@@KSMH trace t={:.6} ev=runwret pid=4242 ret=2", (wr.entered + end) / 2.0);
    let entry = format!("@@KSMH trace t={:.6} ev=runw pid=4242", wr.entered + 0.000001);
    let v = judge(cell, &format!("{base}\n{entry}\n{early}\n"));
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.reason);
    assert!(v.reason.contains("returned") && v.reason.contains("before the window ended"), "{}", v.reason);
}

#[test]
fn the_rust_variant_must_show_its_own_code_running() {
    for cell in ["6.1-s390x-rust-offline", "6.1-arm64-rust-cancel"] {
        let base = fixture(cell);
        let v = judge(cell, &base);
        let c = v.checks.iter().find(|c| c.name == "variant-code-ran").unwrap();
        assert!(c.ok && c.detail.contains("rust_ksm_memory_callback"), "{c:?}");
        let v = judge(cell, &without_lines(&base, "ev=rust_ksm_memory_callback"));
        assert_eq!(v.outcome, Outcome::Fail, "{cell}: {}", v.reason);
        assert!(v.reason.contains("variant-code-ran"), "{}", v.reason);
    }
}

#[test]
fn lockdep_must_still_be_on_at_the_end_and_the_guest_must_finish() {
    let cell = "6.1-arm64-upstream-offline";
    let base = fixture(cell);
    let t = replace_marker(&base, "@@KSMH lockdep-stats when=end", "@@KSMH lockdep-stats when=end debug_locks=0");
    let v = judge(cell, &t);
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.reason);
    assert!(v.reason.contains("lockdep-on-at-end"), "{}", v.reason);
    // A prefix cell's own splat explains debug_locks=0: still a pass.
    assert_eq!(judge("6.1-arm64-prefix-offline", &fixture("6.1-arm64-prefix-offline")).outcome, Outcome::Pass);
    let t = replace_marker(&base, "@@KSMH done", "@@KSMH done result=partial");
    assert_eq!(judge(cell, &t).outcome, Outcome::Error);
}
