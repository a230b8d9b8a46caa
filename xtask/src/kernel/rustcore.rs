//! The Rust toolchain for the kernel side of rust-ksm.
//!
//! The kernel's `mm/rust_ksm.o` (patches/rust/) is built by rustc for
//! `s390x-unknown-none-softfloat` / `aarch64-unknown-none-softfloat`, for
//! which no prebuilt `core` ships. So: find a rustc that has its library
//! source (Debian's `rustc-web` + `rust-web-src`, or a rustup toolchain with
//! `rust-src`), build `core` and a `compiler_builtins` stub for the target
//! (RUSTC_BOOTSTRAP=1) into a sysroot in the cache, once per (rustc, target,
//! flags), and hand the kernel's make `KSM_RUSTC`, `KSM_RUST_SYSROOT` and
//! `KSM_RUST_SRC` (see [`make_vars`]).
//!
//! The codegen flags here must be the ones of the Kbuild rule in
//! `patches/rust/0002-*.patch` (a test checks that they are).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Cmd};

use crate::cache::Cache;
use crate::tools;

/// Overrides the rustc used for the kernel object (its library source is
/// then looked for next to it, or in Debian's /usr/src/rustc-<version>).
pub const RUSTC_ENV: &str = "KSM_HARNESS_RUSTC";

/// `source` of a toolchain whose library came from Debian's rust-web-src.
pub const SOURCE_DEBIAN: &str = "debian rustc-web";
/// `source` of a toolchain whose library came from rustup's rust-src.
pub const SOURCE_RUSTUP: &str = "rustup rust-src";

const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// Bump when the way the sysroot is built changes (invalidates stamps).
const SYSROOT_RECIPE: u32 = 1;

const COMPILER_BUILTINS_STUB: &str = "\
//! compiler_builtins stub for rust-ksm: rustc injects the crate into every
//! no_std crate; the kernel provides the few intrinsics LLVM may call.
#![no_std]
#![allow(internal_features)]
#![feature(compiler_builtins)]
#![compiler_builtins]
";

/// A rustc and the library source that matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    pub rustc: PathBuf,
    /// `.../library`, holding `core/src/lib.rs`.
    pub library: PathBuf,
    /// `release:` of `rustc -vV`, e.g. `1.96.0`.
    pub version: String,
    /// `SOURCE_DEBIAN` or `SOURCE_RUSTUP`.
    pub source: String,
    /// Chosen through `KSM_HARNESS_RUSTC`.
    pub from_env: bool,
    /// Whole `rustc -vV` output (part of the sysroot stamp).
    pub version_verbose: String,
}

/// A sysroot with `lib/rustlib/<target>/lib/{libcore,libcompiler_builtins}.rlib`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustSysroot {
    pub rustc: PathBuf,
    pub sysroot: PathBuf,
    pub version: String,
    /// `SOURCE_DEBIAN` or `SOURCE_RUSTUP`.
    pub source: String,
}

/// Which toolchain `ensure_sysroot` would use, without building anything
/// (for `doctor` and the report).
pub fn probe() -> Result<Toolchain> {
    let env = std::env::var_os(RUSTC_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    probe_with(env.as_deref(), Path::new(DEBIAN_RUSTC), path_rustc().as_deref())
}

/// [`probe`] with its inputs explicit: an override, Debian's rustc path, and
/// the rustc found in PATH (rustup's proxy, usually).
fn probe_with(env_rustc: Option<&Path>, debian_rustc: &Path, path_rustc: Option<&Path>) -> Result<Toolchain> {
    if let Some(rustc) = env_rustc {
        return from_env(rustc);
    }
    let mut looked = Vec::new();
    match debian(debian_rustc) {
        Ok(t) => return Ok(t),
        Err(why) => looked.push(why),
    }
    match rustup(path_rustc)? {
        Ok(t) => return Ok(t),
        Err(why) => looked.push(why),
    }
    bail!("no Rust toolchain with its library source for the kernel object ({}): {}", looked.join("; "), install_hint())
}

/// A candidate toolchain, or why it is none (for the message that lists them all).
type Candidate = std::result::Result<Toolchain, String>;

/// `KSM_HARNESS_RUSTC`: that rustc, with rustup's library source or Debian's.
fn from_env(rustc: &Path) -> Result<Toolchain> {
    let (version, verbose) = rustc_version(rustc).with_context(|| format!("{RUSTC_ENV}={}", rustc.display()))?;
    let sysroot = rustc_sysroot(rustc)?;
    let candidates = [(rustup_library(&sysroot), SOURCE_RUSTUP), (debian_library(&version), SOURCE_DEBIAN)];
    if let Some((library, source)) = candidates.into_iter().find(|(l, _)| has_core(l)) {
        return Ok(toolchain(rustc.to_path_buf(), library, (version, verbose), source, true));
    }
    bail!(
        "{RUSTC_ENV}={} is rustc {version} but its library source is missing (looked in {} and {}): {}",
        rustc.display(),
        rustup_library(&sysroot).display(),
        debian_library(&version).display(),
        install_hint()
    );
}

/// Debian's rustc-web with rust-web-src: what the trial runs used.
fn debian(rustc: &Path) -> Candidate {
    if !rustc.exists() {
        return Err(format!("no {}", rustc.display()));
    }
    let (version, verbose) = rustc_version(rustc).map_err(|e| format!("{}: {e:#}", rustc.display()))?;
    let library = debian_library(&version);
    if !has_core(&library) {
        return Err(format!("{} is rustc {version} but {} is missing", rustc.display(), library.display()));
    }
    Ok(toolchain(rustc.to_path_buf(), library, (version, verbose), SOURCE_DEBIAN, false))
}

/// A rustup toolchain with rust-src: the toolchain's own rustc, not the proxy, so that the
/// sysroot and the compiler cannot drift apart.
fn rustup(proxy: Option<&Path>) -> Result<Candidate> {
    let Some(proxy) = proxy else { return Ok(Err("no rustc in PATH".into())) };
    let sysroot = match rustc_sysroot(proxy) {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("{}: {e:#}", proxy.display()))),
    };
    let library = rustup_library(&sysroot);
    let real = sysroot.join("bin/rustc");
    let rustc = if real.exists() { real } else { proxy.to_path_buf() };
    if !has_core(&library) {
        return Ok(Err(format!("{} has no {}", rustc.display(), library.display())));
    }
    let version = rustc_version(&rustc)?;
    Ok(Ok(toolchain(rustc, library, version, SOURCE_RUSTUP, false)))
}

fn toolchain(rustc: PathBuf, library: PathBuf, version: (String, String), source: &str, from_env: bool) -> Toolchain {
    let (version, version_verbose) = version;
    Toolchain { rustc, library, version, source: source.into(), from_env, version_verbose }
}

fn install_hint() -> String {
    format!(
        "install Debian's `rustc-web rust-web-src` (apt-get install rustc-web rust-web-src), \
         or run `rustup component add rust-src`, or point {RUSTC_ENV} at a rustc that has it"
    )
}

fn debian_library(version: &str) -> PathBuf {
    PathBuf::from(format!("/usr/src/rustc-{version}/library"))
}

fn rustup_library(sysroot: &Path) -> PathBuf {
    sysroot.join("lib/rustlib/src/rust/library")
}

fn has_core(library: &Path) -> bool {
    library.join("core/src/lib.rs").is_file()
}

/// `rustc` in PATH, else `$CARGO_HOME/bin/rustc` / `~/.cargo/bin/rustc`.
fn path_rustc() -> Option<PathBuf> {
    tools::which("rustc").or_else(|| {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        Some(home.join("bin/rustc")).filter(|c| c.is_file())
    })
}

/// Variables of the calling make or cargo that must not reach our rustc.
const RUSTC_ENV_DROP: [&str; 5] = ["MAKEFLAGS", "MFLAGS", "CARGO_MAKEFLAGS", "RUSTC_WRAPPER", "RUSTFLAGS"];

/// A rustc command without the environment of an outer cargo or make.
fn rustc_env(c: Cmd<'_>) -> Cmd<'_> {
    RUSTC_ENV_DROP.into_iter().fold(c, |c, v| c.env_remove(v))
}

fn output_of(cmd: Cmd<'_>, what: &str) -> Result<String> {
    let out = rustc_env(cmd).ignore_status().output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, crate::util::tail(&String::from_utf8_lossy(&out.stderr), 30));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// (`release`, whole `rustc -vV`).
fn rustc_version(rustc: &Path) -> Result<(String, String)> {
    let sh = tools::shell()?;
    let out = output_of(cmd!(sh, "{rustc} -vV"), &format!("{} -vV", rustc.display()))?;
    let release = parse_release(&out).with_context(|| format!("no `release:` line in `{} -vV`", rustc.display()))?;
    Ok((release, out.trim().to_string()))
}

fn parse_release(vv: &str) -> Option<String> {
    vv.lines().find_map(|l| l.strip_prefix("release:")).map(|r| r.trim().to_string()).filter(|r| !r.is_empty())
}

fn rustc_sysroot(rustc: &Path) -> Result<PathBuf> {
    let sh = tools::shell()?;
    Ok(PathBuf::from(
        output_of(cmd!(sh, "{rustc} --print sysroot"), &format!("{} --print sysroot", rustc.display()))?.trim(),
    ))
}

/// Codegen flags for everything built for `target` (core, the stub and the
/// crate): mm/Makefile's common `ksm-rustflags` plus `ksm-rustflags-$(SRCARCH)`.
/// Function attributes (backchain, packed-stack, frame pointers, unwind
/// tables) survive LTO per function, so core must be built with them too.
pub fn codegen_flags(target: &str) -> Result<Vec<&'static str>> {
    #[rustfmt::skip] // option/value pairs
    const COMMON: &[&str] = &[
        "-C", "panic=abort", "-C", "opt-level=2", "-C", "debuginfo=0", "-C", "debug-assertions=off",
        "-C", "overflow-checks=off", "-Z", "function-sections=no",
    ];
    #[rustfmt::skip]
    const S390X: &[&str] = &["-C", "relocation-model=pie", "-C", "target-feature=+backchain", "-Z", "packed-stack"];
    #[rustfmt::skip]
    const AARCH64: &[&str] = &[
        "-C", "relocation-model=static", "-C", "code-model=small", "-C", "force-unwind-tables=no",
        "-C", "force-frame-pointers=yes",
    ];
    let per_target = match target {
        "s390x-unknown-none-softfloat" => S390X,
        "aarch64-unknown-none-softfloat" => AARCH64,
        other => {
            bail!("rust-ksm is built for s390x-unknown-none-softfloat and aarch64-unknown-none-softfloat, not {other}")
        }
    };
    Ok([COMMON, per_target].concat())
}

/// The `edition` of `library/core/Cargo.toml` (2024 for current toolchains).
fn core_edition(library: &Path) -> String {
    fs::read_to_string(library.join("core/Cargo.toml"))
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let v = l.trim().strip_prefix("edition")?.trim_start().strip_prefix('=')?;
                Some(v.trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "2021".into())
}

/// `<cache>/rust-sysroot/<rustc version>`, with `core` and the
/// `compiler_builtins` stub built for `target`; a no-op when a stamp says
/// this (rustc, library, target, flags) was built already. Concurrent
/// callers for the same target wait on a lock file.
pub fn ensure_sysroot(cache: &Cache, target: &str) -> Result<RustSysroot> {
    let tc = probe()?;
    ensure_sysroot_with(&tc, cache, target)
}

/// [`ensure_sysroot`] for a given toolchain.
fn ensure_sysroot_with(tc: &Toolchain, cache: &Cache, target: &str) -> Result<RustSysroot> {
    let flags = codegen_flags(target)?;
    let sysroot = cache.rust_sysroots().join(&tc.version);
    let libdir = sysroot.join("lib/rustlib").join(target).join("lib");
    let stamp_path = libdir.join(".ksm-sysroot-stamp");
    let stamp = format!(
        "recipe {SYSROOT_RECIPE}\nrustc {}\nlibrary {}\ntarget {target}\nflags {}\n{}\n",
        tc.rustc.display(),
        tc.library.display(),
        flags.join(" "),
        tc.version_verbose
    );
    let result = RustSysroot {
        rustc: tc.rustc.clone(),
        sysroot: sysroot.clone(),
        version: tc.version.clone(),
        source: tc.source.clone(),
    };
    let built = |p: &Path| {
        fs::read_to_string(p).is_ok_and(|s| s == stamp)
            && libdir.join("libcore.rlib").is_file()
            && libdir.join("libcompiler_builtins.rlib").is_file()
    };
    if built(&stamp_path) {
        return Ok(result);
    }

    let target_dir = sysroot.join("lib/rustlib").join(target);
    fs::create_dir_all(&target_dir).with_context(|| format!("creating {}", target_dir.display()))?;
    let _lock = crate::lock::acquire(
        &cache.locks(),
        &format!("rust-sysroot-{target}"),
        &format!("the Rust core for {target}"),
    )?;
    if built(&stamp_path) {
        return Ok(result); // another process built it while we waited
    }

    // Build into a private sysroot, then move the two rlibs in and write
    // the stamp last: a reader sees the old set or the new one.
    let tmp = cache.rust_sysroots().join(format!(".tmp-{}-{target}-{}", tc.version, std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let tmp_lib = tmp.join("lib/rustlib").join(target).join("lib");
    fs::create_dir_all(&tmp_lib)?;
    let res = build_into(tc, target, &flags, &tmp, &tmp_lib);
    if let Err(e) = res {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fs::create_dir_all(&libdir)?;
    let _ = fs::remove_file(&stamp_path);
    for rlib in ["libcore.rlib", "libcompiler_builtins.rlib"] {
        fs::rename(tmp_lib.join(rlib), libdir.join(rlib))
            .with_context(|| format!("installing {rlib} into {}", libdir.display()))?;
    }
    let _ = fs::remove_dir_all(&tmp);
    crate::util::write_atomic(&stamp_path, stamp.as_bytes())?;
    Ok(result)
}

/// rustc for one crate, in a process group like every long child (see `tools`).
fn rustc_group(rustc: &Path, args: Vec<std::ffi::OsString>, what: &str) -> Result<()> {
    let expr =
        RUSTC_ENV_DROP.into_iter().fold(duct::cmd(rustc, args), |e, v| e.env_remove(v)).env("RUSTC_BOOTSTRAP", "1");
    let (ok, out) = tools::merged_output(expr).with_context(|| format!("running {what}"))?;
    if !ok {
        bail!("{what} failed: {}", crate::util::tail(&out, 30));
    }
    Ok(())
}

fn build_into(tc: &Toolchain, target: &str, flags: &[&str], tmp_sysroot: &Path, tmp_lib: &Path) -> Result<()> {
    let (rustc, edition) = (&tc.rustc, core_edition(&tc.library));
    let os = |v: &[&dyn AsRef<std::ffi::OsStr>]| v.iter().map(|a| a.as_ref().to_os_string()).collect::<Vec<_>>();
    let (out, src) = (tmp_lib.join("libcore.rlib"), tc.library.join("core/src/lib.rs"));
    let mut args =
        os(&[&"--crate-name", &"core", &"--crate-type", &"rlib", &"--edition", &edition, &"--target", &target]);
    args.extend(flags.iter().map(|f| f.into()));
    args.extend(os(&[&"-C", &"embed-bitcode=yes", &"--cap-lints", &"allow", &"-o", &out, &src]));
    rustc_group(rustc, args, &format!("building core for {target} with {}", rustc.display()))?;

    let stub = tmp_sysroot.join("compiler_builtins.rs");
    fs::write(&stub, COMPILER_BUILTINS_STUB)?;
    let out = tmp_lib.join("libcompiler_builtins.rlib");
    let mut args = os(&[
        &"--crate-name",
        &"compiler_builtins",
        &"--crate-type",
        &"rlib",
        &"--edition",
        &"2021",
        &"--target",
        &target,
        &"--sysroot",
        &tmp_sysroot,
    ]);
    args.extend(flags.iter().map(|f| f.into()));
    args.extend(os(&[&"-C", &"embed-bitcode=yes", &"--cap-lints", &"allow", &"-o", &out, &stub]));
    rustc_group(rustc, args, &format!("building the compiler_builtins stub for {target}"))?;
    Ok(())
}

/// The variables the kernel's make needs for mm/rust_ksm.o, as `NAME=value`.
pub fn make_vars(rs: &RustSysroot, rust_ksm_dir: &Path) -> Vec<String> {
    vec![
        format!("KSM_RUSTC={}", rs.rustc.display()),
        format!("KSM_RUST_SYSROOT={}", rs.sysroot.display()),
        format!("KSM_RUST_SRC={}", rust_ksm_dir.display()),
    ]
}

#[cfg(test)]
mod tests;
