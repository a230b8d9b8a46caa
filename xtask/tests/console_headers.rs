//! Table-driven: one short excerpt per recognised header (modern, legacy and per-arch forms)
//! -> the category, kind and title of the single problem it must produce.

use xtask::console::{analyze_bytes, Category};

/// A header, then a minimal body: a call trace whose first real frame is `culprit`.
fn excerpt(header: &str) -> String {
    format!(
        "[   10.000000] booting\n[   11.000000] {header}\n[   11.000001] CPU: 1 PID: 42 Comm: worker Not tainted 6.1.0 #1\n[   11.000002] Call Trace:\n[   11.000003]  dump_stack_lvl+0x5b/0x77\n[   11.000004]  culprit+0x1c/0x40\n[   11.000005]  caller+0x2a/0x60\n[   11.000006] ---[ end trace 0000000000000000 ]---\n[   12.000000] next\n"
    )
}

#[rustfmt::skip]
const CASES: &[(&str, Category, &str, &str)] = &[
    // Lockdep headers without lock lines still classify; titles fall back to the stack.
    ("WARNING: possible circular locking dependency detected", Category::Lockdep, "circular_locking", "possible circular locking dependency in culprit"),
    ("[ INFO: possible circular locking dependency detected ]", Category::Lockdep, "circular_locking", "possible circular locking dependency in culprit"),
    ("[ INFO: possible recursive locking detected ]", Category::Lockdep, "recursive_locking", "possible recursive locking in culprit"),
    ("WARNING: inconsistent lock state", Category::Lockdep, "inconsistent_lock_state", "inconsistent lock state in culprit"),
    ("[ INFO: possible irq lock inversion dependency detected ]", Category::Lockdep, "irq_lock_inversion", "possible irq lock inversion dependency in culprit"),
    ("WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected", Category::Lockdep, "irq_unsafe_order", "HARDIRQ-safe -> HARDIRQ-unsafe lock order in culprit"),
    ("[ INFO: RECLAIM_FS-safe -> RECLAIM_FS-unsafe lock order detected ]", Category::Lockdep, "irq_unsafe_order", "RECLAIM_FS-safe -> RECLAIM_FS-unsafe lock order in culprit"),
    ("[ BUG: bad unlock balance detected! ]", Category::Lockdep, "bad_unlock_balance", "bad unlock balance in culprit"),
    ("WARNING: bad contention detected!", Category::Lockdep, "bad_contention", "bad contention in culprit"),
    ("[ BUG: held lock freed! ]", Category::Lockdep, "held_lock_freed", "held lock freed in culprit"),
    ("WARNING: lock held when returning to user space!", Category::Lockdep, "lock_held_returning_to_user", "lock held when returning to user space"),
    ("[ BUG: lock held at task exit time! ]", Category::Lockdep, "lock_held_at_exit", "lock held at task exit"),
    ("WARNING: kworker/0:1/27 still has locks held!", Category::Lockdep, "lock_held_at_exit", "lock held at task exit"),
    ("[ BUG: Nested lock was not taken ]", Category::Lockdep, "nested_lock_not_taken", "nested lock was not taken in culprit"),
    ("WARNING: suspicious RCU usage", Category::Lockdep, "suspicious_rcu_usage", "suspicious RCU usage in culprit"),
    ("[ INFO: suspicious rcu_dereference_check() usage. ]", Category::Lockdep, "suspicious_rcu_usage", "suspicious RCU usage in culprit"),
    ("[ BUG: Invalid wait context ]", Category::Lockdep, "invalid_wait_context", "invalid wait context in culprit"),
    ("INFO: trying to register non-static key.", Category::Lockdep, "non_static_key", "trying to register non-static key in culprit"),
    ("BUG: MAX_LOCKDEP_KEYS too low!", Category::Lockdep, "lockdep_limit", "BUG: MAX_LOCKDEP_KEYS too low!"),
    ("BUG: MAX_STACK_TRACE_ENTRIES too low!", Category::Lockdep, "lockdep_limit", "BUG: MAX_STACK_TRACE_ENTRIES too low!"),
    ("BUG: MAX_LOCKDEP_ENTRIES too low!", Category::Lockdep, "lockdep_limit", "BUG: MAX_LOCKDEP_ENTRIES too low!"),
    ("BUG: MAX_LOCKDEP_CHAINS too low!", Category::Lockdep, "lockdep_limit", "BUG: MAX_LOCKDEP_CHAINS too low!"),
    ("BUG: MAX_LOCKDEP_CHAIN_HLOCKS too low!", Category::Lockdep, "lockdep_limit", "BUG: MAX_LOCKDEP_CHAIN_HLOCKS too low!"),
    ("BUG: looking up invalid subclass: 8", Category::Lockdep, "lockdep_bug", "BUG: looking up invalid subclass in culprit"),
    ("BUG: key ffff888003c5a1e8 has not been registered!", Category::Lockdep, "lockdep_bug", "BUG: key ADDR has not been registered in culprit"),
    ("DEBUG_LOCKS_WARN_ON(1)", Category::Lockdep, "debug_locks_warn_on", "DEBUG_LOCKS_WARN_ON(1) in culprit"),
    // Warnings, every era.
    ("WARNING: CPU: 1 PID: 42 at mm/ksm.c:3011 ksm_memory_callback+0x12f/0x140", Category::Warning, "warn", "WARNING in ksm_memory_callback"),
    ("WARNING: CPU: 1 PID: 42 at mm/ksm.c:3011 ksm_memory_callback+0x12f/0x140 [ksm]", Category::Warning, "warn", "WARNING in ksm_memory_callback"),
    ("WARNING: CPU: 3 PID: 4410 at mm/ksm.c:1843 ksm_memory_callback+0x7b/0x90()", Category::Warning, "warn", "WARNING in ksm_memory_callback"),
    ("WARNING: at mm/ksm.c:1843 ksm_memory_callback+0x7b/0x90()", Category::Warning, "warn", "WARNING in ksm_memory_callback"),
    // A WARNING inside a skipped helper (softirq masking, refcount_t) blames the first kept frame.
    ("WARNING: at kernel/softirq.c:139 local_bh_enable()", Category::Warning, "warn", "WARNING in culprit"),
    ("WARNING: CPU: 0 PID: 1922 at lib/refcount.c:28 refcount_warn_saturate+0x108/0x148", Category::Warning, "warn", "WARNING in culprit"),
    ("WARNING: mm/ksm.c:3011 at ksm_memory_callback+0x12f/0x140, CPU#1: sh/42", Category::Warning, "warn", "WARNING in ksm_memory_callback"),
    ("BUG: warning at kernel/softirq.c:139/local_bh_enable()", Category::Warning, "warn", "WARNING in culprit"),
    // BUG: reports.
    ("BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580", Category::Bug, "sleeping_in_atomic", "BUG: sleeping function called from invalid context in culprit"),
    ("BUG: scheduling while atomic: swapper/0/0/0x00000002", Category::Bug, "scheduling_while_atomic", "BUG: scheduling while atomic in culprit"),
    ("BUG: spinlock lockup suspected on CPU#0, sh/42", Category::Bug, "spinlock_lockup", "BUG: spinlock lockup suspected in culprit"),
    ("BUG: spinlock recursion on CPU#1, sh/42", Category::Bug, "spinlock_bug", "BUG: spinlock recursion in culprit"),
    ("BUG: rwlock wrong owner on CPU#1, sh/42, ffff888003c5a1e8", Category::Bug, "spinlock_bug", "BUG: rwlock wrong owner in culprit"),
    ("BUG: Bad page state in process sh  pfn:10a3c4", Category::Bug, "bad_page_state", "BUG: Bad page state in culprit"),
    ("BUG: Bad page map in process sh  pte:8000000101a3c067 pmd:10b2e1067", Category::Bug, "bad_page_map", "BUG: Bad page map in culprit"),
    ("BUG: using smp_processor_id() in preemptible [00000000] code: sh/42", Category::Bug, "preemptible_context", "BUG: using smp_processor_id() in preemptible code in culprit"),
    ("BUG: using __this_cpu_read() in preemptible [00000000] code: sh/42", Category::Bug, "preemptible_context", "BUG: using __this_cpu_read() in preemptible code in culprit"),
    ("kernel BUG at mm/ksm.c:2215!", Category::Bug, "kernel_bug", "kernel BUG at mm/ksm.c in culprit"),
    ("BUG: failure at mm/ksm.c:2215/cmp_and_merge_page()!", Category::Bug, "kernel_bug", "kernel BUG at mm/ksm.c in culprit"),
    ("Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP", Category::Bug, "kernel_bug", "kernel BUG in culprit"),
    ("BUG: non-zero pgtables_bytes on freeing mm: 4096", Category::Bug, "bug", "BUG: non-zero pgtables_bytes on freeing mm: N in culprit"),
    // Faults and oopses of every architecture.
    ("BUG: kernel NULL pointer dereference, address: 0000000000000008", Category::Oops, "null_pointer", "BUG: kernel NULL pointer dereference in culprit"),
    ("BUG: unable to handle kernel NULL pointer dereference at 0000000000000008", Category::Oops, "null_pointer", "BUG: kernel NULL pointer dereference in culprit"),
    ("BUG: unable to handle kernel NULL pointer dereference at           (null)", Category::Oops, "null_pointer", "BUG: kernel NULL pointer dereference in culprit"),
    ("Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008", Category::Oops, "null_pointer", "BUG: kernel NULL pointer dereference in culprit"),
    ("BUG: unable to handle kernel paging request at ffff880000000010", Category::Oops, "paging_request", "BUG: unable to handle kernel paging request in culprit"),
    ("BUG: unable to handle page fault for address: ffffffffffffffe0", Category::Oops, "paging_request", "BUG: unable to handle kernel paging request in culprit"),
    ("Unable to handle kernel paging request at virtual address ffff800010a5b000", Category::Oops, "paging_request", "BUG: unable to handle kernel paging request in culprit"),
    ("Unable to handle kernel write to read-only memory at virtual address ffff800008a5b000", Category::Oops, "paging_request", "BUG: unable to handle kernel paging request in culprit"),
    ("Unable to handle kernel pointer dereference in virtual kernel address space", Category::Oops, "paging_request", "BUG: unable to handle kernel paging request in culprit"),
    ("BUG: Kernel NULL pointer dereference on read at 0x00000000", Category::Oops, "null_pointer", "BUG: kernel NULL pointer dereference in culprit"),
    ("BUG: Unable to handle kernel data access on write at 0xc00000000000ffff", Category::Oops, "paging_request", "BUG: unable to handle kernel paging request in culprit"),
    ("CPU 0 Unable to handle kernel paging request at virtual address 00000000, epc == 80123456, ra == 80123456", Category::Oops, "paging_request", "BUG: unable to handle kernel paging request in culprit"),
    ("SError Interrupt on CPU1, code 0x00000000bf000002 -- SError", Category::Oops, "serror", "SError Interrupt in culprit"),
    ("Bad mode in Synchronous Abort handler detected on CPU0, code 0x02000000 -- Unknown/Uncategorized", Category::Oops, "bad_mode", "Bad mode in Synchronous Abort handler in culprit"),
    ("Kernel BUG at mm/ksm.c:2215!", Category::Bug, "kernel_bug", "kernel BUG at mm/ksm.c in culprit"),
    ("Oops: 0000 [#1] SMP PTI", Category::Oops, "oops", "Oops in culprit"),
    ("Oops[#1]:", Category::Oops, "oops", "Oops in culprit"),
    ("Oops [#1]", Category::Oops, "oops", "Oops in culprit"),
    ("Oops: Kernel access of bad area, sig: 11 [#1]", Category::Oops, "oops", "Oops: Kernel access of bad area in culprit"),
    ("divide error: 0000 [#1] PREEMPT SMP NOPTI", Category::Oops, "oops", "Oops: divide error in culprit"),
    ("Oops: divide error: 0000 [#1] PREEMPT SMP NOPTI", Category::Oops, "oops", "Oops: divide error in culprit"),
    ("Internal error: Oops: 0000000096000004 [#1] PREEMPT SMP", Category::Oops, "internal_error", "Internal error: Oops in culprit"),
    ("Internal error: Oops: 17 [#1] ARM", Category::Oops, "internal_error", "Internal error: Oops in culprit"),
    ("Internal error: Oops - undefined instruction: 0 [#1] SMP ARM", Category::Oops, "internal_error", "Internal error: Oops - undefined instruction in culprit"),
    ("general protection fault: 0000 [#1] SMP", Category::Oops, "general_protection_fault", "general protection fault in culprit"),
    ("general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1] PREEMPT SMP KASAN", Category::Oops, "general_protection_fault", "general protection fault in culprit"),
    ("Oops: general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1] PREEMPT SMP KASAN NOPTI", Category::Oops, "general_protection_fault", "general protection fault in culprit"),
    ("invalid opcode: 0000 [#1] PREEMPT SMP NOPTI", Category::Oops, "invalid_opcode", "invalid opcode in culprit"),
    ("illegal operation: 0001 ilc:1 [#1] SMP", Category::Oops, "program_check", "illegal operation in culprit"),
    ("specification exception: 0006 ilc:2 [#1] SMP", Category::Oops, "program_check", "specification exception in culprit"),
    ("Low-address protection: 0004 ilc:3 [#1] SMP", Category::Oops, "program_check", "Low-address protection in culprit"),
    ("addressing exception: 0005 ilc:3 [#1] PREEMPT SMP", Category::Oops, "program_check", "addressing exception in culprit"),
    ("Oops: 0004 ilc:3 [#1] SMP", Category::Oops, "oops", "Oops in culprit"),
    ("Kernel stack overflow.", Category::Oops, "stack_overflow", "kernel stack overflow in culprit"),
    ("BUG: stack guard page was hit at 00000000b4a2c1d3 (stack is 00000000ab12cd34..00000000ef56ab78)", Category::Oops, "stack_overflow", "kernel stack overflow in culprit"),
    ("kernel stack overflow (double-fault): 0000 [#1] SMP", Category::Oops, "stack_overflow", "kernel stack overflow in culprit"),
    ("Insufficient stack space to handle exception!", Category::Oops, "stack_overflow", "kernel stack overflow in culprit"),
    ("Thread overran stack, or stack corrupted", Category::Oops, "stack_overflow", "kernel stack overflow in culprit"),
    // Panics.
    ("Kernel panic - not syncing: Fatal exception", Category::Panic, "kernel_panic", "Kernel panic - not syncing: Fatal exception"),
    ("Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b", Category::Panic, "kernel_panic", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"),
    ("Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu 1", Category::Panic, "kernel_panic", "Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu N"),
    ("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", Category::Panic, "kernel_panic", "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(N,N)"),
    // Hangs, stalls, lockups.
    ("INFO: task ksmd:61 blocked for more than 120 seconds.", Category::HungTask, "hung_task", "INFO: task hung in culprit"),
    ("INFO: task kworker/0:1:27 blocked for more than 143 seconds.", Category::HungTask, "hung_task", "INFO: task hung in culprit"),
    ("INFO: task sh:42 can't die for more than 120 seconds.", Category::HungTask, "hung_task", "INFO: task hung in culprit"),
    ("BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!", Category::HungTask, "workqueue_lockup", "BUG: workqueue lockup"),
    ("rcu: INFO: rcu_sched self-detected stall on CPU", Category::RcuStall, "rcu_stall", "INFO: rcu detected stall in culprit"),
    ("INFO: rcu_sched self-detected stall on CPU { 0}  (t=21000 jiffies g=1234 c=1233 q=56)", Category::RcuStall, "rcu_stall", "INFO: rcu detected stall in culprit"),
    ("INFO: rcu_preempt detected stalls on CPUs/tasks: { 1} (detected by 0, t=21002 jiffies)", Category::RcuStall, "rcu_stall", "INFO: rcu detected stall in culprit"),
    ("rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 0-... } 21002 jiffies s: 1234 root: 0x1/.", Category::RcuStall, "rcu_stall", "INFO: rcu detected stall in culprit"),
    ("INFO: rcu_sched_state detected stall on CPU 0 (t=2500 jiffies)", Category::RcuStall, "rcu_stall", "INFO: rcu detected stall in culprit"),
    ("INFO: RCU detected CPU 0 stall (t = 4295000000/2500 jiffies)", Category::RcuStall, "rcu_stall", "INFO: rcu detected stall in culprit"),
    ("watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [ksmd:61]", Category::SoftLockup, "soft_lockup", "BUG: soft lockup in culprit"),
    ("BUG: soft lockup - CPU#1 stuck for 22s! [ksmd:61]", Category::SoftLockup, "soft_lockup", "BUG: soft lockup in culprit"),
    ("NMI watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [ksmd:61]", Category::SoftLockup, "soft_lockup", "BUG: soft lockup in culprit"),
    ("NMI watchdog: Watchdog detected hard LOCKUP on cpu 1", Category::SoftLockup, "hard_lockup", "watchdog: hard LOCKUP in culprit"),
    // Sanitizers.
    ("BUG: KASAN: slab-out-of-bounds in ksm_fill+0x12/0x40", Category::Sanitizer, "kasan", "KASAN: slab-out-of-bounds in ksm_fill"),
    ("BUG: KASan: use after free in ksm_fill+0x12/0x40 at addr ffff880012345678", Category::Sanitizer, "kasan", "KASAN: use after free in ksm_fill"),
    ("BUG: KASAN: double-free or invalid-free in kfree+0x8c/0x230", Category::Sanitizer, "kasan", "KASAN: double-free or invalid-free in culprit"),
    ("BUG: KASAN: null-ptr-deref in ksm_fill+0x12/0x40", Category::Sanitizer, "kasan", "KASAN: null-ptr-deref in ksm_fill"),
    ("BUG: KFENCE: out-of-bounds read in ksm_fill+0x12/0x40", Category::Sanitizer, "kfence", "KFENCE: out-of-bounds read in ksm_fill"),
    ("BUG: KFENCE: invalid free in kfree+0x8c/0x230", Category::Sanitizer, "kfence", "KFENCE: invalid free in culprit"),
    ("BUG: KMSAN: kernel-infoleak in instrument_copy_to_user+0x12/0x40", Category::Sanitizer, "kmsan", "KMSAN: kernel-infoleak in instrument_copy_to_user"),
    ("BUG: KCSAN: data-race in ksm_do_scan+0x2a/0x250 / ksm_scan_thread+0xe1/0x250", Category::Sanitizer, "kcsan", "KCSAN: data-race in ksm_do_scan / ksm_scan_thread"),
    ("BUG: KCSAN: assert: race in ksm_check+0x1/0x2", Category::Sanitizer, "kcsan", "KCSAN: assert: race in ksm_check"),
    ("UBSAN: array-index-out-of-bounds in mm/ksm.c:612:23", Category::Sanitizer, "ubsan", "UBSAN: array-index-out-of-bounds in culprit"),
    ("UBSAN: Undefined behaviour in mm/ksm.c:612:23", Category::Sanitizer, "ubsan", "UBSAN: Undefined behaviour in culprit"),
    ("unreferenced object 0xffff88810a2b3e00 (size 64):", Category::Sanitizer, "kmemleak", "memory leak in culprit"),
    // OOM and log loss.
    ("Out of memory: Killed process 2401 (ksm-filler) total-vm:1051812kB, anon-rss:963208kB", Category::Oom, "oom_kill", "out of memory: killed process ksm-filler"),
    ("Out of memory: Kill process 2401 (ksm-filler) score 931 or sacrifice child", Category::Oom, "oom_kill", "out of memory: killed process ksm-filler"),
    ("Memory cgroup out of memory: Killed process 3402 (ksm-child) total-vm:8192kB", Category::Oom, "oom_kill", "out of memory: killed process ksm-child"),
    ("ksm-filler invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0", Category::Oom, "oom_kill", "out of memory"),
    ("** 12 printk messages dropped **", Category::LogLoss, "printk_dropped", "printk messages dropped"),
    ("systemd-journald[212]: Missed 17 kernel messages", Category::LogLoss, "kernel_messages_missed", "journald missed kernel messages"),
];

#[test]
fn every_header_classifies_and_titles() {
    let mut failures = Vec::new();
    for (header, category, kind, title) in CASES {
        let a = analyze_bytes(excerpt(header).as_bytes());
        let problems: Vec<_> = a.problems().collect();
        let ok = problems.len() == 1
            && problems[0].category == *category
            && problems[0].kind.as_str() == *kind
            && problems[0].title == *title;
        if !ok {
            let got: Vec<_> = problems.iter().map(|f| format!("{}/{}: {}", f.category, f.kind, f.title)).collect();
            failures.push(format!("{header}\n   want {category}/{kind}: {title}\n   got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

#[test]
fn every_header_starts_at_its_line_and_keeps_the_task() {
    for (header, _, kind, _) in CASES {
        let a = analyze_bytes(excerpt(header).as_bytes());
        let Some(f) = a.problems().next() else { continue };
        assert_eq!(f.first_line, 2, "{header}");
        assert!(f.last_line >= 2 && f.last_line <= 8, "{header}: last line {}", f.last_line);
        if !matches!(*kind, "oom_kill" | "printk_dropped" | "kernel_messages_missed" | "kernel_panic") {
            assert!(f.task.is_some() && f.pid.is_some(), "{header}: task {:?} pid {:?}", f.task, f.pid);
        }
    }
}

/// Ordinary lines that contain the words headers are made of.
#[test]
fn look_alikes_are_not_findings() {
    let benign = [
        "RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks, data leaks possible!",
        "Spectre V2 : WARNING: Unprivileged eBPF is enabled with eIBRS on, data leaks possible via Spectre v2 BHB attacks!",
        "ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PCI0.S08.S00], AE_NOT_FOUND (20220331/dswload2-162)",
        "[Firmware Bug]: TSC_DEADLINE disabled due to Errata; please update microcode to version: 0x3a (or later)",
        "... MAX_LOCKDEP_KEYS:        8192",
        "Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar",
        "Kernel command line: console=ttyS0 panic=-1 oops=panic softlockup_panic=1",
        "NMI watchdog: Enabled. Permanently consumes one hw-PMU counter.",
        "rcu: \tRCU lockdep checking is enabled.",
        "i8042: Warning: Keylock active",
        "INFO: NMI handler (perf_event_nmi_handler) took too long to run: 1.234 msecs",
        "kasan: KernelAddressSanitizer initialized",
        "Memory: 4013492K/4193784K available (14343K kernel code, 2331K rwdata)",
        "Good, all 261 testcases passed! |",
        "oom_reaper: reaped process 2401 (ksm-filler), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
        "printk: console [ttyS0] enabled",
        "BUGS: none",
        "WARNING: The mand mount option has been deprecated",
    ];
    let log: String = benign.iter().enumerate().map(|(i, l)| format!("[{:5}.000000] {l}\n", i)).collect();
    let a = analyze_bytes(log.as_bytes());
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
}
