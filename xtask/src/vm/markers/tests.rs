use super::*;

// Excerpt of a real s390x console (upstream kernel, cancel scenario).
const S390X: &str = "\
@@KSMH hello version=1 arch=s390x kernel=6.1.192 scenario=cancel mib=32 memory=movable
@@KSMH phase name=boot t=3.21
@@KSMH lockdep-stats when=boot debug_locks=1
@@KSMH ksm-sample t=5.02 pages_sharing=0 pages_shared=0 full_scans=0 run=1
@@KSMH ksm-sample t=6.03 pages_sharing=8132 pages_shared=60 full_scans=4 run=1
@@KSMH ksm when=merged run=1 pages_shared=60 pages_sharing=8132 pages_unshared=0 full_scans=4
@@KSMH block-usage when=before block=8 pages=6400 ksm=6400
@@KSMH block-usage when=before block=15 pages=1792 ksm=1792
@@KSMH targets blocks=8,15
@@KSMH lockdep-stats when=before-trigger debug_locks=1
@@KSMH phase name=cancel
@@KSMH offline block=8 result=fail reason=Cannot-allocate-memory state=online
@@KSMH cancel block=8 result=cancelled
[   21.000000] memory offlining [mem 0x80000000-0x8fffffff] failed due to notifier failure
@@KSMH offline block=8 result=ok state=offline
@@KSMH offline block=15 result=fail reason=Device-or-resource-busy state=online
@@KSMH ksmd-scans before=12 after=14
@@KSMH run-write result=ok
@@KSMH verify result=ok bytes=33554432 bad_bytes=0 bad_pages=0
@@KSMH workload-exit status=0
@@KSMH done result=complete
";

#[test]
fn summarizes_a_real_run() {
    let r = summarize(&parse(S390X));
    assert_eq!(r.protocol, Some(PROTOCOL));
    assert_eq!(r.merged().unwrap().pages_sharing, 8132);
    assert_eq!(r.targets, vec![8, 15]);
    assert_eq!(r.blocks_offlined(), vec![8]);
    assert_eq!(r.ksm_pages_migrated(), 6400);
    assert_eq!(r.cancelled.len(), 1);
    assert!(r.cancelled[0].ok);
    assert_eq!(r.offlined.iter().filter(|b| !b.ok).count(), 2);
    assert_eq!(r.ksmd_scans, Some((12, 14)));
    assert_eq!((r.run_write_ok, r.verify_ok, r.workload_exit), (Some(true), Some(true), Some(0)));
    assert_eq!(r.debug_locks.get("before-trigger"), Some(&1));
    assert_eq!(r.done.as_deref(), Some("complete"));
    assert_eq!(r.phase_starts[0], ("boot".to_string(), 3.21));
    assert_eq!(r.phases.len(), 2, "a phase without t= still counts");
    assert_eq!(
        r.ksm_samples.iter().map(|(t, k)| (*t, k.pages_sharing)).collect::<Vec<_>>(),
        vec![(5.02, 0), (6.03, 8132)]
    );
}

#[test]
fn trace_markers_become_typed_kernel_events() {
    // From a real s390x upstream console (the guest's dump of its kprobe events).
    let text = "\
@@KSMH evidence result=ok run_word=ksm_run must_call=none
@@KSMH probe name=tick result=ok
@@KSMH probe name=rust_ksm_memory_callback result=fail
@@KSMH trace t=17.759459 ev=cb pid=175 action=2 run=1 addr=4396570427392 seq=10
@@KSMH trace t=17.759615 ev=cbret pid=175 ret=1 run=5 addr=4396570427392 seq=10
@@KSMH trace t=17.801234 ev=tick pid=25 addr=4396570427392 seq=10
@@KSMH trace t=17.9 ev=runw pid=180
@@KSMH trace t=19.5 ev=runwret pid=180 ret=2
@@KSMH trace t=19.6 ev=rust_ksm_memory_callback pid=175
@@KSMH trace t=19.7 ev=cb pid=175 action=4
@@KSMH trace-end lost=190/190
";
    let r = summarize(&parse(text));
    assert_eq!(r.evidence.as_deref(), Some("ok"));
    assert_eq!(r.probes.get("tick"), Some(&true));
    assert_eq!(r.probes.get("rust_ksm_memory_callback"), Some(&false));
    assert_eq!(r.trace_entries, Some((190, 190)));
    let c = Cursor { addr: 4396570427392, seq: 10 };
    let kinds: Vec<&TraceKind> = r.trace.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            &TraceKind::Callback { action: 2, run: 1, cursor: c },
            &TraceKind::CallbackReturn { ret: 1, run: 5, cursor: c },
            &TraceKind::Tick { cursor: c },
            &TraceKind::RunStore,
            &TraceKind::RunStoreReturn { ret: 2 },
            &TraceKind::Call { function: "rust_ksm_memory_callback".into() },
        ],
        "the callback entry without run word and cursor is dropped, not guessed"
    );
    assert_eq!((r.trace[0].pid, r.trace[0].t), (175, 17.759459));
}

#[test]
fn a_marker_interleaved_with_kernel_output_is_still_read() {
    let m = parse_line("[   40.1] ksm: foo@@KSMH verify result=fail bytes=10 bad_bytes=3", 7).unwrap();
    assert_eq!((m.event, m.num("bad_bytes"), m.line), (Event::Verify, Some(3), 7));
    assert!(parse_line("@@KSMH", 1).is_none());
    assert!(parse_line("no marker here", 1).is_none());
    assert!(parse_line("@@KSMH $(bad) x=1", 1).is_none());
}

#[test]
fn selftest_cases_keep_their_output_lines_whole_and_their_exit() {
    let text = "\
@@KSMH phase name=selftests t=4.10
@@KSMH selftest case=ksm_tests-merge event=begin t=4.11
@@KSMH selftest-out case=ksm_tests-merge text=ok 1 Pages were unmerged  (two spaces)
@@KSMH selftest case=ksm_tests-merge event=running t=4.90
[    5.000000] some kernel line@@KSMH selftest-out case=ksm_tests-merge text=# SKIP no NUMA: x=1
@@KSMH selftest case=ksm_tests-merge event=end exit=4 t=5.50
@@KSMH selftest case=mem-on-off event=begin t=5.51
@@KSMH selftest-out case=mem-on-off text=
@@KSMH selftest case=mem-on-off event=running t=35.51
";
    let r = summarize(&parse(text));
    assert_eq!(r.selftests.len(), 2);
    let a = &r.selftests[0];
    assert_eq!(a.case, "ksm_tests-merge");
    assert_eq!(a.output, vec!["ok 1 Pages were unmerged  (two spaces)", "# SKIP no NUMA: x=1"]);
    assert_eq!((a.started, a.ended, a.exit), (Some(4.11), Some(5.5), Some(4)));
    // Begun, never ended (its heartbeat is no end): the cell's timeout cut it.
    assert_eq!((r.selftests[1].exit, r.selftests[1].ended, r.selftests[1].output.len()), (None, None, 1));
}

#[test]
fn every_parameter_the_host_sets_is_one_the_guest_reads() {
    let init = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../images/init")).unwrap();
    let must_call = ["a".to_string(), "b".to_string()];
    let p = GuestParams {
        scenario: "soak",
        mib: 16,
        memory: "hotplug",
        evidence: true,
        run_word: "ksm_run",
        must_call: &must_call,
        fault: Some("flood"),
        selftests: true,
        cycles: Some(3),
    };
    let line = p.cmdline();
    assert!(line.contains(&format!("ksmh.dimm_mib={}", crate::arch::DIMM_MIB)), "{line}");
    assert!(line.contains("ksmh.must_call=a,b"), "{line}");
    for word in line.split(' ') {
        let key = word.strip_prefix("ksmh.").and_then(|w| w.split_once('=')).map(|(k, _)| k);
        let key = key.unwrap_or_else(|| panic!("not a ksmh.KEY=VALUE word: {word}"));
        let read = regex::Regex::new(&format!(r"(?m)^param [A-Z_]+ {key} ")).unwrap();
        assert!(read.is_match(&init), "images/init never reads ksmh.{key}");
    }
    let movable = GuestParams { memory: "movable", ..p };
    assert!(!movable.cmdline().contains("dimm_mib"));
}
