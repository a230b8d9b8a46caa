use super::*;
use crate::matrix::{SelftestsDef, VariantSelftests};

fn plan() -> SelftestPlan {
    let def: SelftestsDef = serde_yaml::from_str(
        "programs:\n  ksm_tests: {dirs: [mm, vm]}\n  ksm_functional_tests: {dirs: [mm]}\n  mem-on-off-test.sh: {dirs: [memory-hotplug]}\n\
         cases:\n\
         - {name: ksm_tests-merge, run: [ksm_tests, -M, -p, '10']}\n\
         - {name: ksm_tests-numa-1, run: [ksm_tests, -N, -m, '1'], flaky: by design}\n\
         - {name: ksm_functional_tests, run: [ksm_functional_tests], output: tap}\n\
         - {name: mem-on-off, run: [mem-on-off-test.sh, -r, '0'], fail_if: unexpected, skip_if: '^skip '}\n",
    )
    .unwrap();
    let vs = VariantSelftests {
        must_pass: vec!["ksm_tests-merge".into(), "ksm_functional_tests".into(), "mem-on-off".into()],
        same_as: None,
    };
    SelftestPlan::of(&def, Some(&vs), crate::matrix::Scenario::Selftests).unwrap()
}

fn run(case: &str, exit: Option<i64>, out: &str) -> SelftestRun {
    SelftestRun {
        case: case.into(),
        started: Some(10.0),
        ended: exit.map(|_| 12.5),
        exit,
        output: out.lines().map(str::to_string).collect(),
    }
}

// The output of ksm_functional_tests as kselftest.h prints it (6.12), one test failing.
const TAP: &str = "\
TAP version 13
1..4
# [RUN] test_unmerge
ok 1 Pages were unmerged
# [RUN] test_unmerge_zero_pages
ok 2 # SKIP open(\"/proc/self/ksm_stat\") failed
# [RUN] test_unmerge_discarded
not ok 3 Pages were unmerged
# [RUN] test_prctl
ok 4 Setting/clearing PR_SET_MEMORY_MERGE works
# Totals: pass:2 fail:1 xfail:0 xpass:0 skip:1 error:0";

#[test]
fn exit_status_cases_read_as_kselftest_reads_them() {
    let p = plan();
    let runs = vec![
        run("ksm_tests-merge", Some(0), "OK"),
        run("ksm_tests-numa-1", Some(4), "# NUMA support not enabled\n"),
        run("ksm_functional_tests", Some(1), TAP),
        run("mem-on-off", Some(0), "Test scope: 0% hotplug memory\noffline_memory_expect_fail 8: unexpected success\n"),
    ];
    let r = results(&p, &runs, &BTreeMap::new());
    let by = |n: &str| r.iter().find(|x| x.name == n).unwrap_or_else(|| panic!("{n} in {r:?}"));
    assert_eq!((by("ksm_tests-merge").status, by("ksm_tests-merge").seconds), (Status::Ok, Some(2.5)));
    assert_eq!(by("ksm_tests-numa-1").status, Status::Skip);
    assert_eq!(by("ksm_tests-numa-1").flaky.as_deref(), Some("by design"));
    assert_eq!(by("ksm_tests-merge").flaky, None);
    assert_eq!(by("ksm_tests-numa-1").detail, "# NUMA support not enabled");
    // A script that reports failures only in text fails on that text, whatever its exit.
    assert_eq!(by("mem-on-off").status, Status::NotOk);
    assert!(by("mem-on-off").detail.contains("8: unexpected success"));
    assert_eq!(by("ksm_functional_tests/1").status, Status::Ok);
    assert_eq!(by("ksm_functional_tests/1").detail, "test_unmerge: Pages were unmerged");
    assert_eq!(by("ksm_functional_tests/2").status, Status::Skip);
    assert!(by("ksm_functional_tests/2").detail.contains("ksm_stat"), "{:?}", by("ksm_functional_tests/2"));
    assert_eq!(by("ksm_functional_tests/3").status, Status::NotOk);
    assert_eq!(by("ksm_functional_tests/3").detail, "test_unmerge_discarded: Pages were unmerged");
    // The failing line explains the exit status: no extra result for the program itself.
    assert!(!r.iter().any(|x| x.name == "ksm_functional_tests"));
    assert_eq!(counts(&r), "3 ok, 2 not ok, 2 skip");
}

#[test]
fn skip_lines_and_missing_programs_are_skips_never_passes() {
    let p = plan();
    let mut absent = BTreeMap::new();
    absent.insert("ksm_functional_tests".to_string(), "not in this tree (tools/testing/selftests/{mm})".to_string());
    let runs = vec![
        run("ksm_tests-merge", Some(0), ""),
        run("ksm_tests-numa-1", Some(4), ""),
        run("mem-on-off", Some(0), "skip all tests: no hot-pluggable memory"),
    ];
    let r = results(&p, &runs, &absent);
    assert_eq!(r[2].name, "ksm_functional_tests");
    assert_eq!(r[2].status, Status::Skip);
    assert!(r[2].detail.contains("not in this tree"));
    // A program the tree lacks is shown as a skip, but must_pass (named for the newest tree)
    // does not reach it; a skip of a program that is there is no pass.
    assert_eq!(
        must_pass_failures(&p, &r),
        (2, vec!["mem-on-off skip (skip all tests: no hot-pluggable memory)".to_string()])
    );
    let present = results(
        &p,
        &[run("ksm_tests-merge", Some(0), ""), run("ksm_functional_tests", Some(1), "Bail out!")],
        &BTreeMap::new(),
    );
    assert_eq!(
        must_pass_failures(&p, &present).1,
        vec!["ksm_functional_tests not ok (exit 1: Bail out!)", "mem-on-off not run (the guest did not run it)"]
    );
    assert_eq!((r[3].status, r[3].detail.as_str()), (Status::Skip, "skip all tests: no hot-pluggable memory"));
    let r = results(&p, &[run("mem-on-off", Some(1), "\t\t FAILED - unable to offline some memory blocks")], &absent);
    assert_eq!(
        (r[3].status, r[3].detail.as_str()),
        (Status::NotOk, "exit 1: FAILED - unable to offline some memory blocks")
    );
}

#[test]
fn a_hung_case_is_a_timeout_by_name_and_the_rest_did_not_run() {
    let p = plan();
    let runs = vec![run("ksm_tests-merge", Some(0), ""), run("ksm_tests-numa-1", None, "waiting\n")];
    let r = results(&p, &runs, &BTreeMap::new());
    assert_eq!(r[1].status, Status::Timeout);
    assert!(r[1].detail.contains("waiting"));
    assert_eq!(r[2].status, Status::NotRun);
    assert_eq!(r[2].detail, "not started: ksm_tests-numa-1 did not finish");
}

#[test]
fn lines_a_forked_child_prints_again_count_once_and_the_plan_still_counts() {
    // 6.12's ksm_functional_tests on a kernel that does not unmerge (the real output).
    let out = "TAP version 13\n1..9\n# [RUN] test_prctl_fork_exec\n# [RUN] test_prctl_unmerge\n# Still pages merged\n\
               not ok 8 Merging memory failedBail out! 1 out of 8 tests failed\n# Planned tests != run tests (9 != 8)\n\
               # [RUN] test_prctl_unmerge\n# Still pages merged\n\
               not ok 8 Merging memory failedBail out! 1 out of 8 tests failed\n";
    let r = results(&plan(), &[run("ksm_functional_tests", Some(1), out)], &BTreeMap::new());
    let names: Vec<&str> = r.iter().map(|x| x.name.as_str()).filter(|n| n.starts_with("ksm_functional")).collect();
    assert_eq!(names, vec!["ksm_functional_tests/8", "ksm_functional_tests"]);
    assert!(r.iter().any(|x| x.name == "ksm_functional_tests" && x.detail.starts_with("planned 9 tests, reported 1")));
}

#[test]
fn a_tap_program_that_dies_early_fails_by_its_plan() {
    let p = plan();
    let died = "TAP version 13\n1..4\n# [RUN] test_unmerge\nok 1 Pages were unmerged\n";
    let r = results(&p, &[run("ksm_functional_tests", Some(139), died)], &BTreeMap::new());
    let whole = r.iter().find(|x| x.name == "ksm_functional_tests").unwrap();
    assert_eq!(whole.status, Status::NotOk);
    assert_eq!(whole.detail, "planned 4 tests, reported 1; exit 139");
    let skipped_all = "TAP version 13\n1..0 # SKIP open(\"/sys/kernel/mm/ksm/run\") failed\n";
    let r = results(&p, &[run("ksm_functional_tests", Some(4), skipped_all)], &BTreeMap::new());
    assert_eq!(r.iter().find(|x| x.name == "ksm_functional_tests").unwrap().status, Status::Skip);
}

#[test]
fn differences_name_each_case_that_differs() {
    let ours = vec![result("a", Status::Ok, "", None), result("b", Status::Skip, "no NUMA", None)];
    let theirs =
        vec![result("a", Status::NotOk, "Still pages merged", None), result("b", Status::Skip, "no NUMA", None)];
    assert_eq!(
        differences(&ours, &theirs, "upstream", "rust"),
        vec!["a: upstream ok, rust not ok (Still pages merged)"]
    );
    assert!(differences(&ours, &ours, "upstream", "rust").is_empty());
    let fewer = vec![ours[0].clone()];
    assert_eq!(differences(&ours, &fewer, "upstream", "rust"), vec!["b: upstream skip, rust absent"]);
    // A flaky case differs by chance: never a difference.
    let mut flaky = theirs.clone();
    flaky[0].flaky = Some("races ksmd".into());
    let mut ours_flaky = ours.clone();
    ours_flaky[0].flaky = Some("races ksmd".into());
    assert!(differences(&ours_flaky, &flaky, "upstream", "rust").is_empty());
}
