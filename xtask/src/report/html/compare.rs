//! The run's page compared with a baseline run (`report merge --baseline OLD`): the rows
//! `report compare` prints for the cells that changed, worse first, each linking to its page.

use maud::{html, Markup};

use super::cell_href;
use crate::report::compare::{text, CellDiff, Comparison, Worse};

/// The colour of a row's change word, from the outcome palette.
fn class(d: &CellDiff) -> &'static str {
    if d.worse.contains(&Worse::Missing) {
        "error"
    } else if !d.worse.is_empty() {
        "fail"
    } else if d.better() {
        "pass"
    } else {
        "notrun"
    }
}

pub fn section(c: &Comparison, baseline: &str) -> Markup {
    let reports = |word: &'static str, rs: &[crate::report::compare::Report]| {
        html! { @for r in rs { div { (word) " " code { (r.fingerprint) } " " (r.title) } } }
    };
    // The grid below has a place per cell: only the cells with something to say get a row.
    let changed: Vec<&CellDiff> = text::ordered(c).into_iter().filter(|d| !d.unchanged()).collect();
    html! {
        p.status { strong { (text::headline(c)) } }
        p.note {
            "Baseline " code { (baseline) } ": " (c.old.outcome.name()) ", " (c.old.cells) " cells, started "
            (c.old.started) ". Worse is a more severe outcome (FAIL > TIMEOUT > ERROR > INCONCLUSIVE > PASS), a kernel "
            "report the cell did not have, a planned cell without a result, or a new cell that did not pass; times that "
            "moved by more than " (format!("{:.0}", crate::report::compare::TIME_CHANGE * 100.0)) " % are listed, not worse."
        }
        @if !changed.is_empty() {
        table #compare {
            tr { th { "cell" } th { "change" } th { "outcome" } th { "kernel reports" } th { "time" } th { "why worse" } }
            @for d in &changed {
                tr {
                    td {
                        @if d.new.is_some() { a href=(cell_href(&d.id)) { (d.id) } } @else { (d.id) }
                    }
                    td { span.badge.(class(d)) { (text::state(d)) } }
                    td { (text::outcome_words(d)) }
                    td {
                        (reports("new", &d.new_reports))
                        (reports("gone", &d.gone_reports))
                        (reports("persisting", &d.persisting_reports))
                    }
                    td.num { (text::time_words(d)) }
                    td { @if !d.worse.is_empty() { (text::worse_words(&d.worse)) } }
                }
            }
        }
        }
        @if changed.len() < c.cells.len() {
            p.note { (text::unchanged_words(c.cells.len() - changed.len(), c.cells.len())) "; each has its place in the grid below." }
        }
    }
}
