//! The matrix as data: configs/matrix.yaml -> validated plan -> cells. Pure, except `load`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::arch::Arch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Offline blocks holding KSM pages (arm64: and unplug the DIMM).
    Offline,
    /// An error-injected offline (MEM_GOING_OFFLINE -> MEM_CANCEL_OFFLINE), then the real one.
    Cancel,
}

impl Scenario {
    pub const ALL: [Scenario; 2] = [Scenario::Offline, Scenario::Cancel];
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Offline => "offline",
            Scenario::Cancel => "cancel",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Clean,
    Splat,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    #[serde(skip_deserializing)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Patch files or directories of them, relative to the repo (or absolute).
    #[serde(default)]
    pub patches: Vec<PathBuf>,
    /// Extra Kconfig fragments for this variant (a separate build tree).
    #[serde(default)]
    pub kconfig: Vec<PathBuf>,
    /// Builds the rust-ksm object into mm/ (needs a Rust toolchain with library source).
    #[serde(default)]
    pub rust: bool,
    pub expect: Expect,
    /// Lock classes the splat must name, per scenario name.
    #[serde(default)]
    pub splat_locks: BTreeMap<Scenario, Vec<String>>,
    /// A console line the kernel must print (proves the variant's patches were applied).
    #[serde(default)]
    pub boot_line: Option<String>,
    /// The kernel symbol holding KSM's run word, read by the lockout evidence probes.
    #[serde(default = "default_run_word")]
    pub run_word: String,
    /// Kernel functions that KSM's memory callback must be seen calling: proof, from the
    /// kernel's own trace, that this variant's code ran (e.g. the Rust entry point).
    #[serde(default)]
    pub must_call: Vec<String>,
    /// Patches to the rust-ksm crate itself (relative to the repo, `a/rust-ksm/...`), applied
    /// to a copy that the kernel build then compiles: how a Rust mutant is made.
    #[serde(default)]
    pub rust_patches: Vec<PathBuf>,
}

fn default_run_word() -> String {
    "ksm_run".into()
}

impl Variant {
    fn resolve(repo: &Path, ps: &[PathBuf]) -> Vec<PathBuf> {
        ps.iter().map(|p| if p.is_absolute() { p.clone() } else { repo.join(p) }).collect()
    }
    pub fn patch_paths(&self, repo: &Path) -> Vec<PathBuf> {
        Self::resolve(repo, &self.patches)
    }
    pub fn kconfig_paths(&self, repo: &Path) -> Vec<PathBuf> {
        Self::resolve(repo, &self.kconfig)
    }
    pub fn rust_patch_paths(&self, repo: &Path) -> Vec<PathBuf> {
        Self::resolve(repo, &self.rust_patches)
    }
    pub fn expectation(&self, scenario: Scenario) -> Expectation {
        match self.expect {
            Expect::Clean => Expectation::Clean,
            Expect::Splat => Expectation::Splat { locks: self.splat_locks.get(&scenario).cloned().unwrap_or_default() },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    Clean,
    Splat { locks: Vec<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    #[serde(default = "default_source")]
    pub source: String,
}
fn default_source() -> String {
    "debian".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    #[serde(default = "default_mib")]
    pub mib: u32,
}
fn default_mib() -> u32 {
    32
}

/// A kernel the harness must never pass: a variant plus patches that break one property,
/// the verdict it must get and the check that must say why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutant {
    #[serde(skip_deserializing)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The variant it breaks (its patches and expectation are kept).
    pub base: String,
    #[serde(default)]
    pub patches: Vec<PathBuf>,
    #[serde(default)]
    pub rust_patches: Vec<PathBuf>,
    #[serde(default = "default_mutant_scenario")]
    pub scenario: Scenario,
    pub outcome: crate::verdict::Outcome,
    /// The verdict check that must fail on it.
    pub check: String,
}

fn default_mutant_scenario() -> Scenario {
    Scenario::Offline
}

impl Mutant {
    /// The base variant with the mutant's patches on top, under the mutant's name.
    pub fn variant(&self, m: &MatrixFile) -> Variant {
        let mut v = m.variants[&self.base].clone();
        v.name = format!("mutant-{}", self.name);
        v.description = self.description.clone();
        v.patches.extend(self.patches.iter().cloned());
        v.rust_patches.extend(self.rust_patches.iter().cloned());
        v
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixFile {
    pub schema: u32,
    pub kernel: KernelSpec,
    pub arches: Vec<Arch>,
    pub scenarios: Vec<Scenario>,
    pub workload: Workload,
    #[serde(default)]
    pub timeouts: BTreeMap<Arch, u64>,
    pub variants: BTreeMap<String, Variant>,
    #[serde(default)]
    pub mutants: BTreeMap<String, Mutant>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub arch: Arch,
    pub variant: Variant,
    pub scenario: Scenario,
    pub expectation: Expectation,
    pub timeout: u64,
    pub mib: u32,
}

impl Cell {
    pub fn id(&self) -> String {
        format!("{}-{}-{}", self.arch, self.variant.name, self.scenario.name())
    }
}

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
        bail!("{origin}: workload.mib must be > 0");
    }
    for (name, v) in m.variants.iter_mut() {
        v.name = name.clone();
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            bail!("{origin}: variant name {name:?} may only use letters, digits, '-' and '_'");
        }
        if v.expect == Expect::Clean && !v.splat_locks.is_empty() {
            bail!("{origin}: variant {name} expects clean but lists splat_locks: an impossible cell");
        }
        if v.expect == Expect::Splat {
            // A splat naming no lock would let any lockdep report pass as the expected one.
            for sc in &m.scenarios {
                if v.splat_locks.get(sc).is_none_or(|l| l.is_empty()) {
                    bail!(
                        "{origin}: variant {name} expects a splat but names no lock classes for scenario {}: \
                         add splat_locks: {{{}: [...]}}",
                        sc.name(),
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
        if mu.outcome == crate::verdict::Outcome::Pass {
            bail!("{origin}: mutant {name} expects PASS: a mutant is a kernel the harness must not pass");
        }
    }
    Ok(m)
}

pub fn load(path: &Path) -> Result<MatrixFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// A filter term: `s390x`, `prefix`, `cancel`, or `arch=s390x` / `variant=prefix` / `scenario=cancel`.
pub fn matches(cell: &Cell, term: &str) -> bool {
    match term.split_once('=') {
        Some(("arch", v)) => cell.arch.name() == v,
        Some(("variant", v)) => cell.variant.name == v,
        Some(("scenario", v)) => cell.scenario.name() == v,
        Some(_) => false,
        None => {
            term == cell.arch.name() || term == cell.variant.name || term == cell.scenario.name() || term == cell.id()
        }
    }
}

/// Cells in a stable order (arch, variant, scenario) so that builds of one arch stay together.
/// `only`: each term is a comma list; a cell must match every --only given (any item of it).
pub fn plan(m: &MatrixFile, only: &[String], skip: &[String]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &arch in &m.arches {
        for v in m.variants.values() {
            for &scenario in &m.scenarios {
                let cell = Cell {
                    arch,
                    variant: v.clone(),
                    scenario,
                    expectation: v.expectation(scenario),
                    timeout: m.timeouts.get(&arch).copied().unwrap_or(arch.machine().default_timeout),
                    mib: m.workload.mib,
                };
                let keep = only.iter().all(|o| o.split(',').any(|t| matches(&cell, t.trim())))
                    && !skip.iter().any(|s| s.split(',').any(|t| matches(&cell, t.trim())));
                if keep {
                    cells.push(cell);
                }
            }
        }
    }
    cells
}

pub fn default_path(repo: &Path) -> PathBuf {
    repo.join("configs/matrix.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_matrix() -> MatrixFile {
        load(&default_path(&crate::paths::repo_root())).unwrap()
    }

    #[test]
    fn the_repo_matrix_has_three_variants_on_two_arches_and_two_scenarios() {
        let m = repo_matrix();
        let cells = plan(&m, &[], &[]);
        assert_eq!(cells.len(), 12);
        let prefix_cancel = cells.iter().find(|c| c.id() == "s390x-prefix-cancel").unwrap();
        assert_eq!(
            prefix_cancel.expectation,
            Expectation::Splat { locks: vec!["ksm_thread_mutex/1".into(), "(memory_chain).rwsem".into()] }
        );
        assert_eq!(cells.iter().find(|c| c.id() == "arm64-upstream-offline").unwrap().expectation, Expectation::Clean);
    }

    #[test]
    fn only_and_skip_filter_cells() {
        let m = repo_matrix();
        let c = plan(&m, &["s390x".into(), "prefix,upstream".into()], &["cancel".into()]);
        let ids: Vec<String> = c.iter().map(Cell::id).collect();
        assert_eq!(ids, vec!["s390x-prefix-offline", "s390x-upstream-offline"]);
        assert!(plan(&m, &["arch=arm64".into(), "variant=rust".into(), "scenario=cancel".into()], &[]).len() == 1);
    }

    #[test]
    fn errors_are_located_by_line_and_column() {
        let bad = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline]\nworkload: {mib: 32}\nvariants:\n  up:\n    expect: clean\n    patchez: []\n";
        let e = parse(bad, "m.yaml").unwrap_err().to_string();
        assert!(e.starts_with("m.yaml:9:") && e.contains("patchez"), "{e}");
        let e = parse("schema: 1\narches: [x86]\n", "m.yaml").unwrap_err().to_string();
        assert!(e.contains("m.yaml:2:"), "{e}");
        let e = parse("schema: [\n", "m.yaml").unwrap_err().to_string();
        assert!(e.starts_with("m.yaml:"), "{e}");
    }

    #[test]
    fn a_splat_variant_must_name_its_locks_for_every_scenario_it_runs() {
        let head = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline, cancel]\nworkload: {mib: 32}\nvariants:\n";
        let e = parse(&format!("{head}  pre:\n    expect: splat\n    splat_locks: {{offline: [a]}}\n"), "m")
            .unwrap_err()
            .to_string();
        assert!(e.contains("variant pre") && e.contains("scenario cancel"), "{e}");
        let e =
            parse(&format!("{head}  pre:\n    expect: splat\n    splat_locks: {{offline: [a], cancel: []}}\n"), "m")
                .unwrap_err()
                .to_string();
        assert!(e.contains("scenario cancel"), "{e}");
        assert!(parse(
            &format!("{head}  pre:\n    expect: splat\n    splat_locks: {{offline: [a], cancel: [b]}}\n"),
            "m"
        )
        .is_ok());
    }

    #[test]
    fn mutants_must_break_a_known_variant_and_never_expect_pass() {
        let head = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline]\nworkload: {mib: 32}\nvariants:\n  up: {expect: clean}\nmutants:\n";
        let e = parse(&format!("{head}  m1: {{base: nope, patches: [x.patch], outcome: FAIL, check: c}}\n"), "m")
            .unwrap_err()
            .to_string();
        assert!(e.contains("base variant \"nope\""), "{e}");
        let e = parse(&format!("{head}  m1: {{base: up, outcome: FAIL, check: c}}\n"), "m").unwrap_err().to_string();
        assert!(e.contains("no patches"), "{e}");
        let e = parse(&format!("{head}  m1: {{base: up, patches: [x.patch], outcome: PASS, check: c}}\n"), "m")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expects PASS"), "{e}");
        let m = parse(&format!("{head}  m1: {{base: up, patches: [x.patch], outcome: INCONCLUSIVE, check: c}}\n"), "m")
            .unwrap();
        assert_eq!(m.mutants["m1"].variant(&m).name, "mutant-m1");
    }

    #[test]
    fn impossible_cells_are_refused() {
        let bad = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline]\nworkload: {mib: 32}\nvariants:\n  up:\n    expect: clean\n    splat_locks: {offline: [a]}\n";
        assert!(parse(bad, "m").unwrap_err().to_string().contains("impossible"));
    }
}
