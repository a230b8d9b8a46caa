//! A comparison as Markdown: what `report compare` prints, and the section summary.md gets from
//! `report merge --baseline` (the nightly appends summary.md to its job summary).

use super::{CellDiff, Comparison, Report, RunSide, Worse, TIME_CHANGE};
use crate::report::html::seconds;

/// The one-word state of a cell, worse first in the table.
pub fn state(c: &CellDiff) -> &'static str {
    if c.missing {
        "MISSING"
    } else if !c.worse.is_empty() {
        "WORSE"
    } else if c.only_old() {
        "only in OLD"
    } else if c.only_new() {
        "only in NEW"
    } else if c.better() {
        "better"
    } else {
        "same"
    }
}

pub fn worse_words(w: &[Worse]) -> String {
    w.iter()
        .map(|w| match w {
            Worse::Outcome => "outcome",
            Worse::NewReport => "new kernel report",
            Worse::Missing => "no result",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn outcome_words(c: &CellDiff) -> String {
    match (&c.old, &c.new) {
        (Some(o), Some(n)) if o.outcome == n.outcome => o.outcome.name().into(),
        (Some(o), Some(n)) => format!("{} → {}", o.outcome.name(), n.outcome.name()),
        (Some(o), None) => format!("{} → -", o.outcome.name()),
        (None, Some(n)) => format!("- → {}", n.outcome.name()),
        (None, None) => "-".into(),
    }
}

pub fn time_words(c: &CellDiff) -> String {
    match (&c.old, &c.new, c.time_change) {
        (Some(o), Some(n), Some(d)) => {
            format!("{} → {} ({:+.0} %)", seconds(o.seconds), seconds(n.seconds), d * 100.0)
        }
        (_, Some(n), None) => seconds(n.seconds),
        (Some(o), None, _) => seconds(o.seconds),
        _ => "-".into(),
    }
}

/// The rows worse first, then in NEW's plan order.
pub fn ordered(c: &Comparison) -> Vec<&CellDiff> {
    let mut rows: Vec<&CellDiff> = c.cells.iter().collect();
    rows.sort_by_key(|d| d.worse.is_empty());
    rows
}

pub fn headline(c: &Comparison) -> String {
    let n = |f: &dyn Fn(&CellDiff) -> bool| c.cells.iter().filter(|d| f(d)).count();
    let worse = n(&|d| !d.worse.is_empty());
    let counts = format!(
        "{} better, {} same, {} only in OLD, {} only in NEW, {} with a time change over {:.0} %",
        n(&|d| d.better()),
        n(&|d| state(d) == "same"),
        n(&|d| d.only_old()),
        n(&|d| d.only_new()),
        n(&|d| d.time_change.is_some()),
        TIME_CHANGE * 100.0
    );
    if worse == 0 {
        format!("nothing got worse ({counts})")
    } else {
        format!("WORSE: {worse} cell{} ({counts})", if worse == 1 { "" } else { "s" })
    }
}

fn side(label: &str, s: &RunSide) -> String {
    format!(
        "{label} — {}, {} cell{}, started {}{}",
        s.outcome.name(),
        s.cells,
        if s.cells == 1 { "" } else { "s" },
        s.started,
        if s.partial { " (partial: interrupted or still running)" } else { "" }
    )
}

fn cell_md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn reports_md(c: &CellDiff) -> String {
    let all: Vec<String> = [("new", &c.new_reports), ("gone", &c.gone_reports), ("persisting", &c.persisting_reports)]
        .into_iter()
        .flat_map(|(word, rs)| {
            rs.iter().map(move |r: &Report| format!("{word} `{}` {}", r.fingerprint, cell_md(&r.title)))
        })
        .collect();
    if all.is_empty() {
        "-".into()
    } else {
        all.join("; ")
    }
}

/// What the rows left out have in common.
pub fn unchanged_words(hidden: usize, all: usize) -> String {
    let who = match (hidden, hidden == all) {
        (1, true) => "The one cell".to_string(),
        (n, true) => format!("All {n} cells"),
        (1, false) => "1 other cell".to_string(),
        (n, false) => format!("{n} other cells"),
    };
    format!("{who}: the same outcome, the same kernel reports, a time within {:.0} %", TIME_CHANGE * 100.0)
}

/// Which cells get a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rows {
    /// Every cell: `report compare`, where the rows are all there is.
    All,
    /// Only cells with something to say: a report that has its own row per cell already.
    Changed,
}

/// The whole comparison: both runs, the headline, a row per cell, what "worse" means.
pub fn markdown(c: &Comparison, old: &str, new: &str, rows: Rows) -> String {
    let mut s = format!("OLD: {}\nNEW: {}\n\n**{}**\n\n", side(old, &c.old), side(new, &c.new), headline(c));
    let shown: Vec<&CellDiff> = ordered(c).into_iter().filter(|d| rows == Rows::All || !d.unchanged()).collect();
    if !shown.is_empty() {
        s.push_str(
            "| cell | change | outcome | kernel reports (fingerprint, title) | time | why worse |\n|---|---|---|---|---|---|\n",
        );
    }
    let hidden = c.cells.len() - shown.len();
    for d in shown {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            d.id,
            state(d),
            outcome_words(d),
            reports_md(d),
            time_words(d),
            if d.worse.is_empty() { "-".into() } else { worse_words(&d.worse) }
        ));
    }
    if hidden > 0 {
        s.push_str(&format!("\n{}.\n", unchanged_words(hidden, c.cells.len())));
    }
    s.push_str(&format!(
        "\nWorse is a more severe outcome (FAIL > TIMEOUT > ERROR > INCONCLUSIVE > PASS), a kernel report \
         (fingerprint) the cell did not have, a cell NEW planned but has no result for, or a cell only NEW \
         has that did not pass. Time changes over {:.0} % are listed, not worse.\n",
        TIME_CHANGE * 100.0
    ));
    s
}
