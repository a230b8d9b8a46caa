//! The kernel axis: `kernel:` (one unnamed kernel) or `kernels:` (named, each a source and what
//! differs on it), and how a user's tree picks the kernel whose series fit it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::{MatrixFile, Scenario, Variant};

/// The single-kernel form: `kernel: {source: debian | PATH}` (cells then carry no kernel name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    #[serde(default = "default_source")]
    pub source: String,
}
pub(super) fn default_source() -> String {
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
