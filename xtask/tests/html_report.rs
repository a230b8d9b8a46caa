//! The HTML report of a whole matrix built from real consoles (every arch x variant x scenario
//! this project boots), written by `report::write` like a run writes it, then opened in headless
//! Chromium when it is installed: the grid must hold one cell per matrix cell, every cell page its
//! timeline, the prefix cells their lock cycle, no dead link, no console message. The folder is
//! kept under cargo's target tmp dir (the path is printed) with the browser's screenshots.

use std::path::{Path, PathBuf};

use xtask::arch::MemoryMode;
use xtask::console;
use xtask::kernel::decode;
use xtask::lockout;
use xtask::matrix;
use xtask::report::html::browser;
use xtask::report::CellResult;
use xtask::report::{self, Results};
use xtask::verdict::{self, HostFacts, Outcome};
use xtask::vm::markers;

/// Every cell of the repo's matrix, in plan order: each has a real console under
/// tests/fixtures/runs/, so a cell added to the matrix without one fails here.
fn cells() -> Vec<String> {
    let m = matrix::load(&matrix::default_path(&xtask::paths::repo_root())).unwrap();
    matrix::plan(&m, &[], &[]).iter().map(|c| c.id().to_string()).collect()
}

/// A cell as the runner records it, from a real console: analysis, guest report, lockout
/// evidence and the verdict all computed the way `runner::run_cell` does.
fn cell(m: &matrix::MatrixFile, dir: &Path, id: &str) -> CellResult {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs").join(format!("{id}.console.log"));
    let text = String::from_utf8_lossy(&std::fs::read(&fixture).unwrap()).into_owned();
    let plan_cell = matrix::plan(m, &[], &[]).into_iter().find(|c| c.id().to_string() == id).expect("a plan cell");
    let (arch, scenario) = (plan_cell.arch, plan_cell.scenario);
    let variant = &plan_cell.variant;
    let expectation = plan_cell.expectation.clone();
    let analysis = console::analyze_bytes(text.as_bytes());
    let guest = markers::summarize(&markers::parse(&text));
    let ev = lockout::analyze(&guest.trace, &variant.must_call);
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
        selftests: None,
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
        selftests: None,
        dir: cdir.clone(),
    };
    std::fs::write(cdir.join("cell.json"), serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    c
}

/// The frames as `--debug-info` decodes them, for the cells with a real faddr2line output (run
/// with the vmlinux of a reduced-DWARF build of the same kernel; -g leaves the code alone, so
/// the offsets are the console's).
fn decoded(id: &str) -> Option<decode::Decoded> {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faddr2line").join(format!("{id}.txt"));
    let text = std::fs::read_to_string(f).ok()?;
    Some(decode::Decoded { vmlinux: "vmlinux".into(), frames: decode::parse_output(&text), error: None })
}

fn build_report(dir: &Path) -> Results {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let m = matrix::load(&matrix::default_path(&xtask::paths::repo_root())).unwrap();
    let ids = cells();
    let cells: Vec<CellResult> = ids.iter().map(|id| cell(&m, dir, id)).collect();
    let meta = serde_json::json!({
        "schema": 1, "started": "2026-12-03T07:56:46Z", "command_line": ["target/debug/xtask", "matrix"],
        "host": {"uname": "Linux (test)", "cpus": 2}, "git": {"revision": "fixture", "dirty": false},
        "kernel_source": {"version": "6.1.192", "origin": "real consoles from xtask/tests/fixtures/runs"},
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
        plan: None,
        missing: vec![],
    };
    report::write(dir, &r).unwrap();
    r
}

#[test]
fn the_report_of_a_real_matrix_renders_in_a_browser() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    let r = build_report(&dir);
    assert!(
        r.cells.iter().all(|c| c.verdict.outcome == Outcome::Pass),
        "{:?}",
        r.cells.iter().map(|c| (&c.id, &c.verdict.reason)).collect::<Vec<_>>()
    );

    // The markup as written, before any browser.
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let ids = cells();
    assert_eq!(index.matches("data-cell=").count(), ids.len());
    assert!(std::fs::read_to_string(dir.join("summary.md")).unwrap().contains("[index.html](index.html)"));
    for id in &ids {
        let page = std::fs::read_to_string(dir.join(id).join("index.html")).unwrap();
        assert!(page.contains(r#"id="timeline""#) && page.contains(r#"id="lockout-zoom""#), "{id}");
        assert_eq!(
            page.contains(r#"id="cycle-0""#),
            id.contains("prefix"),
            "{id}: a cycle exactly for the prefix cells"
        );
        for remote in ["<script", "<link", "@import", "src=\"http", "href=\"http"] {
            assert!(!page.contains(remote), "{id}: {remote}");
        }
    }
    for kernel in ["6.1", "6.12"] {
        let cancel = std::fs::read_to_string(dir.join(format!("{kernel}-s390x-prefix-cancel/index.html"))).unwrap();
        assert!(cancel.contains("(memory_chain).rwsem") && cancel.contains("offline_pages()"), "{kernel}");
        let offline = std::fs::read_to_string(dir.join(format!("{kernel}-arm64-prefix-offline/index.html"))).unwrap();
        assert!(offline.contains("pcp_batch_high_lock"), "{kernel}");
    }
    // Decoded frames where the cell has them, the way to get them everywhere else.
    for id in &ids {
        let page = std::fs::read_to_string(dir.join(id).join("index.html")).unwrap();
        let with = decoded(id).is_some();
        assert_eq!(page.contains("Stack frames decoded to file:line"), with, "{id}");
        if with {
            assert!(page.contains("ksm_memory_callback+0x") && page.contains("mm/ksm.c:"), "{id}");
        } else if id.contains("prefix") {
            assert!(page.contains("--debug-info"), "{id}");
        }
    }

    let Some(bin) = browser::find() else {
        println!("SKIPPED the browser part: chromium not found (apt-get install -y chromium, or cargo xtask setup); report in {}", dir.display());
        return;
    };
    let checked = browser::check(&bin, &dir, &ids).unwrap();
    assert!(checked.problems.is_empty(), "{:#?}", checked.problems);
    assert_eq!(checked.pages, 1 + ids.len());
    assert_eq!(checked.grid_cells.len(), ids.len());
    assert_eq!(checked.timelines, ids.len(), "every cell page has its timeline picture");
    let prefix_cells = ids.iter().filter(|id| id.contains("-prefix-")).count();
    assert_eq!(prefix_cells, 8, "two kernels x two arches x two scenarios");
    assert_eq!(checked.cycles, prefix_cells, "every prefix cell has its lock cycle drawn");
    for png in &checked.screenshots {
        let bytes = std::fs::read(png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{} looks empty", png.display());
    }
    println!("report rendered in {}: {} pages; screenshots {:?}", bin.display(), checked.pages, checked.screenshots);

    // The check can fail: a page gone is a dead link in the grid, a script's error is a console message.
    let broken = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-report-broken");
    let _ = std::fs::remove_dir_all(&broken);
    std::fs::create_dir_all(broken.join("6.1-s390x-rust-offline")).unwrap();
    std::fs::copy(dir.join("index.html"), broken.join("index.html")).unwrap();
    let (dom, console) = browser::dump_dom(&bin, &broken.join("index.html")).unwrap();
    assert!(console.is_empty(), "{console:?}");
    assert!(browser::dead_links(&dom, &broken).contains(&"6.12-s390x-rust-offline/index.html".to_string()));
    std::fs::write(broken.join("script.html"), "<!DOCTYPE html><title>x</title><script>console.error('boom')</script>")
        .unwrap();
    let (_, console) = browser::dump_dom(&bin, &broken.join("script.html")).unwrap();
    assert!(console.iter().any(|m| m.contains("boom")), "{console:?}");
}
