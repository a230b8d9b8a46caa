//! The KSM offline lockout, seen from inside the kernel (pure): trace events -> offline
//! windows, ksmd's scan batches around and inside them, and the `run` writes that landed in
//! them. The verdict decides; this only measures.
//!
//! A window opens when `ksm_memory_callback(MEM_GOING_OFFLINE)` returns (the fix has set
//! `KSM_RUN_OFFLINE` by then) and closes when the callback is entered for `MEM_OFFLINE` or
//! `MEM_CANCEL_OFFLINE` (before it clears the bit). Inside, a kernel whose lockout holds lets
//! no ksmd batch move KSM's scan cursor, and holds every `run` write until after the close.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::vm::markers::{Cursor, TraceEvent, TraceKind};

/// `include/linux/memory.h` notifier actions, the same on every kernel we run.
pub const MEM_GOING_OFFLINE: u64 = 1 << 1;
pub const MEM_OFFLINE: u64 = 1 << 2;
pub const MEM_CANCEL_OFFLINE: u64 = 1 << 5;
/// `mm/ksm.c`: the bit the fix sets while memory goes offline.
pub const KSM_RUN_OFFLINE: u64 = 4;
/// How far before a window ksmd's batches count as "scanning right before".
pub const BEFORE_SECONDS: f64 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowEnd {
    Offline,
    Cancel,
    /// The trace ended inside the window (the offline never finished).
    Open,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Kernel seconds: the MEM_GOING_OFFLINE callback entered / returned, the closing one entered.
    pub entered: f64,
    pub start: f64,
    pub end: Option<f64>,
    pub closed_by: WindowEnd,
    pub length_ms: Option<f64>,
    /// The run word as MEM_GOING_OFFLINE left it (the fix: `KSM_RUN_OFFLINE` set).
    pub run_after_going_offline: u64,
    /// The run word as the closing MEM_OFFLINE/MEM_CANCEL_OFFLINE left it (the fix:
    /// `KSM_RUN_OFFLINE` clear again: the lockout ends with its window).
    #[serde(default)]
    pub run_after_close: Option<u64>,
    /// ksmd batches that moved the scan cursor strictly inside the window.
    pub scans_inside: usize,
    /// The cursor differs between the window's open and close.
    pub cursor_moved: bool,
    /// ksmd batches that moved the cursor in the `BEFORE_SECONDS` before the window.
    pub scans_before: usize,
    /// Mean time between those batches: how often an unlocked ksmd would have scanned.
    pub ksmd_period_ms: Option<f64>,
}

impl Window {
    pub fn offline_bit_set(&self) -> bool {
        self.run_after_going_offline & KSM_RUN_OFFLINE != 0
    }
    /// The closing callback returned with `KSM_RUN_OFFLINE` still set: the lockout outlives it.
    pub fn leaked(&self) -> bool {
        self.run_after_close.is_some_and(|r| r & KSM_RUN_OFFLINE != 0)
    }
    /// Batches an unlocked ksmd keeping its pace would have made inside the window.
    pub fn expected_scans(&self) -> Option<f64> {
        Some(self.length_ms? / self.ksmd_period_ms?)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunWrite {
    pub entered: f64,
    pub returned: Option<f64>,
    /// Index of the window the write was issued in, if any.
    pub window: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub windows: Vec<Window>,
    pub run_writes: Vec<RunWrite>,
    /// ksmd batches that moved the cursor, over the whole trace (kernel seconds).
    pub batches: Vec<f64>,
    /// Calls of each `must_call` function made while KSM's memory callback ran.
    pub calls_in_callback: BTreeMap<String, usize>,
}

impl Evidence {
    /// Windows in which a write to `run` was issued, and that write's return time.
    pub fn writes_in_windows(&self) -> impl Iterator<Item = (&RunWrite, &Window)> {
        self.run_writes.iter().filter_map(|w| Some((w, &self.windows[w.window?])))
    }
}

/// Measures the lockout in a guest's trace. `must_call`: functions whose calls inside the
/// memory callback prove the variant's code ran.
pub fn analyze(trace: &[TraceEvent], must_call: &[String]) -> Evidence {
    let mut events: Vec<&TraceEvent> = trace.iter().collect();
    events.sort_by(|a, b| a.t.total_cmp(&b.t));
    let batches = batches(&events);
    let (windows, calls_in_callback) = windows(&events, &batches, must_call);
    let run_writes = run_writes(&events, &windows);
    Evidence { windows, run_writes, batches, calls_in_callback }
}

/// ksmd's batches: ticks whose cursor moved since the last cursor any event showed.
fn batches(events: &[&TraceEvent]) -> Vec<f64> {
    let mut batches = Vec::new();
    let mut last: Option<Cursor> = None;
    for e in events {
        let c = match &e.kind {
            TraceKind::Callback { cursor, .. } | TraceKind::CallbackReturn { cursor, .. } => Some(*cursor),
            TraceKind::Tick { cursor } => {
                if last.is_some_and(|l| l != *cursor) {
                    batches.push(e.t);
                }
                Some(*cursor)
            }
            _ => None,
        };
        last = c.or(last);
    }
    batches
}

/// Windows: GOING_OFFLINE entry -> its return -> the next OFFLINE/CANCEL entry. The chain runs
/// under the notifier rwsem, so callbacks never interleave with each other. Also the calls of
/// each `must_call` function made while the callback ran.
fn windows(events: &[&TraceEvent], batches: &[f64], must_call: &[String]) -> (Vec<Window>, BTreeMap<String, usize>) {
    let mut windows = Vec::new();
    let mut calls: BTreeMap<String, usize> = must_call.iter().map(|f| (f.clone(), 0)).collect();
    let mut open: Option<(f64, f64, u64, Cursor)> = None;
    let mut going_entered: Option<f64> = None;
    let mut closing = false;
    let mut in_callback = false;
    for e in events {
        match &e.kind {
            TraceKind::Callback { action, cursor, .. } => {
                in_callback = true;
                if *action == MEM_GOING_OFFLINE {
                    going_entered = Some(e.t);
                } else if *action == MEM_OFFLINE || *action == MEM_CANCEL_OFFLINE {
                    if let Some((entered, start, run, c0)) = open.take() {
                        let closed_by = if *action == MEM_OFFLINE { WindowEnd::Offline } else { WindowEnd::Cancel };
                        windows.push(window(batches, entered, start, Some(e.t), closed_by, run, c0 != *cursor));
                        closing = true;
                    }
                }
            }
            TraceKind::CallbackReturn { run, cursor, .. } => {
                in_callback = false;
                if let Some(entered) = going_entered.take() {
                    open = Some((entered, e.t, *run, *cursor));
                } else if std::mem::take(&mut closing) {
                    if let Some(w) = windows.last_mut() {
                        w.run_after_close = Some(*run);
                    }
                }
            }
            TraceKind::Call { function } if in_callback && must_call.contains(function) => {
                *calls.entry(function.clone()).or_default() += 1;
            }
            _ => {}
        }
    }
    if let Some((entered, start, run, _)) = open {
        windows.push(window(batches, entered, start, None, WindowEnd::Open, run, false));
    }
    (windows, calls)
}

/// Writes to `run`: each entry paired with the next return in the same task, and the window
/// it was issued in (after MEM_GOING_OFFLINE was entered, before the window closed).
fn run_writes(events: &[&TraceEvent], windows: &[Window]) -> Vec<RunWrite> {
    let mut writes = Vec::new();
    let mut pending: BTreeMap<u64, f64> = BTreeMap::new();
    for e in events {
        match e.kind {
            TraceKind::RunStore => {
                pending.insert(e.pid, e.t);
            }
            TraceKind::RunStoreReturn { .. } => {
                if let Some(entered) = pending.remove(&e.pid) {
                    writes.push(RunWrite { entered, returned: Some(e.t), window: None });
                }
            }
            _ => {}
        }
    }
    writes.extend(pending.into_values().map(|entered| RunWrite { entered, returned: None, window: None }));
    writes.sort_by(|a, b| a.entered.total_cmp(&b.entered));
    for w in &mut writes {
        w.window = windows.iter().position(|win| w.entered >= win.entered && win.end.is_none_or(|end| w.entered < end));
    }
    writes
}

fn window(
    batches: &[f64],
    entered: f64,
    start: f64,
    end: Option<f64>,
    closed_by: WindowEnd,
    run: u64,
    moved: bool,
) -> Window {
    let inside = batches.iter().filter(|&&t| t > start && end.is_none_or(|e| t < e)).count();
    let before: Vec<f64> = batches.iter().copied().filter(|&t| t < entered && t >= entered - BEFORE_SECONDS).collect();
    let period =
        (before.len() >= 2).then(|| (before[before.len() - 1] - before[0]) * 1000.0 / (before.len() - 1) as f64);
    Window {
        entered,
        start,
        end,
        closed_by,
        length_ms: end.map(|e| (e - start) * 1000.0),
        run_after_going_offline: run,
        run_after_close: None,
        scans_inside: inside,
        cursor_moved: moved,
        scans_before: before.len(),
        ksmd_period_ms: period,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::markers::{parse, summarize};

    /// A guest trace as the init prints it: ksmd scanning every 50 ms, one offline window
    /// from 10.0 to 11.0 s, a run write inside it.
    fn trace(lockout_holds: bool, offline_bit: bool) -> String {
        fn tick(t: f64, addr: &mut u64, moved: bool, s: &mut String) {
            if moved {
                *addr += 4096;
            }
            s.push_str(&format!("@@KSMH trace t={t:.6} ev=tick addr={addr} seq=3\n"));
        }
        let mut s = String::new();
        let mut addr = 4096u64;
        let mut t = 8.0;
        while t < 10.0 {
            tick(t, &mut addr, true, &mut s);
            t += 0.05;
        }
        let run = if offline_bit { 5 } else { 1 };
        s.push_str(&format!("@@KSMH trace t=10.000000 ev=cb action=2 run=1 addr={addr} seq=3\n"));
        s.push_str(&format!("@@KSMH trace t=10.000100 ev=cbret ret=1 run={run} addr={addr} seq=3\n"));
        s.push_str("@@KSMH trace t=10.200000 ev=runw\n");
        if !lockout_holds {
            s.push_str("@@KSMH trace t=10.200300 ev=runwret ret=2\n");
        }
        t = 10.05;
        while t < 11.0 {
            tick(t, &mut addr, !lockout_holds, &mut s);
            t += 0.05;
        }
        s.push_str(&format!("@@KSMH trace t=11.000000 ev=cb action=4 run={run} addr={addr} seq=3\n"));
        s.push_str(&format!("@@KSMH trace t=11.000200 ev=cbret ret=1 run=1 addr={addr} seq=3\n"));
        if lockout_holds {
            s.push_str("@@KSMH trace t=11.000400 ev=runwret ret=2\n");
        }
        s
    }

    fn evidence(text: &str) -> Evidence {
        analyze(&summarize(&parse(text)).trace, &[])
    }

    #[test]
    fn a_held_lockout_shows_a_frozen_cursor_and_a_write_held_past_the_window() {
        let e = evidence(&trace(true, true));
        assert_eq!(e.windows.len(), 1);
        let w = &e.windows[0];
        assert_eq!((w.closed_by, w.scans_inside, w.cursor_moved), (WindowEnd::Offline, 0, false));
        assert!(w.offline_bit_set());
        assert!((w.length_ms.unwrap() - 999.9).abs() < 0.01, "{w:?}");
        // 2 s of ticks every 50 ms; the first has no earlier cursor to differ from.
        assert_eq!(w.scans_before, 39, "{w:?}");
        assert!((w.ksmd_period_ms.unwrap() - 50.0).abs() < 0.5, "{w:?}");
        assert!(w.expected_scans().unwrap() > 19.0);
        let (write, win) = e.writes_in_windows().next().unwrap();
        assert!(write.returned.unwrap() > win.end.unwrap());
    }

    #[test]
    fn a_kernel_without_the_lockout_scans_inside_and_lets_the_write_through() {
        let e = evidence(&trace(false, false));
        let w = &e.windows[0];
        assert!(!w.offline_bit_set());
        assert!(w.scans_inside >= 18 && w.cursor_moved, "{w:?}");
        let (write, win) = e.writes_in_windows().next().unwrap();
        assert!(write.returned.unwrap() < win.end.unwrap());
    }

    #[test]
    fn a_cancelled_offline_closes_its_window_and_an_unfinished_one_stays_open() {
        let text = "\
@@KSMH trace t=1.0 ev=cb action=2 run=1 addr=1 seq=1
@@KSMH trace t=1.1 ev=cbret ret=1 run=5 addr=1 seq=1
@@KSMH trace t=1.2 ev=cb action=32 run=5 addr=1 seq=1
@@KSMH trace t=1.3 ev=cbret ret=1 run=1 addr=1 seq=1
@@KSMH trace t=2.0 ev=cb action=2 run=1 addr=1 seq=1
@@KSMH trace t=2.1 ev=cbret ret=1 run=5 addr=1 seq=1
@@KSMH trace t=2.2 ev=rust_ksm_memory_callback
";
        let e = analyze(&summarize(&parse(text)).trace, &["rust_ksm_memory_callback".into(), "absent_fn".into()]);
        assert_eq!(e.windows.iter().map(|w| w.closed_by).collect::<Vec<_>>(), vec![WindowEnd::Cancel, WindowEnd::Open]);
        assert_eq!((e.windows[0].run_after_close, e.windows[0].leaked()), (Some(1), false));
        assert!(e.windows[1].end.is_none() && e.windows[1].length_ms.is_none());
        // The call at 2.2 came after the callback returned: it does not count.
        assert_eq!(e.calls_in_callback.get("rust_ksm_memory_callback"), Some(&0));
        assert_eq!(e.calls_in_callback.get("absent_fn"), Some(&0));
    }

    #[test]
    fn calls_inside_the_callback_count_and_writes_pair_up_by_task() {
        let text = "\
@@KSMH trace t=1.0 ev=cb action=2 run=1 addr=1 seq=1
@@KSMH trace t=1.01 ev=rust_ksm_memory_callback
@@KSMH trace t=1.1 ev=cbret ret=1 run=5 addr=1 seq=1
@@KSMH trace t=1.5 pid=7 ev=runw
@@KSMH trace t=1.6 pid=8 ev=runw
@@KSMH trace t=3.0 ev=cb action=4 run=5 addr=1 seq=1
@@KSMH trace t=3.01 ev=rust_ksm_memory_callback
@@KSMH trace t=3.1 ev=cbret ret=1 run=5 addr=1 seq=1
@@KSMH trace t=3.2 pid=8 ev=runwret ret=2
";
        let e = analyze(&summarize(&parse(text)).trace, &["rust_ksm_memory_callback".into()]);
        assert_eq!(e.calls_in_callback.get("rust_ksm_memory_callback"), Some(&2));
        // MEM_OFFLINE returned with the OFFLINE bit still in the run word: the lockout leaked.
        assert!(e.windows[0].leaked());
        // Task 7's write never returned (a lockout that never ends); task 8's returned after.
        assert_eq!(
            e.run_writes,
            vec![
                RunWrite { entered: 1.5, returned: None, window: Some(0) },
                RunWrite { entered: 1.6, returned: Some(3.2), window: Some(0) }
            ]
        );
    }
}
