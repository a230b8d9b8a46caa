//! The sections of a lockdep report, parsed line by line: the locks and their `at:` sites,
//! the dependency chain, the unsafe scenario and the held locks. Everything up to
//! `stack backtrace:`; the backtrace itself is an ordinary call trace.
//!
//! The wording is stable from 2.6.2x to 6.x (only the header and the address column changed),
//! so the parser keys on phrases, not on line positions.

use std::sync::OnceLock;

use regex::Regex;

use super::frames;
use super::{Kind, LockdepDetail};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    None,
    Acq,
    Held,
    AcqAtFrame,
    NotHolding,
    ChainExists,
    RcuLoc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Head,
    Chain,
    Other,
    Scenario,
    HeldLocks,
    Backtrace,
}

pub(crate) enum Fed {
    Recognized,
    Unrecognized,
    StartBacktrace,
    /// The line belongs to the backtrace: parse it as a call trace.
    Backtrace,
    /// Not a lockdep line (`CPU: .. PID: ..`): give it to the generic body parser.
    Generic,
}

pub(crate) struct Parser {
    kind: Kind,
    slot: Slot,
    section: Section,
    pub d: LockdepDetail,
    /// First non-lock function of each `-> #N` link's acquisition trace.
    pub link_sites: Vec<Option<String>>,
    chain_exists: Vec<String>,
    pub first_held_at: Option<String>,
    pub usage: Option<String>,
    /// irq inversion: true when the changed lock took the other one (`changed -> other`).
    pub changed_first: Option<bool>,
    pub rcu_loc: Option<String>,
    pub task: Option<String>,
    pub pid: Option<u32>,
    dashes_seen: bool,
}

const CAP: usize = 64;

impl Parser {
    pub(crate) fn new(kind: Kind) -> Self {
        Parser {
            kind,
            slot: Slot::None,
            section: Section::Head,
            d: LockdepDetail::default(),
            link_sites: Vec::new(),
            chain_exists: Vec::new(),
            first_held_at: None,
            usage: None,
            changed_first: None,
            rcu_loc: None,
            task: None,
            pid: None,
            dashes_seen: false,
        }
    }

    pub(crate) fn in_backtrace(&self) -> bool {
        self.section == Section::Backtrace
    }

    pub(crate) fn detail(&self) -> LockdepDetail {
        let mut d = self.d.clone();
        if d.chain.is_empty() {
            d.chain = self.chain_exists.clone();
        }
        d
    }

    pub(crate) fn feed(&mut self, text: &str) -> Fed {
        let t = text.trim();
        if self.section == Section::Backtrace {
            return Fed::Backtrace;
        }
        // `stack backtrace:` is always there; a bare `Call Trace:` is tolerated too.
        if t == "stack backtrace:" || (frames::is_stack_header(t) && self.section != Section::Chain) {
            self.section = Section::Backtrace;
            self.slot = Slot::None;
            return Fed::StartBacktrace;
        }
        if frames::parse_cpu_line(t).is_some() {
            return Fed::Generic;
        }
        if t.is_empty() {
            return Fed::Recognized;
        }
        if self.take_slot(text, t) {
            return Fed::Recognized;
        }
        if self.section_line(text, t) {
            return Fed::Recognized;
        }
        if is_rule(t) {
            if t.starts_with('-') && !self.dashes_seen {
                self.dashes_seen = true;
                if self.kind == Kind::SuspiciousRcuUsage {
                    self.slot = Slot::RcuLoc;
                }
            }
            return Fed::Recognized;
        }
        if frames::parse_frame(text).is_some() || parse_lock(t).is_some() || known_phrase(t) {
            return Fed::Recognized;
        }
        Fed::Unrecognized
    }

    /// The line a previous line announced (`is trying to acquire lock:` -> the lock).
    fn take_slot(&mut self, text: &str, t: &str) -> bool {
        match self.slot {
            Slot::None => false,
            Slot::Acq | Slot::Held => {
                let Some((class, at)) = parse_lock(t) else { return false };
                if self.slot == Slot::Acq {
                    self.d.acquiring = Some(class);
                    self.d.acquiring_at = at;
                } else {
                    self.d.held = Some(class);
                    self.d.held_at = at;
                }
                self.slot = Slot::None;
                true
            }
            Slot::AcqAtFrame => {
                self.slot = Slot::None;
                match frames::parse_frame(text) {
                    Some(f) => {
                        self.d.acquiring_at = Some(f.func);
                        true
                    }
                    None => false,
                }
            }
            Slot::NotHolding => {
                self.slot = Slot::None;
                self.d.held = Some(normalize_class(t.trim_start_matches('(').trim_end_matches(')')));
                true
            }
            Slot::ChainExists => {
                if !t.contains("-->") {
                    return false;
                }
                self.slot = Slot::None;
                self.chain_exists =
                    t.split("-->").map(|c| normalize_class(c.trim())).filter(|c| !c.is_empty()).take(CAP).collect();
                true
            }
            Slot::RcuLoc => {
                self.slot = Slot::None;
                static R: OnceLock<Regex> = OnceLock::new();
                let r = R.get_or_init(|| Regex::new(r"^(\S+\.[chS]:\d+) ").expect("regex"));
                match r.captures(t).and_then(|c| c.get(1)) {
                    Some(m) => {
                        self.rcu_loc = Some(m.as_str().to_string());
                        true
                    }
                    None => false,
                }
            }
        }
    }

    fn section_line(&mut self, text: &str, t: &str) -> bool {
        if t.ends_with("is trying to acquire lock:")
            || t.ends_with("is trying to acquire:")
            || t.ends_with("is trying to lock:")
            || t.ends_with("takes:")
            || t.ends_with("just changed the state of lock:")
        {
            self.who(t);
            self.slot = Slot::Acq;
            return true;
        }
        if t.starts_with("but task is already holding lock:") || t.starts_with("and this task is already holding:") {
            self.slot = Slot::Held;
            return true;
        }
        if t.starts_with("but this lock took another") {
            self.changed_first = Some(true);
            self.slot = Slot::Held;
            return true;
        }
        if t.starts_with("but this lock was taken by another") {
            self.changed_first = Some(false);
            self.slot = Slot::Held;
            return true;
        }
        for verb in ["is trying to release lock (", "is trying to contend lock ("] {
            if let Some(p) = t.find(verb) {
                self.who(t);
                let start = p + verb.len() - 1;
                if let Some((class, _)) = balanced(&t[start..]) {
                    self.d.acquiring = Some(normalize_class(class));
                }
                self.slot = Slot::AcqAtFrame;
                return true;
            }
        }
        if t.contains("is freeing memory") {
            self.who(t);
            self.slot = Slot::Held;
            return true;
        }
        if t.starts_with("but this task is not holding:") {
            self.slot = Slot::NotHolding;
            return true;
        }
        if let Some(rest) = t.strip_prefix("inconsistent {") {
            if let Some(end) = rest.find(" usage") {
                self.usage = Some(format!("{{{}", &rest[..end]));
            }
            return true;
        }
        if t.starts_with("the existing dependency chain") {
            self.section = Section::Chain;
            return true;
        }
        if self.section == Section::Chain {
            if let Some(rest) = t.strip_prefix("-> #") {
                let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
                if let Some((class, _)) = parse_lock(rest) {
                    if self.d.chain.len() < CAP {
                        self.d.chain.push(class);
                        self.link_sites.push(None);
                    }
                }
                return true;
            }
            if let Some(f) = frames::parse_frame(text) {
                if let Some(site @ None) = self.link_sites.last_mut() {
                    if !f.unreliable && !frames::is_noise(&f.func) {
                        *site = Some(f.func);
                    }
                }
                return true;
            }
        }
        if t.starts_with("other info that might help") {
            self.section = Section::Other;
            return true;
        }
        if t.starts_with("Chain exists of:") {
            self.slot = Slot::ChainExists;
            return true;
        }
        if t.contains("unsafe locking scenario:") {
            self.section = Section::Scenario;
            return true;
        }
        if self.section == Section::Scenario {
            if t.starts_with("*** DEADLOCK ***") {
                self.section = Section::Other;
            } else if is_scenario_step(t) && self.d.unsafe_scenario.len() < CAP {
                let indent = text.len() - text.trim_start().len();
                let cpu = if indent >= 16 { "CPU1" } else { "CPU0" };
                self.d.unsafe_scenario.push(format!("{cpu}: {}", scenario_action(t)));
            }
            return true;
        }
        if let Some(c) = held_by().captures(t) {
            self.section = Section::HeldLocks;
            if self.task.is_none() {
                self.task = c.name("task").map(|m| m.as_str().to_string());
                self.pid = c.name("pid").and_then(|m| m.as_str().parse().ok());
            }
            return true;
        }
        if self.section == Section::HeldLocks && t.starts_with('#') {
            if let Some((class, at)) = parse_lock(t) {
                if self.d.held_locks.is_empty() {
                    self.first_held_at = at;
                }
                if self.d.held_locks.len() < CAP {
                    self.d.held_locks.push(class);
                }
            }
            return true;
        }
        false
    }

    /// `sh/1 is trying ..`, `swapper/0/0 [HC1[1]:SC0[0]:HE0:SE1] takes:`
    fn who(&mut self, t: &str) {
        static R: OnceLock<Regex> = OnceLock::new();
        let r = R.get_or_init(|| {
            Regex::new(r"^(?P<task>\S.*?)/(?P<pid>\d+)(?: \[.*\])? (?:is |just |takes:)").expect("regex")
        });
        if self.task.is_some() {
            return;
        }
        if let Some(c) = r.captures(t) {
            self.task = c.name("task").map(|m| m.as_str().to_string());
            self.pid = c.name("pid").and_then(|m| m.as_str().parse().ok());
        }
    }
}

fn held_by() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"^(?:\d+|no) locks? (?:held|on stack) by (?P<task>\S.*?)/(?P<pid>\d+)[:.]").expect("regex")
    })
}

fn is_rule(t: &str) -> bool {
    t.len() >= 8 && (t.bytes().all(|b| b == b'-') || t.bytes().all(|b| b == b'='))
}

fn known_phrase(t: &str) -> bool {
    #[rustfmt::skip] // a table
    const P: &[&str] = &[
        "which lock already depends", "and interrupts could create", "which would create a new lock dependency",
        "but this new dependency connects", "to a ", "... which became", "the dependencies between", "-> (", "IN-",
        "HARDIRQ-ON", "SOFTIRQ-ON", "RECLAIM_FS", "INITIAL USE", "INITIAL READ USE", "... key", "... acquired at",
        "}", "May be due to missing lock nesting", "rcu_scheduler_active", "irq event stamp", "hardirqs last",
        "softirqs last", "<Interrupt>", "lock(", "*** DEADLOCK ***", "Possible", "is leaving the kernel",
        "is exiting with locks", "with a lock still held", "but there are no", "context-{", "turning off the locking",
        "Showing all locks held", "other info", "INFO: lockdep is turned off", "lockdep: ", "Not tainted",
        "Tainted:", "CPU0", "CPU1", "local_irq_disable", "Chain exists", "the shortest dependencies",
        "{", "#", "Hardware name:", "CPU: ",
    ];
    P.iter().any(|p| t.starts_with(p)) || t.contains(" Not tainted") || t.contains(" Tainted: ")
}

/// `lock(A);`, `rlock(A);`, `sync(A);`, `local_irq_disable();`, `<Interrupt>`: nothing else
/// (user space sharing the console prints into this section too).
fn is_scenario_step(t: &str) -> bool {
    if t == "<Interrupt>" {
        return true;
    }
    let Some(open) = t.find('(') else { return false };
    t.ends_with(");") && open > 0 && t[..open].bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// `lock(&x#3);` -> `lock(&x)`
fn scenario_action(t: &str) -> String {
    let t = t.trim_end_matches(';');
    match (t.find('('), t.rfind(')')) {
        (Some(o), Some(c)) if o < c => format!("{}({}){}", &t[..o], normalize_class(&t[o + 1..c]), &t[c + 1..]),
        _ => t.to_string(),
    }
}

/// The text inside a balanced `( .. )` at the start of `s`, and what follows it.
fn balanced(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// A lock description: `[#N: ][ADDR ](CLASS)[{usage}][-{n:n}][, at: [<addr>] F+0x..]`.
pub(crate) fn parse_lock(t: &str) -> Option<(String, Option<String>)> {
    let mut s = t.trim_start();
    if let Some(rest) = s.strip_prefix('#') {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        s = rest.strip_prefix(':')?.trim_start();
    }
    if let Some((word, rest)) = s.split_once(' ') {
        if word.len() >= 6 && word.bytes().all(|b| b.is_ascii_hexdigit()) {
            s = rest.trim_start();
        }
    }
    let (class, rest) = balanced(s)?;
    if !(rest.is_empty()
        || rest.starts_with('{')
        || rest.starts_with(", at:")
        || rest.starts_with("-{")
        || rest.starts_with(':'))
    {
        return None;
    }
    let class = normalize_class(class);
    if class.is_empty() {
        return None;
    }
    let at = rest.find(", at: ").and_then(|p| {
        let a = rest[p + 6..].trim_start();
        let a = match a.strip_prefix("[<") {
            Some(x) => x.split_once(']').map(|(_, r)| r.trim_start()).unwrap_or(""),
            None => a,
        };
        let f = frames::normalize_symbol(a.split_whitespace().next().unwrap_or(""));
        (!f.is_empty()).then_some(f)
    });
    Some((class, at))
}

/// Drop `#N` name-version suffixes (`sb_writers#4`, `&type->i_mutex_dir_key#3/1`): they
/// number classes of the same name in registration order, which differs between boots.
pub(crate) fn normalize_class(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    let mut it = c.trim().char_indices().peekable();
    let s = c.trim();
    while let Some((i, ch)) = it.next() {
        if ch == '#' {
            let digits = s[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let after = s[i + 1 + digits..].chars().next();
            if digits > 0 && matches!(after, None | Some('/') | Some(')') | Some(' ')) {
                for _ in 0..digits {
                    it.next();
                }
                continue;
            }
        }
        if ch.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            continue;
        }
        out.push(ch);
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_descriptions() {
        let cases = [
            (
                "00000000017a2b48 ((memory_chain).rwsem){++++}-{3:3}, at: blocking_notifier_call_chain+0x3e/0x90",
                "(memory_chain).rwsem",
                Some("blocking_notifier_call_chain"),
            ),
            (
                " (&(&pool->lock)->rlock){-.-...}, at: [<ffffffff8108f0a0>] __queue_work+0x100/0x3d0",
                "&(&pool->lock)->rlock",
                Some("__queue_work"),
            ),
            (
                " #0: 00000000026fe460 (sb_writers#4){.+.+}-{0:0}, at: ksys_write+0x6e/0x100",
                "sb_writers",
                Some("ksys_write"),
            ),
            (
                " #2:  (ksm_thread_mutex/1){+.+.+.}, at: [<000000000022a5f4>] ksm_memory_callback+0x48/0xd8",
                "ksm_thread_mutex/1",
                Some("ksm_memory_callback"),
            ),
            ("(ksm_thread_mutex/1){+.+.}-{3:3}:", "ksm_thread_mutex/1", None),
            (" (&other){+.+.}-{2:2}", "&other", None),
            ("(&type->i_mutex_dir_key#3/1){+.+.}", "&type->i_mutex_dir_key/1", None),
            ("((work_completion)(&(&dev->work)->work)){+.+.}", "(work_completion)(&(&dev->work)->work)", None),
        ];
        for (line, class, at) in cases {
            let (c, a) = parse_lock(line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!((c.as_str(), a.as_deref()), (class, at), "{line}");
        }
        assert!(parse_lock("(see above) more text").is_none());
        assert!(parse_lock("  lock(ksm_thread_mutex/1);").is_none());
    }

    #[test]
    fn classes_and_scenario() {
        assert_eq!(normalize_class("sb_writers#4"), "sb_writers");
        assert_eq!(normalize_class("kn->active#12"), "kn->active");
        assert_eq!(normalize_class("ksm_thread_mutex/1"), "ksm_thread_mutex/1");
        assert_eq!(normalize_class("x#y"), "x#y");
        assert_eq!(scenario_action("lock(sb_writers#4);"), "lock(sb_writers)");
        assert_eq!(scenario_action("<Interrupt>"), "<Interrupt>");
        for ok in ["lock(ksm_thread_mutex/1);", "rlock((memory_chain).rwsem);", "local_irq_disable();", "<Interrupt>"] {
            assert!(is_scenario_step(ok), "{ok}");
        }
        for no in ["CPU0                    CPU1", "----", "@@KSMH progress n=74", "Lock(x);"] {
            assert!(!is_scenario_step(no), "{no}");
        }
    }
}
