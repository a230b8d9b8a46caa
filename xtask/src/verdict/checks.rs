//! The checks of a cell, collected in the order they are shown: known issues, what the guest
//! showed of the run, the lockout, the end of the run, and the console against the expectation.

use super::{Check, Inputs};
use crate::console::{Category, Finding, Kind};
use crate::lockout::{Evidence, Window};
use crate::matrix::{Expectation, Scenario};
use crate::vm::markers::{GuestReport, TRACE_PROBES};

/// What the lockout evidence says: held, not held (a kernel bug), or no evidence either way.
pub(super) enum Lockout {
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
    if let Some((k, w)) = e.windows.iter().enumerate().find(|(_, w)| w.leaked()) {
        return Lockout::Broken(format!(
            "KSM_RUN_OFFLINE still set when the closing callback of window {} of {} returned (run={}): the lockout outlived its window",
            k + 1,
            e.windows.len(),
            w.run_after_close.unwrap_or(0)
        ));
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
    let batches_inside: usize = e.windows.iter().map(|w| w.scans_inside).sum();
    Lockout::Held(format!(
        "{} window(s), {batches_inside} ksmd batches inside any, each ended by its closing callback; longest: {}; a write to ksm/run issued inside returned {:.0} ms later, after the window",
        e.windows.len(),
        describe(best),
        (wr.returned.unwrap_or(wr.entered) - wr.entered) * 1000.0
    ))
}

/// `, selftest NAME did not finish` when a selftest case was cut by the timeout.
pub(super) fn hung_selftest(i: &Inputs) -> String {
    let hung = i.selftests.and_then(|(_, rs)| rs.iter().find(|r| r.status == crate::selftest::Status::Timeout));
    hung.map(|r| format!(", selftest {} did not finish", r.name)).unwrap_or_default()
}

/// MemAvailable a soak may lose between its first and last cycle (page cache, slab growth).
const SOAK_MEMORY_SLACK_KB: u64 = 64 * 1024;

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

/// The findings that count: every problem but the known issues (named apart), and among them
/// the lockdep reports and the rest.
pub(super) struct Problems<'a> {
    pub(super) all: Vec<&'a Finding>,
    pub(super) lockdep: Vec<&'a Finding>,
    pub(super) others: Vec<&'a Finding>,
    pub(super) known: Vec<String>,
    pub(super) expired: Vec<String>,
}

pub(super) fn problems<'a>(i: &Inputs<'a>) -> Problems<'a> {
    // Known noise is set aside (and named in a check); an expired entry hides nothing.
    let (mut known, mut expired) = (Vec::new(), Vec::new());
    let all: Vec<&Finding> = i
        .analysis
        .problems()
        .filter(|f| match crate::known::lookup(i.known, &f.fingerprint, i.cell, i.today) {
            crate::known::Match::Known(k) => {
                known.push(format!("{} ({}, until {})", f.title, k.reason, k.expires));
                false
            }
            crate::known::Match::Expired(k) => {
                expired.push(format!("{} (known issue expired {}: {})", f.title, k.expires, k.reason));
                true
            }
            crate::known::Match::Unknown => true,
        })
        .collect();
    let (lockdep, others) = all.iter().partition(|f| f.category == Category::Lockdep);
    Problems { all, lockdep, others, known, expired }
}

pub(super) fn titles(fs: &[&Finding]) -> String {
    fs.iter().map(|f| f.title.clone()).collect::<Vec<_>>().join("; ")
}

/// The checks of a cell, in the order they are shown.
#[derive(Default)]
pub(super) struct Checks(pub(super) Vec<Check>);

impl Checks {
    fn add(&mut self, name: &str, ok: bool, detail: impl Into<String>) -> bool {
        self.0.push(Check::new(name, ok, detail));
        ok
    }

    pub(super) fn failed(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.name == name && !c.ok)
    }

    /// `name: detail` of every failed check.
    pub(super) fn failures(&self) -> String {
        self.0.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect::<Vec<_>>().join("; ")
    }

    pub(super) fn known_issues(&mut self, p: &Problems) {
        if !p.known.is_empty() {
            self.add("known-issues", true, p.known.join("; "));
        }
        if !p.expired.is_empty() {
            self.add("known-issues-expired", false, p.expired.join("; "));
        }
    }

    /// What the kernel did, whatever the outcome: evidence first.
    pub(super) fn evidence(&mut self, i: &Inputs) {
        let g = i.guest;
        let merged = g.merged().map(|k| (k.pages_sharing, k.full_scans));
        let detail = match merged {
            Some((s, n)) => format!("pages_sharing={s} full_scans={n}"),
            None => "no KSM stats after merging".into(),
        };
        self.add("ksm-merged", matches!(merged, Some((s, n)) if s > 0 && n >= 2), detail);
        let before = g.debug_locks.get("before-trigger");
        self.add(
            "lockdep-on-before-trigger",
            before == Some(&1),
            format!("debug_locks={before:?} before the hot-remove"),
        );
        if i.scenario == Scenario::Cancel {
            let n = g.cancelled.iter().filter(|c| c.ok).count();
            self.add("offline-cancelled", n > 0, format!("{n} error-injected offline(s) cancelled"));
        }
        let (offlined, migrated) = (g.blocks_offlined(), g.ksm_pages_migrated());
        let detail = format!("offlined {offlined:?}, {migrated} KSM pages migrated out of them");
        self.add("blocks-offlined", !offlined.is_empty() && migrated > 0, detail);
        if i.host.dimm_expected {
            let ok = i.host.dimm_removed == Some(true) && g.hotplug_removed == Some(true);
            self.add("dimm-removed", ok, format!("host: {:?}, guest: {:?}", i.host.dimm_removed, g.hotplug_removed));
        }
        let detail = match g.verify_ok {
            Some(true) => "every byte verified".into(),
            Some(false) => format!("{:?} bytes corrupted", g.verify_bad_bytes),
            None => "no verification result".into(),
        };
        self.add("data-intact", g.verify_ok == Some(true), detail);
        let ended = matches!(g.ksmd_scans, Some((b, a)) if a > b) && g.run_write_ok == Some(true);
        let detail = format!("ksmd full_scans {:?}, write to ksm/run: {:?}", g.ksmd_scans, g.run_write_ok);
        self.add("lockout-ended", ended, detail);
        if let Some(l) = i.boot_line {
            let seen = if i.boot_line_seen { "printed" } else { "missing" };
            self.add("boot-line", i.boot_line_seen, format!("{l:?} {seen}"));
        }
    }

    /// A soak: every cycle ran and offlined something, every verify passed, the guest's memory
    /// did not shrink cycle after cycle. The windows are the lockout check's (all of them).
    pub(super) fn soak(&mut self, i: &Inputs) {
        let Some(planned) = i.cycles else { return };
        let g = i.guest;
        let done = g.soak_cycles.len() as u32;
        let idle = g.soak_cycles.iter().filter(|c| c.offlined == 0).map(|c| c.n.to_string()).collect::<Vec<_>>();
        let windows = i.lockout.map(|e| e.windows.len());
        let detail = format!(
            "{done} of {planned} cycles; {} offlined nothing; knob writer: {:?} rounds; lockout windows seen: {}",
            if idle.is_empty() { "none".to_string() } else { format!("cycles {}", idle.join(",")) },
            g.knob_writes,
            windows.map_or("no trace".into(), |w| w.to_string())
        );
        self.add("soak-cycles", done == planned && idle.is_empty(), detail);
        let bad: Vec<usize> = g.verifies.iter().enumerate().filter(|(_, ok)| !**ok).map(|(k, _)| k + 1).collect();
        let detail = if bad.is_empty() {
            format!("{} verifies, every byte intact", g.verifies.len())
        } else {
            format!("verifies {bad:?} of {} found corrupted bytes", g.verifies.len())
        };
        self.add("soak-data-intact", bad.is_empty() && !g.verifies.is_empty(), detail);
        let avail: Vec<u64> = g.soak_cycles.iter().filter_map(|c| c.mem_available_kb).collect();
        if let (Some(first), Some(last)) = (avail.first(), avail.last()) {
            // Pages migrate and come back each cycle; a steady loss would be a leak.
            let lost = first.saturating_sub(*last);
            self.add(
                "memory-bounded",
                lost <= SOAK_MEMORY_SLACK_KB,
                format!("MemAvailable {first} kB after cycle 1, {last} kB after the last ({lost} kB less; at most {SOAK_MEMORY_SLACK_KB} kB)"),
            );
        }
    }

    /// The lockout as the kernel's trace showed it; only a kernel that should have the fix is
    /// held to it.
    pub(super) fn lockout(&mut self, i: &Inputs) -> Lockout {
        let g = i.guest;
        let lockout = if i.expectation.is_clean() { lockout_verdict(g, i.lockout) } else { Lockout::Skipped };
        match &lockout {
            Lockout::Held(d) => self.add("lockout-held", true, d.clone()),
            Lockout::Broken(d) | Lockout::Unproven(d) => self.add("lockout-held", false, d.clone()),
            Lockout::Skipped => true,
        };
        if i.lockout.is_some() && g.evidence.as_deref() == Some("fail") {
            let refused: Vec<&String> =
                g.probes.iter().filter(|(n, ok)| !**ok && TRACE_PROBES.contains(&n.as_str())).map(|(n, _)| n).collect();
            if !refused.is_empty() {
                self.add(
                    "lockout-probes",
                    false,
                    format!("the kernel refused the lockout evidence probes {refused:?}"),
                );
            }
        }
        match i.lockout {
            // An empty trace proves nothing either way; lockout-held already says so.
            Some(e) if !i.must_call.is_empty() && !g.trace.is_empty() => {
                let missing: Vec<&String> =
                    i.must_call.iter().filter(|f| e.calls_in_callback.get(*f).copied().unwrap_or(0) == 0).collect();
                let runs: Vec<String> = e.windows.iter().map(|w| w.run_after_going_offline.to_string()).collect();
                let detail = if missing.is_empty() {
                    format!(
                        "{:?} entered during KSM's memory callbacks; run word after MEM_GOING_OFFLINE: [{}]",
                        e.calls_in_callback,
                        runs.join(", ")
                    )
                } else {
                    format!("never entered during KSM's memory callbacks: {missing:?} (probes: {:?})", g.probes)
                };
                self.add("variant-code-ran", missing.is_empty(), detail);
            }
            _ => {}
        }
        lockout
    }

    /// The kernel's own selftests: every case the variant names must pass (a skip is no pass),
    /// where the tree has its program.
    pub(super) fn selftests(&mut self, i: &Inputs) {
        let Some((plan, results)) = i.selftests else { return };
        let (required, failed) = crate::selftest::must_pass_failures(plan, results);
        let detail = if failed.is_empty() {
            format!("{}; the {required} that must pass passed", crate::selftest::counts(results))
        } else {
            format!("must pass: {}", failed.join("; "))
        };
        self.add("selftests", failed.is_empty(), detail);
    }

    /// The end of the run, and what the console held against the expectation.
    pub(super) fn end(&mut self, i: &Inputs, p: &Problems) {
        let g = i.guest;
        // Lockdep must still be on at the end, unless its own report (known noise included)
        // turned it off.
        let reports = i.analysis.findings.iter().filter(|f| f.category == Category::Lockdep).count();
        let end = g.debug_locks.get("end");
        let detail = format!("debug_locks={end:?} at the end; {reports} lockdep report(s)");
        self.add("lockdep-on-at-end", end == Some(&1) || reports > 0, detail);
        self.add("guest-finished", g.done.as_deref() == Some("complete"), format!("done marker: {:?}", g.done));
        let none_or = |fs: &[&Finding]| if fs.is_empty() { "none".into() } else { titles(fs) };
        match i.expectation {
            Expectation::Clean => {
                self.add("no-kernel-problem", p.all.is_empty(), none_or(&p.all));
            }
            Expectation::Splat { locks } => {
                let hit = p.lockdep.iter().any(|f| f.kind == Kind::CircularLocking && names_all(f, locks));
                let detail = if hit {
                    format!("circular locking naming {locks:?}")
                } else {
                    format!("wanted circular locking naming {locks:?}, got: [{}]", titles(&p.lockdep))
                };
                if self.add("expected-splat", hit, detail) {
                    self.add("no-other-problem", p.others.is_empty(), none_or(&p.others));
                }
            }
        }
    }
}
