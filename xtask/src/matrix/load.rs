//! Reading configs/matrix.yaml: parse (serde, located errors), then the checks serde cannot
//! make, each located by file and line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::kernels::default_source;
use super::{MatrixFile, Scenario};
use crate::outcome::Outcome;

/// Parses and validates; errors carry file, line and column.
pub fn parse(text: &str, origin: &str) -> Result<MatrixFile> {
    let mut m: MatrixFile = serde_yaml::from_str(text).map_err(|e| match e.location() {
        Some(l) => anyhow::anyhow!("{origin}:{}:{}: {e}", l.line(), l.column()),
        None => anyhow::anyhow!("{origin}: {e}"),
    })?;
    if m.schema != 1 {
        bail!("{origin}: schema {} is not supported (this harness reads schema 1)", m.schema);
    }
    if m.arches.is_empty() || m.scenarios.is_empty() || m.variants.is_empty() {
        bail!("{origin}: arches, scenarios and variants must each name at least one entry");
    }
    if m.workload.mib == 0 {
        bail!("{origin}:{}: workload.mib must be > 0", line_of(text, "workload:", "mib"));
    }
    for (i, a) in m.arches.iter().enumerate() {
        if m.arches[..i].contains(a) {
            bail!(
                "{origin}:{}: arch {a} is listed twice in arches: each cell would run twice",
                line_of(text, "arches:", a.name())
            );
        }
    }
    for (i, sc) in m.scenarios.iter().enumerate() {
        if m.scenarios[..i].contains(sc) {
            bail!(
                "{origin}:{}: scenario {} is listed twice in scenarios",
                line_of(text, "scenarios:", sc.name()),
                sc.name()
            );
        }
    }
    for (a, t) in &m.timeouts {
        if *t == 0 {
            bail!(
                "{origin}:{}: timeouts.{a} is 0: every {a} cell would time out at once; give seconds > 0",
                line_of(text, "timeouts:", a.name())
            );
        }
    }
    for (name, v) in m.variants.iter_mut() {
        v.name = name.clone();
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            bail!("{origin}: variant name {name:?} may only use letters, digits, '-' and '_'");
        }
        if v.expect.is_clean() && !v.splat_locks.is_empty() {
            bail!("{origin}: variant {name} expects clean but lists splat_locks: an impossible cell");
        }
    }
    if !m.kernels.is_empty() && m.kernel.source != default_source() {
        bail!("{origin}:{}: give either kernel: or kernels:, not both", line_of(text, "kernel:", "kernel"));
    }
    for (name, k) in m.kernels.iter_mut() {
        k.name = name.clone();
        if k.version().is_none() {
            bail!(
                "{origin}:{}: kernel name {name:?} must start with its version (e.g. 6.12)",
                line_of(text, "kernels:", name)
            );
        }
        for v in k.patches.keys().chain(k.splat_locks.keys()) {
            if !m.variants.contains_key(v) {
                bail!(
                    "{origin}:{}: kernel {name} names variant {v:?}, which is not in variants",
                    line_of(text, name, v)
                );
            }
        }
    }
    for k in m.kernel_defs() {
        for base in m.variants.values() {
            let v = k.variant(base);
            if v.expect.is_clean() {
                continue;
            }
            // A splat naming no lock would let any lockdep report pass as the expected one.
            for sc in m.scenarios.iter().filter(|&&s| s != Scenario::Selftests) {
                if v.splat_locks.get(sc).is_none_or(|l| l.is_empty()) {
                    bail!(
                        "{origin}: variant {} expects a splat but names no lock classes for scenario {}{}: \
                         add splat_locks: {{{}: [...]}}",
                        v.name,
                        sc.name(),
                        if k.name.is_empty() { String::new() } else { format!(" on kernel {}", k.name) },
                        sc.name()
                    );
                }
            }
        }
    }
    for (name, mu) in m.mutants.iter_mut() {
        mu.name = name.clone();
        if !m.variants.contains_key(&mu.base) {
            bail!("{origin}: mutant {name}: base variant {:?} is not in variants", mu.base);
        }
        if mu.patches.is_empty() && mu.rust_patches.is_empty() {
            bail!("{origin}: mutant {name} has no patches: it would be its base variant, which must pass");
        }
        if let Some(k) = &mu.kernel {
            if !m.kernels.contains_key(k) {
                bail!("{origin}: mutant {name}: kernel {k:?} is not in kernels");
            }
        }
        if mu.outcome == Outcome::Pass {
            bail!("{origin}: mutant {name} expects PASS: a mutant is a kernel the harness must not pass");
        }
    }
    super::selftests::validate(&m.selftests)
        .map_err(|e| anyhow::anyhow!("{origin}:{}: {e}", line_of(text, "selftests:", "")))?;
    for v in m.variants.values() {
        if let Some(same) = v.selftests.as_ref().and_then(|s| s.same_as.as_ref()) {
            if !m.variants.contains_key(same) {
                bail!("{origin}: variant {}: selftests.same_as names {same:?}, which is not in variants", v.name);
            }
        }
    }
    Ok(m)
}

pub fn load(path: &Path) -> Result<MatrixFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let origin = path.display().to_string();
    let m = parse(&text, &origin)?;
    check_paths(&m, &text, &origin, &crate::paths::repo_root())?;
    Ok(m)
}

/// Every patch, Rust patch and Kconfig path the matrix names exists (relative to `repo`), so a
/// typo stops the run when the matrix loads, not after an hour of other cells.
pub fn check_paths(m: &MatrixFile, text: &str, origin: &str, repo: &Path) -> Result<()> {
    let variants = m.variants.values().map(|v| (format!("{}:", v.name), [&v.patches, &v.rust_patches, &v.kconfig]));
    let mutants = m.mutants.values().map(|mu| (format!("{}:", mu.name), [&mu.patches, &mu.rust_patches, &mu.patches]));
    let empty = Vec::new();
    let kernels = m.kernels.values().flat_map(|k| {
        let per_variant = k.patches.values().map(|p| (format!("{}:", k.name), [p, &k.kconfig, &empty]));
        per_variant.chain(std::iter::once((format!("{}:", k.name), [&k.kconfig, &empty, &empty])))
    });
    for (section, lists) in variants.chain(mutants).chain(kernels) {
        for p in lists.into_iter().flatten() {
            let full = if p.is_absolute() { p.clone() } else { repo.join(p) };
            if !full.exists() {
                let shown = p.display().to_string();
                bail!(
                    "{origin}:{}: {} {} does not exist (paths are relative to {})",
                    line_of(text, &section, &shown),
                    section.trim_end_matches(':'),
                    shown,
                    repo.display()
                );
            }
        }
    }
    Ok(())
}

/// The 1-based line of the first line containing `needle` at or after the line that starts
/// (indentation aside) with `section`; that line itself if none does; else 1. For the
/// matrix's own checks, which serde cannot locate.
fn line_of(text: &str, section: &str, needle: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_start().starts_with(section)) else { return 1 };
    lines[start..].iter().position(|l| l.contains(needle)).map_or(start + 1, |i| start + i + 1)
}

pub fn default_path(repo: &Path) -> PathBuf {
    repo.join("configs/matrix.yaml")
}
