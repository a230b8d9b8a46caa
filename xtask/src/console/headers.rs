//! The header table: which line opens which report, what the report's body looks like, when
//! it is complete, and how its title is built. One `RegexSet` over all patterns dispatches a
//! line; every pattern is anchored, so ordinary lines are rejected after a few bytes. On
//! several matches the earliest entry wins, so specific entries precede generic ones.

use std::sync::OnceLock;

use regex::{Regex, RegexSet};

use super::{Category, Kind};
use Category::*;

/// How a report's body is recognised and where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// Lockdep sections, then `stack backtrace:`.
    Sections,
    /// Free text, then a call trace; ends after the trace or at `---[ end trace`.
    Stack,
    /// Ends at the closing `=====` line (sanitizers).
    Framed,
    /// `Kernel panic`: an optional trace, ends at `---[ end Kernel panic`.
    PanicTail,
    /// One line.
    Single,
    /// One line that does not interrupt an open report (info, log loss).
    Side,
    /// `invoked oom-killer`: memory dumps until the kill line.
    OomDump,
    /// `DEBUG_LOCKS_WARN_ON(..)`: the message line of the WARNING that follows.
    PreWarn,
    /// A new boot: everything still open was cut off.
    Boot,
    /// An oops "die" line; merges into an open fault report, else opens one.
    Die,
}

/// What a report needs before the log may end without it being `truncated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Always,
    /// At least one frame of its main trace.
    Frames,
    /// Its end marker.
    EndMarker,
}

/// Where the `in F` of a title comes from, tried in order (see the table in `mod.rs`). Every
/// source gives only a function that neither the skip table nor the kind's own `skip` skips;
/// a source that gives none passes to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Src {
    /// The header's function (`refcount_warn_saturate` is skipped).
    HeaderNotSkipped,
    Pc,
    /// The report's main call trace.
    Stack,
    /// The frames printed right after the faulting-PC line: where a WARN trapped on kernels
    /// that print the reporting path first and the registers in the middle of the trace.
    PcTail,
    Interrupted,
    HeldAt,
    AcqAt,
    FirstHeldAt,
    /// Lockdep's dependency chain: the frames of its `-> #N` traces, in printed order.
    Chain,
    /// The trace after `... which became X-irq-safe at:`: where the safe lock met an interrupt.
    SafeAt,
    LastFunction,
}

pub(crate) struct Def {
    pub re: &'static str,
    pub category: Category,
    pub kind: Kind,
    pub body: Body,
    pub done: Done,
    /// `{name}` is a header capture or a computed value; `[..]` is dropped if one of its
    /// placeholders is unknown.
    pub title: &'static str,
    pub func: &'static [Src],
    /// Appended after a space instead of ` in F` when no function is found.
    pub or_else: &'static str,
    /// Meaningful frames of the main trace that enter the fingerprint.
    pub keys: usize,
    /// A later die line (`Oops: ..`, `Internal error: ..`) belongs to this report.
    pub awaits_die: bool,
    /// An OOM kill in the past tense (`Killed process N`): it ends the OOM report it joins.
    /// (`Out of memory: Kill(ed) process` says it with its `ed` capture.)
    pub kill_done: bool,
    /// Functions this kind's title never blames besides the skip table's (syzkaller's per-kind
    /// `skip`), anchored at the start like its rows: `.*rcu` is any name with `rcu` in it.
    pub skip: &'static [&'static str],
}

const fn d(
    re: &'static str,
    category: Category,
    kind: Kind,
    body: Body,
    done: Done,
    title: &'static str,
    func: &'static [Src],
) -> Def {
    Def {
        re,
        category,
        kind,
        body,
        done,
        title,
        func,
        or_else: "",
        keys: 3,
        awaits_die: false,
        kill_done: false,
        skip: &[],
    }
}

impl Def {
    const fn keys(self, keys: usize) -> Def {
        Def { keys, ..self }
    }
    const fn or_else(self, or_else: &'static str) -> Def {
        Def { or_else, ..self }
    }
    const fn awaits_die(self) -> Def {
        Def { awaits_die: true, ..self }
    }
    const fn kill_done(self) -> Def {
        Def { kill_done: true, ..self }
    }
    const fn skip(self, skip: &'static [&'static str]) -> Def {
        Def { skip, ..self }
    }

    /// The kind's own `skip` matches `func`.
    pub(crate) fn skips(&'static self, func: &str) -> bool {
        if self.skip.is_empty() {
            return false;
        }
        let c = compiled();
        DEFS.iter()
            .position(|d| std::ptr::eq(d, self))
            .and_then(|i| c.skip[i].as_ref())
            .is_some_and(|s| s.is_match(func))
    }
}

const NONE: &[Src] = &[];
const STACK: &[Src] = &[Src::Stack];
const PC_STACK: &[Src] = &[Src::Pc, Src::Stack];
const PC_IRQ: &[Src] = &[Src::Pc, Src::Interrupted, Src::Stack];
const ACQ: &[Src] = &[Src::AcqAt, Src::Stack];
/// A WARN's: where it trapped, else its callers (after the registers on old x86, else the trace).
const HDR: &[Src] = &[Src::HeaderNotSkipped, Src::PcTail, Src::Stack];

// Lockdep kinds blame what syzkaller blames (google/syzkaller `pkg/report/linux.go`, its
// `linuxOopses` lockdep entries): the site of the lock being acquired (`is trying to acquire`,
// `takes:`, `just changed the state`), not the one already held; the trace of the report
// where it has one (inconsistent lock state, suspicious RCU usage, non-static key); the usage
// trace of the irq-safe lock for an irq-safe -> irq-unsafe order.
/// A cycle: the acquisition that closes it, the held lock's site, then the acquiring task's
/// trace and the chain's traces (a worker's stack is all plumbing; the chain names who flushed).
const CYCLE: &[Src] = &[Src::AcqAt, Src::HeldAt, Src::Stack, Src::Chain];
/// The report's own trace first: its top kept frame is where the state went wrong.
const TRACE_ACQ: &[Src] = &[Src::Stack, Src::AcqAt];
const SAFE: &[Src] = &[Src::SafeAt, Src::AcqAt, Src::Stack];
const HELD: &[Src] = &[Src::HeldAt, Src::Stack];

/// Lockdep's headers were `[ INFO: .. ]` / `[ BUG: .. ]` up to 4.13 and `WARNING: ..` since;
/// the brackets are removed before matching.
macro_rules! ld {
    ($s:literal) => {
        concat!(r"^(?:WARNING|INFO|BUG): ", $s)
    };
}

use Body::*;
use Done::*;

#[rustfmt::skip] // a table: one header a row
pub(crate) static DEFS: &[Def] = &[
    // Side findings and boot boundaries.
    d(r"^INFO: lockdep is turned off", Info, Kind::LockdepTurnedOff, Side, Always, "INFO: lockdep is turned off", NONE),
    d(r"^turning off the locking correctness validator", Info, Kind::LockdepTurnedOff, Side, Always, "lockdep: locking correctness validator turned off", NONE),
    d(r"^Disabling lock debugging due to kernel taint", Info, Kind::LockdepTurnedOff, Side, Always, "lockdep: lock debugging disabled due to kernel taint", NONE),
    d(r"^\*\* \d+ printk messages dropped \*\*", LogLoss, Kind::PrintkDropped, Side, Always, "printk messages dropped", NONE),
    d(r"^(?:printk: )?(?:console \[[^\]]*\]:? )?\d+ (?:printk )?messages dropped", LogLoss, Kind::PrintkDropped, Side, Always, "printk messages dropped", NONE),
    d(r"^(?:systemd-journald\[\d+\]: )?Missed \d+ kernel messages", LogLoss, Kind::KernelMessagesMissed, Side, Always, "journald missed kernel messages", NONE),
    d(r"^Linux version \d", Info, Kind::Boot, Boot, Always, "", NONE),
    d(r"^Booting Linux on physical CPU", Info, Kind::Boot, Boot, Always, "", NONE),
    // Lockdep.
    d(ld!("possible circular locking dependency detected"), Lockdep, Kind::CircularLocking, Sections, Frames, "possible circular locking dependency[: {held} -> {acq}]", CYCLE),
    d(ld!("possible recursive locking detected"), Lockdep, Kind::RecursiveLocking, Sections, Frames, "possible recursive locking[: {acq}]", ACQ),
    d(ld!("inconsistent lock state"), Lockdep, Kind::InconsistentLockState, Sections, Frames, "inconsistent lock state[ {usage}][: {acq}]", TRACE_ACQ),
    d(ld!("possible irq lock inversion dependency detected"), Lockdep, Kind::IrqLockInversion, Sections, Frames, "possible irq lock inversion dependency[: {dep}]", ACQ),
    d(ld!(r"(?P<irq>[A-Z_]+)-safe -> [A-Z_]+-unsafe lock order detected"), Lockdep, Kind::IrqUnsafeOrder, Sections, Frames, "{irq}-safe -> {irq}-unsafe lock order[: {held} -> {acq}]", SAFE),
    d(ld!("bad unlock balance detected"), Lockdep, Kind::BadUnlockBalance, Sections, Frames, "bad unlock balance[: {acq}]", ACQ),
    d(ld!("bad contention detected"), Lockdep, Kind::BadContention, Sections, Frames, "bad contention[: {acq}]", ACQ),
    d(ld!("held lock freed"), Lockdep, Kind::HeldLockFreed, Sections, Frames, "held lock freed[: {held}]", HELD),
    d(ld!("lock held when returning to user space"), Lockdep, Kind::LockHeldReturningToUser, Sections, Always, "lock held when returning to user space[: {first_held}]", &[Src::FirstHeldAt]),
    d(ld!(r"(?:lock held at task exit time|.+ still has locks held)"), Lockdep, Kind::LockHeldAtExit, Sections, Always, "lock held at task exit[: {first_held}]", &[Src::FirstHeldAt]),
    d(ld!("[Nn]ested lock was not taken"), Lockdep, Kind::NestedLockNotTaken, Sections, Frames, "nested lock was not taken[: {acq}]", ACQ),
    d(ld!(r"suspicious (?:RCU usage|rcu_dereference_check\(\) usage)"), Lockdep, Kind::SuspiciousRcuUsage, Sections, Frames, "suspicious RCU usage", STACK).or_else("at {rcu_file}").skip(&[".*rcu", ".*kmem", ".*slab"]),
    d(ld!("Invalid wait context"), Lockdep, Kind::InvalidWaitContext, Sections, Frames, "invalid wait context[: {acq}]", TRACE_ACQ),
    d(r"^INFO: trying to register non-static key", Lockdep, Kind::NonStaticKey, Stack, Frames, "trying to register non-static key", STACK).skip(&[".*stack", ".*lock", ".*IRQ"]),
    d(r"^BUG: (?P<what>MAX_[A-Z_]+) too low", Lockdep, Kind::LockdepLimit, Stack, Always, "BUG: {what} too low!", NONE).keys(0),
    d(r"^BUG: (?P<msg>looking up invalid subclass|key \S+ (?:has )?not (?:been registered|in \.data))", Lockdep, Kind::LockdepBug, Stack, Always, "BUG: {msg}", STACK),
    d(r"^DEBUG_LOCKS_WARN_ON\((?P<cond>.*)\)", Lockdep, Kind::DebugLocksWarnOn, PreWarn, Always, "DEBUG_LOCKS_WARN_ON({cond})", HDR),
    // Sanitizers.
    d(r"^BUG: KAS[Aa][Nn]: (?P<type>[\w -]+?) (?:in|on address) (?P<fn>\S+)", Sanitizer, Kind::Kasan, Framed, EndMarker, "KASAN: {type}[ {access}]", HDR),
    d(r"^BUG: KAS[Aa][Nn]: (?P<type>[\w -]+)", Sanitizer, Kind::Kasan, Framed, EndMarker, "KASAN: {type}[ {access}]", STACK),
    d(r"^BUG: KFENCE: (?P<type>[\w -]+?) in (?P<fn>\S+)", Sanitizer, Kind::Kfence, Framed, EndMarker, "KFENCE: {type}", HDR),
    d(r"^BUG: KMSAN: (?P<type>[\w -]+?) in (?P<fn>\S+)", Sanitizer, Kind::Kmsan, Framed, EndMarker, "KMSAN: {type}", HDR),
    d(r"^BUG: KCSAN: (?P<type>[\w :-]+?) in (?P<fns>\S+(?: / \S+)?)", Sanitizer, Kind::Kcsan, Framed, EndMarker, "KCSAN: {type} in {fns}", NONE).keys(0),
    d(r"^UBSAN: (?P<type>[\w -]+?) in (?P<loc>\S+)", Sanitizer, Kind::Ubsan, Framed, EndMarker, "UBSAN: {type}", STACK).or_else("in {file}"),
    d(r"^unreferenced object 0x[0-9a-fA-F]+ \(size \d+\)", Sanitizer, Kind::Kmemleak, Stack, Frames, "memory leak", STACK),
    // Die lines (x86, arm, arm64, s390, powerpc, mips, riscv).
    d(r"^Internal error: (?P<die>.+?): (?:0x)?[0-9a-fA-F]+ \[#\d+\]", Oops, Kind::InternalError, Die, EndMarker, "{die}", PC_STACK),
    d(r"^(?:Oops: )?(?P<die>[A-Za-z][^:\[]*?)(?:, (?:probably|maybe) for [^:]*)?(?:, sig: \d+ |: (?:0x)?[0-9a-fA-F]+(?P<ilc> ilc:\d)? )\[#\d+\]", Oops, Kind::Oops, Die, EndMarker, "{die}", PC_STACK),
    d(r"^Oops(?:\[#\d+\]| \[#\d+\]|#\d+)", Oops, Kind::Oops, Die, EndMarker, "{die}", PC_STACK),
    // Faults whose die line follows.
    d(r"^BUG: (?:[Uu]nable to handle )?[Kk]ernel NULL pointer dereference", Oops, Kind::NullPointer, Stack, EndMarker, "BUG: kernel NULL pointer dereference", PC_STACK).awaits_die(),
    d(r"^BUG: [Uu]nable to handle (?:kernel paging request|page fault|kernel)", Oops, Kind::PagingRequest, Stack, EndMarker, "BUG: unable to handle kernel paging request", PC_STACK).awaits_die(),
    d(r"^(?:CPU \d+ )?Unable to handle kernel NULL pointer dereference", Oops, Kind::NullPointer, Stack, EndMarker, "BUG: kernel NULL pointer dereference", PC_STACK).awaits_die(),
    d(r"^(?:CPU \d+ )?Unable to handle kernel ", Oops, Kind::PagingRequest, Stack, EndMarker, "BUG: unable to handle kernel paging request", PC_STACK).awaits_die(),
    d(r"^BUG: (?:\w+ )?stack guard page was hit", Oops, Kind::StackOverflow, Stack, EndMarker, "kernel stack overflow", PC_STACK).awaits_die(),
    d(r"^(?:Kernel|kernel) stack overflow", Oops, Kind::StackOverflow, Stack, Frames, "kernel stack overflow", PC_STACK).awaits_die(),
    d(r"^Insufficient stack space to handle exception", Oops, Kind::StackOverflow, Stack, Frames, "kernel stack overflow", PC_STACK).awaits_die(),
    d(r"^Thread overran stack, or stack corrupted", Oops, Kind::StackOverflow, Stack, Frames, "kernel stack overflow", PC_STACK).awaits_die(),
    d(r"^[Kk]ernel BUG at (?P<loc>[^!\s]+)", Bug, Kind::KernelBug, Stack, EndMarker, "kernel BUG at {file}", PC_STACK).awaits_die(),
    d(r"^BUG: failure at (?P<loc>\S+?:\d+)", Bug, Kind::KernelBug, Stack, Frames, "kernel BUG at {file}", PC_STACK).awaits_die(),
    d(r"^SError Interrupt on CPU\d+", Oops, Kind::Serror, Stack, Always, "SError Interrupt", PC_STACK).awaits_die(),
    d(r"^Bad mode in (?P<what>.+?) handler detected", Oops, Kind::BadMode, Stack, Always, "Bad mode in {what} handler", PC_STACK).awaits_die(),
    d(r"^Kernel panic - not syncing:? ?(?P<msg>.*)", Panic, Kind::KernelPanic, PanicTail, Always, "Kernel panic - not syncing: {msg}", NONE).keys(0),
    // Hangs, stalls, lockups.
    d(r"^INFO: task (?P<task>.+):(?P<pid>\d+) blocked for more than \d+ seconds", HungTask, Kind::HungTask, Stack, Frames, "INFO: task hung", STACK).keys(2),
    d(r"^INFO: task (?P<task>.+):(?P<pid>\d+) can't die for more than", HungTask, Kind::HungTask, Stack, Frames, "INFO: task hung", STACK).keys(2),
    d(r"^(?:rcu: )?INFO: (?:rcu\w*|RCU) (?:self-)?detected (?:expedited )?(?:stalls?|CPU \d+ stall)", RcuStall, Kind::RcuStall, Stack, Always, "INFO: rcu detected stall", PC_IRQ).keys(1),
    d(r"^(?:[\w ]+: )?BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for \d+s!(?: \[(?P<task>.+):(?P<pid>\d+)\])?", SoftLockup, Kind::SoftLockup, Stack, Frames, "BUG: soft lockup", PC_IRQ).keys(1),
    d(r"^(?:[\w ]+: )?Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)", SoftLockup, Kind::HardLockup, Stack, Always, "watchdog: hard LOCKUP", PC_IRQ).keys(1),
    d(r"^BUG: workqueue lockup", HungTask, Kind::WorkqueueLockup, Stack, Always, "BUG: workqueue lockup", NONE).keys(0),
    // Other BUG: reports; the generic one last.
    d(r"^BUG: workqueue leaked lock or atomic", Bug, Kind::WorkqueueLeakedLock, Stack, Always, "BUG: workqueue leaked lock or atomic", &[Src::LastFunction, Src::Stack]),
    d(r"^BUG: spinlock lockup suspected on CPU#(?P<cpu>\d+), (?P<task>.+)/(?P<pid>\d+)", Bug, Kind::SpinlockLockup, Stack, Frames, "BUG: spinlock lockup suspected", STACK),
    d(r"^BUG: (?P<lt>spinlock|rwlock|read_lock|write_lock) (?P<what>[\w ]+?) on CPU#(?P<cpu>\d+)", Bug, Kind::SpinlockBug, Stack, Frames, "BUG: {lt} {what}", STACK),
    d(r"^BUG: sleeping function called from invalid context", Bug, Kind::SleepingInAtomic, Stack, Frames, "BUG: sleeping function called from invalid context", STACK),
    d(r"^BUG: scheduling while atomic: (?P<task>.+)/(?P<pid>-?\d+)/", Bug, Kind::SchedulingWhileAtomic, Stack, Frames, "BUG: scheduling while atomic", STACK),
    d(r"^BUG: Bad page state in process (?P<task>.*?)\s+pfn:", Bug, Kind::BadPageState, Stack, Frames, "BUG: Bad page state", STACK),
    d(r"^BUG: Bad page map in process (?P<task>\S*)", Bug, Kind::BadPageMap, Stack, Frames, "BUG: Bad page map", STACK),
    d(r"^BUG: Bad rss-counter state", Bug, Kind::BadRssCounter, Stack, Always, "BUG: Bad rss-counter state", NONE).keys(0),
    d(r"^BUG: using (?P<what>\S+) in preemptible \[[0-9a-fA-F]+\] code: (?P<task>.+)/(?P<pid>\d+)", Bug, Kind::PreemptibleContext, Stack, Frames, "BUG: using {what} in preemptible code", STACK),
    d(r"^BUG: warning at (?P<loc>\S+?:\d+)/(?P<fn>\w+)\(\)", Warning, Kind::Warn, Stack, Frames, "WARNING", HDR).keys(2),
    d(r"^BUG: (?P<msg>.+)", Bug, Kind::Bug, Stack, Always, "BUG: {msg}", PC_STACK),
    // Warnings.
    d(r"^WARNING: (?:CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) )?at (?P<loc>\S+) (?P<fn>[^\s(]+)", Warning, Kind::Warn, Stack, EndMarker, "WARNING", HDR).keys(2),
    d(r"^WARNING: (?P<loc>\S+:\d+) at (?P<fn>[^\s,]+), CPU#(?P<cpu>\d+): (?P<task>.+)/(?P<pid>\d+)", Warning, Kind::Warn, Stack, EndMarker, "WARNING", HDR).keys(2),
    // OOM.
    d(r"^(?P<task>.+?) invoked oom-killer: ", Oom, Kind::OomKill, OomDump, Always, "out of memory[: killed process {victim}]", NONE).keys(0),
    d(r"^(?:Memory cgroup out of memory|Out of memory(?: \(oom_kill_allocating_task\))?): Kill(?P<ed>ed)? process (?P<vpid>\d+) \((?P<victim>[^)]*)\)", Oom, Kind::OomKill, Single, Always, "out of memory[: killed process {victim}]", NONE).keys(0),
    d(r"^Killed process (?P<vpid>\d+) \((?P<victim>[^)]*)\)", Oom, Kind::OomKill, Single, Always, "out of memory[: killed process {victim}]", NONE).keys(0).kill_done(),
];

struct Compiled {
    set: RegexSet,
    each: Vec<Regex>,
    /// Each def's own `skip`, anchored.
    skip: Vec<Option<RegexSet>>,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| Compiled {
        set: RegexSet::new(DEFS.iter().map(|d| d.re)).expect("header table"),
        each: DEFS.iter().map(|d| Regex::new(d.re).expect("header regex")).collect(),
        skip: DEFS
            .iter()
            .map(|d| {
                (!d.skip.is_empty())
                    .then(|| RegexSet::new(d.skip.iter().map(|p| format!("^(?:{p})"))).expect("kind skip"))
            })
            .collect(),
    })
}

pub(crate) struct HeaderMatch {
    pub def: &'static Def,
    pub caps: Vec<(&'static str, String)>,
}

impl HeaderMatch {
    pub(crate) fn cap(&self, name: &str) -> Option<&str> {
        self.caps.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn num(&self, name: &str) -> Option<u32> {
        self.cap(name)?.parse().ok()
    }
}

/// The text a header is matched against: trimmed, lockdep's legacy `[ .. ]` removed.
fn header_text(text: &str) -> &str {
    let t = text.trim();
    match t.strip_prefix("[ ").and_then(|s| s.strip_suffix(']')) {
        Some(inner) => inner.trim(),
        None => t,
    }
}

pub(crate) fn match_header(text: &str) -> Option<HeaderMatch> {
    let t = header_text(text);
    // Every header starts with a letter, `*` or a digit; this skips frames and blank lines.
    if !t.as_bytes().first().is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'*') {
        return None;
    }
    let c = compiled();
    let idx = c.set.matches(t).into_iter().next()?;
    let re = &c.each[idx];
    let m = re.captures(t)?;
    let caps = re.capture_names().flatten().filter_map(|n| m.name(n).map(|v| (n, v.as_str().to_string()))).collect();
    Some(HeaderMatch { def: &DEFS[idx], caps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_compiles_and_dispatches() {
        let kind = |s: &str| match_header(s).map(|m| m.def.kind.as_str());
        assert_eq!(kind("WARNING: possible circular locking dependency detected"), Some("circular_locking"));
        assert_eq!(kind("[ INFO: possible circular locking dependency detected ]"), Some("circular_locking"));
        assert_eq!(kind("BUG: KASAN: slab-out-of-bounds in foo+0x1/0x2"), Some("kasan"));
        assert_eq!(kind("BUG: MAX_LOCKDEP_KEYS too low!"), Some("lockdep_limit"));
        assert_eq!(kind("BUG: something else"), Some("bug"));
        assert_eq!(kind("watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [a:1]"), Some("soft_lockup"));
        assert_eq!(kind("Oops: 0000 [#1] SMP"), Some("oops"));
        assert_eq!(kind("illegal operation: 0001 ilc:1 [#1] SMP"), Some("oops"));
        assert_eq!(kind("general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN"), Some("oops"));
        assert_eq!(kind("Oops: Kernel access of bad area, sig: 11 [#1]"), Some("oops"));
        assert_eq!(kind("... MAX_LOCKDEP_KEYS:        8192"), None);
        assert_eq!(kind("RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable"), None);
        assert_eq!(kind("       __lock_acquire+0x5f2/0xb90"), None);
        assert_eq!(kind("Memory: 1234K/5678K available"), None);
    }
}
