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
    /// A console line the kernel must print (proves the variant's code is the one running).
    #[serde(default)]
    pub boot_line: Option<String>,
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
        None => term == cell.arch.name() || term == cell.variant.name || term == cell.scenario.name() || term == cell.id(),
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
    fn impossible_cells_are_refused() {
        let bad = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline]\nworkload: {mib: 32}\nvariants:\n  up:\n    expect: clean\n    splat_locks: {offline: [a]}\n";
        assert!(parse(bad, "m").unwrap_err().to_string().contains("impossible"));
    }
}
