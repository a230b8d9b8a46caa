//! Two results folders side by side (`report compare OLD NEW`, `report merge --baseline OLD`):
//! per cell the outcome before and after, the kernel reports that appeared, went or stayed (by
//! fingerprint), and the cell times that moved by more than a quarter. Pure: [`compare`] takes
//! two loaded [`Results`]; [`text`] renders it for the terminal and summary.md, `html::compare`
//! for index.html.

use std::collections::BTreeSet;

use serde::Serialize;

use super::Results;
use crate::verdict::Outcome;

pub mod text;

/// A cell time that moved by more than this share of OLD's is reported (never "worse" on its
/// own: a kernel rebuilt or a busy runner moves times without the kernel changing).
pub const TIME_CHANGE: f64 = 0.25;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub old: RunSide,
    pub new: RunSide,
    /// NEW's planned cells in plan order, then the cells only OLD has.
    pub cells: Vec<CellDiff>,
}

/// What a comparison says about one whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSide {
    pub outcome: Outcome,
    pub cells: usize,
    pub started: String,
    /// Interrupted or still in progress: its missing cells are the run's, not the kernel's.
    pub partial: bool,
}

/// A kernel report as a comparison names it: the fingerprint says which, the title what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Report {
    pub fingerprint: String,
    pub title: String,
}

/// One cell of either run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellDiff {
    pub id: String,
    pub old: Option<CellSide>,
    pub new: Option<CellSide>,
    /// NEW planned it (its plan, or its not-run list) but has no result for it.
    pub missing: bool,
    /// Reports NEW has and OLD's same cell had not (every report of a cell only NEW has).
    pub new_reports: Vec<Report>,
    pub gone_reports: Vec<Report>,
    pub persisting_reports: Vec<Report>,
    /// (NEW - OLD) / OLD of the cell's time, when its size is over [`TIME_CHANGE`].
    pub time_change: Option<f64>,
    /// Why this cell counts as worse; empty when it does not.
    pub worse: Vec<Worse>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellSide {
    pub outcome: Outcome,
    pub seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    /// A more severe outcome than OLD's (or, for a cell only NEW has, any but PASS).
    Outcome,
    /// A kernel report OLD's same cell did not have.
    NewReport,
    /// Planned in NEW, no result there.
    Missing,
}

impl CellDiff {
    pub fn only_old(&self) -> bool {
        self.old.is_some() && self.new.is_none() && !self.missing
    }
    pub fn only_new(&self) -> bool {
        self.old.is_none() && self.new.is_some()
    }
    /// A less severe outcome, or reports gone and none come: the opposite of worse, for the count.
    pub fn better(&self) -> bool {
        match (&self.old, &self.new) {
            (Some(o), Some(n)) if self.worse.is_empty() => {
                n.outcome.severity() < o.outcome.severity() || !self.gone_reports.is_empty()
            }
            _ => false,
        }
    }
    /// Nothing to say about it beyond "same as before".
    pub fn unchanged(&self) -> bool {
        self.old.is_some()
            && self.new.is_some()
            && self.worse.is_empty()
            && !self.better()
            && self.new_reports.is_empty()
            && self.time_change.is_none()
            && self.old.as_ref().map(|s| s.outcome) == self.new.as_ref().map(|s| s.outcome)
    }
}

impl Comparison {
    /// Anything got worse: `report compare` exits 1.
    pub fn worse(&self) -> bool {
        self.cells.iter().any(|c| !c.worse.is_empty())
    }
}

/// The cells NEW meant to run: its plan, and (folders without one) whatever it ran, left
/// unrun or found missing.
fn planned(r: &Results) -> Vec<String> {
    let mut ids: Vec<String> = r.plan.as_ref().map(|p| p.cells.clone()).unwrap_or_default();
    // A missing entry reads `<id>: <why>`.
    let missing = r.missing.iter().map(|m| m.split_once(": ").map_or(m.as_str(), |(id, _)| id).to_string());
    for id in r.cells.iter().map(|c| c.id.to_string()).chain(r.not_run.iter().cloned()).chain(missing) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// A cell's kernel reports, each fingerprint once (info lines are not reports).
fn reports(c: &super::CellResult) -> BTreeSet<Report> {
    c.findings.problems().map(|f| Report { fingerprint: f.fingerprint.clone(), title: f.title.clone() }).collect()
}

fn run_side(r: &Results) -> RunSide {
    RunSide {
        outcome: r.outcome,
        cells: r.cells.len(),
        started: r.started.clone(),
        partial: r.interrupted || r.in_progress,
    }
}

/// OLD against NEW, cell by cell (matched by id).
pub fn compare(old: &Results, new: &Results) -> Comparison {
    let find = |r: &'_ Results, id: &str| r.cells.iter().find(|c| c.id.to_string() == id).cloned();
    let new_plan = planned(new);
    let mut ids = new_plan.clone();
    for c in &old.cells {
        let id = c.id.to_string();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let cells = ids
        .into_iter()
        .map(|id| {
            let (o, n) = (find(old, &id), find(new, &id));
            let (ro, rn) = (o.as_ref().map(reports).unwrap_or_default(), n.as_ref().map(reports).unwrap_or_default());
            // Fingerprints decide what is the same report; a title reworded is not a new one.
            let fps = |s: &BTreeSet<Report>| s.iter().map(|r| r.fingerprint.clone()).collect::<BTreeSet<_>>();
            let (fo, fnew) = (fps(&ro), fps(&rn));
            let new_reports: Vec<Report> = rn.iter().filter(|r| !fo.contains(&r.fingerprint)).cloned().collect();
            let gone_reports: Vec<Report> = ro.iter().filter(|r| !fnew.contains(&r.fingerprint)).cloned().collect();
            let persisting_reports: Vec<Report> = rn.iter().filter(|r| fo.contains(&r.fingerprint)).cloned().collect();
            let side = |c: &super::CellResult| CellSide { outcome: c.verdict.outcome, seconds: c.seconds() };
            let (old_side, new_side) = (o.as_ref().map(side), n.as_ref().map(side));
            // A cell OLD ran and NEW never planned left the matrix (or the run's selection).
            let missing = new_side.is_none() && new_plan.contains(&id);
            let mut worse = Vec::new();
            match (&old_side, &new_side) {
                (Some(a), Some(b)) => {
                    if b.outcome.severity() > a.outcome.severity() {
                        worse.push(Worse::Outcome);
                    }
                    if !new_reports.is_empty() {
                        worse.push(Worse::NewReport);
                    }
                }
                // A cell only NEW has has no baseline for its reports (a new variant's expected
                // splat is no regression): its outcome alone speaks.
                (None, Some(b)) if b.outcome != Outcome::Pass => worse.push(Worse::Outcome),
                _ => {}
            }
            if missing {
                worse.push(Worse::Missing);
            }
            let time_change = match (&old_side, &new_side) {
                (Some(a), Some(b)) if a.seconds > 0.0 && b.seconds.is_finite() => {
                    let d = (b.seconds - a.seconds) / a.seconds;
                    (d.abs() > TIME_CHANGE).then_some(d)
                }
                _ => None,
            };
            CellDiff {
                id,
                old: old_side,
                new: new_side,
                missing,
                new_reports,
                gone_reports,
                persisting_reports,
                time_change,
                worse,
            }
        })
        .collect();
    Comparison { old: run_side(old), new: run_side(new), cells }
}

#[cfg(test)]
mod tests;
