//! Every marker of a run, summarized: what the guest said about itself, typed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{trace_event, Event, Marker, TraceEvent};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KsmStats {
    pub run: u64,
    pub pages_shared: u64,
    pub pages_sharing: u64,
    pub full_scans: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockResult {
    pub block: u64,
    pub ok: bool,
    pub reason: Option<String>,
}

/// One kernel selftest case as the guest ran it: what it printed, how it exited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SelftestRun {
    pub case: String,
    /// Seconds since boot at its start and end.
    pub started: Option<f64>,
    pub ended: Option<f64>,
    /// Its exit status; None: it never ended (the cell's timeout cut it).
    pub exit: Option<i64>,
    pub output: Vec<String>,
}

/// One soak cycle as the guest reported it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SoakCycle {
    pub n: u64,
    /// Blocks that went offline in it, of `targets`.
    pub offlined: u64,
    pub targets: Vec<u64>,
    pub mem_available_kb: Option<u64>,
    pub t: Option<f64>,
}

/// What the guest said about itself, typed. Every field is what a marker said, or absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestReport {
    pub protocol: Option<u32>,
    pub arch: Option<String>,
    pub kernel: Option<String>,
    pub phases: Vec<String>,
    /// Each phase with its start, in seconds since boot (the kernel trace's clock).
    #[serde(default)]
    pub phase_starts: Vec<(String, f64)>,
    /// KSM's counters sampled once a second through the run: (seconds since boot, counters).
    #[serde(default)]
    pub ksm_samples: Vec<(f64, KsmStats)>,
    /// `debug_locks` from /proc/lockdep_stats, by moment (boot, before-trigger, end).
    pub debug_locks: BTreeMap<String, u64>,
    /// KSM counters by moment (merged, after-cancel, after-offline, after).
    pub ksm: BTreeMap<String, KsmStats>,
    /// Workload pages per memory block, by moment (before, after): block -> (pages, ksm pages).
    pub block_usage: BTreeMap<String, BTreeMap<u64, (u64, u64)>>,
    pub targets: Vec<u64>,
    pub offlined: Vec<BlockResult>,
    pub cancelled: Vec<BlockResult>,
    pub hotplug_added: Vec<u64>,
    pub hotplug_requests: Vec<String>,
    pub hotplug_removed: Option<bool>,
    pub ksmd_scans: Option<(u64, u64)>,
    pub run_write_ok: Option<bool>,
    pub verify_ok: Option<bool>,
    pub verify_bad_bytes: Option<u64>,
    pub workload_exit: Option<i64>,
    pub errors: Vec<String>,
    pub done: Option<String>,
    /// Lockout evidence: `ok`, `fail` (a probe was refused), `off`, `unavailable`.
    #[serde(default)]
    pub evidence: Option<String>,
    /// Each kprobe event the guest asked for, and whether the kernel took it.
    #[serde(default)]
    pub probes: BTreeMap<String, bool>,
    #[serde(default)]
    pub trace: Vec<TraceEvent>,
    /// `entries-in-buffer/entries-written` of the trace: a difference means lost events.
    #[serde(default)]
    pub trace_entries: Option<(u64, u64)>,
    /// Full scans after which KSM had merged nothing (the guest gave up waiting).
    #[serde(default)]
    pub no_merge_after_scans: Option<u64>,
    /// The run writer's writes: (KSM run word seen, returned ok).
    #[serde(default)]
    pub run_writer: Vec<String>,
    /// The kernel selftest cases the guest ran, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selftests: Vec<SelftestRun>,
    /// Every `verify` the workload answered, in order (a soak verifies once a cycle).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifies: Vec<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub soak_cycles: Vec<SoakCycle>,
    /// Rounds of the soak's knob writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knob_writes: Option<u64>,
}

impl GuestReport {
    pub fn last_phase(&self) -> Option<&str> {
        self.phases.last().map(String::as_str)
    }
    pub fn merged(&self) -> Option<&KsmStats> {
        self.ksm.get("merged")
    }
    pub fn blocks_offlined(&self) -> Vec<u64> {
        self.offlined.iter().filter(|b| b.ok).map(|b| b.block).collect()
    }
    /// KSM pages of the workload that sat in blocks which then went offline.
    pub fn ksm_pages_migrated(&self) -> u64 {
        let before = self.block_usage.get("before");
        self.blocks_offlined().iter().filter_map(|b| before.and_then(|u| u.get(b)).map(|(_, k)| *k)).sum()
    }
}

fn ksm_stats(m: &Marker) -> KsmStats {
    KsmStats {
        run: m.num("run").unwrap_or(0),
        pages_shared: m.num("pages_shared").unwrap_or(0),
        pages_sharing: m.num("pages_sharing").unwrap_or(0),
        full_scans: m.num("full_scans").unwrap_or(0),
    }
}

fn block_result(m: &Marker, ok_word: &str) -> Option<BlockResult> {
    Some(BlockResult {
        block: m.num("block")?,
        ok: m.get("result") == Some(ok_word),
        reason: m.get("reason").map(str::to_string),
    })
}

fn list(v: Option<&str>) -> Vec<u64> {
    v.unwrap_or("").split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

pub fn summarize(markers: &[Marker]) -> GuestReport {
    let mut r = GuestReport::default();
    for m in markers {
        let when = m.get("when").unwrap_or("").to_string();
        match m.event {
            Event::Hello => {
                r.protocol = m.num("version").map(|v| v as u32);
                r.arch = m.get("arch").map(str::to_string);
                r.kernel = m.get("kernel").map(str::to_string);
            }
            Event::Phase => {
                if let Some(name) = m.get("name") {
                    r.phases.push(name.to_string());
                    if let Some(t) = m.get("t").and_then(|t| t.parse().ok()) {
                        r.phase_starts.push((name.to_string(), t));
                    }
                }
            }
            Event::KsmSample => {
                if let Some(t) = m.get("t").and_then(|t| t.parse().ok()) {
                    r.ksm_samples.push((t, ksm_stats(m)));
                }
            }
            Event::LockdepStats => {
                if let Some(v) = m.num("debug_locks") {
                    r.debug_locks.insert(when, v);
                }
            }
            Event::Ksm => {
                r.ksm.insert(when, ksm_stats(m));
            }
            Event::BlockUsage => {
                if let (Some(b), Some(p)) = (m.num("block"), m.num("pages")) {
                    r.block_usage.entry(when).or_default().insert(b, (p, m.num("ksm").unwrap_or(0)));
                }
            }
            Event::Targets => r.targets = list(m.get("blocks")),
            Event::Offline => r.offlined.extend(block_result(m, "ok")),
            Event::Cancel => r.cancelled.extend(block_result(m, "cancelled")),
            Event::HotplugAdded => r.hotplug_added = list(m.get("blocks")),
            Event::HotplugRequest => r.hotplug_requests.extend(m.get("action").map(str::to_string)),
            Event::HotplugRemoved => r.hotplug_removed = Some(m.get("result") == Some("ok")),
            Event::KsmdScans => {
                if let (Some(b), Some(a)) = (m.num("before"), m.num("after")) {
                    r.ksmd_scans = Some((b, a));
                }
            }
            Event::RunWrite => r.run_write_ok = Some(m.get("result") == Some("ok")),
            Event::Verify => {
                r.verify_ok = Some(m.get("result") == Some("ok"));
                r.verifies.push(m.get("result") == Some("ok"));
                r.verify_bad_bytes = m.num("bad_bytes");
            }
            Event::WorkloadExit => r.workload_exit = m.get("status").and_then(|s| s.parse().ok()),
            Event::Error => {
                r.errors.push(format!("{}: {}", m.get("what").unwrap_or("?"), m.get("reason").unwrap_or("?")))
            }
            Event::Done => r.done = m.get("result").map(str::to_string),
            Event::SoakCycle => r.soak_cycles.push(SoakCycle {
                n: m.num("n").unwrap_or(0),
                offlined: m.num("offlined").unwrap_or(0),
                targets: m.get("targets").unwrap_or("").split(',').filter_map(|b| b.parse().ok()).collect(),
                mem_available_kb: m.num("mem_available_kb"),
                t: m.get("t").and_then(|t| t.parse().ok()),
            }),
            Event::KnobWriter => r.knob_writes = m.num("writes"),
            Event::Selftest => {
                let case = m.get("case").unwrap_or("?").to_string();
                let t = m.get("t").and_then(|t| t.parse().ok());
                match m.get("event") {
                    Some("begin") => r.selftests.push(SelftestRun { case, started: t, ..SelftestRun::default() }),
                    Some("end") => {
                        if let Some(run) = r.selftests.iter_mut().rev().find(|s| s.case == case) {
                            run.ended = t;
                            run.exit = m.get("exit").and_then(|e| e.parse().ok());
                        }
                    }
                    // `running`: the guest's heartbeat while a quiet case runs; no result.
                    _ => {}
                }
            }
            Event::SelftestOut => {
                let case = m.get("case").unwrap_or("?");
                if let Some(run) = r.selftests.iter_mut().rev().find(|s| s.case == case) {
                    run.output.push(m.get("text").unwrap_or("").to_string());
                }
            }
            Event::Evidence => r.evidence = m.get("result").map(str::to_string),
            Event::Probe => {
                if let Some(n) = m.get("name") {
                    r.probes.insert(n.to_string(), m.get("result") == Some("ok"));
                }
            }
            Event::Trace => r.trace.extend(trace_event(m)),
            Event::TraceEnd => {
                r.trace_entries = m.get("lost").and_then(|v| {
                    let (a, b) = v.split_once('/')?;
                    Some((a.parse().ok()?, b.parse().ok()?))
                })
            }
            Event::KsmMerge if m.get("result") == Some("none") => r.no_merge_after_scans = m.num("full_scans"),
            Event::RunWriter => r.run_writer.extend(m.get("event").map(|e| match m.get("result") {
                Some(res) => format!("{e}:{res}"),
                None => e.to_string(),
            })),
            _ => {}
        }
    }
    r
}
