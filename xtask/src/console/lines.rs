//! What a line routed to an open report is, decided once: a boundary (the report ends or the
//! next begins), a stack line, a fact line (PC, CPU), a known part of a report body, or other
//! text.

use std::sync::OnceLock;

use regex::Regex;

use super::frames::{self, CpuLine, Frame, Marker};

/// Lines that end a report, or begin the next one, whatever the report.
pub(crate) enum Boundary {
    /// `---[ end trace .. ]---`, `---[ end Kernel panic ..`.
    End,
    /// `==========`: opens and closes sanitizer reports.
    Separator,
    /// `------------[ cut here ]------------`: always the start of the next WARN/BUG.
    CutHere,
}

pub(crate) fn boundary(t: &str) -> Option<Boundary> {
    if t.starts_with("---[ end ") {
        Some(Boundary::End)
    } else if is_separator(t) {
        Some(Boundary::Separator)
    } else if is_cut_here(t) {
        Some(Boundary::CutHere)
    } else {
        None
    }
}

/// Any other line of a report body.
pub(crate) enum Line {
    Blank,
    /// `<IRQ>`, `</IRQ>`, `Exception stack(..`, an address-only frame.
    StackMarker(Marker),
    Frame(Frame),
    /// `Call Trace:` and the like.
    StackHeader,
    /// The faulting instruction's function (`RIP:`, `pc :`, `Krnl PSW`, ...).
    Pc(String),
    /// `CPU: N PID: N Comm: ..`
    Cpu(CpuLine),
    /// Registers, code bytes, fault details, lock lists, sanitizer sections; whether it may
    /// stand inside a call trace without ending it.
    Body {
        inside_trace: bool,
    },
    Text,
}

/// `text` as the report saw it (leading blanks kept), not a boundary.
pub(crate) fn classify(text: &str) -> Line {
    let t = text.trim();
    if t.is_empty() {
        Line::Blank
    } else if let Some(m) = frames::stack_marker(t) {
        Line::StackMarker(m)
    } else if let Some(f) = frames::parse_frame(text) {
        Line::Frame(f)
    } else if frames::is_stack_header(t) {
        Line::StackHeader
    } else if let Some(pc) = frames::parse_pc(t) {
        Line::Pc(pc.func)
    } else if let Some(c) = frames::parse_cpu_line(t) {
        Line::Cpu(c)
    } else if let Some(inside_trace) = known_body(t) {
        Line::Body { inside_trace }
    } else {
        Line::Text
    }
}

pub(crate) fn is_separator(t: &str) -> bool {
    t.len() >= 10 && t.bytes().all(|b| b == b'=')
}

pub(crate) fn is_cut_here(t: &str) -> bool {
    t.starts_with("------------[ cut here ]")
}

/// Lines that report bodies are made of besides frames: registers, code bytes, fault
/// details, lock lists, sanitizer sections. `Some(true)` for lines that occur inside a call
/// trace without ending it.
fn known_body(t: &str) -> Option<bool> {
    #[rustfmt::skip] // a table
    const ENDS_TRACE: &[&str] = &[
        "Hardware name:", "Modules linked in", "Tainted:", "RIP:", "pc :", "RSP:", "RAX:", "RBX:", "RCX:", "RDX:", "RBP:", "RSI:",
        "RDI:", "R08:", "R09:", "R10:", "R11:", "R12:", "R13:", "R14:", "R15:", "FS:", "GS:", "CS:", "CR2:", "DR0:",
        "DR3:", "DR6:", "PKRU:", "EIP:", "EAX:", "ESI:", "DS:", "eax:", "esi:", "ds:", "Code:", "Code ", "Stack:",
        "irq event stamp:", "hardirqs last", "softirqs last", "Krnl ", "R:", "Last Breaking-Event-Address",
        "pstate:", "lr :", "sp :", "Mem abort info:", "ESR =", "EC =", "SET =", "FnV =", "EA =", "S1PTW =", "FSC =",
        "Data abort info:", "ISV =", "ISS", "CM =", "WnR =", "TnD", "TagAccess", "GCS", "Xs =", "user pgtable:",
        "swapper pgtable:", "#PF:", "PGD ", "P4D ", "PUD ", "PMD ", "Oops", "Internal error", "Kernel Offset:",
        "CPU features:", "Memory Limit:", "Failing address:", "Fault in ", "AS:", "Workqueue:", "task:",
        "Showing all locks held", "Showing busy workqueues", "NMI backtrace for cpu", "Sending NMI from CPU",
        "Dumping ftrace buffer", "(ftrace buffer empty)", "Read of size", "Write of size", "Read at addr",
        "Write at addr", "Allocated by task", "Freed by task", "Last potentially related", "Second to last potentially",
        "The buggy address", "Memory state around the buggy address", "page:", "flags:", "raw:", "page dumped because",
        "head:", "memcg:", "page_owner", "Uninit was", "Local variable", "Bytes ", "Memory access of size",
        "Reported by Kernel Concurrency Sanitizer", "value changed:", "kfence-#", "allocated by task", "freed by task",
        "in_atomic()", "preempt_count:", "RCU nest depth", "Preemption disabled at:", "no locks held by",
        "Rebooting in", "SMP: stopping secondary CPUs", "Mem-Info:", "Tasks state", "oom-kill:", "oom_reaper:",
        "Node ", "lowmem_reserve", "active_anon:", "Free swap", "Total swap", "pages RAM", "pages reserved",
        "hugetlb", "comm \"", "hex dump", "last function:", "Not tainted", "INFO: lockdep is turned off",
        "Please attach the output of", "turning off the locking correctness validator", "Unable to handle kernel",
        "kernel BUG at", "Thread overran stack", "rcu: ", "(detected by", "(t=", "Task dump for CPU",
        "Unless rcu_", "RCU grace-period kthread stack dump", "Stack dump where RCU", "Possible timer handling issue",
        "The code is fine but", "the code is fine but", "you didn't initialize", "Call Trace", "... MAX_",
        "shift exponent", "index ", "signed integer overflow", "load of value", "member access within",
    ];
    if t.starts_with("Exception stack(") || t.starts_with('>') {
        return Some(true);
    }
    if ENDS_TRACE.iter().any(|p| t.starts_with(p)) {
        return Some(false);
    }
    if held_lock_line(t) {
        return Some(false);
    }
    // Register and memory dumps: `x29: ffff..`, `ffff888012345600: fa fb ..`, hex words,
    // KASAN's `^` marker, arm64 `[0000000000000008] user address ..`.
    let first = t.split_whitespace().next().unwrap_or("");
    let hexword = |w: &str| w.len() >= 8 && w.bytes().all(|b| b.is_ascii_hexdigit());
    if hexword(first.trim_end_matches(':').trim_start_matches(['#', '>'])) || t.bytes().all(|b| b == b'^' || b == b' ')
    {
        return Some(true);
    }
    if first.starts_with('[') && hexword(first.trim_matches(['[', ']'])) {
        return Some(false);
    }
    if arm_reg().is_match(t) {
        return Some(false);
    }
    None
}

fn held_lock_line(t: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    let r = R.get_or_init(|| Regex::new(r"^(?:\d+ locks? held by |#\d+: )").expect("regex"));
    r.is_match(t)
}

fn arm_reg() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"^(?:x\d+|[a-z]\d|ra|gp|tp|sp|fp|ip|lr|pc|cpsr|sr|status|badaddr|cause|epc) ?: ").expect("regex")
    })
}
