//! The phrases of a lockdep report, as tables: those that announce a section or the lock on
//! the next line, the ones that are merely known, and the unsafe scenario's steps.

use std::sync::OnceLock;

use regex::Regex;

use super::locks::normalize_class;
use super::Section;

/// How a phrase is found in a (trimmed) line.
pub(super) enum Pattern {
    Ends(&'static str),
    Starts(&'static str),
    Has(&'static str),
}

impl Pattern {
    pub(super) fn matches(&self, t: &str) -> bool {
        match self {
            Pattern::Ends(p) => t.ends_with(p),
            Pattern::Starts(p) => t.starts_with(p),
            Pattern::Has(p) => t.contains(p),
        }
    }

    pub(super) fn text(&self) -> &'static str {
        match self {
            Pattern::Ends(p) | Pattern::Starts(p) | Pattern::Has(p) => p,
        }
    }
}

/// What a phrase line announces.
#[derive(Debug, Clone, Copy)]
pub(super) enum Phrase {
    /// The next lock line is the one being acquired (or changed); this line names the task.
    Acquires,
    /// The next lock line is the one already held.
    Holds,
    /// irq inversion: the next lock line is the other lock; whether the changed lock took it.
    OtherLock(bool),
    /// `is trying to release/contend lock (X)`: X, and the next frame is where.
    Releases,
    /// `is freeing memory`: the next lock line is the held lock being freed.
    Frees,
    /// The next line is the lock the task does not hold.
    NotHolding,
    /// `inconsistent {A} -> {B} usage.`
    Usage,
    Section(Section),
    /// The next line is the `A --> B --> C` chain.
    ChainExists,
    /// `... which became X-irq-safe at:`: the frames that follow are where.
    SafeUsage,
    /// Known, announces nothing (`... which became X-irq-unsafe at:`).
    Known,
}

/// The phrases of a lockdep report before its backtrace, tried in this order (the wording is
/// stable from 2.6.2x to 6.x).
#[rustfmt::skip]
pub(super) const PHRASES: &[(Pattern, Phrase)] = &[
    (Pattern::Ends("is trying to acquire lock:"), Phrase::Acquires),
    (Pattern::Ends("is trying to acquire:"), Phrase::Acquires),
    (Pattern::Ends("is trying to lock:"), Phrase::Acquires),
    (Pattern::Ends("takes:"), Phrase::Acquires),
    (Pattern::Ends("just changed the state of lock:"), Phrase::Acquires),
    (Pattern::Starts("but task is already holding lock:"), Phrase::Holds),
    (Pattern::Starts("and this task is already holding:"), Phrase::Holds),
    (Pattern::Starts("but this lock took another"), Phrase::OtherLock(true)),
    (Pattern::Starts("but this lock was taken by another"), Phrase::OtherLock(false)),
    (Pattern::Has("is trying to release lock ("), Phrase::Releases),
    (Pattern::Has("is trying to contend lock ("), Phrase::Releases),
    (Pattern::Has("is freeing memory"), Phrase::Frees),
    (Pattern::Starts("but this task is not holding:"), Phrase::NotHolding),
    (Pattern::Starts("inconsistent {"), Phrase::Usage),
    (Pattern::Starts("the existing dependency chain"), Phrase::Section(Section::Chain)),
    (Pattern::Starts("other info that might help"), Phrase::Section(Section::Other)),
    (Pattern::Starts("Chain exists of:"), Phrase::ChainExists),
    (Pattern::Ends("-irq-unsafe at:"), Phrase::Known),
    (Pattern::Ends("-irq-safe at:"), Phrase::SafeUsage),
    (Pattern::Has("unsafe locking scenario:"), Phrase::Section(Section::Scenario)),
];

pub(super) fn held_by() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"^(?:\d+|no) locks? (?:held|on stack) by (?P<task>\S.*?)/(?P<pid>\d+)[:.]").expect("regex")
    })
}

pub(super) fn is_rule(t: &str) -> bool {
    t.len() >= 8 && (t.bytes().all(|b| b == b'-') || t.bytes().all(|b| b == b'='))
}

pub(super) fn known_phrase(t: &str) -> bool {
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
pub(super) fn is_scenario_step(t: &str) -> bool {
    if t == "<Interrupt>" {
        return true;
    }
    let Some(open) = t.find('(') else { return false };
    t.ends_with(");") && open > 0 && t[..open].bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// `lock(&x#3);` -> `lock(&x)`
pub(super) fn scenario_action(t: &str) -> String {
    let t = t.trim_end_matches(';');
    match (t.find('('), t.rfind(')')) {
        (Some(o), Some(c)) if o < c => format!("{}({}){}", &t[..o], normalize_class(&t[o + 1..c]), &t[c + 1..]),
        _ => t.to_string(),
    }
}
