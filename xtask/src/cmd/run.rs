//! `cargo xtask run`: one cell, with the same machinery and results folder as the matrix.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser as _};

use super::KernelOpts;
use crate::arch::Arch;
use crate::console::Category;
use crate::matrix::{Expectation, KernelDef, MatrixFile, Scenario, Variant};
use crate::report::CellResult;

/// Build, boot and judge one cell: exit 0 as expected, 1 kernel misbehaved, 2 harness error, 3 inconclusive
#[derive(clap::Args)]
pub struct Run {
    #[arg(long, value_enum)]
    arch: Arch,
    /// A kernel of the matrix's `kernels:` axis (default: the oldest, 6.1)
    #[arg(long)]
    kernel: Option<String>,
    /// A variant of the matrix file (upstream, prefix, rust, ...)
    #[arg(long)]
    variant: Option<String>,
    #[arg(long, value_enum, default_value = "offline")]
    scenario: Scenario,
    /// Apply these patches (on top of --variant's, if given): test a candidate fix ad hoc
    #[arg(long = "patch", num_args = 1..)]
    patches: Vec<PathBuf>,
    /// Override the expectation (with --patch the default is clean)
    #[arg(long, value_parser = PossibleValuesParser::new(Expectation::WORDS).try_map(|w| Expectation::from_word(&w)))]
    expect: Option<Expectation>,
    /// MiB of memory the guest workload maps and KSM merges
    #[arg(long)]
    mib: Option<u32>,
    /// Boot timeout in seconds
    #[arg(long)]
    timeout: Option<u64>,
    /// Offline/online cycles of the soak scenario (default: the matrix's `soak.cycles`)
    #[arg(long)]
    cycles: Option<u32>,
    #[command(flatten)]
    opts: KernelOpts,
}

impl Run {
    pub fn run(self) -> Result<i32> {
        let (cell, dir) = self.execute()?;
        print_cell(&cell);
        println!("results: {}", dir.display());
        Ok(cell.verdict.outcome.exit_code())
    }

    /// The cell, built, booted and judged into a new results folder (`run`, and each round of
    /// `watch`).
    pub(super) fn execute(&self) -> Result<(CellResult, PathBuf)> {
        let o = self.opts.options(1);
        let m = o.load_matrix()?;
        let (kernel, kdef) = match &self.kernel {
            Some(k) => m.kernel_named(k)?,
            None => m.first_kernel(),
        };
        let mut variant = self.variant(&m, &o.matrix, &kdef)?;
        if let Some(e) = &self.expect {
            variant.expect = e.clone();
        }
        if self.cycles.is_some() && self.scenario != Scenario::Soak {
            bail!("--cycles counts the cycles of --scenario soak; give --scenario soak too");
        }
        let mut cell = m.cell(kernel, self.arch, variant, self.scenario);
        if self.scenario == Scenario::Selftests && cell.selftests.is_none() {
            bail!(
                "variant {} has no `selftests:` in {}: the selftests scenario runs the kernel's own tests of \
                 a variant that names the cases it must pass (give --variant upstream or rust)",
                cell.variant.name,
                o.matrix.display()
            );
        }
        if let Some(t) = self.timeout {
            cell.timeout = t;
        }
        if let Some(n) = self.cycles.or(cell.cycles) {
            if n == 0 {
                bail!("--cycles 0 would soak nothing: give 1 or more");
            }
            m.set_cycles(&mut cell, n);
            if let Some(t) = self.timeout {
                cell.timeout = t;
            }
        }
        cell.mib = self.mib.unwrap_or(m.workload.mib);
        let dir = self.opts.results.stamped(&format!("run-{}", cell.id()))?;
        let results = crate::runner::run_cells(&o, &m, vec![cell], &dir)?;
        let cell = results.cells.into_iter().next().context("interrupted before the cell ran")?;
        Ok((cell, dir))
    }

    /// What a change to these files would change in the cell: the variant's patches, rust-ksm
    /// when it links it, `--kernel-src`, the matrix file.
    pub(super) fn inputs(&self) -> Result<Vec<PathBuf>> {
        let o = self.opts.options(1);
        let m = o.load_matrix()?;
        let (_, kdef) = match &self.kernel {
            Some(k) => m.kernel_named(k)?,
            None => m.first_kernel(),
        };
        let v = self.variant(&m, &o.matrix, &kdef)?;
        let repo = crate::paths::repo_root();
        let mut paths = v.patch_paths(&repo);
        paths.extend(v.rust_patch_paths(&repo));
        if v.rust {
            paths.push(repo.join("rust-ksm"));
        }
        paths.extend(v.kconfig_paths(&repo));
        paths.extend(o.kernel_src.clone());
        paths.push(o.matrix.clone());
        Ok(paths)
    }

    /// `--variant`, or an ad hoc one with `--patch` on top (of `--variant`'s patches, if given).
    fn variant(&self, m: &MatrixFile, matrix: &std::path::Path, k: &KernelDef) -> Result<Variant> {
        let name = self.variant.as_deref();
        if self.patches.is_empty() {
            return match name {
                Some(name) => super::variant(m, matrix, name, "").map(|v| k.variant(v)),
                None => bail!(
                    "give --variant NAME (one of: {}) or --patch FILE...",
                    m.variants.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            };
        }
        let mut v = match name {
            Some(n) => k.variant(super::variant(m, matrix, n, " for --patch")?),
            None => Variant::default(),
        };
        let mut extra = Vec::new();
        for p in &self.patches {
            extra.push(p.canonicalize().with_context(|| format!("--patch {}: no such file", p.display()))?);
        }
        v.patches.extend(extra.iter().cloned());
        v.adhoc = Some(crate::matrix::AdHoc { base: name.map(str::to_string), patches: extra });
        v.name = name.map(|n| format!("{n}+patch")).unwrap_or_else(|| "custom".into());
        v.description = "ad hoc: --patch".into();
        // A candidate fix is expected to make the kernel clean unless --expect says otherwise.
        v.expect = Expectation::Clean;
        Ok(v)
    }
}

/// A cell's verdict, checks, kernel reports and folder, for the terminal.
pub(super) fn print_cell(c: &CellResult) {
    if let Some(e) = &c.host.harness_error {
        // The kernel checks never ran: the error alone, and where its logs are.
        println!(
            "{}: {} — the harness could not run this cell:\n  {}",
            c.id,
            c.verdict.outcome.name(),
            e.replace('\n', "\n  ")
        );
        println!("  logs: {}", c.dir.display());
        return;
    }
    println!("{}: {} — {}", c.id, c.verdict.outcome.name(), c.verdict.reason);
    for ch in &c.verdict.checks {
        let mark = if ch.skipped {
            "--"
        } else if ch.ok {
            "ok"
        } else {
            "!!"
        };
        println!("  [{mark}] {:<26} {}", ch.name, ch.detail);
    }
    for f in c.findings.findings.iter().filter(|f| f.category != Category::Info) {
        println!("  splat: {} [{}] (console lines {}-{})", f.title, f.fingerprint, f.first_line, f.last_line);
        if let Some(l) = &f.lockdep {
            println!("    acquiring {:?} while holding {:?}; chain {:?}", l.acquiring, l.held, l.chain);
        }
    }
    println!("  artifacts: {} (console.log, build.log, config, qmp.log, findings.json, reproduce.sh)", c.dir.display());
}
