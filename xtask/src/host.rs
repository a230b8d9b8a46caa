//! Host requirements: what `doctor` checks, what `setup` installs (Debian/Ubuntu, apt),
//! and the one place that maps a missing tool to the package that provides it.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::arch::{Arch, FIRMWARE_AARCH64};

pub enum Probe {
    /// An executable on PATH.
    Cmd(&'static str),
    /// A file that must exist.
    File(&'static str),
    /// Anything else, e.g. the Rust toolchain search of `rustcore` (Debian or rustup).
    Check(fn() -> bool),
}

pub struct Requirement {
    pub what: &'static str,
    pub probe: Probe,
    pub package: &'static str,
}

const fn req(what: &'static str, probe: Probe, package: &'static str) -> Requirement {
    Requirement { what, probe, package }
}

/// Everything but the per-arch busybox, which is not an apt install (see `busybox`).
pub const REQUIREMENTS: &[Requirement] = &[
    req("s390x cross compiler", Probe::Cmd("s390x-linux-gnu-gcc"), "gcc-s390x-linux-gnu"),
    req("s390x libc for static workload", Probe::File("/usr/s390x-linux-gnu/lib/libc.a"), "libc6-dev-s390x-cross"),
    req("arm64 cross compiler", Probe::Cmd("aarch64-linux-gnu-gcc"), "gcc-aarch64-linux-gnu"),
    req("arm64 libc for static workload", Probe::File("/usr/aarch64-linux-gnu/lib/libc.a"), "libc6-dev-arm64-cross"),
    req("QEMU for s390x", Probe::Cmd("qemu-system-s390x"), "qemu-system-misc"),
    req("QEMU for arm64", Probe::Cmd("qemu-system-aarch64"), "qemu-system-arm"),
    req("UEFI firmware for arm64", Probe::File(FIRMWARE_AARCH64), "qemu-efi-aarch64"),
    req("Linux 6.1 source tarball", Probe::File(crate::source::DEBIAN_TARBALL), "linux-source-6.1"),
    req("ccache", Probe::Cmd("ccache"), "ccache"),
    req("make", Probe::Cmd("make"), "make"),
    req("bc", Probe::Cmd("bc"), "bc"),
    req("bison", Probe::Cmd("bison"), "bison"),
    req("flex", Probe::Cmd("flex"), "flex"),
    req("OpenSSL headers", Probe::File("/usr/include/openssl/ssl.h"), "libssl-dev"),
    req("libelf headers", Probe::File("/usr/include/libelf.h"), "libelf-dev"),
    req("xz", Probe::Cmd("xz"), "xz-utils"),
    req("patch", Probe::Cmd("patch"), "patch"),
    req("rsync (for --kernel-src trees)", Probe::Cmd("rsync"), "rsync"),
    req("dpkg-deb (busybox extraction)", Probe::Cmd("dpkg-deb"), "dpkg"),
    req(
        "rustc with library source (variant rust)",
        Probe::Check(|| crate::rustcore::probe().is_ok()),
        "rustc-web rust-web-src",
    ),
];

pub fn which(cmd: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(cmd)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

impl Requirement {
    pub fn found(&self) -> bool {
        match self.probe {
            Probe::Cmd(c) => which(c).is_some(),
            Probe::File(f) => Path::new(f).exists(),
            Probe::Check(f) => f(),
        }
    }

    pub fn fix(&self) -> String {
        format!("apt-get install -y {}", self.package)
    }
}

/// Fails with the exact install command when a tool a later step needs is missing.
pub fn require_cmd(cmd: &str) -> Result<()> {
    if which(cmd).is_some() {
        return Ok(());
    }
    let pkg = REQUIREMENTS
        .iter()
        .find(|r| matches!(r.probe, Probe::Cmd(c) if c == cmd))
        .map(|r| r.package)
        .unwrap_or("(unknown package)");
    bail!("`{cmd}` is not installed: run `cargo xtask setup` or `apt-get install -y {pkg}`")
}

pub fn busybox_path(cache: &Path, arch: Arch) -> std::path::PathBuf {
    cache.join("busybox").join(arch.name()).join("bin/busybox")
}

/// `doctor`: every requirement as found/missing, with the fix. Returns whether all were found.
pub fn doctor(cache: &Path) -> bool {
    let mut all = true;
    let mut line = |ok: bool, what: &str, fix: &str| {
        all &= ok;
        if ok {
            println!("  found    {what}");
        } else {
            println!("  MISSING  {what:<44} fix: {fix}");
        }
    };
    println!("host requirements:");
    for r in REQUIREMENTS {
        line(r.found(), r.what, &r.fix());
    }
    for arch in Arch::ALL {
        let p = busybox_path(cache, arch);
        line(p.exists(), &format!("static busybox for {arch} ({})", p.display()), "cargo xtask setup");
    }
    // Which toolchain the rust variant will use (its absence is the requirement above).
    if let Ok(t) = crate::rustcore::probe() {
        println!("  using    {} ({}) for the rust-ksm kernel object", t.rustc.display(), t.source);
    }
    println!("cache: {}", cache.display());
    all
}

/// `setup`: apt-installs what is missing and fetches static busybox per guest arch.
/// Idempotent: when everything is there it runs no apt command at all.
pub fn setup(cache: &Path) -> Result<()> {
    let mut missing: Vec<&str> =
        REQUIREMENTS.iter().filter(|r| !r.found()).flat_map(|r| r.package.split(' ')).collect();
    missing.sort();
    missing.dedup();
    let busybox_missing: Vec<Arch> = Arch::ALL.into_iter().filter(|a| !busybox_path(cache, *a).exists()).collect();
    if !missing.is_empty() || !busybox_missing.is_empty() {
        if which("apt-get").is_none() {
            bail!("setup installs with apt-get (Debian/Ubuntu); install these by hand: {}", missing.join(" "));
        }
        for a in &busybox_missing {
            let da = a.machine().debian_arch;
            let have = duct::cmd!("dpkg", "--print-foreign-architectures").read().unwrap_or_default();
            if !have.lines().any(|l| l.trim() == da)
                && duct::cmd!("dpkg", "--print-architecture").read().unwrap_or_default().trim() != da
            {
                println!("setup: dpkg --add-architecture {da}");
                duct::cmd!("dpkg", "--add-architecture", da)
                    .run()
                    .context("dpkg --add-architecture (are you root?)")?;
            }
        }
        println!("setup: apt-get update");
        duct::cmd!("apt-get", "update", "-q")
            .run()
            .context("apt-get update failed (are you root? is the network up?)")?;
        if !missing.is_empty() {
            println!("setup: apt-get install {}", missing.join(" "));
            let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
            args.extend(missing.iter().copied());
            duct::cmd("apt-get", &args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run()
                .context("apt-get install failed")?;
        }
    }
    for a in busybox_missing {
        fetch_busybox(cache, a)?;
    }
    let missing_after: Vec<&str> = REQUIREMENTS.iter().filter(|r| !r.found()).map(|r| r.what).collect();
    if !missing_after.is_empty() {
        bail!("still missing after setup: {}", missing_after.join(", "));
    }
    println!("setup: all host requirements are present (cache: {})", cache.display());
    Ok(())
}

/// Static busybox for a foreign arch: `apt-get download busybox-static:<arch>`, then `dpkg-deb -x`
/// into the cache (no install into the host's root).
fn fetch_busybox(cache: &Path, arch: Arch) -> Result<()> {
    let da = arch.machine().debian_arch;
    let dir = cache.join("busybox");
    let dl = dir.join("download").join(da);
    std::fs::create_dir_all(&dl)?;
    println!("setup: apt-get download busybox-static:{da}");
    duct::cmd!("apt-get", "download", format!("busybox-static:{da}")).dir(&dl).run().with_context(|| {
        format!("apt-get download busybox-static:{da} failed (dpkg --add-architecture {da}; apt-get update)")
    })?;
    let deb = std::fs::read_dir(&dl)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download left no .deb")?;
    let out = dir.join(arch.name());
    duct::cmd!("dpkg-deb", "-x", &deb, &out).run().context("dpkg-deb -x")?;
    if !busybox_path(cache, arch).exists() {
        bail!("{} has no bin/busybox", deb.display());
    }
    Ok(())
}
