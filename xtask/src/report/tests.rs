use super::*;
use crate::arch::Arch;
use crate::matrix::Scenario;
use crate::verdict::{Check, HostFacts, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus};

fn cell(dir: &Path, arch: Arch, variant: &str, scenario: Scenario, outcome: Outcome, console: &str) -> CellResult {
    let id = CellId { arch, variant: variant.into(), scenario };
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
        dir: d,
    }
}

#[test]
fn junit_has_a_testcase_per_cell_and_the_splat_as_failure_text() {
    let dir = std::env::temp_dir().join(format!("ksmh-report-{}", std::process::id()));
    let splat = std::fs::read_to_string(
        crate::paths::repo_root().join("xtask/tests/fixtures/runs/s390x-prefix-cancel.console.log"),
    )
    .unwrap();
    let clean = std::fs::read_to_string(
        crate::paths::repo_root().join("xtask/tests/fixtures/runs/arm64-upstream-offline.console.log"),
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
