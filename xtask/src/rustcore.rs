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
    /// [`SOURCE_DEBIAN`] or [`SOURCE_RUSTUP`].
    pub source: String,
    /// Chosen through [`RUSTC_ENV`].
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
    /// [`SOURCE_DEBIAN`] or [`SOURCE_RUSTUP`].
    pub source: String,
}

/// Which toolchain [`ensure_sysroot`] would use, without building anything
/// (for `doctor` and the report).
pub fn probe() -> Result<Toolchain> {
    let env = std::env::var_os(RUSTC_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    probe_with(env.as_deref(), Path::new(DEBIAN_RUSTC), path_rustc().as_deref())
}

/// [`probe`] with its inputs explicit: an override, Debian's rustc path, and
/// the rustc found in PATH (rustup's proxy, usually).
fn probe_with(env_rustc: Option<&Path>, debian_rustc: &Path, path_rustc: Option<&Path>) -> Result<Toolchain> {
    if let Some(rustc) = env_rustc {
        let (version, verbose) = rustc_version(rustc).with_context(|| format!("{RUSTC_ENV}={}", rustc.display()))?;
        let sysroot = rustc_sysroot(rustc)?;
        let candidates = [(rustup_library(&sysroot), SOURCE_RUSTUP), (debian_library(&version), SOURCE_DEBIAN)];
        for (library, source) in candidates {
            if has_core(&library) {
                return Ok(Toolchain {
                    rustc: rustc.to_path_buf(),
                    library,
                    version,
                    source: source.into(),
                    from_env: true,
                    version_verbose: verbose,
                });
            }
        }
        bail!(
            "{RUSTC_ENV}={} is rustc {version} but its library source is missing (looked in {} and {}): {}",
            rustc.display(),
            rustup_library(&sysroot).display(),
            debian_library(&version).display(),
            install_hint()
        );
    }

    let mut looked = Vec::new();
    // Debian's rustc-web with rust-web-src: what the trial runs used.
    if debian_rustc.exists() {
        match rustc_version(debian_rustc) {
            Ok((version, verbose)) => {
                let library = debian_library(&version);
                if has_core(&library) {
                    return Ok(Toolchain {
                        rustc: debian_rustc.to_path_buf(),
                        library,
                        version,
                        source: SOURCE_DEBIAN.into(),
                        from_env: false,
                        version_verbose: verbose,
                    });
                }
                looked.push(format!(
                    "{} is rustc {version} but {} is missing",
                    debian_rustc.display(),
                    library.display()
                ));
            }
            Err(e) => looked.push(format!("{}: {e:#}", debian_rustc.display())),
        }
    } else {
        looked.push(format!("no {}", debian_rustc.display()));
    }
    // A rustup toolchain with rust-src: use the toolchain's own rustc, not
    // the proxy, so that the sysroot and the compiler cannot drift apart.
    match path_rustc {
        Some(proxy) => match rustc_sysroot(proxy) {
            Ok(sysroot) => {
                let library = rustup_library(&sysroot);
                let real = sysroot.join("bin/rustc");
                let rustc = if real.exists() { real } else { proxy.to_path_buf() };
                if has_core(&library) {
                    let (version, verbose) = rustc_version(&rustc)?;
                    return Ok(Toolchain {
                        rustc,
                        library,
                        version,
                        source: SOURCE_RUSTUP.into(),
                        from_env: false,
                        version_verbose: verbose,
                    });
                }
                looked.push(format!("{} has no {}", rustc.display(), library.display()));
            }
            Err(e) => looked.push(format!("{}: {e:#}", proxy.display())),
        },
        None => looked.push("no rustc in PATH".into()),
    }
    bail!("no Rust toolchain with its library source for the kernel object ({}): {}", looked.join("; "), install_hint())
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

/// A rustc command without the environment of an outer cargo or make.
fn rustc_env(c: Cmd<'_>) -> Cmd<'_> {
    ["MAKEFLAGS", "MFLAGS", "CARGO_MAKEFLAGS", "RUSTC_WRAPPER", "RUSTFLAGS"].into_iter().fold(c, |c, v| c.env_remove(v))
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
    let lock = fs::File::create(target_dir.join(".lock")).context("creating the sysroot lock file")?;
    lock.lock().context("locking the sysroot")?;
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
    let stamp_tmp = libdir.join(".ksm-sysroot-stamp.tmp");
    fs::write(&stamp_tmp, &stamp)?;
    fs::rename(&stamp_tmp, &stamp_path)?;
    Ok(result)
}

fn build_into(tc: &Toolchain, target: &str, flags: &[&str], tmp_sysroot: &Path, tmp_lib: &Path) -> Result<()> {
    let sh = tools::shell()?;
    sh.set_var("RUSTC_BOOTSTRAP", "1");
    let (rustc, edition) = (&tc.rustc, core_edition(&tc.library));
    let (out, src) = (tmp_lib.join("libcore.rlib"), tc.library.join("core/src/lib.rs"));
    let core = cmd!(
        sh,
        "{rustc} --crate-name core --crate-type rlib --edition {edition} --target {target} {flags...} -C embed-bitcode=yes --cap-lints allow -o {out} {src}"
    );
    output_of(core, &format!("building core for {target} with {}", rustc.display()))?;

    let stub = tmp_sysroot.join("compiler_builtins.rs");
    fs::write(&stub, COMPILER_BUILTINS_STUB)?;
    let out = tmp_lib.join("libcompiler_builtins.rlib");
    let cb = cmd!(
        sh,
        "{rustc} --crate-name compiler_builtins --crate-type rlib --edition 2021 --target {target} --sysroot {tmp_sysroot} {flags...} -C embed-bitcode=yes --cap-lints allow -o {out} {stub}"
    );
    output_of(cb, &format!("building the compiler_builtins stub for {target}"))?;
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
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    #[test]
    fn targets_of_arches() {
        assert_eq!(crate::arch::Arch::S390x.machine().rust_target, "s390x-unknown-none-softfloat");
        assert_eq!(crate::arch::Arch::Arm64.machine().rust_target, "aarch64-unknown-none-softfloat");
        for arch in crate::arch::Arch::ALL {
            assert!(codegen_flags(arch.machine().rust_target).is_ok(), "{arch}");
        }
        assert!(codegen_flags("x86_64-unknown-none").is_err());
    }

    #[test]
    fn release_is_parsed() {
        let vv = "rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)\nbinary: rustc\nrelease: 1.96.0\nLLVM version: 22.1.8\n";
        assert_eq!(parse_release(vv).as_deref(), Some("1.96.0"));
        assert_eq!(parse_release("rustc x\n"), None);
    }

    /// The flags here and in the Kbuild rule of patches/rust/ must agree
    /// (core is built here, the crate there; LTO joins them).
    #[test]
    fn flags_match_the_kbuild_rule() {
        let dir = repo().join("patches/rust");
        let patch = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("0002-"))
            .expect("patches/rust/0002-*.patch");
        let text = fs::read_to_string(patch).unwrap();
        // The rule's lines, joined, without the diff's '+' and line continuations.
        let rule: String = text
            .lines()
            .filter_map(|l| l.strip_prefix('+'))
            .map(|l| l.trim_end_matches('\\').trim())
            .collect::<Vec<_>>()
            .join(" ");
        for target in ["s390x-unknown-none-softfloat", "aarch64-unknown-none-softfloat"] {
            for pair in codegen_flags(target).unwrap().chunks(2) {
                let (opt, val) = (pair[0], pair[1]);
                let spaced = format!("{opt} {val}");
                assert!(rule.contains(&spaced), "mm/Makefile rule lacks `{spaced}` ({target})");
            }
        }
    }

    #[test]
    fn probe_explains_what_to_install() {
        let none = Path::new("/nonexistent/rustc");
        let err = format!("{:#}", probe_with(None, none, None).unwrap_err());
        assert!(err.contains("rustc-web rust-web-src"), "{err}");
        assert!(err.contains("rustup component add rust-src"), "{err}");
        let err = format!("{:#}", probe_with(Some(none), none, None).unwrap_err());
        assert!(err.contains(RUSTC_ENV), "{err}");
    }

    #[test]
    fn probe_finds_a_toolchain_here_or_says_why() {
        match probe() {
            Ok(t) => {
                assert!(t.library.join("core/src/lib.rs").is_file());
                assert!(t.source == SOURCE_DEBIAN || t.source == SOURCE_RUSTUP);
                assert!(t.version.split('.').count() == 3, "{}", t.version);
            }
            Err(e) => assert!(format!("{e:#}").contains("rust-src"), "{e:#}"),
        }
    }

    #[test]
    fn ar_reader_handles_long_names() {
        let mut a = b"!<arch>\n".to_vec();
        let member = |name: &str, data: &[u8]| {
            let mut h = format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, 644, data.len()).into_bytes();
            h.extend_from_slice(data);
            if data.len() % 2 == 1 {
                h.push(b'\n');
            }
            h
        };
        a.extend(member("/", b"\0\0\0\0"));
        a.extend(member("//", b"a-very-long-member-name.rcgu.o/\nx.o/\n"));
        a.extend(member("/0", b"abc"));
        a.extend(member("short.o/", b"de"));
        let m = ar_members(&a).unwrap();
        assert_eq!(
            m,
            vec![("a-very-long-member-name.rcgu.o".to_string(), &b"abc"[..]), ("short.o".to_string(), &b"de"[..])]
        );
    }

    /// Builds a real sysroot for s390x (core + stub: ~19 s on an idle
    /// 2-core machine) into a temp cache, then the kernel object exactly as
    /// mm/Makefile does, and checks that its only undefined symbols are the
    /// C glue's. Skips (passes) with a message when no toolchain with
    /// library source is installed.
    #[test]
    fn sysroot_and_kernel_object_build() {
        let tc = match probe() {
            Ok(t) => t,
            Err(e) => {
                eprintln!("skipped: {e:#}");
                return;
            }
        };
        let cache = Cache::new(std::env::temp_dir().join(format!("ksm-rustcore-test-{}", std::process::id())));
        let _ = fs::remove_dir_all(cache.root());
        let target = "s390x-unknown-none-softfloat";
        let t0 = std::time::Instant::now();
        let rs = ensure_sysroot_with(&tc, &cache, target).unwrap();
        let first = t0.elapsed();
        let lib = rs.sysroot.join("lib/rustlib").join(target).join("lib");
        assert!(lib.join("libcore.rlib").is_file() && lib.join("libcompiler_builtins.rlib").is_file());
        // Cached: the second call builds nothing.
        let t1 = std::time::Instant::now();
        assert_eq!(ensure_sysroot_with(&tc, &cache, target).unwrap(), rs);
        assert!(t1.elapsed() < first / 4 + std::time::Duration::from_millis(100), "second call rebuilt");

        let obj = cache.root().join("rust_ksm.o");
        compile_rust_ksm_object(&rs, target, &repo().join("rust-ksm"), &obj).unwrap();
        let bytes = fs::read(&obj).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF");
        assert_eq!(bytes[4], 2, "ELFCLASS64");
        assert_eq!(bytes[5], 2, "big-endian s390x");
        let sh = tools::shell().unwrap();
        let nm = ["s390x-linux-gnu-nm", "nm", "llvm-nm"]
            .into_iter()
            .find(|n| cmd!(sh, "{n} --version").ignore_status().output().is_ok());
        if let Some(nm) = nm {
            let text = cmd!(sh, "{nm} -u {obj}").read().unwrap();
            let undefined: Vec<&str> = text.split_whitespace().filter(|w| *w != "U").collect();
            assert!(!undefined.is_empty());
            for sym in &undefined {
                assert!(sym.starts_with("ksm_glue_"), "unexpected undefined symbol {sym} in {}", obj.display());
            }
            let defined = cmd!(sh, "{nm} --defined-only {obj}").read().unwrap();
            for sym in
                ["rust_ksm_memory_callback", "rust_ksm_run_control_lock", "rust_ksm_run_store", "rust_ksm_run_show"]
            {
                assert!(defined.contains(sym), "{sym} missing from {}", obj.display());
            }
        }
        let _ = fs::remove_dir_all(cache.root());
    }

    /// What mm/Makefile does, outside the kernel: compile the crate at
    /// `rust_ksm_dir` for `target` with `--cfg feature="kernel"` as a fat-LTO
    /// staticlib and extract the crate's one object into `out` (whose only
    /// undefined symbols are then the `ksm_glue_*` helpers). For checks before
    /// a kernel build, and for the tests.
    fn compile_rust_ksm_object(rs: &RustSysroot, target: &str, rust_ksm_dir: &Path, out: &Path) -> Result<()> {
        let work = out.with_extension("rustc.tmp");
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work)?;
        let archive = work.join("librust_ksm.a");
        let sh = tools::shell()?;
        sh.set_var("RUSTC_BOOTSTRAP", "1");
        let (rustc, flags, src) = (&rs.rustc, codegen_flags(target)?, rust_ksm_dir.join("src/lib.rs"));
        let target_arg = format!("--target={target}");
        let sysroot = format!("--sysroot={}", rs.sysroot.display());
        let remap = format!("--remap-path-prefix={}=rust-ksm", rust_ksm_dir.display());
        let c = cmd!(
            sh,
            "{rustc} --edition=2021 --crate-name=rust_ksm --crate-type=staticlib {target_arg} {sysroot} --cfg feature=\"kernel\" {flags...} -C lto=fat -C codegen-units=1 {remap} -o {archive} {src}"
        );
        output_of(c, &format!("compiling rust-ksm for {target}"))?;
        let bytes = fs::read(&archive)?;
        let members: Vec<(String, &[u8])> = ar_members(&bytes)?
            .into_iter()
            .filter(|(n, _)| n.ends_with(".o") && !n.contains("compiler_builtins"))
            .collect();
        if members.len() != 1 {
            bail!(
                "want one crate object in {}, got {:?}",
                archive.display(),
                members.iter().map(|m| &m.0).collect::<Vec<_>>()
            );
        }
        fs::write(out, members[0].1)?;
        let _ = fs::remove_dir_all(&work);
        Ok(())
    }

    /// Members of a System V / GNU `ar` archive (what rustc writes for a
    /// staticlib), with GNU long names resolved; symbol tables skipped.
    fn ar_members(bytes: &[u8]) -> Result<Vec<(String, &[u8])>> {
        const MAGIC: &[u8] = b"!<arch>\n";
        if !bytes.starts_with(MAGIC) {
            bail!("not an ar archive");
        }
        let mut pos = MAGIC.len();
        let mut long_names: &[u8] = &[];
        let mut out = Vec::new();
        while pos + 60 <= bytes.len() {
            let hdr = &bytes[pos..pos + 60];
            if &hdr[58..60] != b"`\n" {
                bail!("corrupt ar header at {pos}");
            }
            let name = std::str::from_utf8(&hdr[0..16])?.trim_end();
            let size: usize = std::str::from_utf8(&hdr[48..58])?.trim().parse().context("ar member size")?;
            let data_start = pos + 60;
            let data = bytes.get(data_start..data_start + size).context("truncated ar member")?;
            if name == "//" {
                long_names = data;
            } else if name == "/" || name == "/SYM64/" || name == "__.SYMDEF" {
                // symbol table
            } else if let Some(off) = name.strip_prefix('/') {
                let off: usize = off.parse().with_context(|| format!("ar long name {name}"))?;
                let rest = long_names.get(off..).context("ar long name offset")?;
                let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                let n = String::from_utf8_lossy(&rest[..end]).trim_end_matches('/').to_string();
                out.push((n, data));
            } else {
                out.push((name.trim_end_matches('/').to_string(), data));
            }
            pos = data_start + size + (size & 1);
        }
        Ok(out)
    }
}
