//! `cargo xtask setup`, and the host requirements that it installs and `doctor` checks
//! (Debian/Ubuntu, apt).

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use super::CacheDir;
use crate::arch::{Arch, FIRMWARE_AARCH64};
use crate::cache::Cache;
use crate::tools;

/// Install everything this harness needs (Debian/Ubuntu, apt; idempotent)
#[derive(clap::Args)]
pub struct Setup {
    #[command(flatten)]
    cache: CacheDir,
    /// Only what building and booting cells needs, not the test suite's own tools (Chromium,
    /// cargo-mutants, zizmor): for CI jobs that run cells (the nightly workflow's)
    #[arg(long)]
    runtime_only: bool,
}

impl Setup {
    pub fn run(self) -> Result<i32> {
        setup(&self.cache.cache(), self.runtime_only).map(|_| 0)
    }
}

pub enum Probe {
    /// An executable on PATH (its package: [`tools::PACKAGES`]).
    Cmd(&'static str),
    /// A file that must exist, and the package that provides it.
    File(&'static str, &'static str),
    /// Anything else, e.g. the Rust toolchain search of `rustcore` (Debian or rustup).
    Check(fn() -> bool, &'static str),
}

pub struct Requirement {
    pub what: &'static str,
    pub probe: Probe,
    /// Only the test suite needs it.
    pub suite_only: bool,
}

const fn req(what: &'static str, probe: Probe) -> Requirement {
    Requirement { what, probe, suite_only: false }
}

/// A tool only `cargo xtask test` needs (skipped by `setup --runtime-only`).
const fn suite_req(what: &'static str, probe: Probe) -> Requirement {
    Requirement { what, probe, suite_only: true }
}

/// Everything but the per-arch busybox, which is not an apt install (see `fetch_busybox`).
pub const REQUIREMENTS: &[Requirement] = &[
    req("s390x cross compiler", Probe::Cmd("s390x-linux-gnu-gcc")),
    req("s390x libc for static workload", Probe::File("/usr/s390x-linux-gnu/lib/libc.a", "libc6-dev-s390x-cross")),
    req("arm64 cross compiler", Probe::Cmd("aarch64-linux-gnu-gcc")),
    req("arm64 libc for static workload", Probe::File("/usr/aarch64-linux-gnu/lib/libc.a", "libc6-dev-arm64-cross")),
    req("QEMU for s390x", Probe::Cmd("qemu-system-s390x")),
    req("QEMU for arm64", Probe::Cmd("qemu-system-aarch64")),
    req("UEFI firmware for arm64", Probe::File(FIRMWARE_AARCH64, "qemu-efi-aarch64")),
    req("Linux 6.1 source tarball", Probe::File(crate::kernel::DEBIAN_TARBALL, "linux-source-6.1")),
    req("ccache", Probe::Cmd("ccache")),
    req("make", Probe::Cmd("make")),
    req("bc", Probe::Cmd("bc")),
    req("bison", Probe::Cmd("bison")),
    req("flex", Probe::Cmd("flex")),
    req("OpenSSL headers", Probe::File("/usr/include/openssl/ssl.h", "libssl-dev")),
    req("libelf headers", Probe::File("/usr/include/libelf.h", "libelf-dev")),
    req("xz", Probe::Cmd("xz")),
    req("patch", Probe::Cmd("patch")),
    req("rsync (for --kernel-src trees)", Probe::Cmd("rsync")),
    req("dpkg-deb (busybox extraction)", Probe::Cmd("dpkg-deb")),
    suite_req("Chromium (the test suite opens the HTML report in it)", Probe::Cmd("chromium")),
    // Debian's python3 refuses `pip install` (PEP 668): zizmor comes from PyPI through pipx.
    suite_req(
        "zizmor, or pipx to install it (the suite's workflow lint)",
        Probe::Check(|| tools::which("zizmor").is_some() || tools::which("pipx").is_some(), "pipx"),
    ),
    req(
        "rustc with library source (variant rust)",
        Probe::Check(|| crate::kernel::rust_toolchain().is_ok(), "rustc-web rust-web-src"),
    ),
];

impl Requirement {
    pub fn found(&self) -> bool {
        match self.probe {
            Probe::Cmd(c) => tools::which(c).is_some(),
            Probe::File(f, _) => Path::new(f).exists(),
            Probe::Check(f, _) => f(),
        }
    }

    pub fn package(&self) -> &'static str {
        match self.probe {
            Probe::Cmd(c) => tools::package_of(c).unwrap_or("(unknown package)"),
            Probe::File(_, p) | Probe::Check(_, p) => p,
        }
    }

    pub fn fix(&self) -> String {
        format!("apt-get install -y {}", self.package())
    }
}

/// Apt-installs what is missing and fetches static busybox per guest arch. Idempotent: when
/// everything is there it runs no apt command at all.
fn setup(cache: &Cache, runtime_only: bool) -> Result<()> {
    let wanted = || REQUIREMENTS.iter().filter(move |r| !(runtime_only && r.suite_only));
    let mut missing: Vec<&str> = wanted().filter(|r| !r.found()).flat_map(|r| r.package().split(' ')).collect();
    missing.sort();
    missing.dedup();
    let busybox_missing: Vec<Arch> = Arch::ALL.into_iter().filter(|a| !cache.busybox(*a).exists()).collect();
    let foreign_missing = Arch::ALL.into_iter().any(|a| {
        crate::kernel::SELFTEST_DEBS.iter().any(|(p, probe)| !cache.foreign_deb_root(p, a).join(probe).exists())
    });
    if !missing.is_empty() || !busybox_missing.is_empty() || foreign_missing {
        if tools::which("apt-get").is_none() {
            bail!("setup installs with apt-get (Debian/Ubuntu); install these by hand: {}", missing.join(" "));
        }
        let sh = tools::shell()?;
        for a in Arch::ALL {
            let da = a.machine().debian_arch;
            let have = cmd!(sh, "dpkg --print-foreign-architectures").read().unwrap_or_default();
            if !have.lines().any(|l| l.trim() == da)
                && cmd!(sh, "dpkg --print-architecture").read().unwrap_or_default().trim() != da
            {
                println!("setup: dpkg --add-architecture {da}");
                cmd!(sh, "dpkg --add-architecture {da}")
                    .quiet()
                    .run()
                    .context("dpkg --add-architecture (are you root?)")?;
            }
        }
        println!("setup: apt-get update");
        cmd!(sh, "apt-get update -q")
            .quiet()
            .run()
            .context("apt-get update failed (are you root? is the network up?)")?;
        if !missing.is_empty() {
            println!("setup: apt-get install {}", missing.join(" "));
            cmd!(sh, "apt-get install -y -q --no-install-recommends {missing...}")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .quiet()
                .run()
                .context("apt-get install failed")?;
        }
    }
    for a in busybox_missing {
        fetch_busybox(cache, a)?;
    }
    for a in Arch::ALL {
        fetch_selftest_debs(cache, a)?;
    }
    for (package, suite) in crate::kernel::debian::BACKPORTS {
        crate::kernel::debian::fetch(cache, package, suite)?;
    }
    if !runtime_only {
        dev_tools()?;
    }
    let missing_after: Vec<&str> = wanted().filter(|r| !r.found()).map(|r| r.what).collect();
    if !missing_after.is_empty() {
        bail!("still missing after setup: {}", missing_after.join(", "));
    }
    let scope =
        if runtime_only { "for building and booting cells (--runtime-only: not the suite's tools) " } else { "" };
    println!("setup: all host requirements {scope}are present (cache: {})", cache.root().display());
    Ok(())
}

/// The test suite's own tools that are no Debian package: cargo-mutants (crates.io; the suite
/// needs it) and zizmor (PyPI through pipx; the suite says SKIPPED without it, as not every
/// host reaches PyPI).
fn dev_tools() -> Result<()> {
    let sh = tools::shell()?;
    if tools::which("cargo-mutants").is_none() {
        println!("setup: cargo install --locked cargo-mutants (a few minutes, once)");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        cmd!(sh, "{cargo} install --locked cargo-mutants")
            .quiet()
            .run()
            .context("cargo install cargo-mutants failed")?;
    }
    if tools::which("zizmor").is_none() {
        // As root, where every user finds it (Debian's pipx documents these two for a global
        // install); otherwise pipx's own ~/.local/bin.
        let global = unsafe { libc::geteuid() } == 0;
        let mut c = cmd!(sh, "pipx install zizmor").quiet();
        if global {
            println!("setup: pipx install zizmor (into /usr/local/bin)");
            c = c.env("PIPX_HOME", "/opt/pipx").env("PIPX_BIN_DIR", "/usr/local/bin");
        } else {
            println!("setup: pipx install zizmor (into ~/.local/bin)");
        }
        if c.run().is_err() {
            println!("setup: zizmor could not be installed with pipx; the workflow lint in `cargo xtask test` will say SKIPPED");
        } else if tools::which("zizmor").is_none() {
            println!("setup: zizmor is installed but not on PATH: add ~/.local/bin to PATH, or the workflow lint in `cargo xtask test` will say SKIPPED");
        }
    }
    Ok(())
}

/// Static busybox for a foreign arch: `apt-get download busybox-static:<arch>`, then `dpkg-deb -x`
/// into the cache (no install into the host's root).
fn fetch_busybox(cache: &Cache, arch: Arch) -> Result<()> {
    let dl = cache.busybox_download(arch.machine().debian_arch);
    fetch_foreign(cache, "busybox-static", arch, &dl, &cache.busybox_root(arch), "bin/busybox")
}

fn fetch_selftest_debs(cache: &Cache, arch: Arch) -> Result<()> {
    for (package, probe) in crate::kernel::SELFTEST_DEBS {
        let out = cache.foreign_deb_root(package, arch);
        if !out.join(probe).exists() {
            fetch_foreign(cache, package, arch, &cache.foreign_deb_download(package, arch), &out, probe)?;
        }
    }
    Ok(())
}

/// `apt-get download PACKAGE:<arch>` into `dl`, then `dpkg-deb -x` into `out`, which must then
/// hold `probe`. Extracted aside and renamed under the lock: a cut-short extraction is never used.
fn fetch_foreign(cache: &Cache, package: &str, arch: Arch, dl: &Path, out: &Path, probe: &str) -> Result<()> {
    let da = arch.machine().debian_arch;
    std::fs::create_dir_all(dl)?;
    println!("setup: apt-get download {package}:{da}");
    let sh = tools::shell()?;
    sh.change_dir(dl);
    let spec = format!("{package}:{da}");
    cmd!(sh, "apt-get download {spec}")
        .quiet()
        .run()
        .with_context(|| format!("apt-get download {spec} failed (dpkg --add-architecture {da}; apt-get update)"))?;
    let deb = std::fs::read_dir(dl)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download left no .deb")?;
    let _lock = crate::lock::acquire(&cache.locks(), "foreign-debs", "the extracted foreign packages")?;
    let tmp = out.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    cmd!(sh, "dpkg-deb -x {deb} {tmp}").quiet().run().context("dpkg-deb -x")?;
    if !tmp.join(probe).exists() {
        bail!("{} has no {probe}", deb.display());
    }
    let _ = std::fs::remove_dir_all(out);
    std::fs::rename(&tmp, out)?;
    Ok(())
}
