//! The matrix as data: configs/matrix.yaml -> validated plan -> cells. Pure, except `load`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::outcome::Outcome;

mod select;

pub use select::{matches, parse_shard, plan, select, Selection};

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
                Expectation::Splat { locks: self.splat_locks.get(&scenario).cloned().unwrap_or_default() }
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

/// The single-kernel form: `kernel: {source: debian | PATH}` (cells then carry no kernel name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    #[serde(default = "default_source")]
    pub source: String,
}
fn default_source() -> String {
    "debian".into()
}
impl Default for KernelSpec {
    fn default() -> Self {
        KernelSpec { source: default_source() }
    }
}

/// One kernel of the `kernels:` axis: where its source comes from and what differs on it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelDef {
    #[serde(skip_deserializing)]
    pub name: String,
    /// `debian` (linux-source-6.1), `debian:PACKAGE` (e.g. `debian:linux-source-6.12`), or a
    /// path to a kernel tree.
    pub source: String,
    /// Per variant name: the patch series on this kernel instead of the variant's own.
    #[serde(default)]
    pub patches: BTreeMap<String, Vec<PathBuf>>,
    /// Per variant name: the lock classes its splat names on this kernel, per scenario.
    #[serde(default)]
    pub splat_locks: BTreeMap<String, BTreeMap<Scenario, Vec<String>>>,
    /// Kconfig fragments added to every variant on this kernel.
    #[serde(default)]
    pub kconfig: Vec<PathBuf>,
}

impl KernelDef {
    /// `base` as it builds on this kernel: its series and splat locks for this kernel.
    pub fn variant(&self, base: &Variant) -> Variant {
        let mut v = base.clone();
        if let Some(p) = self.patches.get(&base.name) {
            v.patches = p.clone();
        }
        if let Some(l) = self.splat_locks.get(&base.name) {
            v.splat_locks = l.clone();
        }
        v.kconfig.extend(self.kconfig.iter().cloned());
        v
    }

    /// `6.12` -> (6, 12): the version the name says, for picking the series nearest a tree.
    pub fn version(&self) -> Option<(u32, u32)> {
        version_of(&self.name)
    }
}

/// `MAJOR.MINOR` at the start of a version string (`6.12`, `6.12.95`, `6.13-rc1`).
pub fn version_of(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// A cell's kernel: its name on the axis (None in a single-kernel matrix) and its source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub name: Option<String>,
    pub source: String,
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

impl MatrixFile {
    /// The kernel axis: `kernels:` in file order of names, else the one `kernel:` (unnamed).
    pub fn kernel_defs(&self) -> Vec<KernelDef> {
        if self.kernels.is_empty() {
            return vec![KernelDef { source: self.kernel.source.clone(), ..KernelDef::default() }];
        }
        let mut v: Vec<KernelDef> = self.kernels.values().cloned().collect();
        v.sort_by_key(|k| k.version());
        v
    }

    /// The first (oldest) kernel of the axis: where mutants and ad hoc runs go by default.
    pub fn first_kernel(&self) -> (Kernel, KernelDef) {
        let k = self.kernel_defs().remove(0);
        (self.kernel_of(&k), k)
    }

    /// A kernel of the axis by name, or an error naming the ones there are.
    pub fn kernel_named(&self, name: &str) -> Result<(Kernel, KernelDef)> {
        let defs = self.kernel_defs();
        match defs.iter().find(|k| k.name == name) {
            Some(k) => Ok((self.kernel_of(k), k.clone())),
            None => bail!(
                "no kernel {name:?} in the matrix; it has: {}",
                defs.iter().map(|k| k.name.clone()).filter(|n| !n.is_empty()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    pub fn kernel_of(&self, k: &KernelDef) -> Kernel {
        Kernel { name: (!self.kernels.is_empty()).then(|| k.name.clone()), source: k.source.clone() }
    }

    /// Only the kernel whose series fit a tree of `version` best (the newest not newer than
    /// it), with `source` as its source: how `--kernel-src` runs on a kernel axis. Its name
    /// and why, or an error when the tree is older than every kernel of the axis.
    pub fn pin_kernel(&mut self, version: &str, source: &str) -> Result<String> {
        let defs = self.kernel_defs();
        let v = version_of(version).with_context(|| format!("cannot read the version {version:?}"))?;
        let pick = defs.iter().rfind(|k| k.version().is_some_and(|kv| kv <= v)).cloned();
        let Some(mut k) = pick else {
            let oldest = defs.first().map(|k| k.name.clone()).unwrap_or_default();
            bail!(
                "this tree is Linux {version}, older than the oldest kernel the matrix supports ({}); use a tree of {} or newer",
                if oldest.is_empty() { "6.1".into() } else { oldest.clone() },
                if oldest.is_empty() { "6.1" } else { &oldest }
            );
        };
        k.source = source.to_string();
        let name = k.name.clone();
        if self.kernels.is_empty() {
            self.kernel.source = source.to_string();
        } else {
            self.kernels = [(name.clone(), k)].into_iter().collect();
        }
        Ok(name)
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
            for sc in &m.scenarios {
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
        if mu.outcome == Outcome::Pass {
            bail!("{origin}: mutant {name} expects PASS: a mutant is a kernel the harness must not pass");
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

#[cfg(test)]
mod tests;
