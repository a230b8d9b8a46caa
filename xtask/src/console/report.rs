//! One open report: consumes the lines routed to it, decides where it ends, and turns into a
//! [`Finding`]. Keeps parsed facts only (frames, locks, a few captures), never raw lines.

use std::sync::OnceLock;

use regex::Regex;

use super::frames::{self, Marker};
use super::headers::{Body, Def, Done, HeaderMatch, Src};
use super::identity::{self, normalize_text};
use super::lockdep;
use super::normalize::Caller;
use super::{Category, Finding, Kind};

/// Frames kept per trace.
const MAX_FRAMES: usize = 64;
/// Lines routed to one report before it is cut (a runaway OOM task list, a flood).
const MAX_REPORT_LINES: u32 = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The line is part of the report, which goes on.
    Keep,
    /// The line ends the report and is part of it.
    Close,
    /// The report ended before this line; the line is someone else's.
    Reject,
}

pub(crate) enum Absorb {
    No,
    Yes,
    YesAndClose,
}

pub(crate) struct Report {
    def: &'static Def,
    category: Category,
    kind: Kind,
    body: Body,
    done: Done,
    pub key: Option<Caller>,
    first_line: u64,
    last_line: u64,
    pub last_fed: u64,
    fed: u32,
    quiet: u32,
    caps: Vec<(&'static str, String)>,
    task: Option<String>,
    pid: Option<u32>,
    cpu: Option<u32>,
    lockdep: Option<Box<lockdep::Parser>>,
    /// Frames after the first explicit `Call Trace:`-like header.
    main: Vec<String>,
    main_irq_exit: Option<usize>,
    /// Frames seen before any trace header (KCSAN access stacks, headerless traces).
    prov: Vec<String>,
    prov_irq_exit: Option<usize>,
    main_started: bool,
    collecting: bool,
    gap: u8,
    pc: Option<String>,
    saw_end: bool,
    saw_die: bool,
    absorbed_warn: bool,
    die_title: Option<String>,
    access: Option<&'static str>,
    last_function: Option<String>,
    victim: Option<(String, Option<u32>)>,
    failing_addr: Option<u64>,
}

impl Report {
    pub(crate) fn new(m: HeaderMatch, key: Option<Caller>, first_line: u64, line: u64) -> Report {
        let def = m.def;
        let mut r = Report {
            def,
            category: def.category,
            kind: def.kind,
            body: def.body,
            done: def.done,
            key,
            first_line,
            last_line: line,
            last_fed: line,
            fed: 0,
            quiet: 0,
            task: m.cap("task").map(str::to_string),
            pid: m.num("pid"),
            cpu: m.num("cpu"),
            lockdep: (def.body == Body::Sections).then(|| Box::new(lockdep::Parser::new(def.kind))),
            main: Vec::new(),
            main_irq_exit: None,
            prov: Vec::new(),
            prov_irq_exit: None,
            main_started: false,
            collecting: false,
            gap: 0,
            pc: None,
            saw_end: false,
            saw_die: def.body == Body::Die,
            absorbed_warn: false,
            die_title: None,
            access: None,
            last_function: None,
            victim: None,
            failing_addr: None,
            caps: Vec::new(),
        };
        if def.body == Body::Die {
            r.body = Body::Stack;
            r.refine_die(m.cap("die"), m.cap("ilc").is_some());
        }
        if let Some(v) = m.cap("victim") {
            r.victim = Some((v.to_string(), m.num("vpid")));
        }
        r.caps = m.caps;
        r
    }

    /// Kind and title of an oops from its die string (`Oops`, `general protection fault`,
    /// s390 `illegal operation`, arm64 `Internal error: Oops - BUG`, ...).
    fn refine_die(&mut self, die: Option<&str>, s390: bool) {
        let die = die.unwrap_or("Oops").trim();
        let internal = self.def.kind == Kind::InternalError;
        let (cat, kind, title): (Category, Kind, String) = if die.contains("stack overflow")
            || die.contains("stack guard")
        {
            (Category::Oops, Kind::StackOverflow, "kernel stack overflow".into())
        } else if die.starts_with("Oops - BUG") || die == "BUG" {
            (Category::Bug, Kind::KernelBug, "kernel BUG".into())
        } else if internal {
            (Category::Oops, Kind::InternalError, format!("Internal error: {die}"))
        } else if die == "Oops" {
            (Category::Oops, Kind::Oops, "Oops".into())
        } else if die.starts_with("general protection fault") {
            (Category::Oops, Kind::GeneralProtectionFault, "general protection fault".into())
        } else if die == "invalid opcode" {
            (Category::Oops, Kind::InvalidOpcode, "invalid opcode".into())
        } else if s390 {
            (Category::Oops, Kind::ProgramCheck, die.to_string())
        } else {
            (
                Category::Oops,
                Kind::Oops,
                format!("Oops: {}", normalize_text(die.trim_start_matches("Oops").trim_start_matches([' ', '-', ':']))),
            )
        };
        self.category = cat;
        self.kind = kind;
        self.die_title = Some(title);
    }

    pub(crate) fn is_single(&self) -> bool {
        matches!(self.body, Body::Single | Body::Side | Body::Boot)
    }

    pub(crate) fn is_oom_kill(&self) -> Option<u32> {
        (self.kind == Kind::OomKill).then(|| self.victim.as_ref().and_then(|v| v.1)).flatten()
    }

    fn stack_seen(&self) -> bool {
        self.main_started || !self.main.is_empty() || !self.prov.is_empty()
    }

    /// A header arrived from the same source while this report is open: is it ours?
    pub(crate) fn try_absorb(&mut self, line: u64, m: &HeaderMatch) -> Absorb {
        let def = m.def;
        if def.body == Body::Die && self.def.awaits_die && !self.saw_die && !self.saw_end {
            self.saw_die = true;
            self.good(line);
            return Absorb::Yes;
        }
        if def.kind == Kind::Warn && self.kind == Kind::DebugLocksWarnOn && !self.absorbed_warn && !self.stack_seen() {
            self.absorbed_warn = true;
            self.body = Body::Stack;
            if def.done == Done::EndMarker {
                self.done = Done::EndMarker;
            }
            for name in ["fn", "loc"] {
                if let Some(v) = m.cap(name) {
                    self.caps.push((name, v.to_string()));
                }
            }
            self.cpu = self.cpu.or(m.num("cpu"));
            self.pid = self.pid.or(m.num("pid"));
            self.task = self.task.take().or_else(|| m.cap("task").map(str::to_string));
            self.good(line);
            return Absorb::Yes;
        }
        if def.kind == Kind::OomKill && def.body == Body::Single && self.body == Body::OomDump {
            if let Some(v) = m.cap("victim") {
                self.victim = Some((v.to_string(), m.num("vpid")));
            }
            self.good(line);
            // `Out of memory: Kill process N (x) score .. or sacrifice child` (3.x) is followed
            // by its `Killed process N (x)`; only the past tense ends the report.
            let killed = m.cap("ed").is_some() || def.kill_done;
            if killed {
                self.saw_end = true;
                return Absorb::YesAndClose;
            }
            return Absorb::Yes;
        }
        Absorb::No
    }

    fn good(&mut self, line: u64) {
        self.last_line = self.last_line.max(line);
        self.quiet = 0;
        self.gap = 0;
    }

    fn quiet_limit(&self) -> u32 {
        match self.body {
            Body::Framed => 256,
            Body::OomDump => MAX_REPORT_LINES,
            Body::PanicTail => 3,
            _ if self.stack_seen() => 3,
            _ => 64,
        }
    }

    fn quiet_line(&mut self, line: u64, blank: bool) -> Step {
        self.quiet += 1;
        if self.collecting && (!self.main.is_empty()) {
            self.gap += 1;
            if self.gap >= 2 {
                self.collecting = false;
            }
        }
        if self.quiet > self.quiet_limit() {
            return Step::Reject;
        }
        // Before its trace a report's free text (hung-task hints, UBSAN's message) is its own.
        if !blank && !self.stack_seen() && self.body != Body::PanicTail && self.lockdep.is_none() {
            self.last_line = line;
        }
        Step::Keep
    }

    fn end_collecting(&mut self) {
        if !self.main.is_empty() {
            self.collecting = false;
        }
    }

    pub(crate) fn feed(&mut self, line: u64, text: &str) -> Step {
        self.fed = self.fed.saturating_add(1);
        self.last_fed = line;
        if self.fed > MAX_REPORT_LINES {
            return Step::Reject;
        }
        let t = text.trim();
        if t.starts_with("---[ end ") {
            self.saw_end = true;
            self.good(line);
            return Step::Close;
        }
        if is_separator(t) {
            let in_lockdep_head = self.lockdep.as_ref().is_some_and(|p| !p.in_backtrace());
            return match self.body {
                Body::Framed if self.fed > 1 => {
                    self.saw_end = true;
                    self.good(line);
                    Step::Close
                }
                _ if in_lockdep_head => Step::Keep,
                _ if self.stack_seen() => Step::Reject,
                _ => self.quiet_line(line, true),
            };
        }
        if is_cut_here(t) {
            // Always the start of the next WARN/BUG.
            return Step::Reject;
        }
        self.extras(t);
        if let Some(p) = self.lockdep.as_mut() {
            match p.feed(text) {
                lockdep::Fed::Recognized => {
                    if !t.is_empty() {
                        self.good(line);
                    }
                    return Step::Keep;
                }
                lockdep::Fed::StartBacktrace => {
                    self.main_started = true;
                    self.collecting = true;
                    self.good(line);
                    return Step::Keep;
                }
                lockdep::Fed::Unrecognized => return self.quiet_line(line, false),
                lockdep::Fed::Backtrace | lockdep::Fed::Generic => {}
            }
        }
        if t.is_empty() {
            if self.body == Body::Framed {
                return Step::Keep;
            }
            return self.quiet_line(line, true);
        }
        if let Some(m) = frames::stack_marker(t) {
            if m == Marker::IrqExit {
                if self.main_started {
                    self.main_irq_exit = Some(self.main.len());
                } else {
                    self.prov_irq_exit = Some(self.prov.len());
                }
            }
            self.good(line);
            return Step::Keep;
        }
        if let Some(f) = frames::parse_frame(text) {
            if !f.unreliable {
                if self.main_started {
                    if self.collecting && self.main.len() < MAX_FRAMES {
                        self.main.push(f.func);
                    }
                } else if self.prov.len() < MAX_FRAMES {
                    self.prov.push(f.func);
                }
            }
            self.good(line);
            return Step::Keep;
        }
        if frames::is_stack_header(t) {
            if !self.main_started {
                self.main_started = true;
                self.collecting = true;
            } else {
                self.end_collecting();
            }
            self.good(line);
            return Step::Keep;
        }
        if let Some(pc) = frames::parse_pc(t) {
            self.pc.get_or_insert(pc);
            self.end_collecting();
            self.good(line);
            return Step::Keep;
        }
        if let Some(c) = frames::parse_cpu_line(t) {
            self.cpu = self.cpu.or(c.cpu);
            self.pid = self.pid.or(c.pid);
            if self.task.is_none() {
                self.task = c.comm;
            }
            self.end_collecting();
            self.good(line);
            return Step::Keep;
        }
        if let Some(inside_trace) = known_body(t) {
            if !inside_trace {
                self.end_collecting();
            }
            self.good(line);
            return Step::Keep;
        }
        if self.body == Body::Framed || self.body == Body::OomDump {
            // Sanitizer and OOM reports are mostly free text.
            if !self.stack_seen() || self.body == Body::OomDump {
                self.good(line);
                return Step::Keep;
            }
        }
        self.quiet_line(line, false)
    }

    /// Facts some kinds need from their body.
    fn extras(&mut self, t: &str) {
        if self.task.is_none() && t.starts_with("task:") {
            // `task:ksmd            state:R  running task     stack:0     pid:61 ...`
            let mut words = t.split_whitespace();
            self.task =
                words.next().and_then(|w| w.strip_prefix("task:")).filter(|w| !w.is_empty()).map(str::to_string);
            self.pid = self.pid.or_else(|| words.find_map(|w| w.strip_prefix("pid:")).and_then(|p| p.parse().ok()));
        }
        match self.kind {
            Kind::Kasan if self.access.is_none() => {
                if t.starts_with("Read ") {
                    self.access = Some("Read");
                } else if t.starts_with("Write ") {
                    self.access = Some("Write");
                }
            }
            Kind::WorkqueueLeakedLock => {
                if let Some(f) = t.strip_prefix("last function: ") {
                    self.last_function = Some(frames::normalize_symbol(f));
                }
            }
            Kind::PagingRequest => {
                // s390 prints the failing address on its own line; low addresses are NULL
                // dereferences, named like arm64 and x86 name them.
                if let Some(a) = t.strip_prefix("Failing address: ") {
                    let hex = a.split_whitespace().next().unwrap_or("");
                    self.failing_addr = u64::from_str_radix(hex, 16).ok();
                }
            }
            _ => {}
        }
    }

    /// Close the report. `cut` means the log (or the boot) ended while it was open.
    pub(crate) fn finish(self, cut: bool) -> Finding {
        let mut kind = self.kind;
        let mut def_title = self.def.title;
        if kind == Kind::PagingRequest && self.failing_addr.is_some_and(|a| a < 4096) {
            kind = Kind::NullPointer;
            def_title = "BUG: kernel NULL pointer dereference";
        }
        let complete = match self.done {
            Done::Always => true,
            Done::Frames => self.saw_end || !self.main.is_empty() || !self.prov.is_empty(),
            Done::EndMarker => self.saw_end,
        };
        let (frames, irq_exit) =
            if self.main.is_empty() { (&self.prov, self.prov_irq_exit) } else { (&self.main, self.main_irq_exit) };
        let meaningful: Vec<&String> = frames.iter().filter(|f| !frames::is_noise(f)).collect();
        let interrupted = || -> Option<String> {
            let from = irq_exit.or_else(|| frames.iter().rposition(|f| frames::is_irq_entry(f)).map(|i| i + 1))?;
            frames[from.min(frames.len())..].iter().find(|f| !frames::is_noise(f)).cloned()
        };
        let ld = self.lockdep.as_deref();
        let func = self.def.func.iter().find_map(|src| match src {
            Src::Header => self.cap("fn").map(frames::normalize_symbol).filter(|f| !f.is_empty()),
            Src::HeaderNotNoise => {
                self.cap("fn").map(frames::normalize_symbol).filter(|f| !f.is_empty() && !frames::is_noise(f))
            }
            Src::Pc => self.pc.clone().filter(|f| !frames::is_noise(f)),
            Src::Stack => meaningful.first().map(|f| f.to_string()),
            Src::Interrupted => interrupted(),
            // A site inside a lock primitive (`mutex_unlock`) says nothing: fall through.
            Src::HeldAt => ld.and_then(|p| p.d.held_at.clone()).filter(|f| !frames::is_noise(f)),
            Src::AcqAt => ld.and_then(|p| p.d.acquiring_at.clone()).filter(|f| !frames::is_noise(f)),
            Src::FirstHeldAt => ld.and_then(|p| p.first_held_at.clone()).filter(|f| !frames::is_noise(f)),
            Src::LastFunction => self.last_function.clone(),
        });
        let lookup = |name: &str| -> Option<String> {
            match name {
                "held" => ld.and_then(|p| p.d.held.clone()),
                "acq" => ld.and_then(|p| p.d.acquiring.clone()),
                "first_held" => ld.and_then(|p| p.d.held_locks.first().cloned()),
                "usage" => ld.and_then(|p| p.usage.clone()),
                "dep" => ld.and_then(|p| {
                    let (a, h) = (p.d.acquiring.clone()?, p.d.held.clone()?);
                    Some(if p.changed_first.unwrap_or(true) { format!("{a} -> {h}") } else { format!("{h} -> {a}") })
                }),
                "rcu_file" => ld.and_then(|p| p.rcu_loc.as_deref().map(identity::source_file)),
                "die" => self.die_title.clone(),
                "access" => self.access.map(str::to_string),
                "victim" => self.victim.as_ref().map(|v| v.0.clone()),
                "file" => self.cap("loc").map(identity::source_file),
                "fns" => self
                    .cap("fns")
                    .map(|s| s.split(" / ").map(frames::normalize_symbol).collect::<Vec<_>>().join(" / ")),
                "msg" => self.cap(name).map(normalize_text),
                // Source code, not a runtime value: keep its numbers.
                "cond" => self.cap(name).map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ")),
                other => self.cap(other).map(str::to_string),
            }
        };
        let mut title = identity::render(def_title, &lookup);
        match &func {
            Some(f) => {
                title.push_str(" in ");
                title.push_str(f);
            }
            None if !self.def.or_else.is_empty() => {
                let tail = identity::render(self.def.or_else, &lookup);
                if !tail.ends_with('?') {
                    title.push_str(&tail);
                }
            }
            None => {}
        }
        let keys: Vec<String> = match ld.filter(|p| !p.link_sites.is_empty()) {
            Some(p) => p.d.chain.iter().chain(p.link_sites.iter().flatten()).cloned().collect(),
            // Without the title's own function: x86 shows the faulting function only in
            // `RIP:`, arm64 and s390 also as the first frame.
            None => meaningful
                .iter()
                .filter(|f| Some(f.as_str()) != func.as_deref())
                .take(self.def.keys)
                .map(|f| f.to_string())
                .collect(),
        };
        let fingerprint = identity::fingerprint(kind.as_str(), &title, &keys);
        let (task, pid) = match (&self.victim, kind) {
            (Some((v, p)), Kind::OomKill) => (Some(v.clone()), p.or(self.pid)),
            _ => (
                self.task.clone().or_else(|| ld.and_then(|p| p.task.clone())),
                self.pid.or_else(|| ld.and_then(|p| p.pid)),
            ),
        };
        Finding {
            category: self.category,
            kind,
            title,
            fingerprint,
            first_line: self.first_line,
            last_line: self.last_line.max(self.first_line),
            task,
            pid,
            cpu: self.cpu,
            truncated: cut && !complete,
            count: 1,
            frames: frames.clone(),
            lockdep: ld.map(|p| p.detail()),
        }
    }

    fn cap(&self, name: &str) -> Option<&str> {
        self.caps.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
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
