//! junit.xml: a test suite per arch, a test case per cell, the splat as failure text.

use std::collections::BTreeMap;

use anyhow::Result;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{CellResult, Results};
use crate::console::Category;
use crate::verdict::Outcome;

pub(super) fn junit(results: &Results) -> Result<String> {
    let mut report = Report::new("ksm-hotremove-harness");
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for c in &results.cells {
        // A kernel that misbehaved is a failure; a harness problem or an inconclusive run an error.
        let kind = match c.verdict.outcome {
            Outcome::Pass => None,
            Outcome::Fail | Outcome::Timeout => Some(NonSuccessKind::Failure),
            Outcome::Error | Outcome::Inconclusive => Some(NonSuccessKind::Error),
        };
        let status = match kind {
            None => TestCaseStatus::success(),
            Some(kind) => {
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(format!("{}: {}", c.verdict.outcome.name(), c.verdict.reason));
                s.set_type(c.verdict.outcome.name());
                s.set_description(failure_text(c));
                s
            }
        };
        let mut tc = TestCase::new(c.id.scenario.name(), status);
        tc.set_classname(format!("{}.{}", c.id.arch, c.id.variant));
        tc.set_time(std::time::Duration::from_secs_f64(c.seconds()));
        tc.set_system_out(format!(
            "verdict: {} ({})\nfolder: {}\n",
            c.verdict.outcome.name(),
            c.verdict.reason,
            c.dir.display()
        ));
        let arch = c.id.arch.name().to_string();
        suites.entry(arch.clone()).or_insert_with(|| TestSuite::new(arch)).add_test_case(tc);
    }
    // A planned cell that no shard reported is an error of its own, not an absent test.
    for m in &results.missing {
        let id = m.split(':').next().unwrap_or(m);
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_message(format!("MISSING: {m}"));
        st.set_type("MISSING");
        let arch = id.split('-').next().unwrap_or("missing").to_string();
        suites
            .entry(arch.clone())
            .or_insert_with(|| TestSuite::new(arch))
            .add_test_case(TestCase::new(id.to_string(), st));
    }
    for (_, s) in suites {
        report.add_test_suite(s);
    }
    Ok(report.to_string()?)
}

/// The failure text of a cell: the splat as the kernel printed it, if any.
fn failure_text(c: &CellResult) -> String {
    let mut out = format!("{}\n", c.verdict.reason);
    for (_, _, text) in super::excerpts(c, |f| f.category != Category::Info) {
        out.push_str(&text);
        out.push('\n');
    }
    out
}
