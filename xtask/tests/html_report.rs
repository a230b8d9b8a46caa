//! The HTML report of a whole matrix built from real consoles (every arch x variant x scenario
//! this project boots), written by `report::write` like a run writes it, then opened in headless
//! Chromium when it is installed: the grid must hold one cell per matrix cell, every cell page its
//! timeline, the prefix cells their lock cycle, no dead link, no console message. The folder is
//! kept under cargo's target tmp dir (the path is printed) with the browser's screenshots.

use std::path::PathBuf;

use real_run::{build_report, cells, decoded};
use xtask::report::html::browser;
use xtask::verdict::Outcome;

mod real_run;

#[test]
fn the_report_of_a_real_matrix_renders_in_a_browser() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    let r = build_report(&dir, &[], |_| {});
    assert!(
        r.cells.iter().all(|c| c.verdict.outcome == Outcome::Pass),
        "{:?}",
        r.cells.iter().map(|c| (&c.id, &c.verdict.reason)).collect::<Vec<_>>()
    );

    // The markup as written, before any browser.
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let ids = cells();
    assert_eq!(index.matches("data-cell=").count(), ids.len());
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("[index.html](index.html)"));
    // The header names both kernels of the run and where each came from.
    for k in ["6.1: 6.1.192 — Debian linux-source-6.1", "6.12: 6.12.95 — Debian linux-source-6.12"] {
        assert!(index.contains(&format!("<li>{k}")) && summary.contains(&format!("- {k}")), "{k}");
    }
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
