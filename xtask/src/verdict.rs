//! The verdict of one cell (pure): console findings + guest markers + what the host saw +
//! the expectation -> PASS / FAIL / ERROR / INCONCLUSIVE / TIMEOUT with every check spelled out.
//! A kernel bug (FAIL) is never confused with a harness problem (ERROR), and a run that did
//! not exercise the bug (nothing merged, nothing offlined, lockdep already off) is never PASS.

use serde::{Deserialize, Serialize};

use crate::console::{Analysis, Category, Finding, Kind};
use crate::lockout::{Evidence, Window};
use crate::matrix::{Expectation, Scenario};
use crate::vm::markers::{GuestReport, TRACE_PROBES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Fail,
    Error,
    Inconclusive,
    Timeout,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Error => "ERROR",
            Outcome::Inconclusive => "INCONCLUSIVE",
            Outcome::Timeout => "TIMEOUT",
        }
    }
    /// How much a cell's outcome weighs in the outcome of several (KCIDB's order): a kernel
    /// that failed is never hidden behind a run that timed out, broke or proved nothing.
    pub fn severity(self) -> u8 {
        match self {
            Outcome::Fail => 4,
            Outcome::Timeout => 3,
            Outcome::Error => 2,
            Outcome::Inconclusive => 1,
            Outcome::Pass => 0,
        }
    }
    /// The outcome of several cells: the most severe (ERROR when there are none: nothing was
    /// shown to work).
    pub fn worst(all: impl IntoIterator<Item = Outcome>) -> Outcome {
        all.into_iter().max_by_key(|o| o.severity()).unwrap_or(Outcome::Error)
    }
    /// `run`'s exit status: 0 as expected, 1 the kernel behaved otherwise, 2 harness, 3 inconclusive.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail | Outcome::Timeout => 1,
            Outcome::Error => 2,
            Outcome::Inconclusive => 3,
        }
    }
}

/// What the host itself observed, outside the console.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostFacts {
    pub timed_out: Option<String>,
    pub qemu_exit: Option<i32>,
    /// Harness-side failure (QEMU would not start, QMP failed ...).
    pub harness_error: Option<String>,
    /// arm64: DEVICE_DELETED seen and query-memory-devices empty afterwards.
    pub dimm_removed: Option<bool>,
    pub dimm_expected: bool,
    pub interrupted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// Not evaluated on purpose (e.g. `--no-lockout-evidence`); shown as SKIPPED, never as ok.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

impl Check {
    pub fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Check {
        Check { name: name.into(), ok, detail: detail.into(), skipped: false }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub reason: String,
    pub checks: Vec<Check>,
}

pub struct Inputs<'a> {
    pub expectation: &'a Expectation,
    pub scenario: Scenario,
    pub analysis: &'a Analysis,
    pub guest: &'a GuestReport,
    pub host: &'a HostFacts,
    pub boot_line: Option<&'a str>,
    pub boot_line_seen: bool,
    /// Known issues and today's date (YYYY-MM-DD); the cell id they may be scoped to.
    pub known: &'a [crate::known::KnownIssue],
    pub today: &'a str,
    pub cell: &'a str,
    /// The lockout as the kernel's trace showed it; None with `--no-lockout-evidence`.
    pub lockout: Option<&'a Evidence>,
    /// Functions the variant's code must be seen running (`must_call` in the matrix).
    pub must_call: &'a [String],
}

/// What the lockout evidence says: held, not held (a kernel bug), or no evidence either way.
enum Lockout {
    Held(String),
    Broken(String),
    Unproven(String),
    Skipped,
}

fn lockout_verdict(g: &GuestReport, e: Option<&Evidence>) -> Lockout {
    let Some(e) = e else { return Lockout::Skipped };
    match g.evidence.as_deref() {
        Some("ok") => {}
        other => {
            return Lockout::Unproven(format!(
                "the guest collected no lockout evidence (evidence={other:?}, probes {:?})",
                g.probes
            ))
        }
    }
    if g.trace.is_empty() {
        return Lockout::Unproven("the kernel trace reached the console empty: no evidence either way".into());
    }
    if e.windows.is_empty() {
        return Lockout::Broken(
            "KSM's memory callback never saw MEM_GOING_OFFLINE return, though blocks went offline".into(),
        );
    }
    let describe = |w: &Window| {
        format!(
            "{} ms, run={} after MEM_GOING_OFFLINE, {} ksmd batches inside (cursor {}), {} in the {} s before",
            w.length_ms.map(|l| format!("{l:.0}")).unwrap_or_else(|| "open".into()),
            w.run_after_going_offline,
            w.scans_inside,
            if w.cursor_moved { "moved" } else { "frozen" },
            w.scans_before,
            crate::lockout::BEFORE_SECONDS
        )
    };
    if let Some(w) = e.windows.iter().find(|w| !w.offline_bit_set()) {
        return Lockout::Broken(format!("KSM_RUN_OFFLINE was not set by MEM_GOING_OFFLINE: {}", describe(w)));
    }
    if let Some(w) = e.windows.iter().find(|w| w.scans_inside > 0 || w.cursor_moved) {
        return Lockout::Broken(format!("ksmd scanned inside an offline window: {}", describe(w)));
    }
    if let Some((wr, w)) =
        e.writes_in_windows().find(|(wr, w)| matches!((wr.returned, w.end), (Some(r), Some(end)) if r < end))
    {
        return Lockout::Broken(format!(
            "a write to ksm/run issued inside an offline window returned {:.0} ms before the window ended",
            (w.end.unwrap_or(0.0) - wr.returned.unwrap_or(0.0)) * 1000.0
        ));
    }
    // Held, as far as the trace shows; is that worth anything? Only if ksmd was scanning
    // right before, the window outlasted a couple of its batches, and a write was held.
    let Some(best) = e
        .windows
        .iter()
        .filter(|w| w.scans_before > 0)
        .max_by(|a, b| a.expected_scans().unwrap_or(0.0).total_cmp(&b.expected_scans().unwrap_or(0.0)))
    else {
        return Lockout::Unproven(
            "ksmd was not scanning right before any offline window: no evidence either way".into(),
        );
    };
    if best.expected_scans().unwrap_or(0.0) < 2.0 {
        return Lockout::Unproven(format!("no offline window outlasted two ksmd batches: {}", describe(best)));
    }
    let Some((wr, _)) = e.writes_in_windows().find(|(wr, _)| wr.returned.is_some()) else {
        return Lockout::Unproven(format!(
            "no write to ksm/run landed inside an offline window ({} writes seen)",
            e.run_writes.len()
        ));
    };
    Lockout::Held(format!(
        "{} window(s); longest: {}; a write to ksm/run issued inside returned {:.0} ms later, after the window",
        e.windows.len(),
        describe(best),
        (wr.returned.unwrap_or(wr.entered) - wr.entered) * 1000.0
    ))
}

/// Every lock class a lockdep finding names.
pub fn lock_classes(f: &Finding) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(l) = &f.lockdep {
        v.extend(l.acquiring.iter().cloned());
        v.extend(l.held.iter().cloned());
        v.extend(l.chain.iter().cloned());
        v.extend(l.held_locks.iter().cloned());
    }
    v
}

fn names_all(f: &Finding, locks: &[String]) -> bool {
    let have = lock_classes(f);
    locks.iter().all(|want| have.iter().any(|h| h == want))
}

pub fn judge(i: &Inputs) -> Verdict {
    let g = i.guest;
    let mut checks = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        checks.push(Check { name: name.into(), ok, detail, skipped: false });
        ok
    };
    // Known noise is set aside (and named in a check); an expired entry hides nothing.
    let mut known_hits = Vec::new();
    let mut expired_hits = Vec::new();
    let problems: Vec<&Finding> = i
        .analysis
        .findings
        .iter()
        .filter(|f| f.category != Category::Info)
        .filter(|f| match crate::known::lookup(i.known, &f.fingerprint, i.cell, i.today) {
            crate::known::Match::Known(k) => {
                known_hits.push(format!("{} ({}, until {})", f.title, k.reason, k.expires));
                false
            }
            crate::known::Match::Expired(k) => {
                expired_hits.push(format!("{} (known issue expired {}: {})", f.title, k.expires, k.reason));
                true
            }
            crate::known::Match::Unknown => true,
        })
        .collect();
    let lockdep: Vec<&Finding> = problems.iter().copied().filter(|f| f.category == Category::Lockdep).collect();
    let others: Vec<&Finding> = problems.iter().copied().filter(|f| f.category != Category::Lockdep).collect();
    let titles = |fs: &[&Finding]| fs.iter().map(|f| f.title.clone()).collect::<Vec<_>>().join("; ");

    if !known_hits.is_empty() {
        check("known-issues", true, known_hits.join("; "));
    }
    if !expired_hits.is_empty() {
        check("known-issues-expired", false, expired_hits.join("; "));
    }
    // What the kernel did, whatever the outcome: evidence first.
    let merged = g.merged().map(|k| (k.pages_sharing, k.full_scans));
    let merged_ok = check(
        "ksm-merged",
        matches!(merged, Some((s, n)) if s > 0 && n >= 2),
        match merged {
            Some((s, n)) => format!("pages_sharing={s} full_scans={n}"),
            None => "no KSM stats after merging".into(),
        },
    );
    let lockdep_on = check(
        "lockdep-on-before-trigger",
        g.debug_locks.get("before-trigger") == Some(&1),
        format!("debug_locks={:?} before the hot-remove", g.debug_locks.get("before-trigger")),
    );
    let cancel_ok = i.scenario != Scenario::Cancel
        || check(
            "offline-cancelled",
            g.cancelled.iter().any(|c| c.ok),
            format!("{} error-injected offline(s) cancelled", g.cancelled.iter().filter(|c| c.ok).count()),
        );
    let offlined = g.blocks_offlined();
    let offline_ok = check(
        "blocks-offlined",
        !offlined.is_empty() && g.ksm_pages_migrated() > 0,
        format!("offlined {:?}, {} KSM pages migrated out of them", offlined, g.ksm_pages_migrated()),
    );
    let removed_ok = !i.host.dimm_expected
        || check(
            "dimm-removed",
            i.host.dimm_removed == Some(true) && g.hotplug_removed == Some(true),
            format!("host: {:?}, guest: {:?}", i.host.dimm_removed, g.hotplug_removed),
        );
    let data_ok = check(
        "data-intact",
        g.verify_ok == Some(true),
        match g.verify_ok {
            Some(true) => "every byte verified".into(),
            Some(false) => format!("{:?} bytes corrupted", g.verify_bad_bytes),
            None => "no verification result".into(),
        },
    );
    let ended_ok = check(
        "lockout-ended",
        matches!(g.ksmd_scans, Some((b, a)) if a > b) && g.run_write_ok == Some(true),
        format!("ksmd full_scans {:?}, write to ksm/run: {:?}", g.ksmd_scans, g.run_write_ok),
    );
    let boot_ok = match i.boot_line {
        Some(l) => check(
            "boot-line",
            i.boot_line_seen,
            format!("{l:?} {}", if i.boot_line_seen { "printed" } else { "missing" }),
        ),
        None => true,
    };
    let clean = i.expectation.is_clean();
    // The lockout is the fix; only a kernel that should have it is held to it.
    let lockout = if clean { lockout_verdict(g, i.lockout) } else { Lockout::Skipped };
    let (held_ok, held_unproven) = match &lockout {
        Lockout::Held(d) => (check("lockout-held", true, d.clone()), false),
        Lockout::Broken(d) => (check("lockout-held", false, d.clone()), false),
        Lockout::Unproven(d) => (check("lockout-held", false, d.clone()), true),
        Lockout::Skipped => (true, false),
    };
    let probes_ok = i.lockout.is_none() || g.evidence.as_deref() != Some("fail") || {
        let refused: Vec<&String> =
            g.probes.iter().filter(|(n, ok)| !**ok && TRACE_PROBES.contains(&n.as_str())).map(|(n, _)| n).collect();
        refused.is_empty()
            || check("lockout-probes", false, format!("the kernel refused the lockout evidence probes {refused:?}"))
    };
    let code_ran = match i.lockout {
        // An empty trace proves nothing either way; lockout-held already says so.
        Some(e) if !i.must_call.is_empty() && !g.trace.is_empty() => {
            let missing: Vec<&String> =
                i.must_call.iter().filter(|f| e.calls_in_callback.get(*f).copied().unwrap_or(0) == 0).collect();
            let runs: Vec<String> = e.windows.iter().map(|w| w.run_after_going_offline.to_string()).collect();
            check(
                "variant-code-ran",
                missing.is_empty(),
                if missing.is_empty() {
                    format!(
                        "{:?} entered during KSM's memory callbacks; run word after MEM_GOING_OFFLINE: [{}]",
                        e.calls_in_callback,
                        runs.join(", ")
                    )
                } else {
                    format!("never entered during KSM's memory callbacks: {missing:?} (probes: {:?})", g.probes)
                },
            )
        }
        _ => true,
    };
    // Lockdep must still be on at the end, unless its own report (known noise included)
    // turned it off.
    let reports = i.analysis.findings.iter().filter(|f| f.category == Category::Lockdep).count();
    let lockdep_end_ok = check(
        "lockdep-on-at-end",
        g.debug_locks.get("end") == Some(&1) || reports > 0,
        format!("debug_locks={:?} at the end; {reports} lockdep report(s)", g.debug_locks.get("end")),
    );
    let done_ok = check("guest-finished", g.done.as_deref() == Some("complete"), format!("done marker: {:?}", g.done));
    let splat_ok = match i.expectation {
        Expectation::Clean => check(
            "no-kernel-problem",
            problems.is_empty(),
            if problems.is_empty() { "none".into() } else { titles(&problems) },
        ),
        Expectation::Splat { locks } => {
            let hit = lockdep.iter().any(|f| f.kind == Kind::CircularLocking && names_all(f, locks));
            check(
                "expected-splat",
                hit,
                if hit {
                    format!("circular locking naming {locks:?}")
                } else {
                    format!("wanted circular locking naming {locks:?}, got: [{}]", titles(&lockdep))
                },
            ) && check(
                "no-other-problem",
                others.is_empty(),
                if others.is_empty() { "none".into() } else { titles(&others) },
            )
        }
    };

    let fatal = problems.iter().find(|f| matches!(f.category, Category::Panic | Category::Oops));
    let (outcome, reason) = if i.host.interrupted {
        (Outcome::Error, "interrupted".to_string())
    } else if let Some(e) = &i.host.harness_error {
        (Outcome::Error, e.clone())
    } else if let Some(f) = fatal {
        (Outcome::Fail, format!("the guest kernel died: {}", f.title))
    } else if let Some(t) = &i.host.timed_out {
        (Outcome::Timeout, format!("{t} (last phase: {})", g.last_phase().unwrap_or("none")))
    } else if !g.errors.is_empty() {
        (Outcome::Error, format!("the guest script failed: {}", g.errors.join("; ")))
    } else if let Some(n) = g.no_merge_after_scans {
        (Outcome::Inconclusive, format!("KSM merged nothing after {n} full scans: the bug's path was not exercised"))
    } else if !done_ok {
        (
            Outcome::Error,
            format!(
                "the guest stopped without finishing (done: {:?}, QEMU exit {:?}, last phase: {})",
                g.done,
                i.host.qemu_exit,
                g.last_phase().unwrap_or("none")
            ),
        )
    } else if !probes_ok {
        (
            Outcome::Error,
            format!(
                "{}; build with --no-lockout-evidence to run without the lockout-held check",
                checks_failed(&checks)
            ),
        )
    } else if !splat_ok && matches!(i.expectation, Expectation::Clean) {
        (Outcome::Fail, format!("unexpected kernel problem: {}", titles(&problems)))
    } else if !merged_ok {
        (Outcome::Inconclusive, "KSM merged nothing: the bug's path was not exercised".into())
    } else if !lockdep_on {
        (Outcome::Inconclusive, "lockdep was already off before the hot-remove".into())
    } else if !cancel_ok {
        (Outcome::Inconclusive, "no offline was cancelled: MEM_CANCEL_OFFLINE was not exercised".into())
    } else if !offline_ok {
        (Outcome::Inconclusive, "no block holding KSM pages went offline".into())
    } else if !(splat_ok && removed_ok && data_ok && ended_ok && boot_ok && code_ran && lockdep_end_ok)
        || !(held_ok || held_unproven)
    {
        (Outcome::Fail, checks_failed(&checks))
    } else if held_unproven {
        (Outcome::Inconclusive, checks_failed(&checks))
    } else {
        (
            Outcome::Pass,
            match i.expectation {
                Expectation::Clean if i.lockout.is_none() => {
                    "clean (lockout-held SKIPPED: --no-lockout-evidence)".into()
                }
                Expectation::Clean => "clean, lockout held".into(),
                Expectation::Splat { .. } => format!("splat as expected: {}", titles(&lockdep)),
            },
        )
    };
    if clean && i.lockout.is_none() {
        checks.push(Check {
            name: "lockout-held".into(),
            ok: true,
            detail: "SKIPPED: --no-lockout-evidence".into(),
            skipped: true,
        });
    }
    Verdict { outcome, reason, checks }
}

fn checks_failed(c: &[Check]) -> String {
    c.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_cell_is_never_hidden_behind_a_timeout_an_error_or_an_inconclusive_one() {
        use Outcome::*;
        assert_eq!(Outcome::worst([Pass, Inconclusive, Fail, Timeout, Error]), Fail);
        assert_eq!(Outcome::worst([Timeout, Fail]), Fail);
        assert_eq!(Outcome::worst([Inconclusive, Error, Timeout]), Timeout);
        assert_eq!(Outcome::worst([Pass, Inconclusive]), Inconclusive);
        assert_eq!(Outcome::worst([Pass, Pass]), Pass);
        assert_eq!(Outcome::worst([]), Error);
    }
}
