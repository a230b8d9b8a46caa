//! `cargo xtask report compare OLD NEW` as a person runs it, on results folders written from the
//! real consoles of the matrix: a green run against itself, against a run where a clean cell
//! got a prefix kernel's lockdep splat, and against one where it got a mutant's console (the
//! lockout gone); then the folders it must refuse.

use std::path::{Path, PathBuf};
use std::process::Command;

use real_run::build_report;
use xtask::verdict::Outcome;

mod real_run;

/// The cell made red, and the cells whose consoles it gets.
const RED: &str = "6.1-s390x-upstream-offline";
const SPLAT: &str = "6.1-s390x-prefix-offline";
const MUTANT: &str = "6.1-s390x-mutant-no-lockout-c-offline";

fn xtask(args: &[&Path]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("report").arg("compare").args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn a_cell_made_red_is_named_with_its_new_fingerprint_and_exits_1() {
    let (green, green2, splat, mutant) =
        (tmp("compare-green"), tmp("compare-green-2"), tmp("compare-splat"), tmp("compare-mutant"));
    let g = build_report(&green, &[], |_| {});
    assert_eq!(g.outcome, Outcome::Pass);
    // The same kernels again, one cell slower (a kernel rebuilt): listed, not worse.
    build_report(&green2, &[], |c| {
        if c.id.to_string() == "6.12-arm64-rust-cancel" {
            c.stages[0].1 += 20.0;
        }
    });
    let s = build_report(&splat, &[(RED, SPLAT)], |_| {});
    let red = s.cells.iter().find(|c| c.id.to_string() == RED).unwrap();
    assert_eq!(red.verdict.outcome, Outcome::Fail, "{}", red.verdict.reason);
    let fingerprint = &red.findings.problems().next().unwrap().fingerprint;
    let m = build_report(&mutant, &[(RED, MUTANT)], |_| {});
    assert_eq!(m.cells.iter().find(|c| c.id.to_string() == RED).unwrap().verdict.outcome, Outcome::Fail);

    let (code, out, err) = xtask(&[&green, &green2]);
    println!("{out}");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nothing got worse"), "{out}");
    assert!(out.contains("| 6.12-arm64-rust-cancel | same | PASS | - | 25 s → 45 s (+79 %) | - |"), "{out}");

    let (code, out, err) = xtask(&[&green, &splat]);
    println!("{out}");
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("WORSE: 1 cell "), "{out}");
    let row = out.lines().find(|l| l.starts_with(&format!("| {RED} "))).unwrap();
    assert!(
        row.contains("| WORSE | PASS → FAIL |")
            && row.contains(&format!(
                "new `{fingerprint}` possible circular locking dependency: ksm_thread_mutex/1 -> pcp_batch_high_lock"
            ))
            && row.ends_with("| outcome, new kernel report |"),
        "{row}"
    );
    // The same splat in the prefix cell is no news there.
    let prefix = out.lines().find(|l| l.starts_with(&format!("| {SPLAT} "))).unwrap();
    assert!(prefix.contains(&format!("| same | PASS | persisting `{fingerprint}`")), "{prefix}");

    // A mutant turns the cell red without any kernel report: the outcome alone is worse.
    let (code, out, err) = xtask(&[&green, &mutant]);
    println!("{out}");
    assert_eq!(code, 1, "{out}{err}");
    let row = out.lines().find(|l| l.starts_with(&format!("| {RED} "))).unwrap();
    assert!(row.contains("| WORSE | PASS → FAIL | - |") && row.ends_with("| outcome |"), "{row}");

    // Back to green from the red run: better, and nothing worse.
    let (code, out, _) = xtask(&[&splat, &green]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with(&format!("| {RED} | better | FAIL → PASS | gone `{fingerprint}`"))),
        "{out}"
    );

    // --format json: the same comparison for a machine.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["report", "compare", "--format", "json"])
        .args([&green, &splat])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = v["cells"].as_array().unwrap().iter().find(|c| c["id"] == RED).unwrap();
    assert_eq!(cell["worse"], serde_json::json!(["outcome", "new_report"]));
    assert_eq!(cell["new_reports"][0]["fingerprint"], fingerprint.as_str());
}

#[test]
fn what_is_not_a_results_folder_is_refused_with_exit_2() {
    let good = tmp("compare-refuse-good");
    build_report(&good, &[], |_| {});
    let empty = tmp("compare-refuse-empty");
    let broken = tmp("compare-refuse-broken");
    for d in [&empty, &broken] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(broken.join("results.json"), "{\"schema\": 1, \"cells\": [").unwrap();
    let cases: &[(&Path, &str)] = &[
        (&tmp("compare-refuse-nowhere"), "is not a folder"),
        (&empty, "is not a results folder: no "),
        (&broken, "does not read as a results.json of this harness"),
    ];
    for (bad, says) in cases {
        for args in [[&good, *bad], [*bad, &good]] {
            let (code, out, err) = xtask(&args);
            assert_eq!(code, 2, "{args:?}: {out}{err}");
            assert!(
                err.starts_with("error: ") && err.contains(says) && err.contains(&bad.display().to_string()),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1, "one message: {err}");
        }
    }
}
