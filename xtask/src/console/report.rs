//! One open report: consumes the lines routed to it, decides where it ends, and turns into a
//! [`Finding`] (`finish`). Keeps parsed facts only (frames, locks, a few captures), never raw
//! lines.

use super::frames::Marker;
use super::headers::{Body, Def, Done, HeaderMatch};
use super::identity::normalize_text;
use super::lines::{self, Boundary, Line};
use super::lockdep;
use super::normalize::Caller;
use super::trace::Trace;
use super::{frames, Category, Kind};

mod finish;

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
    /// Lines routed to the report, and those of them in a row that were none of its own.
    fed: u32,
    quiet: u32,
    caps: Vec<(&'static str, String)>,
    task: Option<String>,
    pid: Option<u32>,
    cpu: Option<u32>,
    lockdep: Option<Box<lockdep::Parser>>,
    trace: Trace,
    pc: Option<String>,
    saw_end: bool,
    saw_die: bool,
    absorbed_warn: bool,
    facts: Facts,
}

/// What a few kinds need from their body, besides what every report keeps.
#[derive(Default)]
struct Facts {
    /// KASAN: `Read` or `Write`.
    access: Option<&'static str>,
    /// workqueue_leaked_lock: `last function:`.
    last_function: Option<String>,
    /// s390 paging request: `Failing address:` (a low one is a NULL dereference).
    failing_addr: Option<u64>,
    /// OOM: the killed task and its pid.
    victim: Option<(String, Option<u32>)>,
    /// Oops: the title its die line gives.
    die_title: Option<String>,
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
            trace: Trace::default(),
            pc: None,
            saw_end: false,
            saw_die: def.body == Body::Die,
            absorbed_warn: false,
            facts: Facts::default(),
            caps: Vec::new(),
        };
        if def.body == Body::Die {
            r.body = Body::Stack;
            r.refine_die(m.cap("die"), m.cap("ilc").is_some());
        }
        if let Some(v) = m.cap("victim") {
            r.facts.victim = Some((v.to_string(), m.num("vpid")));
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
        self.facts.die_title = Some(title);
    }

    /// Still waiting for the call trace its body ends with: a panic that this report caused
    /// (`panic_on_warn`) prints that trace next.
    pub(crate) fn awaits_trace(&self) -> bool {
        !self.trace.seen() && !self.saw_end && matches!(self.body, Body::Stack | Body::PreWarn)
    }

    /// The report made the kernel panic: it never prints its own end marker, its trace (the
    /// panic's) completes it.
    pub(crate) fn panicked(&mut self, line: u64) {
        if self.done == Done::EndMarker {
            self.done = Done::Frames;
        }
        self.good(line);
    }

    pub(crate) fn is_single(&self) -> bool {
        matches!(self.body, Body::Single | Body::Side | Body::Boot)
    }

    pub(crate) fn is_oom_kill(&self) -> Option<u32> {
        (self.kind == Kind::OomKill).then(|| self.facts.victim.as_ref().and_then(|v| v.1)).flatten()
    }

    /// A header arrived from the same source while this report is open: is it ours?
    pub(crate) fn try_absorb(&mut self, line: u64, m: &HeaderMatch) -> Absorb {
        let def = m.def;
        if def.body == Body::Die && self.def.awaits_die && !self.saw_die && !self.saw_end {
            self.saw_die = true;
            self.good(line);
            return Absorb::Yes;
        }
        // Old kernels print a WARN's message after its header: `WARNING: .. at
        // kernel/locking/lockdep.c:3190 __lock_acquire+..()`, then `DEBUG_LOCKS_WARN_ON(..)`.
        if def.kind == Kind::DebugLocksWarnOn && self.kind == Kind::Warn && !self.absorbed_warn && !self.trace.seen() {
            self.absorbed_warn = true;
            self.def = def;
            self.kind = def.kind;
            self.category = def.category;
            if let Some(c) = m.cap("cond") {
                self.caps.push(("cond", c.to_string()));
            }
            self.good(line);
            return Absorb::Yes;
        }
        if def.kind == Kind::Warn && self.kind == Kind::DebugLocksWarnOn && !self.absorbed_warn && !self.trace.seen() {
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
                self.facts.victim = Some((v.to_string(), m.num("vpid")));
            }
            self.good(line);
            // `Out of memory: Kill process N (x) score .. or sacrifice child` (3.x) is followed
            // by its `Killed process N (x)`; only the past tense ends the report.
            if m.cap("ed").is_some() || def.kill_done {
                self.saw_end = true;
                return Absorb::YesAndClose;
            }
            return Absorb::Yes;
        }
        Absorb::No
    }

    /// One line routed to the report: classified once, then taken by the report's boundary
    /// rules, its lockdep sections, or its body.
    pub(crate) fn feed(&mut self, line: u64, text: &str) -> Step {
        self.fed = self.fed.saturating_add(1);
        self.last_fed = line;
        if self.fed > MAX_REPORT_LINES {
            return Step::Reject;
        }
        let t = text.trim();
        if let Some(b) = lines::boundary(t) {
            return self.boundary(line, b);
        }
        self.extras(t);
        if let Some(step) = self.lockdep_line(line, text, t) {
            return step;
        }
        self.body_line(line, lines::classify(text))
    }

    fn boundary(&mut self, line: u64, b: Boundary) -> Step {
        match b {
            Boundary::End => {
                self.saw_end = true;
                self.good(line);
                Step::Close
            }
            Boundary::Separator if self.body == Body::Framed && self.fed > 1 => {
                self.saw_end = true;
                self.good(line);
                Step::Close
            }
            // Lockdep frames its header with a rule of `=` too.
            Boundary::Separator if self.lockdep.as_ref().is_some_and(|p| !p.in_backtrace()) => Step::Keep,
            Boundary::Separator if self.trace.seen() => Step::Reject,
            Boundary::Separator => self.quiet_line(line, true),
            Boundary::CutHere => Step::Reject,
        }
    }

    /// A lockdep report's own sections; None when the line is for the generic body rules.
    fn lockdep_line(&mut self, line: u64, text: &str, t: &str) -> Option<Step> {
        match self.lockdep.as_mut()?.feed(text) {
            lockdep::Fed::Recognized => {
                if !t.is_empty() {
                    self.good(line);
                }
                Some(Step::Keep)
            }
            lockdep::Fed::StartBacktrace => {
                self.trace.start();
                self.good(line);
                Some(Step::Keep)
            }
            lockdep::Fed::Unrecognized => Some(self.quiet_line(line, false)),
            lockdep::Fed::Backtrace | lockdep::Fed::Generic => None,
        }
    }

    fn body_line(&mut self, line: u64, l: Line) -> Step {
        match l {
            Line::Blank if self.body == Body::Framed => return Step::Keep,
            Line::Blank => return self.quiet_line(line, true),
            Line::StackMarker(m) => {
                if m == Marker::IrqExit {
                    self.trace.irq_exit();
                }
            }
            Line::Frame(f) => self.trace.frame(f),
            Line::StackHeader => self.trace.header(),
            Line::Pc(pc) => {
                self.pc.get_or_insert(pc);
                self.trace.pc_line();
            }
            Line::Cpu(c) => {
                self.cpu = self.cpu.or(c.cpu);
                self.pid = self.pid.or(c.pid);
                if self.task.is_none() {
                    self.task = c.comm;
                }
                self.trace.end();
            }
            Line::Body { inside_trace } => {
                if !inside_trace {
                    self.trace.end();
                }
            }
            // Sanitizer and OOM reports are mostly free text.
            Line::Text if self.body == Body::OomDump || (self.body == Body::Framed && !self.trace.seen()) => {}
            Line::Text => return self.quiet_line(line, false),
        }
        self.good(line);
        Step::Keep
    }

    /// A line of the report.
    fn good(&mut self, line: u64) {
        self.last_line = self.last_line.max(line);
        self.quiet = 0;
        self.trace.line();
    }

    /// A line that may not be the report's: too many in a row end it.
    fn quiet_line(&mut self, line: u64, blank: bool) -> Step {
        self.quiet += 1;
        self.trace.quiet();
        if self.quiet > self.quiet_limit() {
            return Step::Reject;
        }
        // Before its trace a report's free text (hung-task hints, UBSAN's message) is its own.
        if !blank && !self.trace.seen() && self.body != Body::PanicTail && self.lockdep.is_none() {
            self.last_line = line;
        }
        Step::Keep
    }

    fn quiet_limit(&self) -> u32 {
        match self.body {
            Body::Framed => 256,
            Body::OomDump => MAX_REPORT_LINES,
            Body::PanicTail => 3,
            _ if self.trace.seen() => 3,
            _ => 64,
        }
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
            Kind::Kasan if self.facts.access.is_none() => {
                if t.starts_with("Read ") {
                    self.facts.access = Some("Read");
                } else if t.starts_with("Write ") {
                    self.facts.access = Some("Write");
                }
            }
            Kind::WorkqueueLeakedLock => {
                if let Some(f) = t.strip_prefix("last function: ") {
                    self.facts.last_function = Some(frames::normalize_symbol(f));
                }
            }
            Kind::PagingRequest => {
                // s390 prints the failing address on its own line; low addresses are NULL
                // dereferences, named like arm64 and x86 name them.
                if let Some(a) = t.strip_prefix("Failing address: ") {
                    let hex = a.split_whitespace().next().unwrap_or("");
                    self.facts.failing_addr = u64::from_str_radix(hex, 16).ok();
                }
            }
            _ => {}
        }
    }
}
