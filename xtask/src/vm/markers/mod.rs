//! The guest protocol (version 1), both directions, in one place. Pure.
//!
//! - Host -> guest: [`GuestParams`], `ksmh.NAME=value` words on the kernel command line.
//! - Guest -> host: markers, `@@KSMH <event> key=value ...` lines that images/init and the
//!   workload (images/ksmwork.c) print on the console; [`Event`] lists every event and its
//!   fields. A marker may share its line with kernel output printed by another CPU, so it is
//!   searched for anywhere in the line, and a value never contains a space, except `text=`,
//!   always the last field, which runs to the end of the line (a selftest's output line). Two events drive the
//!   host while the guest runs (`phase`, `hotplug-request`, see `vm::boot`); after the boot
//!   [`summarize`] turns all of them into a typed [`GuestReport`], and `trace` lines into typed
//!   kernel [`TraceEvent`]s. The host never guesses from free text what the guest did.

use std::collections::BTreeMap;

mod summary;
mod trace;

pub use summary::{summarize, BlockResult, GuestReport, KsmStats, SelftestRun, SoakCycle};
pub use trace::{trace_event, Cursor, TraceEvent, TraceKind};

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
    /// A fault the guest makes on purpose (`flood`: print without end), for the fault tests.
    pub fault: Option<&'a str>,
    /// Run the kernel selftests of the image's `selftests/list` before the workload.
    pub selftests: bool,
    /// Soak cycles (scenario soak).
    pub cycles: Option<u32>,
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
        if self.memory == "hotplug" {
            // The guest waits for every block of the DIMM, so it must know how big it is.
            s.push_str(&format!(" ksmh.dimm_mib={}", crate::arch::DIMM_MIB));
        }
        if !self.must_call.is_empty() {
            s.push_str(&format!(" ksmh.must_call={}", self.must_call.join(",")));
        }
        if self.selftests {
            s.push_str(" ksmh.selftests=1");
        }
        if let Some(n) = self.cycles {
            s.push_str(&format!(" ksmh.cycles={n}"));
        }
        if let Some(f) = self.fault {
            s.push_str(&format!(" ksmh.fault={f}"));
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
    /// `case event=begin t` / `case event=end exit t`: a kernel selftest case ran (see
    /// `selftests/list` in the image); `phase selftests` comes first.
    Selftest = "selftest",
    /// `case text`: one line the selftest case printed (stdout and stderr), in order.
    SelftestOut = "selftest-out",
    /// `n of offlined targets mem_available_kb t`: one soak cycle ended (its blocks offlined,
    /// onlined again, every byte verified just before).
    SoakCycle = "soak-cycle",
    /// `writes`: the soak's knob writer stopped after that many rounds.
    KnobWriter = "knob-writer",
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
    let name = line[start..].split_whitespace().next()?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return None;
    }
    let event = Event::parse(name);
    let rest = &line[start..];
    // `text=` takes the rest of the line, spaces and all; the words before it are fields.
    let (words_part, text) = match rest.find(" text=") {
        Some(i) => (&rest[..i], Some(&rest[i + " text=".len()..])),
        None => (rest, None),
    };
    let mut fields: BTreeMap<String, String> = words_part
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(t) = text {
        fields.insert("text".into(), t.trim_end_matches('\r').to_string());
    }
    Some(Marker { line: lineno, event, fields })
}

pub fn parse(text: &str) -> Vec<Marker> {
    text.lines().enumerate().filter_map(|(i, l)| parse_line(l, i as u64 + 1)).collect()
}

#[cfg(test)]
mod tests;
