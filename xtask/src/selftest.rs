//! The kernel's own selftests, judged: what each case printed and how it exited (the guest's
//! `selftest` markers) -> one result per case, or per TAP line, as kselftest's runner reads
//! them (exit 0 ok, 4 skip, else not ok; TAP `ok`/`not ok`/`# SKIP`), plus the per-case rules
//! of the matrix (`fail_if`, `skip_if`). Pure.

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::matrix::{Case, Output, SelftestPlan};
use crate::vm::markers::SelftestRun;

/// kselftest's exit status for a skipped test (KSFT_SKIP).
pub const KSFT_SKIP: i64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    NotOk,
    /// The test said it cannot run here; never counted as a pass.
    Skip,
    /// Begun, never ended: the cell's timeout cut it.
    Timeout,
    /// The guest never started it (an earlier case hung, or the guest stopped).
    NotRun,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotOk => "not ok",
            Status::Skip => "skip",
            Status::Timeout => "TIMEOUT",
            Status::NotRun => "not run",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The case (`ksm_tests-merge`), or the case and its TAP test number (`ksm_functional_tests/3`).
    pub name: String,
    pub status: Status,
    /// What the test printed about it: the TAP description, the skip reason, the failing line.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Why its result is not the kernel's property here (the matrix's `flaky:`): shown, but
    /// neither required nor compared across variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flaky: Option<String>,
    /// A skip because the tree has no such program (6.1 has no ksm_functional_tests): shown,
    /// and the variant's `must_pass` does not reach it, as it names cases of the newest tree.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_in_tree: bool,
}

/// A cell's selftests in cell.json and results.json: a result per case, and the variant whose
/// results these must equal (checked across cells when the report is made, see [`parity`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub cases: Vec<CaseResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
}

fn result(name: impl Into<String>, status: Status, detail: impl Into<String>, seconds: Option<f64>) -> CaseResult {
    CaseResult { name: name.into(), status, detail: detail.into(), seconds, flaky: None, not_in_tree: false }
}

/// Every case of `plan`, in order: what the guest's `runs` show, or why there is nothing.
/// `absent`: programs the tree does not have, with the folders searched.
pub fn results(plan: &SelftestPlan, runs: &[SelftestRun], absent: &BTreeMap<String, String>) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for case in &plan.cases {
        if let Some(why) = absent.get(case.program()) {
            let mut r = result(&case.name, Status::Skip, format!("{}: {why}", case.program()), None);
            r.not_in_tree = true;
            out.push(r);
            continue;
        }
        let Some(run) = runs.iter().find(|r| r.case == case.name) else {
            let hung = runs.iter().find(|r| r.exit.is_none());
            let why = match hung {
                Some(h) => format!("not started: {} did not finish", h.case),
                None => "the guest did not run it".to_string(),
            };
            out.push(result(&case.name, Status::NotRun, why, None));
            continue;
        };
        out.extend(judge_run(case, run));
    }
    for r in &mut out {
        r.flaky = plan.flaky(&r.name).map(str::to_string);
    }
    out
}

/// How many results the variant requires (named by `must_pass`, program in the tree), and
/// each of those that is not ok, as `name status (detail)`.
pub fn must_pass_failures(plan: &SelftestPlan, results: &[CaseResult]) -> (usize, Vec<String>) {
    let required: Vec<&CaseResult> = results.iter().filter(|r| plan.must_pass(&r.name) && !r.not_in_tree).collect();
    let failed = required
        .iter()
        .filter(|r| r.status != Status::Ok)
        .map(|r| format!("{} {} ({})", r.name, r.status.word(), r.detail))
        .collect();
    (required.len(), failed)
}

fn last_line(run: &SelftestRun) -> String {
    run.output.iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string()).unwrap_or_default()
}

fn judge_run(case: &Case, run: &SelftestRun) -> Vec<CaseResult> {
    let seconds = run.started.zip(run.ended).map(|(a, b)| b - a);
    let Some(exit) = run.exit else {
        let detail = format!("did not finish; last line: {:?}", last_line(run));
        return vec![result(&case.name, Status::Timeout, detail, None)];
    };
    let matching = |re: &Option<String>| -> Vec<&str> {
        let Some(re) = re.as_deref().and_then(|r| Regex::new(r).ok()) else { return vec![] };
        run.output.iter().map(|l| l.trim()).filter(|l| re.is_match(l)).collect()
    };
    let (fails, skips) = (matching(&case.fail_if), matching(&case.skip_if));
    if case.output == Output::Tap {
        let mut v = tap(&case.name, &run.output, seconds);
        let planned =
            run.output.iter().find_map(|l| l.trim().strip_prefix("1..").and_then(|n| n.trim().parse::<usize>().ok()));
        let failed_lines = v.iter().any(|r| r.status == Status::NotOk);
        if v.is_empty() && exit == KSFT_SKIP {
            v.push(result(&case.name, Status::Skip, last_line(run), seconds));
        } else if let Some(p) = planned.filter(|p| *p > v.len()) {
            v.push(result(
                &case.name,
                Status::NotOk,
                format!("planned {p} tests, reported {}; exit {exit}", v.len()),
                seconds,
            ));
        } else if exit != 0 && exit != KSFT_SKIP && !failed_lines {
            v.push(result(&case.name, Status::NotOk, format!("exit {exit}: {}", last_line(run)), seconds));
        }
        return v;
    }
    let (status, detail) = if !fails.is_empty() {
        (Status::NotOk, fails.join("; "))
    } else if let Some(s) = skips.first() {
        (Status::Skip, s.to_string())
    } else if exit == 0 {
        (Status::Ok, last_line(run))
    } else if exit == KSFT_SKIP {
        (Status::Skip, last_line(run))
    } else {
        (Status::NotOk, format!("exit {exit}: {}", last_line(run)))
    };
    vec![result(&case.name, status, detail, seconds)]
}

/// TAP lines -> results named `case/N`, the description prefixed by the `# [RUN] name` line that
/// announced the test (ksm_functional_tests gives several tests one description).
fn tap(case: &str, lines: &[String], seconds: Option<f64>) -> Vec<CaseResult> {
    let re = Regex::new(r"^(not ok|ok) (\d+)\s*-?\s*([^#]*?)\s*(?:#\s*(SKIP|TODO)\b\s*(.*))?$").expect("TAP regex");
    let mut running: Option<String> = None;
    let mut v = Vec::new();
    for l in lines.iter().map(|l| l.trim()) {
        if let Some(r) = l.strip_prefix("# [RUN] ") {
            running = Some(r.trim().to_string());
            continue;
        }
        let Some(c) = re.captures(l) else { continue };
        let desc = c.get(3).map_or("", |m| m.as_str());
        let skip = c.get(4).is_some_and(|m| m.as_str() == "SKIP");
        let status = match (&c[1], skip) {
            (_, true) => Status::Skip,
            ("ok", _) => Status::Ok,
            _ => Status::NotOk,
        };
        let mut detail = match running.take() {
            Some(r) => format!("{r}: {desc}"),
            None => desc.to_string(),
        };
        if let Some(reason) = c.get(5).filter(|m| !m.as_str().is_empty()) {
            detail = format!("{detail} ({})", reason.as_str());
        }
        let name = format!("{case}/{}", &c[2]);
        // A forked child that exits through a copy of an unflushed stdout prints its parent's
        // lines again (ksm_functional_tests's fork tests, stdout a pipe): the first one counts.
        if !v.iter().any(|r: &CaseResult| r.name == name) {
            v.push(result(name, status, detail, seconds));
        }
    }
    v
}

/// Counts per status, for one-line summaries: `6 ok, 2 skip`.
pub fn counts(rs: &[CaseResult]) -> String {
    let mut by: BTreeMap<Status, usize> = BTreeMap::new();
    for r in rs {
        *by.entry(r.status).or_default() += 1;
    }
    by.iter().map(|(s, n)| format!("{n} {}", s.word())).collect::<Vec<_>>().join(", ")
}

/// Where `theirs` (e.g. the rust cell) differs from `ours` (the upstream cell of the same
/// kernel, arch and scenario), case by case: `name: upstream ok, rust not ok (detail)`.
/// Flaky cases are left out.
pub fn differences(ours: &[CaseResult], theirs: &[CaseResult], our_name: &str, their_name: &str) -> Vec<String> {
    let mut names: Vec<&str> =
        ours.iter().chain(theirs).filter(|r| r.flaky.is_none()).map(|r| r.name.as_str()).collect();
    names.dedup();
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(*n));
    names
        .into_iter()
        .filter_map(|n| {
            let a = ours.iter().find(|r| r.name == n);
            let b = theirs.iter().find(|r| r.name == n);
            let word = |r: Option<&CaseResult>| r.map_or("absent", |r| r.status.word());
            (a.map(|r| r.status) != b.map(|r| r.status)).then(|| {
                format!(
                    "{n}: {our_name} {}, {their_name} {}{}",
                    word(a),
                    word(b),
                    b.map(|r| format!(" ({})", r.detail)).unwrap_or_default()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
