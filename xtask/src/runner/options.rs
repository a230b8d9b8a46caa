//! How cells are run, whatever the command: the options every cell-running command takes, and
//! the words another run needs to do the same (reproduce.sh, the fault tests' child runs).

use std::path::PathBuf;

use anyhow::Result;

use crate::cache::Cache;
use crate::kernel;
use crate::matrix::{self, MatrixFile};
use crate::vm;

/// How cells are run, whatever the command: the options every cell-running command takes.
#[derive(Debug, Clone)]
pub struct Options {
    pub cache: Cache,
    /// `--kernel-src` (else the matrix's kernel.source, else Debian's embedded tree).
    pub kernel_src: Option<PathBuf>,
    /// The matrix file.
    pub matrix: PathBuf,
    /// make -j
    pub make_jobs: usize,
    /// Cells run at once (one lane per arch at most: an arch's cells share one build tree).
    pub jobs: usize,
    /// Kernel tracing for the `lockout-held` check (`--no-lockout-evidence` turns it off).
    pub lockout_evidence: bool,
    /// Reduced DWARF and frames decoded to file:line (`--debug-info`).
    pub debug_info: bool,
    /// Bytes of console kept per cell before the guest is stopped.
    pub console_cap: u64,
    /// A fault the guest is told to make (the suite's fault tests: `flood`).
    pub guest_fault: Option<String>,
    /// Where results folders go (for reproduce.sh).
    pub results_root: PathBuf,
    /// Judge a tree without the upstream fix instead of refusing it: bisect looks for the
    /// commit that lost or gained it, so such a tree is an answer, not a mistake.
    pub bisecting: bool,
}

impl Options {
    /// The matrix; with `--kernel-src`, only the kernel of its axis whose series fit the tree
    /// best, with the tree as its source (said on stderr).
    pub fn load_matrix(&self) -> Result<MatrixFile> {
        let mut m = matrix::load(&self.matrix)?;
        if let Some(tree) = &self.kernel_src {
            let version = kernel::tree_version(tree)?;
            let source = tree.canonicalize()?.display().to_string();
            let name = m.pin_kernel(&version, &source)?;
            if !name.is_empty() {
                eprintln!("--kernel-src {}: Linux {version}; using the series of kernel {name} (the newest of the matrix not newer than the tree)", tree.display());
            }
        }
        Ok(m)
    }

    /// The words reproduce.sh needs beyond the cell: the options that differ from the defaults.
    pub(super) fn repro_args(&self) -> Vec<String> {
        let mut v = self.passthrough_args();
        if self.results_root != crate::paths::results_root(None) {
            v.extend(["--results-dir".into(), self.results_root.display().to_string()]);
        }
        v
    }

    /// The options another run of the harness needs to build and boot as this one does (all
    /// but where its results go).
    pub fn passthrough_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(k) = &self.kernel_src {
            v.extend(["--kernel-src".into(), k.display().to_string()]);
        }
        if !self.lockout_evidence {
            v.push("--no-lockout-evidence".into());
        }
        if self.debug_info {
            v.push("--debug-info".into());
        }
        if self.console_cap != vm::CONSOLE_CAP_DEFAULT {
            v.extend(["--console-cap-mib".into(), (self.console_cap >> 20).to_string()]);
        }
        if self.cache != Cache::locate(None) {
            v.extend(["--cache-dir".into(), self.cache.root().display().to_string()]);
        }
        if self.matrix != matrix::default_path(&crate::paths::repo_root()) {
            v.extend(["--matrix".into(), self.matrix.display().to_string()]);
        }
        v
    }
}
