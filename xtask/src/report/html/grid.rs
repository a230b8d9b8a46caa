//! The run's page: overall outcome and status, the run's metadata, and the matrix as a grid of
//! arch rows by variant/scenario columns, each cell coloured by its verdict and linking to its
//! own page. Cells that never ran (interrupted, or still to come) keep their place in the grid,
//! so a partial report shows what is missing instead of a smaller matrix.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::{cell_href, outcome_class, seconds, shell};
use crate::console::Category;
use crate::report::CellResult;
use crate::report::Results;

/// What one grid position holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    /// Index into `Results::cells`.
    Ran(usize),
    /// Planned, not run: the run was interrupted or stopped early.
    NotRun(String),
    /// Planned and not run yet: the report was written while cells were still running.
    Pending(String),
    /// The matrix has no such combination (e.g. a variant run on one arch only).
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub arches: Vec<String>,
    /// (variant, scenario) in the order the plan first names them.
    pub columns: Vec<(String, String)>,
    /// `slots[row][column]`.
    pub slots: Vec<Vec<Slot>>,
}

impl Grid {
    /// The columns grouped by variant, for the two-row header: (variant, how many scenarios).
    pub fn variant_spans(&self) -> Vec<(&str, usize)> {
        let mut out: Vec<(&str, usize)> = Vec::new();
        for (v, _) in &self.columns {
            match out.last_mut() {
                Some((last, n)) if *last == v.as_str() => *n += 1,
                _ => out.push((v.as_str(), 1)),
            }
        }
        out
    }
}

/// `[kernel-]arch-variant-scenario` of a cell known only by its id, as (row, variant,
/// scenario), the row `6.12 s390x` (or `s390x` without a kernel axis). Kernel names start with
/// a digit, arch and scenario names have no dash, variant names may (`mutant-no-lockout-c`),
/// so the variant is everything between.
pub fn split_id(id: &str) -> Option<(String, &str, &str)> {
    let (first, rest) = id.split_once('-')?;
    let (row, rest) = if first.starts_with(|c: char| c.is_ascii_digit()) {
        let (arch, rest) = rest.split_once('-')?;
        (format!("{first} {arch}"), rest)
    } else {
        (first.to_string(), rest)
    };
    let (variant, scenario) = rest.rsplit_once('-')?;
    (!row.is_empty() && !variant.is_empty() && !scenario.is_empty()).then_some((row, variant, scenario))
}

/// The grid row of a cell: its kernel (when the matrix has a kernel axis) and arch.
fn row_of(id: &crate::matrix::CellId) -> String {
    match &id.kernel {
        Some(k) => format!("{k} {}", id.arch.name()),
        None => id.arch.name().to_string(),
    }
}

/// Lays the run out: rows and columns in plan order (cells first, then the ones not run), a
/// column for every variant/scenario pair that occurs, variants kept together.
pub fn layout(r: &Results) -> Grid {
    let mut entries: Vec<(String, String, String, Slot)> = r
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| (row_of(&c.id), c.id.variant.clone(), c.id.scenario.name().to_string(), Slot::Ran(i)))
        .collect();
    for id in &r.not_run {
        if let Some((a, v, s)) = split_id(id) {
            let slot = if r.in_progress { Slot::Pending(id.clone()) } else { Slot::NotRun(id.clone()) };
            entries.push((a, v.into(), s.into(), slot));
        }
    }
    let mut arches: Vec<String> = Vec::new();
    let mut variants: Vec<String> = Vec::new();
    let mut scenarios: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (a, v, s, _) in &entries {
        if !arches.contains(a) {
            arches.push(a.clone());
        }
        if !variants.contains(v) {
            variants.push(v.clone());
        }
        let ss = scenarios.entry(v.clone()).or_default();
        if !ss.contains(s) {
            ss.push(s.clone());
        }
    }
    let columns: Vec<(String, String)> =
        variants.iter().flat_map(|v| scenarios[v].iter().map(move |s| (v.clone(), s.clone()))).collect();
    let mut slots = vec![vec![Slot::Empty; columns.len()]; arches.len()];
    for (a, v, s, slot) in entries {
        let row = arches.iter().position(|x| *x == a).expect("arch listed above");
        let col = columns.iter().position(|(cv, cs)| *cv == v && *cs == s).expect("column listed above");
        // A cell that ran wins over a stale not-run entry for the same place.
        if matches!(slots[row][col], Slot::Empty) || matches!(slot, Slot::Ran(_)) {
            slots[row][col] = slot;
        }
    }
    Grid { arches, columns, slots }
}

/// The grid cell's second line: what the kernel said, in a few words.
fn splat_word(c: &CellResult) -> String {
    let problems: Vec<_> = c.findings.findings.iter().filter(|f| f.category != Category::Info).collect();
    match (problems.first(), &c.expectation) {
        (None, crate::matrix::Expectation::Clean) => "clean, as expected".into(),
        (None, crate::matrix::Expectation::Splat { .. }) => "no splat (one was expected)".into(),
        (Some(f), _) => {
            let what = match (f.kind, &f.lockdep) {
                (crate::console::Kind::CircularLocking, Some(l)) => {
                    let expected = matches!(&c.expectation, crate::matrix::Expectation::Splat { .. });
                    format!("{}lock cycle: {}", if expected { "expected " } else { "" }, l.chain.join(" ⇄ "))
                }
                _ => f.title.clone(),
            };
            if problems.len() > 1 {
                format!("{what} (+{} more)", problems.len() - 1)
            } else {
                what
            }
        }
    }
}

fn lockout_word(c: &CellResult) -> Option<&'static str> {
    let k = c.verdict.checks.iter().find(|k| k.name == "lockout-held")?;
    Some(if k.skipped {
        "lockout: skipped"
    } else if k.ok {
        "lockout held"
    } else {
        "lockout NOT shown"
    })
}

fn slot_markup(r: &Results, slot: &Slot) -> Markup {
    match slot {
        Slot::Ran(i) => {
            let c = &r.cells[*i];
            html! {
                td.cell.(outcome_class(c.verdict.outcome)) data-cell=(c.id.to_string()) title=(c.verdict.reason) {
                    a href=(cell_href(&c.id.to_string())) {
                        div.word { (c.verdict.outcome.name()) }
                        div.sub { (splat_word(c)) }
                        div.sub { @if let Some(w) = lockout_word(c) { (w) " · " } (seconds(c.seconds())) }
                    }
                }
            }
        }
        Slot::NotRun(id) => {
            html! { td.cell.notrun data-cell=(id) { div.in { div.word { "NOT RUN" } div.sub { "interrupted or stopped early" } } } }
        }
        Slot::Pending(id) => {
            html! { td.cell.pending data-cell=(id) { div.in { div.word { "PENDING" } div.sub { "not finished yet" } } } }
        }
        Slot::Empty => html! { td.empty {} },
    }
}

pub fn grid_markup(r: &Results, g: &Grid) -> Markup {
    html! {
        table.grid id="grid" {
            thead {
                tr { th rowspan="2" { "arch" } @for (v, n) in g.variant_spans() { th colspan=(n) { (v) } } }
                tr { @for (_, s) in &g.columns { th { (s) } } }
            }
            tbody {
                @for (row, arch) in g.arches.iter().enumerate() {
                    tr { th.arch { (arch) } @for slot in &g.slots[row] { (slot_markup(r, slot)) } }
                }
            }
        }
    }
}

fn status_line(r: &Results) -> Markup {
    let done = r.cells.len();
    let planned = done + r.not_run.len();
    html! {
        p.status {
            span.badge.(outcome_class(r.outcome)) { (r.outcome.name()) }
            " "
            @if r.in_progress {
                strong { "IN PROGRESS" } ": " (done) " of " (planned) " cells finished; the outcome is that of the cells so far."
            } @else if r.interrupted {
                strong { "INTERRUPTED" } ": partial report, " (done) " of " (planned) " cells."
            } @else {
                (done) " of " (planned) " cells."
            }
            " Started " (r.started) ", updated " (r.finished) "."
        }
    }
}

fn str_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn metadata_markup(r: &Results, meta: Option<&serde_json::Value>) -> Markup {
    let Some(m) = meta else {
        return html! { p.note { "No metadata.json in this folder." } };
    };
    let text = |path: &[&str]| -> String {
        match str_at(m, path) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => "-".into(),
            Some(v) => v.to_string(),
        }
    };
    let cmd = str_at(m, &["command_line"])
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|w| w.as_str()).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "-".into());
    let dirty = str_at(m, &["git", "dirty"]).and_then(|v| v.as_bool()).unwrap_or(false);
    let tools: Vec<(String, String)> = str_at(m, &["tools"])
        .and_then(|v| v.as_object())
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("-").to_string())).collect())
        .unwrap_or_default();
    html! {
        dl.meta {
            dt { "command" } dd { code { (cmd) } }
            dt { "git" } dd { code { (text(&["git", "revision"])) } @if dirty { " (with uncommitted changes)" } }
            dt { "kernels" }
            dd {
                @match crate::report::kernels_of(Some(m), r).as_slice() {
                    [] => "-",
                    [one] => (one),
                    all => ul.kernels { @for k in all { li { (k) } } },
                }
            }
            dt { "host" } dd { (text(&["host", "uname"])) ", " (text(&["host", "cpus"])) " CPUs" }
            dt { "matrix" } dd { code { (text(&["run", "matrix"])) } }
        }
        @if !tools.is_empty() {
            details {
                summary { "tool versions" }
                table { @for (k, v) in &tools { tr { th { (k) } td { code { (v) } } } } }
            }
        }
    }
}

/// Each distinct kernel report once, with the cells it appeared in (like summary.md).
fn reports_markup(r: &Results) -> Markup {
    let mut uniq: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
    for c in &r.cells {
        for f in c.findings.findings.iter().filter(|f| f.category != Category::Info) {
            uniq.entry(&f.fingerprint).or_insert((&f.title, Vec::new())).1.push(c.id.to_string());
        }
    }
    html! {
        @if uniq.is_empty() {
            p.note { "No kernel reports in any cell." }
        } @else {
            table {
                tr { th { "fingerprint" } th { "title" } th { "cells" } }
                @for (fp, (title, cells)) in &uniq {
                    tr {
                        td { code { (fp) } }
                        td { (title) }
                        td { @for (i, id) in cells.iter().enumerate() { @if i > 0 { ", " } a href=(cell_href(id)) { (id) } } }
                    }
                }
            }
        }
    }
}

/// The run's page. `files`: the folder's own files to link (those that exist).
pub fn page(
    r: &Results,
    meta: Option<&serde_json::Value>,
    files: &[&str],
    baseline: Option<(&str, &crate::report::compare::Comparison)>,
) -> Markup {
    let g = layout(r);
    let body = html! {
        h1 { "ksm-hotremove-harness results" }
        (status_line(r))
        (metadata_markup(r, meta))
        @if let Some((name, cmp)) = baseline {
            h2 { "Compared with the baseline" }
            (super::compare::section(cmp, name))
        }
        h2 { "Matrix" }
        @if g.arches.is_empty() {
            p.note { "No cell has finished yet." }
        } @else {
            (grid_markup(r, &g))
            p.note { "Each cell links to its page: timeline, lockout windows, checks and the kernel's report drawn." }
        }
        h2 { "Kernel reports (deduplicated)" }
        (reports_markup(r))
        h2 { "Files" }
        p.links { @for f in files { a href=(super::url_escape(f)) { (f) } } }
    };
    shell(&format!("ksm-hotremove-harness: {}", r.outcome.name()), body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::verdict::Outcome;

    /// A run of PASS cells with these ids (`6.12-` in front: that kernel), nothing in them.
    pub(crate) fn results(ids: &[&str], not_run: &[&str], in_progress: bool) -> Results {
        let cells = ids
            .iter()
            .map(|id| {
                let (row, v, s) = split_id(id).unwrap();
                let (kernel, arch) = row.split_once(' ').map_or((None, row.as_str()), |(k, a)| (Some(k), a));
                serde_json::from_value::<CellResult>(serde_json::json!({
                    "id": id, "kernel": kernel, "arch": arch, "variant": v, "scenario": s, "expectation": "clean",
                    "verdict": { "outcome": "PASS", "reason": "r", "checks": [] },
                    "findings": { "findings": [], "lines": 0, "lockdep_turned_off": false },
                    "guest": crate::vm::markers::GuestReport::default(),
                    "host": crate::verdict::HostFacts::default(),
                    "stages": [], "kernel_rebuilt": null, "dir": "/nonexistent",
                }))
                .unwrap()
            })
            .collect();
        Results {
            schema: 1,
            started: "s".into(),
            finished: "f".into(),
            interrupted: !in_progress && !not_run.is_empty(),
            in_progress,
            outcome: Outcome::Pass,
            not_run: not_run.iter().map(|s| s.to_string()).collect(),
            cells,
            plan: None,
            missing: vec![],
        }
    }

    #[test]
    fn ids_split_with_dashes_in_the_variant() {
        assert_eq!(
            split_id("s390x-mutant-no-lockout-c-offline"),
            Some(("s390x".into(), "mutant-no-lockout-c", "offline"))
        );
        assert_eq!(split_id("arm64-upstream-cancel"), Some(("arm64".into(), "upstream", "cancel")));
        assert_eq!(split_id("6.12-arm64-upstream-cancel"), Some(("6.12 arm64".into(), "upstream", "cancel")));
        assert_eq!(split_id("arm64-cancel"), None);
    }

    #[test]
    fn rows_are_arches_and_columns_variant_scenario_pairs_in_plan_order() {
        let r = results(
            &["s390x-prefix-offline", "s390x-prefix-cancel", "s390x-upstream-offline", "arm64-prefix-offline"],
            &["arm64-prefix-cancel", "arm64-upstream-offline"],
            false,
        );
        let g = layout(&r);
        assert_eq!(g.arches, vec!["s390x", "arm64"]);
        assert_eq!(
            g.columns,
            vec![
                ("prefix".into(), "offline".into()),
                ("prefix".into(), "cancel".into()),
                ("upstream".into(), "offline".into())
            ]
        );
        assert_eq!(g.variant_spans(), vec![("prefix", 2), ("upstream", 1)]);
        assert_eq!(g.slots[0], vec![Slot::Ran(0), Slot::Ran(1), Slot::Ran(2)]);
        assert_eq!(
            g.slots[1],
            vec![
                Slot::Ran(3),
                Slot::NotRun("arm64-prefix-cancel".into()),
                Slot::NotRun("arm64-upstream-offline".into())
            ]
        );
    }

    #[test]
    fn a_report_written_mid_run_shows_the_rest_as_pending_and_holes_stay_empty() {
        let r = results(&["s390x-rust-offline"], &["arm64-upstream-cancel"], true);
        let g = layout(&r);
        assert_eq!(g.slots[0], vec![Slot::Ran(0), Slot::Empty]);
        assert_eq!(g.slots[1], vec![Slot::Empty, Slot::Pending("arm64-upstream-cancel".into())]);
        let html = page(&r, None, &[], None).into_string();
        assert!(html.contains("IN PROGRESS") && html.contains("PENDING"), "{html}");
        // One data-cell per planned cell, none for the holes.
        assert_eq!(html.matches("data-cell=").count(), 2);
    }

    #[test]
    fn the_page_is_self_contained() {
        let r = results(&["s390x-rust-offline", "arm64-rust-offline"], &[], false);
        let meta = serde_json::json!({"command_line": ["xtask", "matrix"], "git": {"revision": "abc", "dirty": true}, "tools": {"make": "GNU Make 4.3"}});
        let html = page(&r, Some(&meta), &["summary.md"], None).into_string();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("xtask matrix") && html.contains("uncommitted") && html.contains("GNU Make 4.3"));
        assert!(html.contains(r#"href="s390x-rust-offline/index.html""#));
        for remote in ["http:", "https:", "<script", "<link", "@import"] {
            assert!(!html.contains(remote), "{remote} in the page");
        }
    }
}
