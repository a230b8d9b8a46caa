//! The guest protocol (version 1), both directions, in one place. Pure.
//!
//! - Host -> guest: [`GuestParams`], `ksmh.NAME=value` words on the kernel command line.
//! - Guest -> host: markers, `@@KSMH <event> key=value ...` lines that images/init and the
//!   workload (images/ksmwork.c) print on the console; [`Event`] lists every event and its
//!   fields. A marker may share its line with kernel output printed by another CPU, so it is
//!   searched for anywhere in the line, and a value never contains a space. Two events drive the
//!   host while the guest runs (`phase`, `hotplug-request`, see `vm::boot`); after the boot
//!   [`summarize`] turns all of them into a typed [`GuestReport`], and `trace` lines into typed
//!   kernel [`TraceEvent`]s. The host never guesses from free text what the guest did.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const TAG: &str = "@@KSMH ";
pub const PROTOCOL: u32 = 1;

/// What the host tells the guest: `ksmh.NAME=value` words on the kernel command line, read by
/// images/init's `param NAME DEFAULT`.
pub struct GuestParams<'a> {
    pub scenario: &'a str,
    /// MiB the workload maps and KSM merges.
    pub mib: u32,
    /// `movable` (boot memory has a Movable zone) or `hotplug` (ask the host for a DIMM).
    pub memory: &'a str,
    /// Define the kprobe events behind the lockout evidence and dump their trace.
    pub evidence: bool,
    /// The kernel symbol holding KSM's run word.
    pub run_word: &'a str,
    /// Kernel functions whose calls prove the variant's code ran.
    pub must_call: &'a [String],
}

impl GuestParams<'_> {
    pub fn cmdline(&self) -> String {
        let mut s = format!(
            "ksmh.scenario={} ksmh.mib={} ksmh.memory={} ksmh.evidence={} ksmh.run_word={}",
            self.scenario,
            self.mib,
            self.memory,
            u8::from(self.evidence),
            self.run_word
        );
        if !self.must_call.is_empty() {
            s.push_str(&format!(" ksmh.must_call={}", self.must_call.join(",")));
        }
        s
    }
}

macro_rules! events {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// Every event of the protocol, in the order a run prints them, with its fields.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Event {
            $($(#[$doc])* $variant,)*
            /// A well-formed marker this protocol version does not define (ignored).
            Unknown,
        }

        impl Event {
            pub fn parse(name: &str) -> Event {
                match name {
                    $($name => Event::$variant,)*
                    _ => Event::Unknown,
                }
            }
        }
    };
}

events! {
    /// `version arch kernel scenario mib memory`: init runs; the protocol version it speaks.
    Hello = "hello",
    /// `name t`: a step of the guest script begins (boot, hotplug-add, workload, ksm-merge, cancel,
    /// offline, hotplug-remove, lockout-check, verify, evidence) at `t` seconds since boot (the
    /// trace clock); the host shows it as progress, the HTML timeline draws it.
    Phase = "phase",
    /// `t pages_sharing pages_shared full_scans run`: KSM's counters, sampled once a second.
    KsmSample = "ksm-sample",
    /// `when debug_locks`: lockdep's `debug_locks` at `boot`, `before-trigger` and `end`.
    LockdepStats = "lockdep-stats",
    /// `block_size blocks`: the memory block geometry (for the reader).
    Memory = "memory",
    /// `action=add|remove`: the guest asks the host to plug or unplug the DIMM (arm64).
    HotplugRequest = "hotplug-request",
    /// `block result zone`: a hot-added block onlined (for the reader).
    Online = "online",
    /// `blocks`: the blocks of the hot-added DIMM.
    HotplugAdded = "hotplug-added",
    /// `result=ok blocks` or `result=fail left`: whether the DIMM's blocks left the guest.
    HotplugRemoved = "hotplug-removed",
    /// `mib pages page_size distinct`: the workload mapped its memory (init waits for it).
    WorkloadReady = "workload-ready",
    /// `cmd`: the workload did what init asked (init waits for it).
    WorkloadAck = "workload-ack",
    /// `when pages ksm absent`: the workload's pages (for the reader).
    WorkloadPages = "workload-pages",
    /// `when block pages ksm`: the workload's pages, and KSM pages among them, per memory block.
    BlockUsage = "block-usage",
    /// `when run pages_shared pages_sharing pages_unshared full_scans`: KSM's counters.
    Ksm = "ksm",
    /// `result=none full_scans seconds`: KSM merged nothing; the guest stopped waiting.
    KsmMerge = "ksm-merge",
    /// `blocks`: the blocks holding KSM pages, to be taken offline.
    Targets = "targets",
    /// `block result=cancelled|not-cancelled`: an error-injected offline.
    Cancel = "cancel",
    /// `block result=ok|fail reason state`: an offline.
    Offline = "offline",
    /// `before after`: ksmd's full scans across the lockout check.
    KsmdScans = "ksmd-scans",
    /// `result=ok|blocked`: a write to /sys/kernel/mm/ksm/run once the offline returned.
    RunWrite = "run-write",
    /// `event=write seen_run` / `event=returned result waited_ms`: the workload's run writer.
    RunWriter = "run-writer",
    /// `result bytes bad_bytes bad_pages`: the workload checked every byte it wrote.
    Verify = "verify",
    /// `status`: the workload's exit status.
    WorkloadExit = "workload-exit",
    /// `what reason`: the guest script failed.
    Error = "error",
    /// `result=ok|fail|off|unavailable run_word must_call`: the lockout evidence was set up.
    Evidence = "evidence",
    /// `name result=ok|fail`: one kprobe event of the evidence ([`TRACE_PROBES`], `must_call`).
    Probe = "probe",
    /// `t pid ev ...`: one kernel trace event, see [`trace_event`].
    Trace = "trace",
    /// `lost=in-buffer/written`: the end of the trace dump.
    TraceEnd = "trace-end",
    /// `result=complete|error`: the last marker; the guest powers off.
    Done = "done",
}

/// The kprobe events every evidence run defines, named as their `trace` lines' `ev=`.
pub const TRACE_PROBES: [&str; 5] = ["cb", "cbret", "tick", "runw", "runwret"];

#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub line: u64,
    pub event: Event,
    pub fields: BTreeMap<String, String>,
}

impl Marker {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }
    pub fn num(&self, k: &str) -> Option<u64> {
        self.get(k).and_then(|v| v.parse().ok())
    }
}

pub fn parse_line(line: &str, lineno: u64) -> Option<Marker> {
    let start = line.find(TAG)? + TAG.len();
    let mut words = line[start..].split_whitespace();
    let name = words.next()?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return None;
    }
    let event = Event::parse(name);
    let fields = words
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Marker { line: lineno, event, fields })
}

pub fn parse(text: &str) -> Vec<Marker> {
    text.lines().enumerate().filter_map(|(i, l)| parse_line(l, i as u64 + 1)).collect()
}

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

/// One kernel trace event of the lockout evidence (`@@KSMH trace t=... ev=...`), typed.
/// Times are the kernel's trace clock in seconds (the printk clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub line: u64,
    pub t: f64,
    /// The task the event happened in (pairs an entry with its return).
    #[serde(default)]
    pub pid: u64,
    pub kind: TraceKind,
}

/// KSM's scan cursor (`ksm_scan.address`, `ksm_scan.seqnr`): it moves only while ksmd scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub addr: u64,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum TraceKind {
    /// `ksm_memory_callback` entered with a notifier action; the run word and cursor then.
    Callback {
        action: u64,
        run: u64,
        cursor: Cursor,
    },
    /// `ksm_memory_callback` returned; the run word and cursor as it left them.
    CallbackReturn {
        ret: i64,
        run: u64,
        cursor: Cursor,
    },
    /// ksmd ended a scan batch and goes to sleep; the cursor after the batch.
    Tick {
        cursor: Cursor,
    },
    /// `run_store` (a write to /sys/kernel/mm/ksm/run) entered / returned.
    RunStore,
    RunStoreReturn {
        ret: i64,
    },
    /// A function the variant must be seen calling (`must_call`), entered.
    Call {
        function: String,
    },
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

fn cursor(m: &Marker) -> Option<Cursor> {
    Some(Cursor { addr: m.num("addr")?, seq: m.num("seq")? })
}

fn signed(m: &Marker, k: &str) -> Option<i64> {
    m.get(k).and_then(|v| v.parse().ok())
}

/// A `trace` marker as a typed event; None when a field the event needs is missing.
pub fn trace_event(m: &Marker) -> Option<TraceEvent> {
    let t: f64 = m.get("t")?.parse().ok()?;
    let kind = match m.get("ev")? {
        "cb" => TraceKind::Callback { action: m.num("action")?, run: m.num("run")?, cursor: cursor(m)? },
        "cbret" => TraceKind::CallbackReturn { ret: signed(m, "ret")?, run: m.num("run")?, cursor: cursor(m)? },
        "tick" => TraceKind::Tick { cursor: cursor(m)? },
        "runw" => TraceKind::RunStore,
        "runwret" => TraceKind::RunStoreReturn { ret: signed(m, "ret")? },
        other => TraceKind::Call { function: other.to_string() },
    };
    Some(TraceEvent { line: m.line, t, pid: m.num("pid").unwrap_or(0), kind })
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
                r.verify_bad_bytes = m.num("bad_bytes");
            }
            Event::WorkloadExit => r.workload_exit = m.get("status").and_then(|s| s.parse().ok()),
            Event::Error => {
                r.errors.push(format!("{}: {}", m.get("what").unwrap_or("?"), m.get("reason").unwrap_or("?")))
            }
            Event::Done => r.done = m.get("result").map(str::to_string),
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

#[cfg(test)]
mod tests {
    use super::*;

    // Excerpt of a real s390x console (upstream kernel, cancel scenario).
    const S390X: &str = "\
@@KSMH hello version=1 arch=s390x kernel=6.1.192 scenario=cancel mib=32 memory=movable
@@KSMH phase name=boot t=3.21
@@KSMH lockdep-stats when=boot debug_locks=1
@@KSMH ksm-sample t=5.02 pages_sharing=0 pages_shared=0 full_scans=0 run=1
@@KSMH ksm-sample t=6.03 pages_sharing=8132 pages_shared=60 full_scans=4 run=1
@@KSMH ksm when=merged run=1 pages_shared=60 pages_sharing=8132 pages_unshared=0 full_scans=4
@@KSMH block-usage when=before block=8 pages=6400 ksm=6400
@@KSMH block-usage when=before block=15 pages=1792 ksm=1792
@@KSMH targets blocks=8,15
@@KSMH lockdep-stats when=before-trigger debug_locks=1
@@KSMH phase name=cancel
@@KSMH offline block=8 result=fail reason=Cannot-allocate-memory state=online
@@KSMH cancel block=8 result=cancelled
[   21.000000] memory offlining [mem 0x80000000-0x8fffffff] failed due to notifier failure
@@KSMH offline block=8 result=ok state=offline
@@KSMH offline block=15 result=fail reason=Device-or-resource-busy state=online
@@KSMH ksmd-scans before=12 after=14
@@KSMH run-write result=ok
@@KSMH verify result=ok bytes=33554432 bad_bytes=0 bad_pages=0
@@KSMH workload-exit status=0
@@KSMH done result=complete
";

    #[test]
    fn summarizes_a_real_run() {
        let r = summarize(&parse(S390X));
        assert_eq!(r.protocol, Some(PROTOCOL));
        assert_eq!(r.merged().unwrap().pages_sharing, 8132);
        assert_eq!(r.targets, vec![8, 15]);
        assert_eq!(r.blocks_offlined(), vec![8]);
        assert_eq!(r.ksm_pages_migrated(), 6400);
        assert_eq!(r.cancelled.len(), 1);
        assert!(r.cancelled[0].ok);
        assert_eq!(r.offlined.iter().filter(|b| !b.ok).count(), 2);
        assert_eq!(r.ksmd_scans, Some((12, 14)));
        assert_eq!((r.run_write_ok, r.verify_ok, r.workload_exit), (Some(true), Some(true), Some(0)));
        assert_eq!(r.debug_locks.get("before-trigger"), Some(&1));
        assert_eq!(r.done.as_deref(), Some("complete"));
        assert_eq!(r.phase_starts[0], ("boot".to_string(), 3.21));
        assert_eq!(r.phases.len(), 2, "a phase without t= still counts");
        assert_eq!(
            r.ksm_samples.iter().map(|(t, k)| (*t, k.pages_sharing)).collect::<Vec<_>>(),
            vec![(5.02, 0), (6.03, 8132)]
        );
    }

    #[test]
    fn trace_markers_become_typed_kernel_events() {
        // From a real s390x upstream console (the guest's dump of its kprobe events).
        let text = "\
@@KSMH evidence result=ok run_word=ksm_run must_call=none
@@KSMH probe name=tick result=ok
@@KSMH probe name=rust_ksm_memory_callback result=fail
@@KSMH trace t=17.759459 ev=cb pid=175 action=2 run=1 addr=4396570427392 seq=10
@@KSMH trace t=17.759615 ev=cbret pid=175 ret=1 run=5 addr=4396570427392 seq=10
@@KSMH trace t=17.801234 ev=tick pid=25 addr=4396570427392 seq=10
@@KSMH trace t=17.9 ev=runw pid=180
@@KSMH trace t=19.5 ev=runwret pid=180 ret=2
@@KSMH trace t=19.6 ev=rust_ksm_memory_callback pid=175
@@KSMH trace t=19.7 ev=cb pid=175 action=4
@@KSMH trace-end lost=190/190
";
        let r = summarize(&parse(text));
        assert_eq!(r.evidence.as_deref(), Some("ok"));
        assert_eq!(r.probes.get("tick"), Some(&true));
        assert_eq!(r.probes.get("rust_ksm_memory_callback"), Some(&false));
        assert_eq!(r.trace_entries, Some((190, 190)));
        let c = Cursor { addr: 4396570427392, seq: 10 };
        let kinds: Vec<&TraceKind> = r.trace.iter().map(|e| &e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                &TraceKind::Callback { action: 2, run: 1, cursor: c },
                &TraceKind::CallbackReturn { ret: 1, run: 5, cursor: c },
                &TraceKind::Tick { cursor: c },
                &TraceKind::RunStore,
                &TraceKind::RunStoreReturn { ret: 2 },
                &TraceKind::Call { function: "rust_ksm_memory_callback".into() },
            ],
            "the callback entry without run word and cursor is dropped, not guessed"
        );
        assert_eq!((r.trace[0].pid, r.trace[0].t), (175, 17.759459));
    }

    #[test]
    fn a_marker_interleaved_with_kernel_output_is_still_read() {
        let m = parse_line("[   40.1] ksm: foo@@KSMH verify result=fail bytes=10 bad_bytes=3", 7).unwrap();
        assert_eq!((m.event, m.num("bad_bytes"), m.line), (Event::Verify, Some(3), 7));
        assert!(parse_line("@@KSMH", 1).is_none());
        assert!(parse_line("no marker here", 1).is_none());
        assert!(parse_line("@@KSMH $(bad) x=1", 1).is_none());
    }
}
