//! One cell's page: verdict and reason, the links to its logs, the timeline (host stages; the
//! guest's phases, KSM's counters, ksmd's batches and the offline windows), the lockout in
//! numbers, every check of the verdict, and each kernel report drawn.

use std::path::Path;

use maud::{html, Markup};

use super::{figure, outcome_class, seconds, shell, splat, timeline, url_escape};
use crate::console::Category;
use crate::lockout::{Evidence, WindowEnd};
use crate::matrix::Expectation;
use crate::report::CellResult;

/// The cell's files a reader opens, in that order; absent ones are listed struck through so a
/// missing log is visible rather than a dead link.
pub const FILES: [&str; 9] = [
    "console.log",
    "build.log",
    "qmp.log",
    "reproduce.sh",
    "cell.json",
    "findings.json",
    "ksm.json",
    "qemu.log",
    "config",
];

fn links(dir: &Path) -> Markup {
    html! {
        p.links {
            @for f in FILES {
                @if dir.join(f).exists() { a href=(url_escape(f)) { (f) } } @else { span.missing title="not in this folder" { (f) } }
            }
        }
    }
}

fn facts(c: &CellResult) -> Markup {
    let expectation = match &c.expectation {
        Expectation::Clean => "clean: no kernel report, the lockout held".to_string(),
        Expectation::Splat { locks } => format!("a circular locking report naming {}", locks.join(", ")),
    };
    html! {
        dl.meta {
            dt { "arch / variant / scenario" } dd { (c.id.arch.name()) " / " (c.id.variant) " / " (c.id.scenario.name()) }
            dt { "expected" } dd { (expectation) }
            dt { "guest kernel" } dd { (c.guest.kernel.as_deref().unwrap_or("-")) }
            dt { "time" } dd { (seconds(c.seconds())) @if c.kernel_rebuilt == Some(false) { " (kernel not rebuilt: up to date)" } }
            @if let Some(e) = &c.host.harness_error { dt { "harness error" } dd { code { (e) } } }
            @if let Some(t) = &c.host.timed_out { dt { "timed out" } dd { (t) } }
            @if c.host.interrupted { dt { "interrupted" } dd { "yes" } }
        }
    }
}

fn checks(c: &CellResult) -> Markup {
    html! {
        ul.checks id="checks" {
            @for k in &c.verdict.checks {
                @let (word, class) = if k.skipped { ("SKIPPED", "skipped") } else if k.ok { ("OK", "pass") } else { ("FAILED", "fail") };
                li data-check=(k.name) {
                    span.badge.word.(class) { (word) }
                    code { (k.name) }
                    span { (k.detail) }
                }
            }
        }
    }
}

fn timeline_markup(c: &CellResult) -> Markup {
    let host = timeline::host_spans(&c.stages);
    let guest = timeline::guest(&c.guest, c.lockout.as_ref());
    let zoom =
        guest.as_ref().zip(c.lockout.as_ref()).and_then(|(g, e)| timeline::zoom_range(e, g.range.1).map(|r| (g, r)));
    html! {
        @if host.is_empty() {
            p.note { "No host stage times recorded." }
        } @else {
            (figure("host-stages", html! {
                "Host stages, wall clock: "
                @for (i, s) in host.iter().enumerate() { @if i > 0 { ", " } (s.name) " " (seconds(s.end - s.start)) }
                ". The guest's own story below runs inside " code { "boot" } "."
            }, timeline::host_svg(&host)))
        }
        @match &guest {
            Some(g) => {
                (figure("timeline", html! {
                    "The guest, in kernel seconds since boot (the clock of printk and the trace). Shaded: offline windows "
                    "(MEM_GOING_OFFLINE returned → MEM_OFFLINE/MEM_CANCEL_OFFLINE entered). Ticks: every ksmd scan batch that "
                    "moved KSM's scan cursor; red if inside a window."
                }, timeline::guest_svg(g)))
                @if !g.phases.is_empty() {
                    p.muted { "Phases: " @for (i, p) in g.phases.iter().enumerate() { @if i > 0 { " → " } (p.name) " " (format!("{:.1}", p.start)) " s" } }
                } @else if !c.guest.phases.is_empty() {
                    p.muted { "Phases, in order (this console gives no times for them): " (c.guest.phases.join(" → ")) }
                }
            }
            None => {
                // Still a timeline element: the page always shows where the cell's time went.
                figure.chart id="timeline" {
                    p.note {
                        "No guest times in this console (phases without t=, no KSM samples, no kernel trace). Phases in order: "
                        @if c.guest.phases.is_empty() { "none" } @else { (c.guest.phases.join(" → ")) }
                    }
                }
            }
        }
        @if let Some((g, range)) = zoom {
            (figure("lockout-zoom", html! {
                "Close-up of the offline windows, from " (format!("{}", crate::lockout::BEFORE_SECONDS)) " s before the first (where ksmd's pace is measured). "
                "A lockout that holds: no tick inside a shade, and a run write (purple bar) issued inside a window returns only after it closes."
            }, timeline::zoom_svg(g, range)))
        }
    }
}

fn lockout_markup(e: &Evidence) -> Markup {
    html! {
        @if e.windows.is_empty() {
            p.note { "The trace shows no offline window." }
        } @else {
            table.windows {
                tr {
                    th { "#" } th { "opened (s)" } th { "closed by" } th { "length" } th { "OFFLINE bit set" }
                    th { "ksmd batches inside" } th { "batches in the " (crate::lockout::BEFORE_SECONDS) " s before" } th { "an unlocked ksmd would have made" }
                }
                @for (i, w) in e.windows.iter().enumerate() {
                    tr {
                        td.num { (i + 1) }
                        td.num { (format!("{:.3}", w.start)) }
                        td { (match w.closed_by { WindowEnd::Offline => "MEM_OFFLINE", WindowEnd::Cancel => "MEM_CANCEL_OFFLINE", WindowEnd::Open => "never (still open)" }) }
                        td.num { (w.length_ms.map(|l| format!("{l:.0} ms")).unwrap_or_else(|| "-".into())) }
                        td { (if w.offline_bit_set() { "yes" } else { "no" }) }
                        td.num { strong { (w.scans_inside) } @if w.cursor_moved { " (cursor moved)" } }
                        td.num { (w.scans_before) }
                        td.num { (w.expected_scans().map(|x| format!("≈{x:.0}")).unwrap_or_else(|| "-".into())) }
                    }
                }
            }
        }
        @if !e.run_writes.is_empty() {
            h3 { "Writes to " code { "/sys/kernel/mm/ksm/run" } }
            table.windows {
                tr { th { "issued (s)" } th { "returned after" } th { "issued in window" } }
                @for w in &e.run_writes {
                    tr {
                        td.num { (format!("{:.3}", w.entered)) }
                        td.num { (w.returned.map(|r| format!("{:.0} ms", (r - w.entered) * 1000.0)).unwrap_or_else(|| "never returned".into())) }
                        td { @match w.window { Some(i) => { "#" (i + 1) } None => "-" } }
                    }
                }
            }
        }
        @if !e.calls_in_callback.is_empty() {
            p.muted { "Calls inside KSM's memory callback: " @for (i, (f, n)) in e.calls_in_callback.iter().enumerate() { @if i > 0 { ", " } code { (f) } " ×" (n) } }
        }
    }
}

/// The guest's checkpoints in the order the run passes them, any others after.
fn moments(c: &CellResult) -> Vec<(&str, &crate::vm::markers::KsmStats)> {
    const ORDER: [&str; 4] = ["merged", "after-cancel", "after-offline", "after"];
    let mut v: Vec<_> = c.guest.ksm.iter().map(|(k, s)| (k.as_str(), s)).collect();
    v.sort_by_key(|(k, _)| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    v
}

fn ksm_moments(c: &CellResult) -> Markup {
    html! {
        @if !c.guest.ksm.is_empty() {
            table {
                tr { th { "moment" } th { "run" } th { "pages_shared" } th { "pages_sharing" } th { "full_scans" } }
                @for (when, k) in moments(c) {
                    tr { td { (when) } td { (k.run) } td { (k.pages_shared) } td { (k.pages_sharing) } td { (k.full_scans) } }
                }
            }
        }
    }
}

pub fn page(c: &CellResult, dir: &Path, console: &str) -> Markup {
    let problems: Vec<_> = c.findings.findings.iter().filter(|f| f.category != Category::Info).collect();
    let expected = |f: &crate::console::Finding| match &c.expectation {
        Expectation::Splat { locks } => {
            let have = crate::verdict::lock_classes(f);
            f.kind == crate::console::Kind::CircularLocking && locks.iter().all(|l| have.contains(l))
        }
        Expectation::Clean => false,
    };
    let body = html! {
        nav.top { a href="../index.html" { "← all cells" } }
        h1 { (c.id) " " span.badge.(outcome_class(c.verdict.outcome)) { (c.verdict.outcome.name()) } }
        p.status { (c.verdict.reason) }
        (links(dir))
        (facts(c))
        h2 { "Timeline" }
        (timeline_markup(c))
        h2 { "Offline lockout (kernel trace)" }
        @match &c.lockout {
            Some(e) => (lockout_markup(e)),
            None => p.note { "No lockout evidence: the run had it off (" code { "--no-lockout-evidence" } ")." },
        }
        h2 { "Checks" }
        (checks(c))
        @if let Some(st) = &c.selftests {
            h2 { "Kernel selftests (this kernel's tree)" }
            p { (crate::selftest::counts(&st.cases)) "; a skip is never a pass." }
            table.selftests {
                tr { th { "case" } th { "result" } th { "what it printed" } th { "seconds" } }
                @for r in &st.cases {
                    tr {
                        td { code { (r.name) } }
                        td.(if r.status == crate::selftest::Status::Ok { "ok" } else if r.status == crate::selftest::Status::Skip { "skip" } else { "bad" }) {
                            (r.status.word()) @if r.flaky.is_some() { " (flaky)" }
                        }
                        td { (r.detail) @if let Some(f) = &r.flaky { br; small { "flaky: " (f) } } }
                        td { (r.seconds.map(|s| format!("{s:.1}")).unwrap_or_default()) }
                    }
                }
            }
        }
        h2 { "Kernel reports" }
        @if problems.is_empty() {
            p.note { "None: the console has no lockdep report, warning, oops or other kernel problem." }
        }
        @for (i, f) in problems.iter().enumerate() { (splat::markup(f, console, expected(f), i, c.decoded.as_ref())) }
        @if c.findings.lockdep_turned_off { p.muted { "lockdep turned itself off after its first report (" code { "INFO: lockdep is turned off" } ")." } }
        h2 { "KSM counters at the guest's checkpoints" }
        (ksm_moments(c))
    };
    shell(&format!("{} {}", c.id, c.verdict.outcome.name()), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell whose build failed: no console, no guest, no trace, one host stage.
    fn broken() -> CellResult {
        serde_json::from_value(serde_json::json!({
            "id": "arm64-upstream-offline", "arch": "arm64", "variant": "upstream", "scenario": "offline",
            "expectation": "clean",
            "verdict": { "outcome": "ERROR", "reason": "build: make failed", "checks": [
                { "name": "lockout-held", "ok": false, "detail": "--no-lockout-evidence", "skipped": true },
                { "name": "guest-finished", "ok": false, "detail": "no done marker" },
            ] },
            "findings": { "findings": [], "lines": 0, "lockdep_turned_off": false },
            "guest": crate::vm::markers::GuestReport::default(),
            "host": { "harness_error": "build: make failed", "dimm_expected": true, "interrupted": false, "timed_out": null, "qemu_exit": null, "dimm_removed": null },
            "stages": [["build", 3.5]], "kernel_rebuilt": null, "dir": "/nonexistent",
        }))
        .unwrap()
    }

    #[test]
    fn a_cell_that_never_booted_still_has_its_page_and_says_what_is_missing() {
        let html = page(&broken(), Path::new("/nonexistent"), "").into_string();
        assert!(html.contains(r#"id="timeline""#) && html.contains("No guest times"), "{html}");
        assert!(html.contains(r#"id="host-stages""#) && html.contains("build 3.5 s"));
        assert!(html.contains("No lockout evidence") && html.contains("build: make failed"));
        assert!(html.contains(r#"<span class="missing""#), "absent logs are shown, not linked");
        assert!(!html.contains(r#"href="console.log""#));
    }

    #[test]
    fn a_skipped_check_reads_skipped_never_ok() {
        let html = checks(&broken()).into_string();
        let skipped = html.split("<li").find(|li| li.contains("lockout-held")).unwrap();
        assert!(skipped.contains("SKIPPED") && !skipped.contains(">OK<"), "{skipped}");
        let failed = html.split("<li").find(|li| li.contains("guest-finished")).unwrap();
        assert!(failed.contains("FAILED"), "{failed}");
    }

    #[test]
    fn checkpoints_come_in_the_order_the_run_passes_them() {
        let mut c = broken();
        for k in ["after", "merged", "after-offline", "after-cancel"] {
            c.guest.ksm.insert(k.into(), Default::default());
        }
        assert_eq!(
            moments(&c).iter().map(|m| m.0).collect::<Vec<_>>(),
            vec!["merged", "after-cancel", "after-offline", "after"]
        );
    }
}
