//! The matrix as data: configs/matrix.yaml -> validated plan -> cells. Pure, except `load`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::outcome::Outcome;

mod kernels;
mod load;
mod select;
mod selftests;

pub use kernels::{version_of, Kernel, KernelDef, KernelSpec};
pub use load::{check_paths, default_path, load, parse};
pub use select::{matches, parse_shard, plan, select, Selection};
pub use selftests::{Case, Output, Program, SelftestPlan, SelftestsDef, VariantSelftests};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Offline blocks holding KSM pages (arm64: and unplug the DIMM).
    Offline,
    /// An error-injected offline (MEM_GOING_OFFLINE -> MEM_CANCEL_OFFLINE), then the real one.
    Cancel,
    /// N offline/online cycles of the KSM-merged memory with a run writer and a knob writer
    /// hammering, every cycle's data verified, then the offline (not in the default cells).
    Soak,
    /// The kernel's own selftests of the cell's tree, then the offline: cells only for the
    /// variants with `selftests:` (they cost minutes on s390x, so not in every offline cell).
    Selftests,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Offline => "offline",
            Scenario::Cancel => "cancel",
            Scenario::Soak => "soak",
            Scenario::Selftests => "selftests",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
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
    /// `clean` or `splat`.
    #[serde(deserialize_with = "expect_word")]
    pub expect: Expectation,
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
    /// The kernel's own tests this variant's cells must pass (see `selftests:` of the matrix).
    #[serde(default)]
    pub selftests: Option<VariantSelftests>,
    /// Made on the command line (`run --patch`), not in the matrix: how to make it again.
    #[serde(skip)]
    pub adhoc: Option<AdHoc>,
}

/// An ad hoc variant's recipe: the matrix variant it started from, and the extra patches.
#[derive(Debug, Clone, PartialEq)]
pub struct AdHoc {
    pub base: Option<String>,
    pub patches: Vec<PathBuf>,
}

fn default_run_word() -> String {
    "ksm_run".into()
}

/// An ad hoc variant: no patches, expects clean.
impl Default for Variant {
    fn default() -> Self {
        Variant {
            name: String::new(),
            description: String::new(),
            patches: vec![],
            kconfig: vec![],
            rust: false,
            expect: Expectation::Clean,
            splat_locks: Default::default(),
            boot_line: None,
            run_word: default_run_word(),
            must_call: vec![],
            rust_patches: vec![],
            selftests: None,
            adhoc: None,
        }
    }
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
    /// What a cell of this variant must show in `scenario`.
    pub fn expectation(&self, scenario: Scenario) -> Expectation {
        match self.expect {
            Expectation::Clean => Expectation::Clean,
            Expectation::Splat { .. } => {
                // The selftests scenario's workload is the offline one.
                let sc = if scenario == Scenario::Selftests { Scenario::Offline } else { scenario };
                Expectation::Splat { locks: self.splat_locks.get(&sc).cloned().unwrap_or_default() }
            }
        }
    }
}

/// What a cell must show: a clean console, or lockdep's circular dependency report naming
/// `locks`. The matrix file (`expect:`) and `--expect` give only the word; a splat's locks come
/// per scenario from the variant's `splat_locks` ([`Variant::expectation`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    Clean,
    Splat { locks: Vec<String> },
}

impl Expectation {
    pub const WORDS: [&str; 2] = ["clean", "splat"];

    /// `clean` or `splat` (without its locks yet).
    pub fn from_word(w: &str) -> Result<Expectation, String> {
        match w {
            "clean" => Ok(Expectation::Clean),
            "splat" => Ok(Expectation::Splat { locks: vec![] }),
            other => Err(format!("unknown expectation {other:?}, expected `clean` or `splat`")),
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Expectation::Clean => "clean",
            Expectation::Splat { .. } => "splat",
        }
    }

    pub fn is_clean(&self) -> bool {
        matches!(self, Expectation::Clean)
    }
}

/// `expect: clean|splat` in the matrix file.
fn expect_word<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Expectation, D::Error> {
    Expectation::from_word(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
    pub outcome: Outcome,
    /// The verdict check that must fail on it.
    pub check: String,
    /// Soak cycles of its cell (scenario soak), fewer than the matrix's to keep it short.
    #[serde(default)]
    pub cycles: Option<u32>,
    /// The kernel of the axis it runs on (default: the first): a selftest case that catches
    /// it may exist only in a newer tree.
    #[serde(default)]
    pub kernel: Option<String>,
    /// The arches it runs on (default: every arch of the matrix), where its outcome is not
    /// the same everywhere.
    #[serde(default)]
    pub arches: Option<Vec<Arch>>,
}

fn default_mutant_scenario() -> Scenario {
    Scenario::Offline
}

impl Mutant {
    /// The base variant (as it builds on `k`) with the mutant's patches on top, under the
    /// mutant's name.
    pub fn variant(&self, m: &MatrixFile, k: &KernelDef) -> Variant {
        let mut v = k.variant(&m.variants[&self.base]);
        v.name = format!("mutant-{}", self.name);
        v.description = self.description.clone();
        v.patches.extend(self.patches.iter().cloned());
        v.rust_patches.extend(self.rust_patches.iter().cloned());
        v
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixFile {
    pub schema: u32,
    #[serde(default)]
    pub kernel: KernelSpec,
    /// The kernel axis: named kernels, each a source and what differs on it.
    #[serde(default)]
    pub kernels: BTreeMap<String, KernelDef>,
    pub arches: Vec<Arch>,
    pub scenarios: Vec<Scenario>,
    pub workload: Workload,
    #[serde(default)]
    pub timeouts: BTreeMap<Arch, u64>,
    pub variants: BTreeMap<String, Variant>,
    #[serde(default)]
    pub mutants: BTreeMap<String, Mutant>,
    /// The kernel's own tests: programs, cases, the scenarios that run them.
    #[serde(default)]
    pub selftests: SelftestsDef,
    #[serde(default)]
    pub soak: Soak,
}

/// `soak:` of the matrix: how many cycles a soak cell runs, and the seconds each may add to the
/// cell's timeout per arch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Soak {
    pub cycles: u32,
    #[serde(default)]
    pub seconds_per_cycle: BTreeMap<Arch, u64>,
}

impl Default for Soak {
    fn default() -> Self {
        Soak { cycles: 50, seconds_per_cycle: BTreeMap::new() }
    }
}

impl MatrixFile {
    /// A cell of `variant` on (`kernel`, `arch`) in `scenario`, with the matrix's timeout,
    /// workload and selftests.
    pub fn cell(&self, kernel: Kernel, arch: Arch, variant: Variant, scenario: Scenario) -> Cell {
        let cycles = (scenario == Scenario::Soak).then_some(self.soak.cycles);
        let mut c = Cell {
            kernel,
            arch,
            expectation: variant.expectation(scenario),
            selftests: SelftestPlan::of(&self.selftests, variant.selftests.as_ref(), scenario),
            variant,
            scenario,
            timeout: self.timeouts.get(&arch).copied().unwrap_or(arch.machine().default_timeout),
            mib: self.workload.mib,
            cycles: None,
        };
        if let Some(n) = cycles {
            self.set_cycles(&mut c, n);
        }
        if c.selftests.is_some() {
            c.timeout += self.selftests.seconds.get(&arch).copied().unwrap_or(0);
        }
        c
    }

    /// A soak cell's cycles, its timeout grown by the arch's seconds per cycle.
    pub fn set_cycles(&self, c: &mut Cell, n: u32) {
        let base = self.timeouts.get(&c.arch).copied().unwrap_or(c.arch.machine().default_timeout);
        c.timeout = base + u64::from(n) * self.soak.seconds_per_cycle.get(&c.arch).copied().unwrap_or(15);
        c.cycles = Some(n);
    }
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub kernel: Kernel,
    pub arch: Arch,
    pub variant: Variant,
    pub scenario: Scenario,
    pub expectation: Expectation,
    pub timeout: u64,
    pub mib: u32,
    /// The kernel's own tests this cell runs, if any.
    pub selftests: Option<SelftestPlan>,
    /// Soak cycles (scenario soak only).
    pub cycles: Option<u32>,
}

impl Cell {
    pub fn id(&self) -> CellId {
        CellId {
            kernel: self.kernel.name.clone(),
            arch: self.arch,
            variant: self.variant.name.clone(),
            scenario: self.scenario,
        }
    }
}

/// Which cell: `arch-variant-scenario` as text (the name of its results folder, `--cell`,
/// known-issue scopes); typed wherever it is passed on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "CellIdFields", from = "CellIdFields")]
pub struct CellId {
    /// The kernel's name on the `kernels:` axis (None in a single-kernel matrix).
    pub kernel: Option<String>,
    pub arch: Arch,
    pub variant: String,
    pub scenario: Scenario,
}

impl std::fmt::Display for CellId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(k) = &self.kernel {
            write!(f, "{k}-")?;
        }
        write!(f, "{}-{}-{}", self.arch, self.variant, self.scenario.name())
    }
}

/// A cell id in cell.json and results.json: the text, then the parts.
#[derive(Serialize, Deserialize)]
struct CellIdFields {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kernel: Option<String>,
    arch: Arch,
    variant: String,
    scenario: Scenario,
}

impl From<CellId> for CellIdFields {
    fn from(c: CellId) -> Self {
        CellIdFields { id: c.to_string(), kernel: c.kernel, arch: c.arch, variant: c.variant, scenario: c.scenario }
    }
}

impl From<CellIdFields> for CellId {
    fn from(f: CellIdFields) -> Self {
        CellId { kernel: f.kernel, arch: f.arch, variant: f.variant, scenario: f.scenario }
    }
}

#[cfg(test)]
mod tests;
