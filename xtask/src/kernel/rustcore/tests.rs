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
        for sym in ["rust_ksm_memory_callback", "rust_ksm_run_control_lock", "rust_ksm_run_store", "rust_ksm_run_show"]
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
