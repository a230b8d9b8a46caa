//! Console analyzer: kernel console text in, structured and deduplicated findings out.
//!
//! Pure and streaming: [`analyze_reader`] reads line by line with bounded memory (a line is
//! capped at [`MAX_LINE`] bytes, a report keeps parsed facts, never its raw lines), so a
//! multi-gigabyte serial log costs the same memory as a short one. It never panics on any
//! input. Built for kernel output in general (x86, arm64, s390, others; 2.6 .. 6.x; plain
//! serial logs, dmesg, syslog/journal, `/dev/kmsg`, syzkaller/CI logs with caller ids).
//!
//! Pipeline, one module per job:
//! `reader` (bounded lines) -> `normalize` (strip timestamps, caller ids, syslog, loglevel,
//! ANSI) -> `headers` (table: which line opens which report, and its [`Kind`]) -> `report`
//! (per-report state machine: `lines` says what a body line is, `trace` collects the call
//! trace, `report::finish` makes the finding) with `lockdep` (lockdep sections, its phrase
//! table, lock descriptions), `frames` (stack lines, symbol normalization) and `skip` (the skip
//! table: frames never blamed) ->
//! `identity` (titles, fingerprints) -> `machine` (routing by caller id, absorption, dedup).
//! `cli` is `cargo xtask analyze`.
//!
//! # Findings
//!
//! Titles carry no addresses, offsets, pids, CPU numbers or task names. `F` is a function
//! chosen by the per-kind rule in the last column: *header* is the function the header names,
//! *held@* / *acq@* are the `at:` sites that lockdep printed for the held / acquired lock (an
//! `[inline]` line of a symbolized report is no site: the next line names the function),
//! *PC* is the faulting instruction (`RIP:`, `pc :`, `Krnl PSW`, `EIP is at`, ...), *stack*
//! is the first frame of the report's main call trace, *irq* is the same but taken after the
//! interrupt entry (the interrupted code), *PC tail* the frames printed right after the
//! registers (old x86 prints a WARN's reporting path, then `RIP:`, then the code that trapped),
//! *chain* the frames of lockdep's `-> #N` traces in printed order, *safe@* the trace after
//! `... which became X-irq-safe at:`. The lockdep sources follow syzkaller's rules
//! (google/syzkaller `pkg/report/linux.go`): the acquiring task's site before the held lock's,
//! the report's own trace where it has one. Every source gives only a function the skip table
//! (`skip.rs`) keeps, and none the kind's own skip patterns match (syzkaller's per-kind
//! `skip`); a syscall's own frame (`sys_NAME`) is named only when nothing above it is kept.
//! The skip table is one table of anchored patterns, each with its family and why, that
//! skips locking primitives (`mutex_lock*`, `down_read*`, `_raw_spin_lock*`, `lock_acquire`),
//! refcount and allocator helpers (`refcount_*`, `kmalloc*`, `kmem_cache_alloc*`,
//! `__alloc_pages*`), lockdep/sanitizer/WARN internals (`__lock_acquire`, `check_noncircular`,
//! `print_circular_bug`, `__warn`, `report_bug`, `kasan_*`, `dump_stack*`), notifier plumbing
//! (`*notifier_call_chain`, `memory_notify`), workqueue plumbing (`flush_work*`,
//! `cancel_work_sync`, `queue_work*`), sleeping, string/copy helpers, entry code and the
//! bottom of every stack. So `WARNING .. at lib/refcount.c refcount_warn_saturate` is
//! titled after its caller, and a lockdep site inside a notifier chain falls through to the
//! stack. Sources are tried in order; when none gives a function, ` in F` is omitted.
//!
//! | category | kind | recognised header (both modern and legacy forms) | title | F |
//! |---|---|---|---|---|
//! | lockdep | circular_locking | `possible circular locking dependency detected` | `possible circular locking dependency: HELD -> ACQ in F` | acq@, held@, stack, chain |
//! | lockdep | recursive_locking | `possible recursive locking detected` | `possible recursive locking: ACQ in F` | acq@, stack |
//! | lockdep | inconsistent_lock_state | `inconsistent lock state` | `inconsistent lock state {A} -> {B}: LOCK in F` | stack, acq@ |
//! | lockdep | irq_lock_inversion | `possible irq lock inversion dependency detected` | `possible irq lock inversion dependency: X -> Y in F` | acq@, stack |
//! | lockdep | irq_unsafe_order | `HARDIRQ-safe -> HARDIRQ-unsafe lock order detected` (any irq type) | `HARDIRQ-safe -> HARDIRQ-unsafe lock order: HELD -> ACQ in F` | safe@, acq@, stack |
//! | lockdep | bad_unlock_balance | `bad unlock balance detected!` | `bad unlock balance: LOCK in F` | acq@, stack |
//! | lockdep | bad_contention | `bad contention detected!` | `bad contention: LOCK in F` | acq@, stack |
//! | lockdep | held_lock_freed | `held lock freed!` | `held lock freed: LOCK in F` | held@, stack |
//! | lockdep | lock_held_returning_to_user | `lock held when returning to user space!` | `lock held when returning to user space: LOCK in F` | first held lock's site |
//! | lockdep | lock_held_at_exit | `lock held at task exit time!`, `T/N still has locks held!` | `lock held at task exit: LOCK in F` | first held lock's site |
//! | lockdep | nested_lock_not_taken | `Nested lock was not taken` | `nested lock was not taken: LOCK in F` | acq@, stack |
//! | lockdep | suspicious_rcu_usage | `suspicious RCU usage`, `suspicious rcu_dereference_check() usage` | `suspicious RCU usage in F` (else `at FILE`) | stack, also skipping `*rcu*`, `*kmem*`, `*slab*` |
//! | lockdep | invalid_wait_context | `Invalid wait context` | `invalid wait context: LOCK in F` | stack, acq@ |
//! | lockdep | non_static_key | `INFO: trying to register non-static key.` | `trying to register non-static key in F` | stack, also skipping `*stack*`, `*lock*`, `*IRQ*` |
//! | lockdep | lockdep_limit | `BUG: MAX_LOCKDEP_KEYS too low!` (any `MAX_*`) | `BUG: MAX_LOCKDEP_KEYS too low!` | - |
//! | lockdep | lockdep_bug | `BUG: looking up invalid subclass`, `BUG: key .. not registered` | normalized header | stack |
//! | lockdep | debug_locks_warn_on | `DEBUG_LOCKS_WARN_ON(cond)` (merged with the WARNING it precedes, or follows on old kernels) | `DEBUG_LOCKS_WARN_ON(cond) in F` | WARNING's function, PC tail, stack |
//! | warning | warn | `WARNING: CPU: N PID: N at FILE:LINE F+0x..`, `WARNING: at FILE:LINE F()`, `WARNING: FILE:LINE at F, CPU#N: T/N`, `BUG: warning at` | `WARNING in F` | header, PC tail, stack |
//! | bug | sleeping_in_atomic | `BUG: sleeping function called from invalid context` | `BUG: sleeping function called from invalid context in F` | stack |
//! | bug | scheduling_while_atomic | `BUG: scheduling while atomic` | `BUG: scheduling while atomic in F` | stack |
//! | bug | spinlock_lockup | `BUG: spinlock lockup suspected` | `BUG: spinlock lockup suspected in F` | stack |
//! | bug | spinlock_bug | `BUG: spinlock bad magic/recursion/wrong owner/...`, rwlock too | `BUG: spinlock bad magic in F` | stack |
//! | bug | bad_page_state / bad_page_map / bad_rss_counter | `BUG: Bad page state`, `BUG: Bad page map`, `BUG: Bad rss-counter state` | `BUG: Bad page state in F` | stack |
//! | bug | preemptible_context | `BUG: using smp_processor_id() in preemptible` | `BUG: using smp_processor_id() in preemptible code in F` | stack |
//! | bug | workqueue_leaked_lock | `BUG: workqueue leaked lock or atomic` | `... in F` | `last function:`, stack |
//! | bug | kernel_bug | `kernel BUG at FILE:LINE!`, `BUG: failure at`, arm64 `Internal error: Oops - BUG` | `kernel BUG at FILE in F` | PC, stack |
//! | bug | bug | any other `BUG: ...` | `BUG: <normalized text> in F` | PC, stack |
//! | oops | null_pointer | `BUG: kernel NULL pointer dereference`, `BUG: unable to handle kernel NULL pointer dereference`, `Unable to handle kernel NULL pointer dereference at virtual address`, powerpc `BUG: Kernel NULL pointer dereference on read at`, s390 fault with failing address < 4096 | `BUG: kernel NULL pointer dereference in F` | PC, stack |
//! | oops | paging_request | `BUG: unable to handle kernel paging request`, `BUG: unable to handle page fault`, `Unable to handle kernel paging request` (arm, arm64, riscv, mips `CPU N Unable ..`), powerpc `BUG: Unable to handle kernel data access`, s390 `Unable to handle kernel pointer dereference in virtual kernel address space` | `BUG: unable to handle kernel paging request in F` | PC, stack |
//! | oops | oops | `Oops: 0000 [#1]`, `Oops[#1]`, `Oops - <reason>`, unknown die reasons | `Oops in F` | PC, stack |
//! | oops | internal_error | arm/arm64 `Internal error: <reason>: <esr> [#N]` | `Internal error: <reason> in F` | PC, stack |
//! | oops | general_protection_fault | `general protection fault[, probably for ...]: 0000 [#N]` | `general protection fault in F` | PC, stack |
//! | oops | invalid_opcode | x86 `invalid opcode: 0000 [#N]` (alone; after `kernel BUG` it is absorbed) | `invalid opcode in F` | PC, stack |
//! | oops | program_check | s390 `<reason>: XXXX ilc:N [#N]` (`illegal operation`, `specification exception`, `Low-address protection`, ...) | `<reason> in F` | PC, stack |
//! | oops | serror / bad_mode | arm64 `SError Interrupt on CPUN`, `Bad mode in Synchronous Abort handler detected` | `SError Interrupt in F`, `Bad mode in Synchronous Abort handler in F` | PC, stack |
//! | oops | stack_overflow | s390 `Kernel stack overflow`, x86 `stack guard page was hit` / `kernel stack overflow (double-fault)`, arm64 `Insufficient stack space` | `kernel stack overflow in F` | PC, stack |
//! | panic | kernel_panic | `Kernel panic - not syncing: MSG` | `Kernel panic - not syncing: <normalized MSG>` | - |
//! | hung_task | hung_task | `INFO: task T:N blocked for more than N seconds.` | `INFO: task hung in F` | stack |
//! | hung_task | workqueue_lockup | `BUG: workqueue lockup` | `BUG: workqueue lockup` | - |
//! | rcu_stall | rcu_stall | `rcu: INFO: rcu_sched self-detected stall on CPU`, `INFO: rcu_preempt detected stalls on CPUs/tasks`, expedited, `INFO: RCU detected CPU N stall` | `INFO: rcu detected stall in F` | PC, irq, stack |
//! | soft_lockup | soft_lockup | `[watchdog: ]BUG: soft lockup - CPU#N stuck for Ns! [T:N]` | `BUG: soft lockup in F` | PC, irq, stack |
//! | soft_lockup | hard_lockup | `Watchdog detected hard LOCKUP on cpu N` | `watchdog: hard LOCKUP in F` | PC, irq, stack |
//! | sanitizer | kasan | `BUG: KASAN: TYPE in F` (+ `Read/Write of size`) | `KASAN: TYPE Read in F` | header, stack |
//! | sanitizer | kfence / kmsan | `BUG: KFENCE: TYPE in F`, `BUG: KMSAN: TYPE in F` | `KFENCE: TYPE in F` | header, stack |
//! | sanitizer | kcsan | `BUG: KCSAN: data-race in A / B` | `KCSAN: data-race in A / B` | - |
//! | sanitizer | ubsan | `UBSAN: TYPE in FILE:L:C`, old `UBSAN: Undefined behaviour in` | `UBSAN: TYPE in F` (else `in FILE`) | stack |
//! | sanitizer | kmemleak | `unreferenced object 0x.. (size N):` | `memory leak in F` | stack |
//! | oom | oom_kill | `T invoked oom-killer:`, `Out of memory: Killed process N (T)`, `Memory cgroup out of memory: ...`, `Killed process N (T)` | `out of memory: killed process T` | - |
//! | log_loss | printk_dropped | `** N printk messages dropped **`, `N messages dropped` | `printk messages dropped` | - |
//! | log_loss | kernel_messages_missed | journald `Missed N kernel messages` | `journald missed kernel messages` | - |
//! | log_loss | analyzer_overflow | (more than [`MAX_FINDINGS`] distinct findings) | `analyzer: too many distinct findings` | - |
//! | info | lockdep_turned_off | `INFO: lockdep is turned off.`, `turning off the locking correctness validator.`, `Disabling lock debugging due to kernel taint` | the message | - |
//!
//! Lock classes are kept as lockdep prints them inside the outer parentheses
//! (`&(&pool->lock)->rlock`, `(memory_chain).rwsem`, `ksm_thread_mutex/1`), without the
//! usage suffix (`{+.+.}-{3:3}`), the instance address and the `#N` name-version suffix
//! (`sb_writers#4` -> `sb_writers`), which depends on registration order.
//!
//! # Identity
//!
//! `fingerprint` = first 16 hex digits of SHA-256 over kind, title and key frames. Key frames
//! are, for a lockdep report with a dependency chain, the acquisition site of every chain link
//! (the first frame of each `-> #N` trace the skip table keeps); otherwise the first few
//! meaningful frames of the main trace (the per-kind count in `headers`). Meaningful frames
//! have offsets, module tags and compiler suffixes (`.isra.0`, `.constprop.0`, `.cold`)
//! removed, unreliable `?` frames dropped, syscall wrappers (`__x64_sys_write`,
//! `__arm64_sys_write`, `__s390x_sys_write`, `__se_sys_write`, `SyS_write`) renamed
//! `sys_write`, symbolized `[inline]` calls ignored, and the frames the skip table skips left
//! out, so the same bug on s390x and arm64 gets the same fingerprint (arm64's `memory_notify`
//! frame, inlined on s390x, is notifier plumbing). Findings with the same fingerprint are
//! reported once, with `count`; the first occurrence keeps its line numbers.
//!
//! # Report boundaries
//!
//! A report ends at its end marker (`---[ end trace .. ]---`, `---[ end Kernel panic`, the
//! closing `=====` of sanitizer reports, the kill line of an OOM report), at the next header
//! from the same source, or once its call trace is followed by a few lines that belong to no
//! report. Lines are routed by printk caller id (`[T123]`, `[C1]`) when present, so other
//! CPUs' and user space's lines interleaved with a report do not break it. A
//! `Kernel panic - not syncing: panic_on_warn set` that arrives while a report still waits for
//! its call trace is a one-line finding, and the trace that follows is that report's (the
//! kernel panicked before the WARN printed it). `truncated` is set when the log (or the boot:
//! `Linux version`) ends before the report was complete.

pub mod cli;
mod frames;
mod headers;
mod identity;
mod kind;
mod lines;
mod lockdep;
mod machine;
mod normalize;
mod reader;
mod report;
mod skip;
mod trace;

use serde::{Deserialize, Serialize};

pub use cli::run_analyze;
pub use frames::{code_frame, stack_frame, Frame};
pub use kind::Kind;
pub use machine::Analyzer;
pub use reader::MAX_LINE;
pub(crate) use skip::is_skipped;

/// Distinct findings kept per analysis; beyond it one `log_loss/analyzer_overflow` is added.
pub const MAX_FINDINGS: usize = 10_000;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Lockdep,
    Warning,
    Bug,
    Oops,
    Panic,
    HungTask,
    RcuStall,
    SoftLockup,
    Sanitizer,
    Oom,
    LogLoss,
    Info,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Lockdep => "lockdep",
            Category::Warning => "warning",
            Category::Bug => "bug",
            Category::Oops => "oops",
            Category::Panic => "panic",
            Category::HungTask => "hung_task",
            Category::RcuStall => "rcu_stall",
            Category::SoftLockup => "soft_lockup",
            Category::Sanitizer => "sanitizer",
            Category::Oom => "oom",
            Category::LogLoss => "log_loss",
            Category::Info => "info",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LockdepDetail {
    /// The lock being acquired (or released, contended, changed, locked without nesting).
    pub acquiring: Option<String>,
    /// The lock already held (or freed while held, or the other lock of an irq inversion).
    pub held: Option<String>,
    /// `-> #N (class)` classes in printed order (or the `Chain exists of:` line).
    pub chain: Vec<String>,
    /// Classes of the `N locks held by` list, in order.
    pub held_locks: Vec<String>,
    /// `CPU0: lock(A)` / `CPU1: lock(B)` / `CPU0: <Interrupt>` ...
    pub unsafe_scenario: Vec<String>,
    pub acquiring_at: Option<String>,
    pub held_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub category: Category,
    pub kind: Kind,
    pub title: String,
    pub fingerprint: String,
    pub first_line: u64,
    pub last_line: u64,
    pub task: Option<String>,
    pub pid: Option<u32>,
    pub cpu: Option<u32>,
    pub truncated: bool,
    pub count: u32,
    pub frames: Vec<String>,
    pub lockdep: Option<LockdepDetail>,
}

impl Finding {
    /// Its lines out of the console's (`first_line..=last_line`, 1-based, cut where the log ends).
    pub fn lines_in<'b, 'a>(&self, lines: &'b [&'a str]) -> &'b [&'a str] {
        let first = (self.first_line as usize).max(1);
        let last = (self.last_line as usize).min(lines.len());
        lines.get(first - 1..last).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Analysis {
    /// Ordered by the first line of their first occurrence.
    pub findings: Vec<Finding>,
    pub lines: u64,
    /// The log says lockdep is off (`INFO: lockdep is turned off.` and friends).
    pub lockdep_turned_off: bool,
}

impl Analysis {
    /// Every finding that is not `info`.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.category != Category::Info)
    }

    pub fn has_problems(&self) -> bool {
        self.problems().next().is_some()
    }
}

/// Analyze a whole console log held in memory.
pub fn analyze_bytes(input: &[u8]) -> Analysis {
    // A byte slice is a BufRead whose reads cannot fail.
    analyze_reader(input).unwrap_or_else(|_| Analyzer::new().finish())
}

/// Analyze a console log as a stream; memory stays bounded whatever its size.
pub fn analyze_reader<R: std::io::BufRead>(r: R) -> std::io::Result<Analysis> {
    let mut lines = reader::LineReader::new(r);
    let mut a = Analyzer::new();
    while let Some(line) = lines.next_line()? {
        a.push_line(line);
    }
    Ok(a.finish())
}
