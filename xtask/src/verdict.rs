//! The verdict of one cell (pure): console findings + guest markers + what the host saw +
//! the expectation -> PASS / FAIL / ERROR / INCONCLUSIVE / TIMEOUT with every check spelled out.
//! A kernel bug (FAIL) is never confused with a harness problem (ERROR), and a run that did
//! not exercise the bug (nothing merged, nothing offlined, lockdep already off) is never PASS.
//! [`judge`] collects the checks (`checks`), then decides by a table of rules (`decide`).

use serde::{Deserialize, Serialize};

use crate::console::{Analysis, Category};
use crate::lockout::Evidence;
use crate::matrix::{Expectation, Scenario};
use crate::vm::markers::GuestReport;

mod checks;

pub use crate::outcome::Outcome;

pub use checks::lock_classes;
use checks::{problems, titles, Checks, Lockout, Problems};

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
    /// The console passed its cap and the guest was stopped there (what, how much).
    #[serde(default)]
    pub console_capped: Option<String>,
    /// The sha256 of the kernel image this cell booted (its own copy, taken under the lock).
    #[serde(default)]
    pub kernel_sha256: Option<String>,
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
    /// The kernel's own selftests this cell ran: what must pass, and a result per case.
    pub selftests: Option<(&'a crate::matrix::SelftestPlan, &'a [crate::selftest::CaseResult])>,
    /// Soak cycles planned (scenario soak).
    pub cycles: Option<u32>,
}

/// Checks whose failure means the kernel misbehaved (FAIL), once the run exercised the bug.
const KERNEL_CHECKS: &[&str] = &[
    "expected-splat",
    "no-other-problem",
    "dimm-removed",
    "data-intact",
    "lockout-ended",
    "boot-line",
    "variant-code-ran",
    "lockdep-on-at-end",
    "selftests",
    "soak-data-intact",
    "memory-bounded",
];

/// Collects the checks, then decides.
pub fn judge(i: &Inputs) -> Verdict {
    let p = problems(i);
    let mut c = Checks::default();
    c.known_issues(&p);
    c.evidence(i);
    c.soak(i);
    let lockout = c.lockout(i);
    c.end(i, &p);
    c.selftests(i);
    let (outcome, reason) = decide(i, &p, &c, &lockout);
    if i.expectation.is_clean() && i.lockout.is_none() {
        c.0.push(Check { skipped: true, ..Check::new("lockout-held", true, "SKIPPED: --no-lockout-evidence") });
    }
    Verdict { outcome, reason, checks: c.0 }
}

/// The first rule that applies, in priority order: what the host saw (interrupted, a harness
/// error, a dead kernel, a timeout) before the guest's own failures, a broken run before one
/// that did not exercise the bug, that before a kernel that misbehaved, and that before a
/// lockout that is merely unproven.
fn decide(i: &Inputs, p: &Problems, c: &Checks, lockout: &Lockout) -> (Outcome, String) {
    use Outcome::*;
    let (g, host) = (i.guest, i.host);
    let last_phase = g.last_phase().unwrap_or("none");
    let fatal = p.all.iter().find(|f| matches!(f.category, Category::Panic | Category::Oops));
    let failures = c.failures();
    #[rustfmt::skip]
    let rules: [(bool, Outcome, String); 17] = [
        (host.interrupted, Error, "interrupted".into()),
        (host.harness_error.is_some(), Error, host.harness_error.clone().unwrap_or_default()),
        (fatal.is_some(), Fail, format!("the guest kernel died: {}", fatal.map_or("", |f| &f.title))),
        (host.console_capped.is_some(), Error, format!("{} (last phase: {last_phase})", host.console_capped.as_deref().unwrap_or(""))),
        (host.timed_out.is_some(), Timeout, format!("{} (last phase: {last_phase}{})", host.timed_out.as_deref().unwrap_or(""), checks::hung_selftest(i))),
        (!g.errors.is_empty(), Error, format!("the guest script failed: {}", g.errors.join("; "))),
        (g.no_merge_after_scans.is_some(), Inconclusive, format!(
            "KSM merged nothing after {} full scans: the bug's path was not exercised", g.no_merge_after_scans.unwrap_or(0))),
        (c.failed("guest-finished"), Error, format!(
            "the guest stopped without finishing (done: {:?}, QEMU exit {:?}, last phase: {last_phase})", g.done, host.qemu_exit)),
        (c.failed("lockout-probes"), Error, format!(
            "{failures}; build with --no-lockout-evidence to run without the lockout-held check")),
        (c.failed("no-kernel-problem"), Fail, format!("unexpected kernel problem: {}", titles(&p.all))),
        (c.failed("ksm-merged"), Inconclusive, "KSM merged nothing: the bug's path was not exercised".into()),
        (c.failed("lockdep-on-before-trigger"), Inconclusive, "lockdep was already off before the hot-remove".into()),
        (c.failed("offline-cancelled"), Inconclusive, "no offline was cancelled: MEM_CANCEL_OFFLINE was not exercised".into()),
        (c.failed("blocks-offlined"), Inconclusive, "no block holding KSM pages went offline".into()),
        (c.failed("soak-cycles"), Inconclusive, format!("the soak did not run its cycles: {failures}")),
        (KERNEL_CHECKS.iter().any(|k| c.failed(k)) || matches!(lockout, Lockout::Broken(_)), Fail, failures.clone()),
        (matches!(lockout, Lockout::Unproven(_)), Inconclusive, failures),
    ];
    if let Some((_, outcome, reason)) = rules.into_iter().find(|r| r.0) {
        return (outcome, reason);
    }
    let reason = match i.expectation {
        Expectation::Clean if i.lockout.is_none() => "clean (lockout-held SKIPPED: --no-lockout-evidence)".into(),
        Expectation::Clean => "clean, lockout held".into(),
        Expectation::Splat { .. } => format!("splat as expected: {}", titles(&p.lockdep)),
    };
    (Pass, reason)
}

#[cfg(test)]
mod tests;
