//! Mutant kernels: the matrix's `mutants:` (a variant plus a patch that breaks one property)
//! as cells on every arch, and whether the harness judged each as it must. Pure.

use crate::matrix::{Cell, MatrixFile};
use crate::report::CellResult;

/// One cell per (arch, mutant), in arch order and, within an arch, grouped by base variant
/// (fewer rebuilds when the lane switches patch series).
pub fn plan(m: &MatrixFile, only: &[String], skip: &[String]) -> Vec<Cell> {
    let mut mutants: Vec<_> = m.mutants.values().collect();
    mutants.sort_by(|a, b| (&a.base, &a.name).cmp(&(&b.base, &b.name)));
    let mut cells = Vec::new();
    for &arch in &m.arches {
        for mu in mutants.iter().filter(|mu| mu.arches.as_ref().is_none_or(|a| a.contains(&arch))) {
            // On the first kernel of the axis unless the mutant names one: the mutants test the
            // harness, one kernel proves it.
            let (kernel, kdef) = match &mu.kernel {
                Some(k) => m.kernel_named(k).unwrap_or_else(|_| m.first_kernel()),
                None => m.first_kernel(),
            };
            let variant = mu.variant(m, &kdef);
            let mut cell = m.cell(kernel, arch, variant, mu.scenario);
            if let Some(n) = mu.cycles {
                m.set_cycles(&mut cell, n);
            }
            let hit = |terms: &[String]| {
                terms
                    .iter()
                    .any(|t| t.split(',').any(|t| t.trim() == mu.name || crate::matrix::matches(&cell, t.trim())))
            };
            if (only.is_empty() || only.iter().all(|o| hit(std::slice::from_ref(o)))) && !hit(skip) {
                cells.push(cell);
            }
        }
    }
    cells
}

/// Whether the harness caught the mutant: the expected outcome, with the named check failing.
/// Returns a one-line account either way.
pub fn caught(m: &MatrixFile, r: &CellResult) -> (bool, String) {
    let Some(mu) = r.id.variant.strip_prefix("mutant-").and_then(|n| m.mutants.get(n)) else {
        return (false, format!("{}: not a mutant of this matrix", r.id));
    };
    let check = r.verdict.checks.iter().find(|c| c.name == mu.check);
    let check_failed = check.is_some_and(|c| !c.ok && !c.skipped);
    let ok = r.verdict.outcome == mu.outcome && check_failed;
    let why = match check {
        Some(c) => format!("{} {}: {}", c.name, if c.ok { "passed" } else { "failed" }, c.detail),
        None => format!("no {} check in the verdict", mu.check),
    };
    (
        ok,
        format!(
            "{}: {} (wanted {} with {} failing); {}",
            r.id,
            r.verdict.outcome.name(),
            mu.outcome.name(),
            mu.check,
            if ok { why } else { format!("{why}; reason: {}", r.verdict.reason) }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutant_runs_on_its_arches_on_top_of_its_base() {
        let m = crate::matrix::load(&crate::matrix::default_path(&crate::paths::repo_root())).unwrap();
        let cells = plan(&m, &[], &[]);
        // Every arch, unless the mutant names its own.
        let expected: usize = m.mutants.values().map(|mu| mu.arches.as_ref().map_or(m.arches.len(), Vec::len)).sum();
        assert_eq!(cells.len(), expected);
        // A mutant that names its arches runs on those only.
        let mut one_arch = m.clone();
        one_arch.mutants.get_mut("no-lockout-c").unwrap().arches = Some(vec![crate::arch::Arch::Arm64]);
        let ids: Vec<String> =
            plan(&one_arch, &["no-lockout-c".into()], &[]).iter().map(|c| c.id().to_string()).collect();
        assert_eq!(ids, vec!["6.1-arm64-mutant-no-lockout-c-offline"]);
        for c in &cells {
            let mu = &m.mutants[c.variant.name.strip_prefix("mutant-").unwrap()];
            assert!(mu.arches.as_ref().is_none_or(|a| a.contains(&c.arch)), "{}", c.id());
        }
        assert!(m.mutants.len() >= 4, "the issue asks for at least four mutants");
        for c in &cells {
            let name = c.variant.name.strip_prefix("mutant-").unwrap();
            let mu = &m.mutants[name];
            let kdef = match &mu.kernel {
                Some(k) => m.kernel_named(k).unwrap().1,
                None => m.first_kernel().1,
            };
            assert_eq!(c.kernel.name.as_deref(), Some(kdef.name.as_str()), "{}", c.id());
            let base = &kdef.variant(&m.variants[&mu.base]);
            // Selftests only where the mutant asks for them; a soak mutant soaks its own cycles.
            assert_eq!(c.selftests.is_some(), mu.scenario == crate::matrix::Scenario::Selftests, "{}", c.id());
            assert_eq!(c.cycles, mu.cycles.or((mu.scenario == crate::matrix::Scenario::Soak).then_some(m.soak.cycles)));
            // The base's own patches come first, then the mutant's.
            assert!(c.variant.patches.starts_with(&base.patches), "{}", c.id());
            assert_eq!(c.expectation, base.expectation(mu.scenario));
        }
        let only = plan(&m, &["no-lockout-rust".into(), "arm64".into()], &[]);
        assert_eq!(
            only.iter().map(|c| c.id().to_string()).collect::<Vec<_>>(),
            vec!["6.1-arm64-mutant-no-lockout-rust-offline"]
        );
        assert!(!plan(&m, &[], &["no-lockout-c".into()]).iter().any(|c| c.variant.name == "mutant-no-lockout-c"));
    }
}
