//! `cargo xtask`: the command line. Parsing only; the work is in xtask::commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::arch::Arch;
use xtask::commands::{self, Common};
use xtask::matrix::{Expect, Scenario};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Reproduce the KSM memory hot-remove lockdep warning on s390x and arm64 in QEMU",
    version
)]
struct Cli {
    /// Cache for kernel sources, build trees, ccache, busybox, Rust sysroots [env: KSM_HARNESS_CACHE]
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
    /// Where results folders go [env: KSM_HARNESS_RESULTS] (default: <repo>/results)
    #[arg(long, global = true)]
    results_dir: Option<PathBuf>,
    /// Use this kernel tree instead of the embedded default (Debian's linux-source-6.1)
    #[arg(long, global = true)]
    kernel_src: Option<PathBuf>,
    /// The matrix file (variants and expectations are defined there)
    #[arg(long, global = true)]
    matrix: Option<PathBuf>,
    /// Cells run at once, one lane per arch (default 1: cells one after another)
    #[arg(long, global = true, default_value_t = 1)]
    jobs: usize,
    /// Parallel make jobs of a kernel build (default: number of CPUs)
    #[arg(long, global = true)]
    make_jobs: Option<usize>,
    /// Build and boot without kernel tracing: the lockout-held check is then SKIPPED (and says so)
    #[arg(long, global = true)]
    no_lockout_evidence: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install everything this harness needs (Debian/Ubuntu, apt; idempotent)
    Setup,
    /// List every requirement as found/missing, with the exact fix
    Doctor,
    /// Build only the kernel of one arch and variant (prints the image and build tree)
    Build {
        #[arg(long, value_enum)]
        arch: Arch,
        #[arg(long, default_value = "upstream")]
        variant: String,
    },
    /// Build, boot and judge one cell: exit 0 as expected, 1 kernel misbehaved, 2 harness error, 3 inconclusive
    Run {
        #[arg(long, value_enum)]
        arch: Arch,
        /// A variant of the matrix file (upstream, prefix, rust, ...)
        #[arg(long)]
        variant: Option<String>,
        #[arg(long, value_enum, default_value = "offline")]
        scenario: Scenario,
        /// Apply these patches (on top of --variant's, if given): test a candidate fix ad hoc
        #[arg(long = "patch", num_args = 1..)]
        patches: Vec<PathBuf>,
        /// Override the expectation (with --patch the default is clean)
        #[arg(long, value_enum)]
        expect: Option<ExpectArg>,
        /// MiB of memory the guest workload maps and KSM merges
        #[arg(long)]
        mib: Option<u32>,
        /// Boot timeout in seconds
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Run the matrix (configs/matrix.yaml) and write the report
    Matrix {
        /// Keep cells matching all of these (each a comma list of arch/variant/scenario or key=value)
        #[arg(long)]
        only: Vec<String>,
        /// Drop cells matching any of these
        #[arg(long)]
        skip: Vec<String>,
        /// Print the cells instead of running them
        #[arg(long)]
        list: bool,
        /// With --list: JSON
        #[arg(long, value_parser = ["json", "text"], default_value = "text")]
        format: String,
        /// Run only these cells (ids from --list)
        #[arg(long)]
        cell: Vec<String>,
        /// Run shard I of N (e.g. 1/2)
        #[arg(long, value_parser = commands::parse_shard)]
        shard: Option<(usize, usize)>,
    },
    /// The whole test suite as CI runs it: host tests (cargo test), then the matrix with real boots
    Test {
        #[arg(long)]
        only: Vec<String>,
        #[arg(long)]
        skip: Vec<String>,
    },
    /// Boot the mutant kernels of the matrix (kernels the harness must never pass) and check each verdict
    Mutants {
        /// Mutant names, arches or cell terms (comma lists; every --only must match)
        #[arg(long)]
        only: Vec<String>,
        #[arg(long)]
        skip: Vec<String>,
    },
    /// Build and boot s390x prefix/cancel and print the reported warning as the kernel wrote it
    Repro {
        #[arg(long, value_enum, default_value = "s390x")]
        arch: Arch,
    },
    /// Time the matrix (warm cache; with --cold first in an empty cache) into <results>/<stamp>-bench
    Bench {
        #[arg(long)]
        cold: bool,
        #[arg(long)]
        only: Vec<String>,
        #[arg(long)]
        skip: Vec<String>,
    },
    /// Find lockdep reports and other kernel problems in console logs (`-` = stdin)
    Analyze {
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Results folders
    Report {
        #[command(subcommand)]
        cmd: ReportCmd,
    },
}

#[derive(Subcommand)]
enum ReportCmd {
    /// Merge result folders (e.g. CI shards) into one report
    Merge {
        /// Output folder (default: <results>/<stamp>-merged)
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExpectArg {
    Clean,
    Splat,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    xtask::tools::install_signal_handlers();
    let repo = xtask::paths::repo_root();
    let common = Common {
        cache: xtask::cache::Cache::locate(cli.cache_dir.as_deref()),
        results: xtask::paths::results_root(cli.results_dir.as_deref()),
        kernel_src: cli.kernel_src,
        matrix: cli.matrix.unwrap_or_else(|| xtask::matrix::default_path(&repo)),
        make_jobs: cli.make_jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
        jobs: cli.jobs,
        lockout_evidence: !cli.no_lockout_evidence,
    };
    let r = match cli.cmd {
        Cmd::Setup => xtask::host::setup(&common.cache).map(|_| 0),
        Cmd::Doctor => Ok(if xtask::host::doctor(&common.cache) { 0 } else { 1 }),
        Cmd::Run { arch, variant, scenario, patches, expect, mib, timeout } => commands::run(
            &common,
            commands::RunArgs {
                arch,
                variant,
                scenario,
                patches,
                expect: expect.map(|e| match e {
                    ExpectArg::Clean => Expect::Clean,
                    ExpectArg::Splat => Expect::Splat,
                }),
                mib,
                timeout,
            },
        ),
        Cmd::Matrix { only, skip, list, format, cell, shard } => commands::matrix_cmd(
            &common,
            commands::MatrixArgs { only, skip, list, json: format == "json", cell, shard },
        ),
        Cmd::Test { only, skip } => commands::test_cmd(
            &common,
            commands::MatrixArgs { only, skip, list: false, json: false, cell: vec![], shard: None },
        ),
        Cmd::Mutants { only, skip } => commands::mutants_cmd(&common, &only, &skip),
        Cmd::Build { arch, variant } => commands::build_cmd(&common, arch, &variant),
        Cmd::Repro { arch } => commands::repro(&common, arch),
        Cmd::Bench { cold, only, skip } => commands::bench(
            &common,
            commands::MatrixArgs { only, skip, list: false, json: false, cell: vec![], shard: None },
            cold,
        ),
        Cmd::Analyze { json, files } => xtask::console::run_analyze(json, &files),
        Cmd::Report { cmd: ReportCmd::Merge { out, dirs } } => {
            let out = out.unwrap_or_else(|| common.results.join(format!("{}-merged", xtask::util::now_stamp())));
            xtask::report::merge(&out, &dirs).map(|r| {
                println!("{}", xtask::report::table(&r));
                println!("outcome: {}   merged report: {}", r.outcome.name(), out.display());
                if r.outcome == xtask::verdict::Outcome::Pass {
                    0
                } else {
                    1
                }
            })
        }
    };
    match r {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
