//! The verdict of one cell (pure): console findings + guest markers + what the host saw +
//! the expectation -> PASS / FAIL / ERROR / INCONCLUSIVE / TIMEOUT with every check spelled out.
//! A kernel bug (FAIL) is never confused with a harness problem (ERROR), and a run that did
//! not exercise the bug (nothing merged, nothing offlined, lockdep already off) is never PASS.

use serde::{Deserialize, Serialize};

use crate::console::markers::GuestReport;
use crate::console::{Analysis, Category, Finding};
use crate::matrix::{Expectation, Scenario};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
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
        checks.push(Check { name: name.into(), ok, detail });
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
        match merged { Some((s, n)) => format!("pages_sharing={s} full_scans={n}"), None => "no KSM stats after merging".into() },
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
        match g.verify_ok { Some(true) => "every byte verified".into(), Some(false) => format!("{:?} bytes corrupted", g.verify_bad_bytes), None => "no verification result".into() },
    );
    let lockout_ok = check(
        "lockout-ended",
        matches!(g.ksmd_scans, Some((b, a)) if a > b) && g.run_write_ok == Some(true),
        format!("ksmd full_scans {:?}, write to ksm/run: {:?}", g.ksmd_scans, g.run_write_ok),
    );
    let boot_ok = match i.boot_line {
        Some(l) => check("boot-line", i.boot_line_seen, format!("{l:?} {}", if i.boot_line_seen { "printed" } else { "missing" })),
        None => true,
    };
    let splat_ok = match i.expectation {
        Expectation::Clean => check("no-kernel-problem", problems.is_empty(), if problems.is_empty() { "none".into() } else { titles(&problems) }),
        Expectation::Splat { locks } => {
            let hit = lockdep.iter().any(|f| f.kind == "circular_locking" && names_all(f, locks));
            check(
                "expected-splat",
                hit,
                if hit { format!("circular locking naming {locks:?}") } else { format!("wanted circular locking naming {locks:?}, got: [{}]", titles(&lockdep)) },
            ) && check("no-other-problem", others.is_empty(), if others.is_empty() { "none".into() } else { titles(&others) })
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
    } else if g.done.is_none() {
        (Outcome::Error, format!("the guest stopped without finishing (QEMU exit {:?}, last phase: {})", i.host.qemu_exit, g.last_phase().unwrap_or("none")))
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
    } else if !splat_ok {
        (Outcome::Fail, checks_failed(&checks))
    } else if !(removed_ok && data_ok && lockout_ok && boot_ok) {
        (Outcome::Fail, checks_failed(&checks))
    } else {
        (Outcome::Pass, match i.expectation { Expectation::Clean => "clean".into(), Expectation::Splat { .. } => format!("splat as expected: {}", titles(&lockdep)) })
    };
    Verdict { outcome, reason, checks }
}

fn checks_failed(c: &[Check]) -> String {
    c.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect::<Vec<_>>().join("; ")
}
