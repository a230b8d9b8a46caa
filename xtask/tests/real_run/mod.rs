//! A results folder made of real consoles (tests/fixtures/runs/), the way a run writes it:
//! shared by the tests that read such folders (the HTML report, `report compare`).

// Each test binary includes this module and uses its own part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use xtask::arch::MemoryMode;
use xtask::console;
use xtask::kernel::decode;
use xtask::lockout;
use xtask::matrix;
use xtask::report::CellResult;
use xtask::report::{self, Results};
use xtask::verdict::{self, HostFacts};
use xtask::vm::markers;

/// Every cell of the repo's matrix, in plan order: each has a real console under
/// tests/fixtures/runs/, so a cell added to the matrix without one fails here.
pub fn cells() -> Vec<String> {
    let m = matrix::load(&matrix::default_path(&xtask::paths::repo_root())).unwrap();
    matrix::plan(&m, &[], &[]).iter().map(|c| c.id().to_string()).collect()
}

/// A cell as the runner records it, from a real console (`console`: the fixture's cell id, the
/// cell's own or another's): analysis, guest report, lockout evidence and the verdict all
/// computed the way `runner::run_cell` does.
pub fn cell(m: &matrix::MatrixFile, dir: &Path, id: &str, console: &str) -> CellResult {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs").join(format!("{console}.console.log"));
    let text = String::from_utf8_lossy(&std::fs::read(&fixture).unwrap()).into_owned();
    let plan_cell = matrix::plan(m, &[], &[]).into_iter().find(|c| c.id().to_string() == id).expect("a plan cell");
    let (arch, scenario) = (plan_cell.arch, plan_cell.scenario);
    let variant = &plan_cell.variant;
    let expectation = plan_cell.expectation.clone();
    let analysis = console::analyze_bytes(text.as_bytes());
    let guest = markers::summarize(&markers::parse(&text));
    let ev = lockout::analyze(&guest.trace, &variant.must_call);
    let selftests = plan_cell
        .selftests
        .as_ref()
        .map(|p| xtask::selftest::results(p, &guest.selftests, &absent(plan_cell.kernel.name.as_deref())));
    let dimm = arch.machine().memory == MemoryMode::DimmHotplug;
    let host =
        HostFacts { qemu_exit: Some(0), dimm_expected: dimm, dimm_removed: dimm.then_some(true), ..Default::default() };
    let v = verdict::judge(&verdict::Inputs {
        expectation: &expectation,
        scenario,
        analysis: &analysis,
        guest: &guest,
        host: &host,
        boot_line: variant.boot_line.as_deref(),
        boot_line_seen: variant.boot_line.as_deref().is_some_and(|l| text.contains(l)),
        known: &[],
        today: "2026-12-03",
        cell: id,
        lockout: Some(&ev),
        must_call: &variant.must_call,
        selftests: plan_cell.selftests.as_ref().zip(selftests.as_deref()),
        cycles: None,
    });
    let cdir = dir.join(id);
    std::fs::create_dir_all(&cdir).unwrap();
    std::fs::write(cdir.join("console.log"), &text).unwrap();
    let c = CellResult {
        id: plan_cell.id(),
        expectation,
        verdict: v,
        findings: analysis,
        guest,
        lockout: Some(ev),
        host,
        // Host stage times are not in a console: these are the ones a warm run measures.
        stages: vec![("build".into(), 7.8), ("image".into(), 0.17), ("boot".into(), 17.2), ("analyze".into(), 0.02)],
        kernel_rebuilt: Some(false),
        decoded: decoded(id),
        selftests: selftests.map(|cases| xtask::selftest::Report {
            cases,
            same_as: plan_cell.selftests.as_ref().and_then(|p| p.same_as.clone()),
        }),
        dir: cdir.clone(),
    };
    std::fs::write(cdir.join("cell.json"), serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    c
}

/// The selftest programs a kernel's tree lacks, as the runner finds them when it builds them
/// (`kernel::selftests::locate`; a console does not say): 6.1 has no ksm_functional_tests
/// (it came in 6.4).
pub fn absent(kernel: Option<&str>) -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    if kernel == Some("6.1") {
        m.insert("ksm_functional_tests".into(), "not in this tree (tools/testing/selftests/{mm,vm})".into());
    }
    m
}

/// The frames as `--debug-info` decodes them, for the cells with a real faddr2line output (run
/// with the vmlinux of a reduced-DWARF build of the same kernel; -g leaves the code alone, so
/// the offsets are the console's).
pub fn decoded(id: &str) -> Option<decode::Decoded> {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faddr2line").join(format!("{id}.txt"));
    let text = std::fs::read_to_string(f).ok()?;
    Some(decode::Decoded { vmlinux: "vmlinux".into(), frames: decode::parse_output(&text), error: None })
}

/// The results folder of the whole matrix run on the real consoles, written into `dir` by
/// `report::write`. `swap`: (cell, the cell whose console it gets instead), to make a cell red
/// the way a broken kernel would; `edit` changes a cell before it is written (its times).
pub fn build_report(dir: &Path, swap: &[(&str, &str)], edit: impl Fn(&mut CellResult)) -> Results {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let m = matrix::load(&matrix::default_path(&xtask::paths::repo_root())).unwrap();
    let ids = cells();
    let console = |id: &str| swap.iter().find(|(c, _)| *c == id).map_or(id.to_string(), |(_, from)| from.to_string());
    let mut cells: Vec<CellResult> = ids.iter().map(|id| cell(&m, dir, id, &console(id))).collect();
    cells.iter_mut().for_each(edit);
    let meta = serde_json::json!({
        "schema": 1, "started": "2026-12-03T07:56:46Z", "command_line": ["target/debug/xtask", "matrix"],
        "host": {"uname": "Linux (test)", "cpus": 2}, "git": {"revision": "fixture", "dirty": false},
        // The two kernels of the matrix, as the runner records them (the consoles say these versions).
        "kernels": [
            {"name": "6.1", "version": "6.1.192", "origin": "Debian linux-source-6.1 (consoles in xtask/tests/fixtures/runs)"},
            {"name": "6.12", "version": "6.12.95", "origin": "Debian linux-source-6.12 (consoles in xtask/tests/fixtures/runs)"},
        ],
        "run": {"cells": ids, "matrix": "configs/matrix.yaml"}, "tools": {},
    });
    std::fs::write(dir.join("metadata.json"), serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
    let r = Results {
        schema: report::SCHEMA,
        started: "2026-12-03T07:56:46Z".into(),
        finished: "2026-12-03T08:01:30Z".into(),
        interrupted: false,
        in_progress: false,
        outcome: xtask::report::outcome_of(&cells),
        not_run: vec![],
        cells,
        plan: Some(report::Plan {
            cells: ids.clone(),
            part: "all".into(),
            matrix_sha256: "fixture".into(),
            commit: "fixture".into(),
        }),
        missing: vec![],
    };
    report::write(dir, &r).unwrap();
    r
}
