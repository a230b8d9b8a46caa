//! The subcommands of `cargo xtask`, one file each: the flags a command takes (clap) and what
//! it does with them, from parsed flags to an exit status. main.rs only parses and dispatches.
//! Options shared by several commands are small structs flattened into the commands that use
//! them, so every command offers exactly the options it reads.

// The doc comments are the help texts, which write placeholders as <repo>, <results>.
#![allow(rustdoc::invalid_html_tags)]

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::cache::Cache;
use crate::matrix::{MatrixFile, Selection, Variant};
use crate::runner;

mod analyze;
mod bench;
mod bisect;
mod build;
mod doctor;
mod faults;
mod matrix;
mod mutants;
mod report;
mod repro;
mod run;
mod setup;
mod test;
mod watch;

pub use analyze::Analyze;
pub use bench::Bench;
pub use bisect::Bisect;
pub use build::Build;
pub use doctor::Doctor;
pub use faults::Faults;
pub use matrix::Matrix;
pub use mutants::Mutants;
pub use report::Report;
pub use repro::Repro;
pub use run::Run;
pub use setup::Setup;
pub use test::Test;
pub use watch::Watch;

#[derive(clap::Args)]
pub struct CacheDir {
    /// Cache for kernel sources, build trees, ccache, busybox, Rust sysroots [env: KSM_HARNESS_CACHE]
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

impl CacheDir {
    fn cache(&self) -> Cache {
        Cache::locate(self.cache_dir.as_deref())
    }
}

#[derive(clap::Args)]
pub struct ResultsDir {
    /// Where results folders go [env: KSM_HARNESS_RESULTS] (default: <repo>/results)
    #[arg(long)]
    results_dir: Option<PathBuf>,
}

impl ResultsDir {
    /// `<results>/<stamp>-<what>`: a new results folder, created here and never shared (a second
    /// run in the same second gets `-2`).
    fn stamped(&self, what: &str) -> Result<PathBuf> {
        let base = crate::paths::results_root(self.results_dir.as_deref())
            .join(format!("{}-{what}", crate::util::now_stamp()));
        crate::util::create_dir_new(&base).with_context(|| format!("creating the results folder {}", base.display()))
    }
}

/// The options of every command that builds and boots kernels.
#[derive(clap::Args)]
pub struct KernelOpts {
    #[command(flatten)]
    cache: CacheDir,
    #[command(flatten)]
    results: ResultsDir,
    /// Use this kernel tree (6.1 or newer) instead of the embedded kernels: the matrix kernel whose
    /// series fit it best (the newest not newer) runs on it
    #[arg(long)]
    kernel_src: Option<PathBuf>,
    /// The matrix file (variants and expectations are defined there)
    #[arg(long)]
    matrix: Option<PathBuf>,
    /// Parallel make jobs of a kernel build (default: number of CPUs)
    #[arg(long)]
    make_jobs: Option<usize>,
    /// Build and boot without kernel tracing: the lockout-held check is then SKIPPED (and says so)
    #[arg(long)]
    no_lockout_evidence: bool,
    /// Build with reduced DWARF (own build tree; a cold build the first time) and decode the
    /// stack frames of every report to file:line with the cell's vmlinux, kept in its folder
    #[arg(long)]
    debug_info: bool,
    /// Console kept per cell, in MiB: past it the guest is stopped and the cell is ERROR
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    console_cap_mib: u64,
    /// When another run holds the kernel tree (or another shared part of the cache), fail at
    /// once instead of waiting for it
    #[arg(long)]
    no_wait: bool,
    /// A fault for the guest to make (the suite's fault tests): `flood` prints without end
    #[arg(long, hide = true, value_parser = ["flood"])]
    guest_fault: Option<String>,
}

impl KernelOpts {
    /// The runner's options, with `jobs` cells at once.
    fn options(&self, jobs: usize) -> runner::Options {
        crate::lock::set_no_wait(self.no_wait);
        let cpus = || std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        runner::Options {
            cache: self.cache.cache(),
            kernel_src: self.kernel_src.clone(),
            matrix: self.matrix.clone().unwrap_or_else(|| crate::matrix::default_path(&crate::paths::repo_root())),
            make_jobs: self.make_jobs.unwrap_or_else(cpus),
            jobs,
            lockout_evidence: !self.no_lockout_evidence,
            debug_info: self.debug_info,
            console_cap: self.console_cap_mib << 20,
            guest_fault: self.guest_fault.clone(),
            results_root: crate::paths::results_root(self.results.results_dir.as_deref()),
            bisecting: false,
        }
    }
}

/// One of the suite's checks alone, for real, on this machine's cache (the ignored tests that
/// run a check by hand: `cargo test -p xtask --lib NAME -- --ignored --nocapture`): `check`
/// gets the options a command given no flags has, the matrix and a fresh results folder.
#[cfg(test)]
pub(crate) fn run_check_on_the_real_cache(
    tag: &str,
    check: impl FnOnce(
        &runner::Options,
        &crate::matrix::MatrixFile,
        &std::path::Path,
    ) -> anyhow::Result<crate::verdict::Check>,
) {
    #[derive(clap::Parser)]
    struct NoFlags {
        #[command(flatten)]
        kernel: KernelOpts,
    }
    let o = <NoFlags as clap::Parser>::parse_from(["xtask"]).kernel.options(1);
    let m = o.load_matrix().unwrap();
    let dir = o.results_root.join(format!("{}-{tag}", crate::util::now_stamp()));
    let c = check(&o, &m, &dir).unwrap();
    println!("{}", c.detail);
    assert!(c.ok, "{}", c.detail);
}

/// The options of the commands that run several cells: which, how many at once, and how.
#[derive(clap::Args)]
pub struct CellsOpts {
    #[command(flatten)]
    filter: Filter,
    /// Cells run at once, one lane per arch (default 1: cells one after another)
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    #[command(flatten)]
    kernel: KernelOpts,
}

impl CellsOpts {
    fn options(&self) -> runner::Options {
        self.kernel.options(self.jobs)
    }
}

/// Which cells: `--only` and `--skip` terms.
#[derive(clap::Args, Clone)]
pub struct Filter {
    /// Keep cells matching every --only (each a comma list of arch, variant, scenario, mutant
    /// name, cell id, or key=value)
    #[arg(long)]
    only: Vec<String>,
    /// Drop cells matching any of these
    #[arg(long)]
    skip: Vec<String>,
}

impl Filter {
    fn selection(&self) -> Selection {
        Selection { only: self.only.clone(), skip: self.skip.clone(), ..Default::default() }
    }
}

/// A variant of the matrix, or an error naming the ones there are.
fn variant<'m>(m: &'m MatrixFile, matrix: &Path, name: &str, purpose: &str) -> Result<&'m Variant> {
    m.variants.get(name).with_context(|| {
        let names = m.variants.keys().cloned().collect::<Vec<_>>().join(", ");
        format!("unknown variant {name:?}{purpose}; {} defines: {names}", matrix.display())
    })
}

/// One line per mutant cell, `caught` or `MISSED`.
fn print_mutants(res: &[(bool, String)]) {
    for (ok, line) in res {
        println!("  [{}] {line}", if *ok { "caught" } else { "MISSED" });
    }
}
