//! The skip table: functions a title never blames and a fingerprint never keys on. The `in F`
//! of a title is the first candidate (the WARNING's or KASAN's function, the faulting PC,
//! lockdep's `at:` site, then the call trace frame by frame) that no row here matches; the same
//! rows pick each lockdep chain link's site, so the same cycle keys alike on every arch.
//!
//! One row a pattern: a regex over the normalized function name (offsets, module tags and
//! `.isra.0`/`.constprop.0`/`.part.0`/`.cold` gone, syscall wrappers already `sys_NAME`),
//! anchored at the start of the name (`$` anchors its end), the family it belongs to, and why
//! it is never the culprit. Any row matching skips the frame; the families only sort and
//! explain (`family` names the first row's).
//!
//! Modelled on syzkaller's list (google/syzkaller, `pkg/report/linux.go`, `linuxStackParams`
//! `.skipPatterns`): rows marked *syzkaller* take its entries (`^refcount_`, `^kref_`,
//! `fixup_bug`, `debug_object`, `osq_lock`, `raw_spin_rq`, `bh_enable`, `(trace|lockdep)_
//! (hard|soft)irq`, `(reacquire|mark)_held_locks`, `allocate_slab`, `__alloc_frozen_pages`,
//! `folio_alloc`, `(un)?lock_page`, `k?v?(m|z|c)alloc`, `krealloc`). syzkaller matches a pattern
//! anywhere in the name; here every pattern is anchored and the allocators name their suffixes,
//! so `kmalloc_oob_right` (a test that overflows a buffer) or `downgrade` is still blamed.

use std::sync::OnceLock;

use regex::RegexSet;

/// Why a family of functions is never the culprit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    /// Locking primitives and lockdep's hook in them: the lock was taken by their caller.
    Lock,
    /// Refcount and allocator helpers: the count or the allocation is its caller's.
    Alloc,
    /// Lockdep, sanitizer, WARN/BUG and stack-dumping internals: the reporter, not the reported.
    Debug,
    /// Notifier-chain plumbing: the callback it runs, or the code that fired the event, is.
    Notifier,
    /// Deferred-work plumbing: flushing, cancelling or queueing work or timers takes the work's,
    /// the queue's or the timer base's lock for its caller; the code that does it is the culprit.
    Work,
    /// Driver-core plumbing: adding or removing a device or kobject runs the bus's and the
    /// driver's callbacks; the driver is the culprit.
    Device,
    /// Sleeping, waiting and context switching.
    Sched,
    /// String, memory, user-copy and list helpers.
    Lib,
    /// Exception, interrupt, syscall and timer entry, softirq dispatch.
    Entry,
    /// The bottom of every stack: kthreads, workqueue workers, idle, boot.
    Thread,
}

pub(crate) struct Skip {
    pub pattern: &'static str,
    /// Skipped, but a title names it when no frame above it is kept.
    pub last_resort: bool,
    /// Documentation, checked by the tests: matching needs only the pattern.
    #[cfg_attr(not(test), allow(dead_code))]
    pub family: Family,
    #[cfg_attr(not(test), allow(dead_code))]
    pub why: &'static str,
}

const fn s(pattern: &'static str, family: Family, why: &'static str) -> Skip {
    Skip { pattern, last_resort: false, family, why }
}

const fn last(pattern: &'static str, family: Family, why: &'static str) -> Skip {
    Skip { pattern, last_resort: true, family, why }
}

use Family::*;

#[rustfmt::skip] // a table: one pattern a row
pub(crate) static SKIP: &[Skip] = &[
    // Locking primitives.
    s(r"lock_(?:acquire|acquired|release|contended|downgrade|sync)", Lock, "lockdep's hook inside every lock primitive, and its 2.6 helpers lock_release_non_nested (syzkaller)"),
    s(r"lock_map_", Lock, "lockdep annotations of pseudo-locks (work items, reclaim, cpu hotplug)"),
    s(r"_*(?:do_)?raw_(?:spin|read|write)_(?:un|try)?lock", Lock, "_raw_spin_lock*, do_raw_spin_lock, raw rwlocks: the spinlock entry points"),
    s(r"raw_spin_rq_(?:un|try)?lock", Lock, "the runqueue lock's wrapper (syzkaller)"),
    s(r"_*(?:native_|pv_)?queued_", Lock, "queued spinlock and rwlock slow paths"),
    s(r"arch_(?:spin|read|write)_", Lock, "the arch's own spinlock and rwlock"),
    s(r"_*spin_(?:un|try)?lock", Lock, "spin_lock* where they are functions"),
    s(r"_*(?:read|write)_(?:un|try)?lock", Lock, "rwlocks"),
    s(r"_*(?:rt_|ww_)?mutex_", Lock, "mutex_lock*, __mutex_lock, rt and ww mutexes (syzkaller: ^mutex_, ^__mutex_, ^rt_mutex_)"),
    s(r"_*rt_spin_", Lock, "PREEMPT_RT sleeping spinlocks"),
    s(r"osq_(?:un)?lock$", Lock, "the optimistic-spin queue under mutexes and rwsems (syzkaller)"),
    s(r"_*down(?:$|_(?:read|write|trylock|interruptible|killable|timeout|common))", Lock, "down_read/down_write*, semaphores' down*"),
    s(r"_*up(?:$|_(?:read|write))", Lock, "up_read/up_write, up: a link trace saved at an unlock starts here"),
    s(r"downgrade_write$", Lock, "rwsem downgrade"),
    s(r"_*rwsem_", Lock, "rwsem slow paths (rwsem_down_read_slowpath, ..)"),
    s(r"_*percpu_(?:down|up|rwsem)_", Lock, "percpu rwsems (cpu hotplug, sb_writers)"),
    s(r"cpus_(?:read|write)_(?:un|try)?lock", Lock, "cpu_hotplug_lock's wrappers"),
    s(r"_*lock_sock|release_sock$", Lock, "the socket lock, taken and released (syzkaller's locking-bug rule skips both)"),
    s(r"_*atomic_dec_and_(?:raw_)?(?:lock|mutex_lock)", Lock, "takes the lock when the count drops to zero (_atomic_dec_and_lock under iput)"),
    s(r"_*(?:un)?lock_page|_*folio_(?:un)?lock", Lock, "page and folio locks (syzkaller: ^(un)?lock_page)"),
    s(r"_*rcu_read_(?:un)?lock|rcu_lock_(?:acquire|release)$", Lock, "RCU read-side critical sections"),
    s(r"_*local_bh_(?:en|dis)able", Lock, "softirq masking around a lock (syzkaller: bh_enable, bh_disable)"),
    // Refcount and allocator helpers.
    s(r"_*refcount_", Alloc, "refcount_t operations and refcount_warn_saturate: the count is the caller's (syzkaller)"),
    s(r"kref_", Alloc, "kref_get/kref_put (syzkaller)"),
    s(r"_*(?:folio_put|put_page)", Alloc, "page and folio reference drops"),
    s(r"_*(?:do_)?k(?:m|z|c|vm|vz|vc|re)alloc(?:$|_(?:node|array|trace|large|order|slab|cache|noprof|track|reserve|buckets))", Alloc, "kmalloc, kzalloc, kcalloc, kvmalloc, krealloc and their _node/_trace/_noprof forms; not kmalloc_oob_right (syzkaller: k?v?(m|z|c)alloc, krealloc)"),
    s(r"_*v[mz]alloc(?:$|_(?:node|noprof|user|array|huge|range))", Alloc, "vmalloc, vzalloc and their forms"),
    s(r"_*kv?free", Alloc, "kfree, kvfree and friends"),
    s(r"_*kmem_cache_(?:alloc|free)", Alloc, "slab object allocation and freeing (not kmem_cache_create/destroy)"),
    s(r"_*slab_|(?:allocate|new)_slab$", Alloc, "slab internals (syzkaller: slab_, allocate_slab)"),
    s(r"_*alloc_pages|_*alloc_frozen_pages|_*folio_alloc|get_page_from_freelist|_*get_free_pages", Alloc, "the page allocator (syzkaller: alloc_page, __alloc_frozen_pages, folio_alloc)"),
    s(r"_*free_page|free_unref_page|free_pcp_prepare|free_the_page|check_new_page|release_pages", Alloc, "the page allocator's free path (it checks and reports bad pages)"),
    s(r"_*fs_reclaim_", Alloc, "lockdep's annotation that an allocation may enter reclaim"),
    s(r"iput(?:_final)?$|ihold$|(?:fast_)?dput$|put_device$", Alloc, "inode, dentry and device reference drops: the reference is the caller's (syzkaller)"),
    // Lockdep, sanitizer, WARN/BUG and dumping internals.
    s(r"_*(?:dump_stack|show_stack|dump_backtrace|show_trace|show_regs)", Debug, "print the stack being reported"),
    s(r"_*print_|_*v?printk|console_|_*dev_(?:printk|info|notice|warn|err|alert|crit|emerg)$", Debug, "printing: print_circular_bug, print_address_description, printk, dev_err (syzkaller)"),
    s(r"_*warn(?:$|_)|_*report_bug|handle_bug|fixup_bug", Debug, "WARN machinery: __warn, warn_slowpath_fmt, report_bug (syzkaller: fixup_bug)"),
    s(r"bug_handler|brk_handler|call_break_hook", Debug, "arm64 BUG/WARN traps"),
    s(r"panic$|__panic|_*nmi_|die$|die_|__die|oops_", Debug, "panic, die and oops printing"),
    s(r"__lock_(?:acquire|release|contended|acquired|is_held)|lock_is_held", Debug, "lockdep's core (__lock_acquire)"),
    s(r"_*lockdep_", Debug, "lockdep_* internals"),
    s(r"check_(?:noncircular|prev|deadlock|irq_usage|usage|flags|wait_context|chain_key)", Debug, "lockdep's checks (check_noncircular, check_prev_add)"),
    s(r"validate_chain|mark_lock|mark_usage|(?:mark|reacquire)_held_locks|register_lock_class|look_up_lock_class|hlock_class|save_trace|debug_check_no_locks", Debug, "lockdep's bookkeeping (syzkaller: (reacquire|mark)_held_locks, lock_class)"),
    s(r"trace_(?:hard|soft)irqs_", Debug, "irq-state tracing that feeds lockdep (syzkaller)"),
    s(r"debug_show_(?:all|held)_locks|check_hung|sched_show_task|show_state", Debug, "hung-task and sysrq dumps"),
    s(r"check_preemption_disabled|debug_smp_processor_id|__this_cpu_preempt_check", Debug, "the preemption checker that reports smp_processor_id() in preemptible code"),
    s(r"_*might_", Debug, "might_sleep/__might_resched/might_fault: the checks that report sleeping in atomic context"),
    s(r"stack_trace_|arch_stack_walk|_*unwind|_*save_stack", Debug, "the unwinder and stack saving of reports and KASAN"),
    s(r"_*kasan|_*asan_|check_memory_region", Debug, "KASAN's runtime and report (kasan_report, __asan_load8)"),
    s(r"_*kcsan|_*tsan_|_*kmsan|_*msan_|_*kfence|_*ubsan_|_*kmemleak", Debug, "the other sanitizers' runtimes"),
    s(r"check_heap_object", Debug, "hardened usercopy's report"),
    s(r"debug_object", Debug, "debugobjects' checks and report (syzkaller)"),
    s(r"rcu_dump_cpu_stacks|check_cpu_stall", Debug, "RCU stall printing"),
    s(r"(?:arch_|nmi_)?trigger_|watchdog_timer_fn|watchdog_overflow_callback", Debug, "lockup detectors and all-CPU backtraces"),
    s(r"bad_page", Debug, "prints `BUG: Bad page state`"),
    s(r"__pfx_", Debug, "x86 function padding symbols: an unwinder artifact, never code that ran"),
    // Notifier plumbing.
    s(r"_*(?:(?:atomic|blocking|raw|srcu)_)?notifier_call_chain", Notifier, "walks the chain under its rwsem/RCU: the callback, or whoever fired the event, is the culprit"),
    s(r"_*(?:(?:atomic|blocking|raw|srcu)_)?notifier_chain_(?:un)?register", Notifier, "takes the chain's lock to change it: blame the registering subsystem"),
    s(r"memory_notify$|node_notify$", Notifier, "the memory and node chains' one-line wrappers (a frame on arm64, inlined on s390x: skipped so both key alike)"),
    s(r"_*call_netdevice_notifiers|call_switchdev_(?:blocking_)?notifiers", Notifier, "netdev and switchdev chains' wrappers"),
    // Workqueue plumbing.
    s(r"_*flush_work(?:queue)?$|flush_delayed_work|drain_workqueue|destroy_workqueue|_*cancel_(?:delayed_)?work(?:_timer|_sync)?$|try_to_grab_pending|_*queue_(?:delayed_)?work(?:_on)?$|insert_work|kthread_stop$", Work, "flush, cancel and queue work: they take the work's and the queue's lockdep maps for their caller (syzkaller)"),
    s(r"del_timer(?:_sync)?$|_*timer_delete(?:_sync)?$|lock_timer_base|_*mod_timer$|sk_stop_timer_sync", Work, "deleting and arming timers: the timer base's lock, for the caller (syzkaller)"),
    // Driver-core plumbing.
    s(r"_*kobject_|klist_|device_(?:add|del|unregister|destroy|release|for_each_child|remove_file)$|devres_release_all|get_device_parent|add_uevent_var|sysfs_remove", Device, "add and remove devices and kobjects, run the bus's callbacks (syzkaller)"),
    // Sleeping and waiting.
    s(r"_*cond_resched|_*schedule|(?:preempt|io)_schedule|_*switch_to|context_switch|finish_task_switch", Sched, "the scheduler and context switch"),
    s(r"wait_for_completion|_*wait_for_common|do_wait_for_common|_*wait_event|finish_wait|prepare_to_wait|wait_on_page|folio_wait", Sched, "waiting"),
    s(r"complete(?:_all)?$|__wake_up", Sched, "waking waiters: the event is the caller's (syzkaller: ^complete$, __wake_up)"),
    // String, memory, user-copy and list helpers.
    s(r"_*mem(?:cpy|move|set|cmp)(?:$|\d+$|_(?:erms|orig|toio|fromio)$)|str(?:n?len|n?cmp|n?cpy|scpy)", Lib, "string and memory primitives (not KSM's memcmp_pages)"),
    s(r"_*copy_(?:from|to)_user|__copy_|raw_copy_|copyin$|copyout$", Lib, "user copies"),
    s(r"__list_", Lib, "list debugging"),
    s(r"_*(?:arch_)?atomic(?:64|_long)?_(?:dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)|_*(?:test_and_)?(?:set|clear|change|test)_bit", Lib, "atomic and bit operations (syzkaller)"),
    s(r"_*v?s?c?n?printf$|kv?asprintf$|va_format", Lib, "string formatting (syzkaller)"),
    // Exception, interrupt, syscall and timer entry.
    s(r"entry_|asm_|exc_|_*sysvec_|common_interrupt|apic_timer_interrupt|smp_apic_timer_interrupt|do_IRQ|invalid_op$", Entry, "x86 entry, interrupts and the ud2 trap stub of WARN/BUG"),
    s(r"_*irq_|_*handle_(?:irq|domain_irq)|handle_(?:edge|level|fasteoi)_irq|handle_percpu|generic_handle|gic_handle_irq|call_on_(?:irq_)?stack|do_interrupt_handler", Entry, "IRQ plumbing"),
    s(r"el[01][th]?_|do_el[01]_|ret_from_|_*ret_from_fork|ret_to_user|invoke_syscall|__do_syscall|system_call|sysc_|do_syscall_|_*do_fast_syscall|do_int80|syscall_", Entry, "syscall entry of arm64, s390 and x86"),
    last(r"sys_|compat_sys_", Entry, "the syscall's own frame (its wrappers are all renamed sys_NAME): the body of SYSCALL_DEFINE, so a title names it when nothing above it is kept, as syzkaller does; never a key, s390x inlines it"),
    s(r"pgm_check_handler|__do_pgm_check|do_(?:exception|dat_exception|protection_exception|no_context|low_address|report_trap|trap|sigsegv)|illegal_op|monitor_event_exception|(?:io|ext|mcck)_int_handler|do_(?:io|ext)_irq|do_irq_async", Entry, "s390 program checks and interrupts"),
    s(r"do_mem_abort|do_translation_fault|_*do_page_fault|do_user_addr_fault|handle_page_fault|(?:async_)?page_fault|_*bad_area|no_context|__do_kernel_fault|arm64_notify_die|do_debug_exception|do_undefinstr|do_invalid_op|do_error_trap|do_general_protection|fixup_exception|kernelmode_fixup_or_oops|page_fault_oops", Entry, "fault handlers of arm64 and x86"),
    s(r"_*do_softirq|handle_softirqs|run_ksoftirqd|smpboot_thread_fn|rcu_(?:sched_clock_irq|pending|core|do_batch)", Entry, "softirq dispatch and RCU's tick"),
    s(r"timer_interrupt|tick_|update_process_times|_*hrtimer_|run_timer_softirq|__run_timers|call_timer_fn|expire_timers|arch_timer_", Entry, "timers"),
    // The bottom of every stack.
    s(r"kthread$|worker_thread|process_one_work|process_scheduled_works", Thread, "kthreads and workqueue workers"),
    s(r"do_idle|cpu_startup_entry|default_idle|arch_cpu_idle|cpuidle_|psw_idle", Thread, "idle"),
    s(r"start_kernel|secondary_start_kernel|start_secondary|rest_init|arch_call_rest_init|secondary_startup|__secondary_switched|__primary_switched|x86_64_start|kernel_init|do_one_initcall|do_initcalls|do_basic_setup", Thread, "boot"),
];

fn set() -> &'static RegexSet {
    static SET: OnceLock<RegexSet> = OnceLock::new();
    SET.get_or_init(|| RegexSet::new(SKIP.iter().map(|r| format!("^(?:{})", r.pattern))).expect("skip table"))
}

/// True for a function no title blames (any row matches), unless as a last resort.
pub(crate) fn is_skipped(func: &str) -> bool {
    set().is_match(func)
}

/// True for a skipped function that a title still names when nothing before it is kept: every
/// row that matches it is a `last` row.
pub(crate) fn is_last_resort(func: &str) -> bool {
    let m = set().matches(func);
    m.matched_any() && m.iter().all(|i| SKIP[i].last_resort)
}

/// The family of the first row that matches `func`.
#[cfg(test)]
pub(crate) fn family(func: &str) -> Option<Family> {
    set().matches(func).into_iter().next().map(|i| SKIP[i].family)
}

#[cfg(test)]
mod tests;
