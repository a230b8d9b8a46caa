//! summary.md and the terminal table: a row per cell, the lockout evidence, each distinct
//! kernel report once, the verdict reasons.

use std::collections::BTreeMap;

use super::compare::Comparison;
use super::{KernelLine, Results};

pub fn table(results: &Results) -> String {
    let mut s = String::from("| cell | verdict | expected | splat | fingerprint | KSM pages merged | blocks removed | time |\n|---|---|---|---|---|---|---|---|\n");
    for c in &results.cells {
        let f = c.findings.findings.iter().find(|f| f.category != crate::console::Category::Info);
        let exp = c.expectation.word();
        let mut removed = c.guest.blocks_offlined().iter().map(|b| b.to_string()).collect::<Vec<_>>().join(",");
        if c.host.dimm_removed == Some(true) {
            removed.push_str(" +DIMM");
        }
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0}s |\n",
            c.id,
            c.verdict.outcome.name(),
            exp,
            f.map(|f| f.title.as_str()).unwrap_or("-"),
            f.map(|f| f.fingerprint.as_str()).unwrap_or("-"),
            c.guest.merged().map(|k| k.pages_sharing.to_string()).unwrap_or_else(|| "-".into()),
            if removed.is_empty() { "-".into() } else { removed },
            c.seconds()
        ));
    }
    s
}

/// The lockout evidence per cell: the windows, ksmd's batches in and before them, the write
/// held across them, and the check's word on it.
fn lockout_table(results: &Results) -> String {
    let mut s = String::from(
        "\n## Offline lockout (kernel trace)\n\n| cell | lockout-held | windows | longest window | ksmd batches inside | batches in the 3 s before | run word after GOING_OFFLINE | run write held |\n|---|---|---|---|---|---|---|---|\n",
    );
    for c in &results.cells {
        let check = c.verdict.checks.iter().find(|k| k.name == "lockout-held");
        let word = match check {
            Some(k) if k.skipped => "SKIPPED",
            Some(k) if k.ok => "held",
            Some(_) => "NOT SHOWN",
            None => "n/a (splat expected)",
        };
        let Some(e) = &c.lockout else {
            s.push_str(&format!("| {} | {word} | - | - | - | - | - | - |\n", c.id));
            continue;
        };
        let longest =
            e.windows.iter().max_by(|a, b| a.length_ms.unwrap_or(f64::MAX).total_cmp(&b.length_ms.unwrap_or(f64::MAX)));
        let held = e
            .writes_in_windows()
            .map(|(w, _)| {
                w.returned
                    .map(|r| format!("{:.0} ms", (r - w.entered) * 1000.0))
                    .unwrap_or_else(|| "never returned".into())
            })
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!(
            "| {} | {word} | {} | {} | {} | {} | {} | {} |\n",
            c.id,
            e.windows.len(),
            longest
                .map(|w| w.length_ms.map(|l| format!("{l:.0} ms")).unwrap_or_else(|| "never closed".into()))
                .unwrap_or_else(|| "-".into()),
            e.windows.iter().map(|w| w.scans_inside.to_string()).collect::<Vec<_>>().join("/"),
            e.windows.iter().map(|w| w.scans_before.to_string()).collect::<Vec<_>>().join("/"),
            e.windows.iter().map(|w| w.run_after_going_offline.to_string()).collect::<Vec<_>>().join("/"),
            if held.is_empty() { "-".into() } else { held },
        ));
    }
    s
}

/// The kernel's own selftests: a row per case, a column per cell that ran them, so upstream
/// and rust stand side by side; skips read `skip`, never `ok`.
fn selftest_table(results: &Results) -> String {
    let cells: Vec<_> = results.cells.iter().filter_map(|c| c.selftests.as_ref().map(|s| (c, s))).collect();
    if cells.is_empty() {
        return String::new();
    }
    let mut names: Vec<&str> = Vec::new();
    for (_, st) in &cells {
        for r in &st.cases {
            if !names.contains(&r.name.as_str()) {
                names.push(&r.name);
            }
        }
    }
    let mut s = String::from(
        "
## Kernel selftests (each cell's own tree)

| case |",
    );
    cells.iter().for_each(|(c, _)| s.push_str(&format!(" {} |", c.id)));
    s.push_str(
        "
|---|",
    );
    cells.iter().for_each(|_| s.push_str("---|"));
    s.push('\n');
    for n in names {
        s.push_str(&format!("| {n} |"));
        for (_, st) in &cells {
            let cell = match st.cases.iter().find(|r| r.name == n) {
                Some(r) if r.flaky.is_some() => format!("{} (flaky)", r.status.word()),
                Some(r) => r.status.word().to_string(),
                None => "-".into(),
            };
            s.push_str(&format!(" {cell} |"));
        }
        s.push('\n');
    }
    s.push_str("| totals |");
    cells.iter().for_each(|(_, st)| s.push_str(&format!(" {} |", crate::selftest::counts(&st.cases))));
    s.push('\n');
    s
}

pub(super) fn summary_md(results: &Results, kernels: &[KernelLine], baseline: Option<(&str, &Comparison)>) -> String {
    let done = results.cells.len();
    let planned = done + results.not_run.len();
    let status = if results.in_progress {
        format!("**IN PROGRESS** ({done} of {planned} cells finished; outcome so far {})", results.outcome.name())
    } else if results.interrupted {
        format!("**{}** (interrupted: partial report, {done} of {planned} cells)", results.outcome.name())
    } else {
        format!("**{}**", results.outcome.name())
    };
    let mut s = format!(
        "# ksm-hotremove-harness results\n\noutcome: {status}; started {}, updated {}\n\n",
        results.started, results.finished
    );
    match kernels {
        [] => {}
        [one] => s.push_str(&format!("kernel: {one}\n\n")),
        all => {
            s.push_str("kernels:\n");
            all.iter().for_each(|k| s.push_str(&format!("- {k}\n")));
            s.push('\n');
        }
    }
    s.push_str(
        "Open [index.html](index.html) in a browser for the grid, each cell's timeline and the lock cycles drawn.\n\n",
    );
    // What changed since the baseline is the news of a nightly: before the table.
    if let Some((name, cmp)) = baseline {
        s.push_str("## Compared with the baseline\n\n");
        s.push_str(&super::compare::text::markdown(cmp, name, "this run", super::compare::text::Rows::Changed));
        s.push_str("\n## Cells\n\n");
    }
    s.push_str(&table(results));
    s.push_str(&lockout_table(results));
    s.push_str(&selftest_table(results));
    // Each distinct report once, with the cells it appeared in.
    let mut uniq: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for c in &results.cells {
        for f in c.findings.findings.iter().filter(|f| f.category != crate::console::Category::Info) {
            uniq.entry(f.fingerprint.clone()).or_insert_with(|| (f.title.clone(), Vec::new())).1.push(c.id.to_string());
        }
    }
    if !uniq.is_empty() {
        s.push_str("\n## Kernel reports (deduplicated)\n\n| fingerprint | title | cells |\n|---|---|---|\n");
        for (fp, (title, cells)) in uniq {
            s.push_str(&format!("| {fp} | {title} | {} |\n", cells.join(", ")));
        }
    }
    s.push_str("\n## Verdict reasons\n\n");
    for c in &results.cells {
        s.push_str(&format!("- {}: {} — {}\n", c.id, c.verdict.outcome.name(), c.verdict.reason));
    }
    if !results.missing.is_empty() {
        s.push_str("\n## Missing (planned, never reported: the merge is not green)\n\n");
        for m in &results.missing {
            s.push_str(&format!("- {m}\n"));
        }
    }
    if !results.not_run.is_empty() {
        s.push_str(&format!("\nnot run: {}\n", results.not_run.join(", ")));
    }
    s
}
