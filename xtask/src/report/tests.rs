use super::*;
use crate::arch::Arch;
use crate::matrix::Scenario;
use crate::verdict::{Check, HostFacts, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus};

fn cell(dir: &Path, arch: Arch, variant: &str, scenario: Scenario, outcome: Outcome, console: &str) -> CellResult {
    let id = CellId { kernel: None, arch, variant: variant.into(), scenario };
    let d = dir.join(id.to_string());
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("console.log"), console).unwrap();
    CellResult {
        id,
        expectation: crate::matrix::Expectation::Clean,
        verdict: Verdict {
            outcome,
            reason: "r".into(),
            checks: vec![Check { name: "x".into(), ok: true, detail: String::new(), skipped: false }],
        },
        findings: crate::console::analyze_bytes(console.as_bytes()),
        guest: crate::vm::markers::summarize(&crate::vm::markers::parse(console)),
        lockout: None,
        host: HostFacts::default(),
        stages: vec![("boot".into(), 1.5)],
        kernel_rebuilt: Some(false),
        decoded: None,
        selftests: None,
        dir: d,
    }
}

#[test]
fn junit_has_a_testcase_per_cell_and_the_splat_as_failure_text() {
    let dir = std::env::temp_dir().join(format!("ksmh-report-{}", std::process::id()));
    let splat = std::fs::read_to_string(
        crate::paths::repo_root().join("xtask/tests/fixtures/runs/6.1-s390x-prefix-cancel.console.log"),
    )
    .unwrap();
    let clean = std::fs::read_to_string(
        crate::paths::repo_root().join("xtask/tests/fixtures/runs/6.1-arm64-upstream-offline.console.log"),
    )
    .unwrap();
    let r = Results {
        schema: SCHEMA,
        started: "a".into(),
        finished: "b".into(),
        interrupted: false,
        in_progress: false,
        outcome: Outcome::Fail,
        not_run: vec![],
        cells: vec![
            cell(&dir, Arch::S390x, "upstream", Scenario::Cancel, Outcome::Fail, &splat),
            cell(&dir, Arch::Arm64, "upstream", Scenario::Offline, Outcome::Pass, &clean),
        ],
        plan: None,
        missing: vec![],
    };
    write(&dir, &r).unwrap();
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let parsed = Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(parsed.tests, 2);
    assert_eq!(parsed.failures, 1);
    let cases: Vec<&TestCase> = parsed.test_suites.iter().flat_map(|s| s.test_cases.iter()).collect();
    let failed = cases.iter().find(|c| c.classname.as_deref() == Some("s390x.upstream")).unwrap();
    match &failed.status {
        TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, description, .. } => {
            let d = description.as_ref().unwrap().to_string();
            assert!(
                d.contains("WARNING: possible circular locking dependency detected")
                    && d.contains("(memory_chain).rwsem"),
                "{d}"
            );
        }
        s => panic!("{s:?}"),
    }
    assert!(cases.iter().any(
        |c| c.classname.as_deref() == Some("arm64.upstream") && matches!(c.status, TestCaseStatus::Success { .. })
    ));
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("ksm_thread_mutex/1 -> (memory_chain).rwsem") && md.contains("| arm64-upstream-offline | PASS |")
    );
    let back: Results = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    // The cell's id is written as before: the text, then its parts.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    let first = &json["cells"][0];
    assert_eq!(
        (&first["id"], &first["arch"], &first["variant"], &first["scenario"]),
        (&"s390x-upstream-cancel".into(), &"s390x".into(), &"upstream".into(), &"cancel".into())
    );
    assert_eq!(back.cells[0].id, r.cells[0].id);
    assert_eq!(back.cells.len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Shards written on one machine, moved elsewhere, merge there; a shard that never arrived is
/// named cell by cell; shards of different plans are refused.
#[test]
fn shards_merge_wherever_they_are_and_a_missing_one_is_named() {
    let root = std::env::temp_dir().join(format!("ksmh-merge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let clean = std::fs::read_to_string(
        crate::paths::repo_root().join("xtask/tests/fixtures/runs/6.1-arm64-upstream-offline.console.log"),
    )
    .unwrap();
    let ids = ["arm64-upstream-offline", "arm64-upstream-cancel", "arm64-prefix-offline", "arm64-prefix-cancel"];
    let plan = |part: &str| Plan {
        cells: ids.iter().map(|s| s.to_string()).collect(),
        part: part.into(),
        matrix_sha256: "m".into(),
        commit: "c".into(),
    };
    let shard = |i: usize, cells: Vec<CellResult>| {
        let here = root.join(format!("machine-{i}"));
        let r = Results {
            schema: SCHEMA,
            started: "a".into(),
            finished: "b".into(),
            interrupted: false,
            in_progress: false,
            outcome: Outcome::Pass,
            not_run: vec![],
            cells,
            plan: Some(plan(&format!("shard {i}/2"))),
            missing: vec![],
        };
        // Each shard resolved only its own kernel.
        let meta = serde_json::json!({"kernels": [{"name": null, "version": format!("6.{i}.0"), "origin": format!("shard {i}'s")}]});
        std::fs::write(here.join("metadata.json"), meta.to_string()).unwrap();
        write(&here, &r).unwrap();
        here
    };
    let d1 = root.join("machine-1");
    let d2 = root.join("machine-2");
    let s1 = shard(
        1,
        vec![
            cell(&d1, Arch::Arm64, "upstream", Scenario::Offline, Outcome::Pass, &clean),
            cell(&d1, Arch::Arm64, "upstream", Scenario::Cancel, Outcome::Pass, &clean),
        ],
    );
    let s2 = shard(
        2,
        vec![
            cell(&d2, Arch::Arm64, "prefix", Scenario::Offline, Outcome::Pass, &clean),
            cell(&d2, Arch::Arm64, "prefix", Scenario::Cancel, Outcome::Pass, &clean),
        ],
    );
    // results.json holds no path of the machine that wrote it.
    assert!(!std::fs::read_to_string(s1.join("results.json")).unwrap().contains(&root.display().to_string()));
    let away = root.join("downloads");
    std::fs::create_dir_all(&away).unwrap();
    let (m1, m2) = (away.join("s1"), away.join("s2"));
    std::fs::rename(&s1, &m1).unwrap();
    std::fs::rename(&s2, &m2).unwrap();
    // A --debug-info cell's vmlinux.
    std::fs::write(m1.join("arm64-upstream-offline/vmlinux"), b"\x7fELF").unwrap();
    // Given in reverse order: the merge still comes out in plan order.
    let all = merge(&root.join("merged"), &[m2.clone(), m1.clone()], None).unwrap();
    assert_eq!(all.cells.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(), ids);
    assert_eq!((all.outcome, all.missing.len()), (Outcome::Pass, 0));
    // The merged header names the kernels of every shard, not only the first's.
    let md = std::fs::read_to_string(root.join("merged/summary.md")).unwrap();
    assert!(md.contains("kernels:\n- 6.2.0 — shard 2's\n- 6.1.0 — shard 1's\n"), "{md}");
    assert!(root.join("merged/arm64-prefix-cancel/console.log").exists());
    {
        use std::os::unix::fs::MetadataExt as _;
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&root.join("merged/arm64-upstream-offline/vmlinux")),
            ino(&m1.join("arm64-upstream-offline/vmlinux")),
            "the vmlinux is linked, not copied"
        );
        assert_ne!(
            ino(&root.join("merged/arm64-upstream-offline/console.log")),
            ino(&m1.join("arm64-upstream-offline/console.log"))
        );
    }
    let part = merge(&root.join("part"), std::slice::from_ref(&m1), None).unwrap();
    assert_eq!(part.outcome, Outcome::Error);
    assert_eq!(
        part.missing,
        vec!["arm64-prefix-offline: no result from shard 2/2", "arm64-prefix-cancel: no result from shard 2/2"]
    );
    assert_eq!(part.not_run, vec!["arm64-prefix-offline", "arm64-prefix-cancel"]);
    // Merged against a baseline (here the partial merge): summary.md and index.html say what changed.
    let vs = merge(&root.join("vs"), &[m1.clone(), m2.clone()], Some(("last night", &part))).unwrap();
    assert_eq!(vs.outcome, Outcome::Pass);
    let md = std::fs::read_to_string(root.join("vs/summary.md")).unwrap();
    assert!(md.contains("## Compared with the baseline\n\nOLD: last night — ERROR, 2 cells"), "{md}");
    assert!(md.contains("| arm64-prefix-cancel | only in NEW | - → PASS |"), "{md}");
    let html = std::fs::read_to_string(root.join("vs/index.html")).unwrap();
    assert!(html.contains(r#"<table id="compare">"#) && html.contains("nothing got worse"), "{html}");
    assert!(!std::fs::read_to_string(root.join("merged/index.html")).unwrap().contains("Compared with"));
    // A shard of another plan (another matrix) is refused, naming both folders.
    let mut other: Results = serde_json::from_slice(&std::fs::read(m2.join("results.json")).unwrap()).unwrap();
    other.plan.as_mut().unwrap().matrix_sha256 = "other".into();
    std::fs::write(m2.join("results.json"), serde_json::to_vec(&other).unwrap()).unwrap();
    let e = merge(&root.join("mixed"), &[m1.clone(), m2.clone()], None).unwrap_err().to_string();
    assert!(e.contains("different plans") && e.contains("s1") && e.contains("s2"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn reproduce_sh_makes_an_ad_hoc_cell_again() {
    use crate::matrix::{AdHoc, Cell, Expectation, Scenario, Variant};
    let v = Variant {
        name: "upstream+patch".into(),
        adhoc: Some(AdHoc { base: Some("upstream".into()), patches: vec!["/tmp/my fix.patch".into()] }),
        ..Variant::default()
    };
    let cell = Cell {
        kernel: crate::matrix::Kernel { name: Some("6.12".into()), source: "debian:linux-source-6.12".into() },
        arch: crate::arch::Arch::S390x,
        variant: v,
        scenario: Scenario::Cancel,
        expectation: Expectation::Splat { locks: vec![] },
        timeout: 77,
        mib: 16,
        selftests: None,
        cycles: None,
    };
    let w = metadata::reproduce_words(&cell, &["--results-dir".into(), "/r".into()]).join(" ");
    assert_eq!(
        w,
        "cargo xtask run --arch s390x --kernel 6.12 --variant upstream --patch /tmp/my fix.patch --scenario cancel --mib 16 \
         --expect splat --timeout 77 --results-dir /r"
    );
}

/// The report header's kernels: every one metadata.json names, older folders' single
/// `kernel_source`, and a kernel a cell ran that the metadata does not name.
#[test]
fn every_kernel_of_the_run_is_named_with_its_source() {
    use serde_json::json;
    let two = json!({"kernels": [
        {"name": "6.1", "version": "6.1.192", "origin": "Debian linux-source-6.1"},
        {"name": "6.12", "version": "6.12.95", "origin": "Debian linux-source-6.12"},
    ]});
    let old = json!({"kernel_source": {"version": "6.1.192", "origin": "Debian linux-source-6.1"}});
    let unresolved = json!({"kernel_source": null});
    let both = ["6.1-s390x-upstream-offline", "6.12-arm64-rust-cancel"];
    /// What, metadata.json, the cells' ids, the header's lines.
    type Case<'a> = (&'a str, Option<&'a serde_json::Value>, &'a [&'a str], &'a [&'a str]);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("two kernels, both named", Some(&two), &both, &[
            "6.1: 6.1.192 — Debian linux-source-6.1", "6.12: 6.12.95 — Debian linux-source-6.12"]),
        ("an older folder: its one source is the kernel of its series", Some(&old), &both, &[
            "6.1: 6.1.192 — Debian linux-source-6.1", "6.12: source not recorded in metadata.json"]),
        ("a single-kernel matrix has no names", Some(&old), &["s390x-upstream-offline"], &[
            "6.1.192 — Debian linux-source-6.1"]),
        ("killed before resolving", Some(&unresolved), &["6.1-s390x-upstream-offline"], &[
            "6.1: source not recorded in metadata.json"]),
        ("no metadata.json", None, &[], &[]),
    ];
    for (what, meta, ids, want) in cases {
        let r = crate::report::html::grid::tests::results(ids, &[], false);
        let got: Vec<String> = kernels_of(*meta, &r).iter().map(|k| k.to_string()).collect();
        assert_eq!(got, *want, "{what}");
    }
    // A merged folder's metadata: the first shard's, with the kernels of all, each once.
    let shard = |v: &str| json!({"git": {"revision": v}, "kernels": [{"name": v, "version": v}]});
    let m = metadata::merged(&[shard("6.1"), shard("6.12"), shard("6.1"), old.clone()]).unwrap();
    assert_eq!(m["git"]["revision"], "6.1");
    assert_eq!(m["kernels"].as_array().unwrap().len(), 3);
    assert_eq!(m["kernels"][2]["version"], "6.1.192");
    assert!(m.get("kernel_source").is_none());
    assert_eq!(metadata::merged(&[]), None);
}

#[test]
fn a_variant_whose_selftests_differ_from_its_same_as_fails_naming_the_case_and_the_table_shows_both() {
    use crate::selftest::{CaseResult, Report as St, Status};
    let dir = std::env::temp_dir().join(format!("ksmh-parity-{}", std::process::id()));
    let case = |name: &str, status| CaseResult {
        name: name.into(),
        status,
        detail: "d".into(),
        seconds: None,
        flaky: None,
        not_in_tree: false,
    };
    let mut up = cell(&dir, Arch::Arm64, "upstream", Scenario::Offline, Outcome::Pass, "");
    up.selftests = Some(St { cases: vec![case("a", Status::Ok), case("b", Status::Skip)], same_as: None });
    let mut rust = cell(&dir, Arch::Arm64, "rust", Scenario::Offline, Outcome::Pass, "");
    rust.selftests =
        Some(St { cases: vec![case("a", Status::NotOk), case("b", Status::Skip)], same_as: Some("upstream".into()) });
    // Another arch's upstream is no reference for this rust cell.
    let mut other = cell(&dir, Arch::S390x, "rust", Scenario::Offline, Outcome::Pass, "");
    other.selftests = Some(St { cases: vec![case("a", Status::NotOk)], same_as: Some("upstream".into()) });
    let mut cells = vec![up, rust, other];
    parity::apply(&mut cells);
    parity::apply(&mut cells); // idempotent: made after every cell
    assert_eq!(cells[1].verdict.outcome, Outcome::Fail);
    let checks: Vec<&Check> = cells[1].verdict.checks.iter().filter(|c| c.name == parity::CHECK).collect();
    assert_eq!(checks.len(), 1);
    assert!(checks[0].detail.contains("a: upstream ok, rust not ok"), "{}", checks[0].detail);
    assert!(!cells[1].verdict.reason.is_empty() && cells[1].verdict.reason.contains("a: upstream ok"));
    assert_eq!((cells[0].verdict.outcome, cells[2].verdict.outcome), (Outcome::Pass, Outcome::Pass));
    assert!(cells[2].verdict.checks.iter().all(|c| c.name != parity::CHECK));
    let r = Results {
        schema: SCHEMA,
        started: "s".into(),
        finished: "f".into(),
        interrupted: false,
        in_progress: false,
        outcome: outcome_of(&cells),
        not_run: vec![],
        cells,
        plan: None,
        missing: vec![],
    };
    let md = summary::summary_md(&r, &[], None);
    assert!(md.contains("| a | ok | not ok | not ok |"), "{md}");
    assert!(md.contains("| b | skip | skip | - |"), "{md}");
    assert!(md.contains("| totals | 1 ok, 1 skip | 1 not ok, 1 skip | 1 not ok |"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}
