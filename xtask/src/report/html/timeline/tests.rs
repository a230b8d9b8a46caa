use super::*;
use crate::lockout::analyze;
use crate::vm::markers::{parse, summarize};

fn win(start: f64, end: Option<f64>) -> Window {
    Window {
        entered: start - 0.01,
        start,
        end,
        closed_by: if end.is_some() { WindowEnd::Offline } else { WindowEnd::Open },
        length_ms: end.map(|e| (e - start) * 1000.0),
        run_after_going_offline: 5,
        run_after_close: Some(1),
        scans_inside: 0,
        cursor_moved: false,
        scans_before: 0,
        ksmd_period_ms: None,
    }
}

#[test]
fn host_stages_are_laid_end_to_end() {
    let s =
        host_spans(&[("build".into(), 7.5), ("image".into(), 0.5), ("boot".into(), 17.0), ("bad".into(), f64::NAN)]);
    assert_eq!(
        s.iter().map(|s| (s.name.as_str(), s.start, s.end)).collect::<Vec<_>>(),
        vec![("build", 0.0, 7.5), ("image", 7.5, 8.0), ("boot", 8.0, 25.0)]
    );
}

#[test]
fn phases_run_to_the_next_start_and_the_last_to_the_end() {
    let p = phase_spans(&[("boot".into(), 3.0), ("workload".into(), 4.5), ("verify".into(), 20.0)], 22.0);
    assert_eq!(p.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(), vec![(3.0, 4.5), (4.5, 20.0), (20.0, 22.0)]);
}

#[test]
fn phase_names_take_the_free_row_and_are_left_out_where_none_is_free() {
    let span = |name: &str, start: f64| Span { name: name.into(), start, end: start + 1.0 };
    // 10 px per second, 5 px per character: "boot" ends at 20 px, "workload" (1 s) at 50.
    let p = [
        span("boot", 0.0),
        span("workload", 1.0),
        span("merge", 2.0),
        span("x", 3.0),
        span("verify", 8.5),
        span("far-too-long", 9.5),
    ];
    assert_eq!(label_rows(&p, (0.0, 10.0), 100.0, 5.0), vec![Some(0), Some(1), None, Some(0), Some(0), None]);
}

#[test]
fn window_shades_are_clipped_to_the_chart_and_an_open_window_runs_to_its_end() {
    let ws = [win(1.0, Some(2.0)), win(5.0, Some(6.5)), win(9.0, None), win(30.0, Some(31.0))];
    let s = shades(&ws, (1.5, 10.0));
    assert_eq!(
        s,
        vec![
            Shade { window: 0, x0: 1.5, x1: 2.0, open: false },
            Shade { window: 1, x0: 5.0, x1: 6.5, open: false },
            Shade { window: 2, x0: 9.0, x1: 10.0, open: true },
        ],
        "the window past the range is left out"
    );
}

#[test]
fn a_batch_is_inside_a_window_only_strictly_between_its_edges() {
    let ws = [win(1.0, Some(2.0)), win(3.0, None)];
    assert_eq!(window_of(1.0, &ws), None);
    assert_eq!(window_of(1.5, &ws), Some(0));
    assert_eq!(window_of(2.0, &ws), None);
    assert_eq!(window_of(99.0, &ws), Some(1));
}

#[test]
fn the_close_up_starts_where_ksmds_pace_is_measured() {
    let e = Evidence { windows: vec![win(10.0, Some(11.0)), win(12.0, Some(12.5))], ..Default::default() };
    let (lo, hi) = zoom_range(&e, 20.0).unwrap();
    assert!((lo - (10.0 - 0.01 - BEFORE_SECONDS)).abs() < 1e-9 && (hi - 13.5).abs() < 1e-9, "{lo} {hi}");
    // The trace ended right after the last window: no room past it is invented.
    assert_eq!(zoom_range(&e, 12.6).unwrap().1, 12.6);
    assert!(zoom_range(&Evidence::default(), 5.0).is_none());
}

#[test]
fn a_guest_without_times_has_no_timeline_and_one_with_samples_starts_at_boot() {
    assert!(guest(&GuestReport::default(), None).is_none());
    let g = summarize(&parse(
        "@@KSMH phase name=boot t=3.0\n@@KSMH ksm-sample t=4.0 pages_sharing=10 full_scans=1\n@@KSMH phase name=verify t=9.0\n",
    ));
    let m = guest(&g, None).unwrap();
    assert_eq!(m.range.0, 0.0);
    assert!(m.range.1 > 9.0 && m.range.1 < 9.5, "{:?}", m.range);
    assert_eq!(m.phases.len(), 2);
    assert!(guest_svg(&m).unwrap().contains("pages_sharing"));
}

#[test]
fn batches_in_a_held_window_are_none_and_the_picture_has_its_shade() {
    // A real console: s390x prefix, cancel then offline, the lockout holding.
    let text = std::fs::read_to_string(
        crate::paths::repo_root().join("xtask/tests/fixtures/runs/6.1-s390x-prefix-cancel.console.log"),
    )
    .unwrap();
    let g = summarize(&parse(&text));
    let e = analyze(&g.trace, &[]);
    let m = guest(&g, Some(&e)).unwrap();
    assert_eq!(m.windows.len(), 2);
    assert!(m.batches.len() > 100 && m.batches.iter().all(|(_, w)| w.is_none()));
    let zoom = zoom_range(&e, m.range.1).unwrap();
    let svg = zoom_svg(&m, zoom).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("#1") && svg.contains("#2"), "both windows numbered");
    assert!(guest_svg(&m).unwrap().contains("no ksm-sample markers"), "this console predates the samples, and says so");
}
