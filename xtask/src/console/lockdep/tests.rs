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
