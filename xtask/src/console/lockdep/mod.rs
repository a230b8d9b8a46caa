//! The sections of a lockdep report, parsed line by line: the locks and their `at:` sites,
//! the dependency chain, the unsafe scenario and the held locks. Everything up to
//! `stack backtrace:`; the backtrace itself is an ordinary call trace.
//!
//! The wording is stable from 2.6.2x to 6.x (only the header and the address column changed),
//! so the parser keys on phrases, not on line positions.

use std::sync::OnceLock;

use regex::Regex;

use self::locks::{balanced, normalize_class, parse_lock};
use self::phrases::{held_by, is_rule, is_scenario_step, known_phrase, scenario_action, Pattern, Phrase, PHRASES};
use super::{frames, skip};
use super::{Kind, LockdepDetail};

mod locks;
mod phrases;

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
    /// Every frame of the `-> #N` traces, in printed order.
    pub chain_frames: Vec<String>,
    /// The frames after `... which became X-irq-safe at:` (the first such trace only).
    pub safe_trace: Vec<String>,
    safe_open: bool,
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
            chain_frames: Vec::new(),
            safe_trace: Vec::new(),
            safe_open: false,
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
        if self.safe_open {
            match frames::parse_frame(text) {
                Some(f) => {
                    if !f.unreliable && self.safe_trace.len() < CAP {
                        self.safe_trace.push(f.func);
                    }
                    return Fed::Recognized;
                }
                None if frames::stack_marker(t).is_some() => return Fed::Recognized,
                None => self.safe_open = false,
            }
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
                // A symbolized report prints the lock once per inlined call of the site, the
                // real function last (`at: inode_lock include/linux/fs.h:758 [inline]`, then
                // `at: do_truncate+0x..`): an inlined call is no site, wait for the function.
                if inlined(t) {
                    return true;
                }
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
                if inlined(t) {
                    return true;
                }
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
                // The lock's name, never a stack frame that happens to follow (a proptest found
                // `validate_chain+0x8e2/0xb00` taken for the lock).
                if t.contains("+0x") || frames::parse_frame(text).is_some() {
                    return false;
                }
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
        if let Some((pattern, phrase)) = PHRASES.iter().find(|(p, _)| p.matches(t)) {
            self.phrase(t, pattern, *phrase);
            return true;
        }
        if self.section == Section::Chain && self.chain_line(text, t) {
            return true;
        }
        if self.section == Section::Scenario {
            self.scenario_line(text, t);
            return true;
        }
        self.held_locks_line(t)
    }

    fn phrase(&mut self, t: &str, pattern: &Pattern, phrase: Phrase) {
        match phrase {
            Phrase::Acquires => {
                self.who(t);
                self.slot = Slot::Acq;
            }
            Phrase::Holds => self.slot = Slot::Held,
            Phrase::OtherLock(changed_first) => {
                self.changed_first = Some(changed_first);
                self.slot = Slot::Held;
            }
            Phrase::Releases => {
                self.who(t);
                let verb = pattern.text();
                // The class is in the parenthesis that ends the verb.
                let class = t.find(verb).and_then(|p| balanced(&t[p + verb.len() - 1..]));
                if let Some((class, _)) = class {
                    self.d.acquiring = Some(normalize_class(class));
                }
                self.slot = Slot::AcqAtFrame;
            }
            Phrase::Frees => {
                self.who(t);
                self.slot = Slot::Held;
            }
            Phrase::NotHolding => self.slot = Slot::NotHolding,
            Phrase::Usage => {
                let rest = &t[pattern.text().len()..];
                if let Some(end) = rest.find(" usage") {
                    self.usage = Some(format!("{{{}", &rest[..end]));
                }
            }
            Phrase::Section(s) => self.section = s,
            Phrase::ChainExists => self.slot = Slot::ChainExists,
            Phrase::SafeUsage => self.safe_open = self.safe_trace.is_empty(),
            Phrase::Known => {}
        }
    }

    /// `-> #N (class){..}:` and the frames of its acquisition trace.
    fn chain_line(&mut self, text: &str, t: &str) -> bool {
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
        let Some(f) = frames::parse_frame(text) else { return frames::stack_marker(t).is_some() };
        if f.unreliable {
            return true;
        }
        if self.chain_frames.len() < CAP * 4 {
            self.chain_frames.push(f.func.clone());
        }
        if let Some(site @ None) = self.link_sites.last_mut() {
            if !skip::is_skipped(&f.func) {
                *site = Some(f.func);
            }
        }
        true
    }

    /// `CPU0 / CPU1` columns of the unsafe scenario, told apart by their indentation.
    fn scenario_line(&mut self, text: &str, t: &str) {
        if t.starts_with("*** DEADLOCK ***") {
            self.section = Section::Other;
        } else if is_scenario_step(t) && self.d.unsafe_scenario.len() < CAP {
            let indent = text.len() - text.trim_start().len();
            let cpu = if indent >= 16 { "CPU1" } else { "CPU0" };
            self.d.unsafe_scenario.push(format!("{cpu}: {}", scenario_action(t)));
        }
    }

    /// `N locks held by T/P:` and its `#N: ..` lines.
    fn held_locks_line(&mut self, t: &str) -> bool {
        if let Some(c) = held_by().captures(t) {
            self.section = Section::HeldLocks;
            if self.task.is_none() {
                self.task = c.name("task").map(|m| m.as_str().to_string());
                self.pid = c.name("pid").and_then(|m| m.as_str().parse().ok());
            }
            return true;
        }
        if self.section != Section::HeldLocks || !t.starts_with('#') {
            return false;
        }
        // The same lock again, at the function that inlined this call.
        if inlined(t) {
            return true;
        }
        if let Some((class, at)) = parse_lock(t) {
            if self.d.held_locks.is_empty() {
                self.first_held_at = at;
            }
            if self.d.held_locks.len() < CAP {
                self.d.held_locks.push(class);
            }
        }
        true
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

/// A symbolized line for an inlined call (`... at: might_alloc include/linux/sched/mm.h:303
/// [inline]`): the next line repeats it for the function that inlined it.
fn inlined(t: &str) -> bool {
    t.ends_with("[inline]")
}

#[cfg(test)]
mod tests;
