use super::*;

/// One real function name per row, in the table's order (from the fixture corpus, the real
/// s390x/arm64 consoles and the 6.1 tree): every row matches something real, and matches it
/// first (no row is shadowed by an earlier one of another family).
#[rustfmt::skip]
const ONE_PER_ROW: &[&str] = &[
    "lock_acquire", "lock_map_acquire_read", "_raw_spin_lock_irqsave", "raw_spin_rq_lock_nested",
    "native_queued_spin_lock_slowpath", "arch_spin_lock", "spin_unlock_wait", "write_unlock_irq",
    "mutex_lock_nested", "rt_spin_lock", "osq_lock", "down_read", "up_read", "downgrade_write",
    "rwsem_down_read_slowpath", "percpu_down_write", "cpus_read_lock", "lock_sock_nested", "_atomic_dec_and_lock",
    "__folio_lock", "rcu_read_lock", "__local_bh_enable_ip",
    "refcount_warn_saturate", "kref_put", "folio_put", "kmalloc_trace", "__vmalloc_node_range", "kfree",
    "kmem_cache_alloc_trace", "___slab_alloc", "__alloc_pages", "free_pages_prepare", "fs_reclaim_acquire",
    "iput",
    "dump_stack_lvl", "print_circular_bug", "__warn", "brk_handler", "__die", "__lock_acquire",
    "lockdep_hardirqs_on_prepare", "check_noncircular", "validate_chain", "trace_hardirqs_on",
    "debug_show_all_locks", "check_preemption_disabled", "__might_resched", "arch_stack_walk",
    "kasan_report", "__ubsan_handle_shift_out_of_bounds", "check_heap_object", "debug_object_assert_init",
    "rcu_dump_cpu_stacks", "arch_trigger_cpumask_backtrace", "bad_page", "__pfx_down_read",
    "blocking_notifier_call_chain", "blocking_notifier_chain_register", "memory_notify",
    "call_netdevice_notifiers_info",
    "__flush_work", "del_timer_sync", "kobject_uevent_env",
    "__schedule", "wait_for_completion_timeout", "complete",
    "__memcpy", "_copy_from_user", "__list_add_valid", "atomic_inc", "vsnprintf",
    "entry_SYSCALL_64_after_hwframe", "gic_handle_irq", "el0t_64_sync_handler", "sys_write", "pgm_check_handler",
    "do_mem_abort", "__do_softirq", "hrtimer_interrupt",
    "kthread", "do_idle", "start_kernel",
];

#[test]
fn every_row_matches_its_own_real_example_first() {
    assert_eq!(ONE_PER_ROW.len(), SKIP.len(), "one example per row");
    for (i, (row, ex)) in SKIP.iter().zip(ONE_PER_ROW).enumerate() {
        let first = set().matches(ex).into_iter().next();
        assert_eq!(first, Some(i), "{ex:?} should match row {i} `{}` first", row.pattern);
        assert!(!row.why.is_empty(), "row {i} says why");
    }
}

#[test]
fn only_the_syscall_is_a_last_resort() {
    assert!(is_last_resort("sys_rt_sigreturn") && is_last_resort("sys_ioctl"));
    for f in ["do_syscall_64", "syscall_exit_to_user_mode", "mutex_lock", "ksm_memory_callback"] {
        assert!(!is_last_resort(f), "{f}");
    }
}

#[test]
fn families_of_real_frames() {
    #[rustfmt::skip]
    let cases: &[(&str, Family)] = &[
        // The brief's four families, as real traces print them.
        ("__mutex_lock", Lock), ("mutex_lock_nested", Lock), ("down_write_killable", Lock),
        ("_raw_spin_lock", Lock), ("do_raw_spin_lock", Lock), ("lock_release", Lock), ("down", Lock), ("up", Lock),
        ("refcount_dec_and_test", Alloc), ("__refcount_sub_and_test", Alloc), ("kmem_cache_alloc_noprof", Alloc),
        ("__kmalloc_node_track_caller_noprof", Alloc), ("__alloc_pages_slowpath", Alloc), ("kzalloc", Alloc),
        ("lockdep_init_map_type", Debug), ("check_prev_add", Debug), ("report_bug", Debug),
        ("warn_slowpath_fmt", Debug), ("__asan_report_store1_noabort", Debug), ("show_stack", Debug),
        ("dump_backtrace", Debug), ("lock_is_held_type", Debug),
        ("notifier_call_chain", Notifier), ("__blocking_notifier_call_chain", Notifier),
        ("raw_notifier_call_chain", Notifier), ("atomic_notifier_call_chain", Notifier),
        ("srcu_notifier_call_chain", Notifier), ("node_notify", Notifier),
        // The rest.
        ("preempt_schedule_irq", Sched), ("memset", Lib), ("sys_write", Entry), ("ext_int_handler", Entry),
        ("worker_thread", Thread),
        // From syzkaller's list, seen in its corpus.
        ("lock_downgrade", Lock), ("release_sock", Lock), ("hlock_class", Debug), ("iput", Alloc),
        ("flush_workqueue", Work), ("cancel_work_sync", Work), ("queue_work_on", Work), ("invalid_op", Entry),
        ("test_and_set_bit", Lib), ("device_del", Device), ("dev_err", Debug), ("__mod_timer", Work),
    ];
    for (f, fam) in cases {
        assert_eq!(family(f), Some(*fam), "{f}");
    }
}

/// Culprits (from the fixtures) whose names look like a skipped primitive's.
#[test]
fn culprits_that_look_like_primitives_are_kept() {
    for f in [
        "ksm_memory_callback",
        "offline_pages",
        "kmalloc_oob_right",
        "kmalloc_tests_init",
        "memcmp_pages",
        "downgrade",
        "kthread_data",
        "upgrade_lock",
        "kmem_cache_destroy",
        "qos_min_notifier_call",
        "cryptomgr_notify",
        "switchdev_port_attr_notify",
        "v3d_submit_cl_ioctl",
        "setup_per_zone_wmarks",
        "lock_device_hotplug_sysfs",
        "sysfs_kf_write",
        "perf_event_ctx_lock_nested",
        "peer_remove_after_dead",
        "input_event",
    ] {
        assert!(!is_skipped(f), "{f} is blamed, not skipped (family {:?})", family(f));
        assert_eq!(family(f), None, "{f}");
    }
}

/// Each `skip-FAMILY-*.log` of the fixture corpus (real logs) is about a family: its report
/// names a function of that family, and its title blames a function no row skips. The titles
/// themselves are pinned by the fixtures' `expect.json`.
#[test]
fn every_family_of_the_brief_has_a_real_fixture() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/console");
    let mut covered = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(fam) = name.strip_prefix("skip-").and_then(|r| r.split('-').next()) else { continue };
        if !name.ends_with(".log") {
            continue;
        }
        let fam = match fam {
            "lock" => Lock,
            "alloc" | "refcount" => Alloc,
            "debug" => Debug,
            "notifier" => Notifier,
            other => panic!("{name}: unknown family {other}"),
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let f = crate::console::analyze_bytes(text.as_bytes()).problems().next().cloned().expect(&name);
        let blamed = f.title.rsplit_once(" in ").map(|(_, b)| b.to_string()).expect(&name);
        assert!(!is_skipped(&blamed), "{name}: blames {blamed}, a skipped function");
        let report: Vec<&str> =
            text.lines().skip(f.first_line as usize - 1).take((f.last_line - f.first_line + 1) as usize).collect();
        let named = report
            .iter()
            .flat_map(|l| l.split(|c: char| !c.is_alphanumeric() && c != '_' && c != '.' && c != '+'))
            .filter_map(|w| w.split_once("+0x").map(|(f, _)| crate::console::frames::normalize_symbol(f)))
            .any(|func| family(&func) == Some(fam));
        assert!(named, "{name}: no {fam:?} function in the report");
        covered.push(fam);
    }
    for fam in [Lock, Alloc, Debug, Notifier] {
        assert!(covered.contains(&fam), "no skip-{fam:?} fixture");
    }
}
