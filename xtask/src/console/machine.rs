//! The streaming analyzer: routes each line to the open report of its source (printk caller
//! id when the log has them), opens reports at headers, merges headers that continue an open
//! report (the die line of a fault, the WARNING after `DEBUG_LOCKS_WARN_ON` and the one before
//! it, the kill line of an OOM report), lets a report keep the trace of the panic it caused
//! (`panic_on_warn`) and deduplicates finished reports by fingerprint.

use std::collections::HashMap;

use super::headers::{self, Body, HeaderMatch};
use super::lines::{is_cut_here, is_separator};
use super::normalize::{normalize, Caller};
use super::report::{Absorb, Report, Step};
use super::{Analysis, Category, Finding, Kind, MAX_FINDINGS};

/// Reports open at once (one per caller id); the least recently fed is closed beyond it.
const MAX_OPEN: usize = 64;
/// A report that got no line for this long was abandoned by its source.
const STALE_LINES: u64 = 100_000;
/// Lines between `cut here` and its header (the WARN message).
const CUT_HERE_REACH: u8 = 6;
/// Panics that the report just printed caused: the call trace that follows is that report's
/// (the kernel panics before the WARN prints its stack), the panic is a finding of one line.
const PANIC_BY_REPORT: &[&str] = &["panic_on_warn set"];

#[derive(Clone, Copy)]
struct Mark {
    key: Option<Caller>,
    line: u64,
    cut_here: bool,
    age: u8,
}

/// Feed lines with [`Analyzer::push_line`], then take the [`Analysis`] with
/// [`Analyzer::finish`]. Usable on a live console.
pub struct Analyzer {
    open: Vec<Report>,
    marks: Vec<Mark>,
    findings: Vec<Finding>,
    by_fingerprint: HashMap<String, usize>,
    lines: u64,
    lockdep_off: bool,
    recent_kill: Option<(u32, u64)>,
    overflowed: bool,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl Analyzer {
    pub fn new() -> Self {
        Analyzer {
            open: Vec::new(),
            marks: Vec::new(),
            findings: Vec::new(),
            by_fingerprint: HashMap::new(),
            lines: 0,
            lockdep_off: false,
            recent_kill: None,
            overflowed: false,
        }
    }

    /// One line of console output, without its newline (a trailing `\r` is fine).
    pub fn push_line(&mut self, raw: &[u8]) {
        self.lines += 1;
        let no = self.lines;
        let norm = normalize(raw);
        let text = norm.text();
        let key = norm.caller;
        match headers::match_header(text) {
            Some(m) => self.on_header(no, key, m),
            None => self.on_line(no, key, text),
        }
        if no.is_multiple_of(4096) {
            self.reap_stale(no);
        }
    }

    pub fn finish(mut self) -> Analysis {
        self.close_all(true);
        self.findings.sort_by_key(|f| f.first_line);
        Analysis { findings: self.findings, lines: self.lines, lockdep_turned_off: self.lockdep_off }
    }

    fn open_index(&self, key: Option<Caller>) -> Option<usize> {
        self.open.iter().position(|r| r.key == key)
    }

    fn on_line(&mut self, no: u64, key: Option<Caller>, text: &str) {
        if let Some(i) = self.open_index(key) {
            match self.open[i].feed(no, text) {
                Step::Keep => return,
                Step::Close => {
                    let r = self.open.swap_remove(i);
                    self.emit(r, false);
                    return;
                }
                Step::Reject => {
                    let r = self.open.swap_remove(i);
                    self.emit(r, false);
                }
            }
        }
        self.mark(no, key, text.trim());
    }

    /// Remember `=====` / `cut here` lines: they are the first line of the report they open.
    fn mark(&mut self, no: u64, key: Option<Caller>, t: &str) {
        let pos = self.marks.iter().position(|m| m.key == key);
        let sep = is_separator(t);
        if sep || is_cut_here(t) {
            let m = Mark { key, line: no, cut_here: !sep, age: 0 };
            match pos {
                Some(p) => self.marks[p] = m,
                None => {
                    if self.marks.len() >= MAX_OPEN {
                        self.marks.remove(0);
                    }
                    self.marks.push(m);
                }
            }
        } else if let (Some(p), false) = (pos, t.is_empty()) {
            let m = &mut self.marks[p];
            m.age = m.age.saturating_add(1);
            if !m.cut_here || m.age > CUT_HERE_REACH {
                self.marks.remove(p);
            }
        }
    }

    fn take_mark(&mut self, key: Option<Caller>, no: u64) -> u64 {
        match self.marks.iter().position(|m| m.key == key) {
            Some(p) => self.marks.remove(p).line,
            None => no,
        }
    }

    fn on_header(&mut self, no: u64, key: Option<Caller>, m: HeaderMatch) {
        match m.def.body {
            Body::Side => {
                if m.def.kind == Kind::LockdepTurnedOff {
                    self.lockdep_off = true;
                }
                let r = Report::new(m, key, no, no);
                self.emit(r, false);
                return;
            }
            Body::Boot => {
                self.close_all(true);
                self.marks.clear();
                return;
            }
            _ => {}
        }
        if let Some(i) = self.open_index(key) {
            let caused = m.def.kind == Kind::KernelPanic
                && m.cap("msg").is_some_and(|msg| PANIC_BY_REPORT.iter().any(|p| msg.contains(p)));
            if caused && self.open[i].awaits_trace() {
                self.open[i].panicked(no);
                let r = Report::new(m, key, no, no);
                self.emit(r, false);
                return;
            }
            match self.open[i].try_absorb(no, &m) {
                Absorb::Yes => return,
                Absorb::YesAndClose => {
                    let r = self.open.swap_remove(i);
                    self.emit(r, false);
                    return;
                }
                Absorb::No => {
                    let r = self.open.swap_remove(i);
                    self.emit(r, false);
                }
            }
        }
        // 3.x prints `Out of memory: Kill process N` and then `Killed process N`: one kill.
        if m.def.kind == Kind::OomKill && m.def.body == Body::Single {
            if let (Some(pid), Some((p, l))) = (m.num("vpid"), self.recent_kill) {
                if pid == p && no.saturating_sub(l) <= 100 {
                    return;
                }
            }
        }
        let first = self.take_mark(key, no);
        let r = Report::new(m, key, first, no);
        if r.is_single() {
            self.emit(r, false);
            return;
        }
        if self.open.len() >= MAX_OPEN {
            if let Some(i) = self.open.iter().enumerate().min_by_key(|(_, r)| r.last_fed).map(|(i, _)| i) {
                let old = self.open.swap_remove(i);
                self.emit(old, false);
            }
        }
        self.open.push(r);
    }

    fn reap_stale(&mut self, no: u64) {
        let mut i = 0;
        while i < self.open.len() {
            if no.saturating_sub(self.open[i].last_fed) > STALE_LINES {
                let r = self.open.swap_remove(i);
                self.emit(r, false);
            } else {
                i += 1;
            }
        }
    }

    fn close_all(&mut self, cut: bool) {
        let mut open = std::mem::take(&mut self.open);
        open.sort_by_key(|r| r.last_fed);
        for r in open {
            self.emit(r, cut);
        }
    }

    fn emit(&mut self, r: Report, cut: bool) {
        if let Some(pid) = r.is_oom_kill() {
            self.recent_kill = Some((pid, r.last_fed));
        }
        let f = r.finish(cut);
        if let Some(&i) = self.by_fingerprint.get(&f.fingerprint) {
            let c = &mut self.findings[i].count;
            *c = c.saturating_add(1);
            return;
        }
        if self.findings.len() >= MAX_FINDINGS {
            if !self.overflowed {
                self.overflowed = true;
                let title = "analyzer: too many distinct findings".to_string();
                let fingerprint = super::identity::fingerprint(Kind::AnalyzerOverflow.as_str(), &title, &[]);
                self.findings.push(Finding {
                    category: Category::LogLoss,
                    kind: Kind::AnalyzerOverflow,
                    title,
                    fingerprint,
                    first_line: f.first_line,
                    last_line: f.first_line,
                    task: None,
                    pid: None,
                    cpu: None,
                    truncated: false,
                    count: 1,
                    frames: Vec::new(),
                    lockdep: None,
                });
            }
            return;
        }
        self.by_fingerprint.insert(f.fingerprint.clone(), self.findings.len());
        self.findings.push(f);
    }
}
