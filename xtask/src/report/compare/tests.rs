use super::*;
use crate::console::{Category, Finding, Kind};
use crate::report::{CellResult, Plan};

fn finding(fp: &str, category: Category) -> Finding {
    Finding {
        category,
        kind: Kind::CircularLocking,
        title: format!("report {fp}"),
        fingerprint: fp.into(),
        first_line: 1,
        last_line: 2,
        task: None,
        pid: None,
        cpu: None,
        truncated: false,
        count: 1,
        frames: vec![],
        lockdep: None,
    }
}

/// A cell with an outcome, the fingerprints of its reports and its time.
fn cell(id: &str, outcome: Outcome, fps: &[&str], secs: f64) -> CellResult {
    let (row, v, s) = crate::report::html::grid::split_id(id).unwrap();
    let mut c = serde_json::from_value::<CellResult>(serde_json::json!({
        "id": id, "arch": row, "variant": v, "scenario": s, "expectation": "clean",
        "verdict": { "outcome": outcome, "reason": "r", "checks": [] },
        "findings": { "findings": [], "lines": 0, "lockdep_turned_off": false },
        "guest": crate::vm::markers::GuestReport::default(),
        "host": crate::verdict::HostFacts::default(),
        "stages": [["boot", secs]], "kernel_rebuilt": null, "dir": id,
    }))
    .unwrap();
    c.findings.findings = fps.iter().map(|f| finding(f, Category::Lockdep)).collect();
    c
}

fn results(cells: Vec<CellResult>, plan: Option<&[&str]>, not_run: &[&str]) -> Results {
    Results {
        schema: 1,
        started: "s".into(),
        finished: "f".into(),
        interrupted: !not_run.is_empty(),
        in_progress: false,
        outcome: crate::report::outcome_of(&cells),
        not_run: not_run.iter().map(|s| s.to_string()).collect(),
        cells,
        plan: plan.map(|p| Plan {
            cells: p.iter().map(|s| s.to_string()).collect(),
            part: "all".into(),
            matrix_sha256: String::new(),
            commit: String::new(),
        }),
        missing: vec![],
    }
}

const ID: &str = "s390x-upstream-offline";

/// A cell's side of a case: outcome, fingerprints, seconds.
type Side = (Outcome, &'static [&'static str], f64);
/// What, OLD, NEW, why worse, the state word, the time change.
type Case = (&'static str, Side, Side, &'static [Worse], &'static str, Option<f64>);

#[test]
fn one_cell_before_and_after() {
    use Outcome::*;
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("the same green cell",         (Pass, &[], 20.0),     (Pass, &[], 21.0),       &[],                                  "same",   None),
        ("green to red by a new report", (Pass, &[], 20.0),     (Fail, &["aa"], 20.0),   &[Worse::Outcome, Worse::NewReport], "WORSE",  None),
        ("an expected splat persists",  (Pass, &["aa"], 20.0), (Pass, &["aa"], 20.0),   &[],                                  "same",   None),
        ("an expected splat changes",   (Pass, &["aa"], 20.0), (Pass, &["bb"], 20.0),   &[Worse::NewReport],                  "WORSE",  None),
        ("a report goes away",          (Fail, &["aa"], 20.0), (Pass, &[], 20.0),       &[],                                  "better", None),
        ("timeout to fail is worse",    (Timeout, &[], 20.0),  (Fail, &[], 20.0),       &[Worse::Outcome],                    "WORSE",  None),
        ("fail to error is not",        (Fail, &[], 20.0),     (Error, &[], 20.0),      &[],                                  "better", None),
        ("inconclusive to error",       (Inconclusive, &[], 20.0), (Error, &[], 20.0),  &[Worse::Outcome],                    "WORSE",  None),
        ("slower by half: listed only", (Pass, &[], 20.0),     (Pass, &[], 30.0),       &[],                                  "same",   Some(0.5)),
        ("faster by 30 %",              (Pass, &[], 20.0),     (Pass, &[], 14.0),       &[],                                  "same",   Some(-0.3)),
        ("25 % exactly is no change",   (Pass, &[], 20.0),     (Pass, &[], 25.0),       &[],                                  "same",   None),
        ("no old time to compare with", (Pass, &[], 0.0),      (Pass, &[], 25.0),       &[],                                  "same",   None),
    ];
    for (what, (oo, ofp, os), (no, nfp, ns), worse, state, time) in cases {
        let old = results(vec![cell(ID, *oo, ofp, *os)], None, &[]);
        let new = results(vec![cell(ID, *no, nfp, *ns)], None, &[]);
        let c = compare(&old, &new);
        assert_eq!(c.cells.len(), 1, "{what}");
        let d = &c.cells[0];
        assert_eq!(&d.worse, worse, "{what}");
        assert_eq!(text::state(d), *state, "{what}");
        assert_eq!(c.worse(), !worse.is_empty(), "{what}");
        match (d.time_change, time) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{what}: {a}"),
            (a, b) => assert_eq!(a, *b, "{what}"),
        }
    }
}

#[test]
fn reports_are_matched_by_fingerprint_not_title() {
    let mut a = cell(ID, Outcome::Pass, &["aa", "bb"], 1.0);
    a.findings.findings[0].title = "old words".into();
    // An info line is no kernel report: it never counts as new.
    let mut b = cell(ID, Outcome::Pass, &["aa", "cc"], 1.0);
    b.findings.findings.push(finding("info", Category::Info));
    let c = compare(&results(vec![a], None, &[]), &results(vec![b], None, &[]));
    let d = &c.cells[0];
    let fps = |rs: &[Report]| rs.iter().map(|r| r.fingerprint.clone()).collect::<Vec<_>>();
    assert_eq!(
        (fps(&d.new_reports), fps(&d.gone_reports), fps(&d.persisting_reports)),
        (vec!["cc".to_string()], vec!["bb".to_string()], vec!["aa".to_string()])
    );
    // NEW's title is the one shown.
    assert_eq!(d.persisting_reports[0].title, "report aa");
}

#[test]
fn cells_on_one_side_only_and_cells_missing() {
    let old = results(
        vec![
            cell("s390x-upstream-offline", Outcome::Pass, &[], 1.0),
            cell("s390x-upstream-cancel", Outcome::Pass, &[], 1.0),
            cell("s390x-dropped-offline", Outcome::Pass, &[], 1.0),
        ],
        None,
        &[],
    );
    let plan = [
        "s390x-upstream-offline",
        "s390x-upstream-cancel",
        "s390x-added-offline",
        "s390x-added-cancel",
        "s390x-never-offline",
    ];
    let new = results(
        vec![
            cell("s390x-upstream-offline", Outcome::Pass, &[], 1.0),
            cell("s390x-added-offline", Outcome::Pass, &["splat"], 1.0),
            cell("s390x-added-cancel", Outcome::Fail, &[], 1.0),
        ],
        Some(&plan),
        &["s390x-upstream-cancel"],
    );
    let c = compare(&old, &new);
    let row = |id: &str| c.cells.iter().find(|d| d.id == id).unwrap();
    // NEW's plan order, then what only OLD had.
    assert_eq!(
        c.cells.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [&plan[..], &["s390x-dropped-offline"]].concat()
    );
    // Planned, not run: worse, whether OLD had it or not.
    assert_eq!(row("s390x-upstream-cancel").worse, vec![Worse::Missing]);
    assert_eq!(row("s390x-never-offline").worse, vec![Worse::Missing]);
    // Gone from the plan: listed, not worse.
    assert!(row("s390x-dropped-offline").only_old() && row("s390x-dropped-offline").worse.is_empty());
    // New cells: a splat that passes is a new variant's expected one; a red one is worse.
    assert!(row("s390x-added-offline").only_new() && row("s390x-added-offline").worse.is_empty());
    assert_eq!(row("s390x-added-offline").new_reports.len(), 1);
    assert_eq!(row("s390x-added-cancel").worse, vec![Worse::Outcome]);
    assert!(c.worse() && c.new.partial && !c.old.partial);
    let md = text::markdown(&c, "old/", "new/", text::Rows::All);
    assert!(md.starts_with("OLD: old/ — PASS, 3 cells"), "{md}");
    assert!(md.contains("**WORSE: 3 cells"), "{md}");
    // Worse rows first.
    let first_row = md.lines().find(|l| l.starts_with("| s390x-")).unwrap();
    assert!(first_row.contains("WORSE") || first_row.contains("MISSING"), "{first_row}");
}

#[test]
fn the_markdown_names_the_cell_its_change_and_its_new_fingerprint() {
    let old = results(vec![cell(ID, Outcome::Pass, &[], 20.0)], None, &[]);
    let new = results(vec![cell(ID, Outcome::Fail, &["f00d"], 40.0)], None, &[]);
    let md = text::markdown(&compare(&old, &new), "a", "b", text::Rows::All);
    let row = md.lines().find(|l| l.starts_with(&format!("| {ID} "))).unwrap();
    assert_eq!(
        row,
        "| s390x-upstream-offline | WORSE | PASS → FAIL | new `f00d` report f00d | 20 s → 40 s (+100 %) | outcome, new kernel report |"
    );
    let same = compare(&old, &old);
    let all = text::markdown(&same, "a", "a", text::Rows::All);
    assert!(
        all.contains("**nothing got worse (0 better, 1 same,") && all.contains(&format!("| {ID} | same |")),
        "{all}"
    );
    // In a report that has its own row per cell, unchanged cells are counted, not repeated.
    let changed = text::markdown(&same, "a", "a", text::Rows::Changed);
    assert!(!changed.contains("| cell |") && changed.contains("\nThe one cell: the same outcome,"), "{changed}");
}

#[test]
fn the_comparison_serializes_with_its_reasons() {
    let old = results(vec![cell(ID, Outcome::Pass, &[], 20.0)], None, &[]);
    let new = results(vec![cell(ID, Outcome::Fail, &["f00d"], 20.0)], None, &[]);
    let v = serde_json::to_value(compare(&old, &new)).unwrap();
    assert_eq!(v["cells"][0]["worse"], serde_json::json!(["outcome", "new_report"]));
    assert_eq!(v["cells"][0]["new"]["outcome"], "FAIL");
    assert_eq!(v["cells"][0]["new_reports"][0]["fingerprint"], "f00d");
}
