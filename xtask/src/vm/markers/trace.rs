//! `trace` markers: the kernel's own trace events of the lockout evidence, typed.

use serde::{Deserialize, Serialize};

use super::Marker;

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
