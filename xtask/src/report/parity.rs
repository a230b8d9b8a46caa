//! Selftest parity across cells: a variant whose selftests must equal another's (`same_as:`,
//! the Rust KSM against the C one) fails, case by case, where they differ on the same kernel,
//! arch and scenario. A check across cells, so it is made when a report is made (after every
//! cell, and again by `report merge` over shards).

use super::CellResult;
use crate::outcome::Outcome;
use crate::verdict::Check;

pub const CHECK: &str = "selftests-same-as";

/// Adds (or renews) the parity check of every cell that names a `same_as` whose cell is there,
/// and makes the cell FAIL where a case differs. Idempotent.
pub fn apply(cells: &mut [CellResult]) {
    for i in 0..cells.len() {
        let Some(same_as) = cells[i].selftests.as_ref().and_then(|s| s.same_as.clone()) else { continue };
        let id = &cells[i].id;
        let Some(theirs) = cells.iter().find(|o| {
            o.id.variant == same_as && (&o.id.kernel, o.id.arch, o.id.scenario) == (&id.kernel, id.arch, id.scenario)
        }) else {
            continue;
        };
        let Some(ours) = theirs.selftests.as_ref().map(|s| s.cases.clone()) else { continue };
        let theirs_id = theirs.id.to_string();
        let c = &mut cells[i];
        let mine = c.selftests.as_ref().map(|s| s.cases.as_slice()).unwrap_or_default();
        let diff = crate::selftest::differences(&ours, mine, &same_as, &c.id.variant);
        let detail = if diff.is_empty() {
            format!("{} cases give what they give on {same_as} ({theirs_id})", mine.len())
        } else {
            format!("differs from {same_as} ({theirs_id}): {}", diff.join("; "))
        };
        c.verdict.checks.retain(|k| k.name != CHECK);
        c.verdict.checks.push(Check::new(CHECK, diff.is_empty(), detail.clone()));
        if !diff.is_empty() && c.verdict.outcome != Outcome::Fail {
            c.verdict.outcome = Outcome::Fail;
            c.verdict.reason = format!("{CHECK}: {detail}");
        }
    }
}
