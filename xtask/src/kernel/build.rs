//! Kernel builds: per-arch source copy + variant patch series -> verified .config -> make.
//! One build tree per (source, arch, Kconfig hash) in the cache, shared by the variants, so a
//! variant switch rebuilds only what its patches touch; ccache makes a lost tree cheap.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context, Result};

use super::kconfig;
use super::patches;
use super::rustcore;
use super::source::{self, KernelSource};
use crate::arch::Arch;
use crate::cache::Cache;
use crate::matrix::Variant;
use crate::{lock, tools};

/// A build that takes longer than this is stuck (a cold arm64 build takes ~13 min on 2 cores).
const BUILD_TIMEOUT_ENV: &str = "KSM_HARNESS_BUILD_TIMEOUT";
const BUILD_TIMEOUT_DEFAULT: u64 = 3600;

fn build_timeout() -> std::time::Duration {
    let secs = std::env::var(BUILD_TIMEOUT_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(BUILD_TIMEOUT_DEFAULT);
    std::time::Duration::from_secs(secs)
}

pub struct BuildRequest<'a> {
    pub cache: &'a Cache,
    pub repo: &'a Path,
    pub src: &'a KernelSource,
    pub arch: Arch,
    pub variant: &'a Variant,
    /// Where this cell's copy of the logs and final .config go.
    pub out_dir: &'a Path,
    pub jobs: usize,
    /// Build with the kernel tracing behind the lockout evidence.
    pub lockout_evidence: bool,
    /// Build with reduced DWARF and keep the cell's `vmlinux` (`--debug-info`).
    pub debug_info: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub build_dir: PathBuf,
    /// The cell's own copy of the kernel image, taken under the tree lock: what this build
    /// made, whatever another run builds into the shared tree afterwards.
    pub image: PathBuf,
    pub image_sha256: String,
    /// With `--debug-info`: the cell's own `vmlinux` (a hard link taken under the tree lock;
    /// the linker writes a new file on the next build, so this one stays what was booted).
    pub vmlinux: Option<PathBuf>,
    /// The kernel image was relinked by this build.
    pub relinked: bool,
    /// make was not run: the build tree's stamp says nothing changed since its last build.
    pub up_to_date: bool,
    pub seconds: f64,
}

/// `make -C tree O=out ARCH=.. CROSS_COMPILE=.. CC="ccache gcc" ARGS...` with the build's environment.
fn make_cmd(m: &crate::arch::Machine, tree: &Path, out: &Path, cache: &Cache, args: &[String]) -> duct::Expression {
    let mut v = vec![
        "-C".to_string(),
        tree.display().to_string(),
        format!("O={}", out.display()),
        format!("ARCH={}", m.kernel_arch),
        format!("CROSS_COMPILE={}", m.cross_prefix),
        format!("CC=ccache {}", m.gcc()),
    ];
    v.extend(args.iter().cloned());
    duct::cmd("make", v)
        .env("CCACHE_DIR", cache.ccache())
        // Paths below the cache become relative, so a new build tree (new Kconfig hash, another
        // clone's cache layout) still hits the objects an older tree compiled.
        .env("CCACHE_BASEDIR", cache.root())
        // Fixed build identity: a rebuild with nothing changed stays a no-op and reproducible.
        .env("KBUILD_BUILD_TIMESTAMP", "2013-04-29 00:00:00 UTC")
        .env("KBUILD_BUILD_USER", "ksmh")
        .env("KBUILD_BUILD_HOST", "ksm-hotremove-harness")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
}

/// Runs `expr` with output to `log` (no stdin: a prompt cannot wait forever); on failure or
/// after the build timeout, says what failed, the last lines and the log.
fn run_logged(expr: duct::Expression, log: &Path, what: &str) -> Result<()> {
    // Its own process group, registered: Ctrl-C or SIGTERM to the harness kills every compiler.
    let group = tools::Group::start(expr.stderr_to_stdout().stdout_path(log).unchecked())
        .with_context(|| format!("starting {what}"))?;
    let limit = build_timeout();
    let status = tools::wait_limited(&group, limit).with_context(|| format!("waiting for {what}"))?;
    if tools::interrupted() {
        bail!("{what} was interrupted; log: {}", log.display());
    }
    let Some(status) = status else {
        bail!(
            "{what} did not finish in {} s and was stopped (set {BUILD_TIMEOUT_ENV} for a longer limit). Last lines:\n{}\nfull log: {}",
            limit.as_secs(),
            crate::util::tail_lines(log, 25),
            log.display()
        );
    };
    if !status.success() {
        bail!(
            "{what} failed ({status}). Last lines:\n{}\nfull log: {}",
            crate::util::tail_lines(log, 25),
            log.display()
        );
    }
    Ok(())
}

pub fn build(req: &BuildRequest, stage: &mut dyn FnMut(&str)) -> Result<Built> {
    let t0 = Instant::now();
    let m = req.arch.machine();
    for tool in ["make", "ccache", "patch", m.gcc().as_str()] {
        tools::require_cmd(tool)?;
    }
    std::fs::create_dir_all(req.out_dir)?;

    stage("lock");
    // The arch's tree and build folders are shared by every run on this cache: held from the
    // sync to the copy of the image, so no other run patches or builds under us.
    let _tree_lock = lock::acquire(
        &req.cache.locks(),
        &format!("tree-{}-{}", req.src.id, req.arch),
        &format!("the {} kernel tree ({})", req.arch, req.src.id),
    )?;
    stage("sync");
    let tree = req.cache.source_tree(&req.src.id, req.arch);
    let synced = source::sync_tree(req.src, &tree, &patches::owned_files(&tree))?;
    stage("patch");
    let series = patches::expand(&req.variant.patch_paths(req.repo))?;
    let switched = patches::switch(&tree, &req.src.pristine, &series)?;
    let generation = tree_generation(&tree, synced || switched)?;
    stage("configure");
    let out = configure(req, &tree, &generation)?;

    let mut extra: Vec<String> = Vec::new();
    let mut rust_files = Vec::new();
    if req.variant.rust {
        stage("rust-core");
        let rs = rustcore::ensure_sysroot(req.cache, m.rust_target)?;
        let crate_dir = rust_crate(req)?;
        extra.extend(rustcore::make_vars(&rs, &crate_dir));
        rust_files = walk_rs(&crate_dir.join("src"))?;
        rust_files.push(crate_dir.join("Cargo.toml"));
    }
    let image = m.image_path(&out);
    let log = req.out_dir.join("build.log");
    let stamp_file = out.join(".ksmh-built");
    let stamp = build_stamp(&generation, &out.join(".config"), &extra, &rust_files, &m.gcc())?;
    let up_to_date = image.exists() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str());
    let relinked = if up_to_date {
        // The tree, .config, rust-ksm and the compilers are what the last build of this tree
        // saw: make would only confirm it (seconds of stat on every file).
        stage("up-to-date");
        std::fs::write(&log, format!("make skipped: nothing changed since the last build (stamp {stamp})\n"))?;
        false
    } else {
        stage("build");
        let before = mtime(&image);
        let _ = std::fs::remove_file(&stamp_file);
        let mut args = vec![format!("-j{}", req.jobs)];
        args.extend(extra.iter().cloned());
        let make = make_cmd(m, &tree, &out, req.cache, &args);
        run_logged(make, &log, &format!("kernel build ({} {})", req.arch, req.variant.name))?;
        if !image.exists() {
            bail!("the build finished but left no {}; see {}", image.display(), log.display());
        }
        crate::util::write_atomic(&stamp_file, stamp.as_bytes())?;
        mtime(&image) != before
    };
    let copy = req.out_dir.join(image.file_name().unwrap_or_default());
    let bytes = std::fs::read(&image).with_context(|| format!("reading {}", image.display()))?;
    crate::util::write_atomic(&copy, &bytes).with_context(|| format!("copying the kernel to {}", copy.display()))?;
    let image_sha256 = crate::util::sha256_hex(&bytes);
    let vmlinux = if req.debug_info { Some(keep_vmlinux(&out, req.out_dir)?) } else { None };
    Ok(Built {
        relinked,
        up_to_date,
        build_dir: out,
        image: copy,
        image_sha256,
        vmlinux,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The tree's generation: a token renewed whenever the sync or the patch switch may have
/// changed a file, so a build tree's stamp never outlives the sources it was built from (even
/// when another build tree of the same source tree was built in between).
fn tree_generation(tree: &Path, changed: bool) -> Result<String> {
    let f = tree.join(".ksmh-generation");
    if !changed {
        if let Ok(g) = std::fs::read_to_string(&f) {
            return Ok(g);
        }
    }
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let g = format!("{}.{:09}-{}", now.as_secs(), now.subsec_nanos(), std::process::id());
    crate::util::write_atomic(&f, g.as_bytes())?;
    Ok(g)
}

/// What a build depends on besides the tree: its generation, the .config, the make variables
/// (rust-ksm's crate and sysroot), rust-ksm's sources, the C compiler's version.
fn build_stamp(generation: &str, config: &Path, extra: &[String], rust_files: &[PathBuf], gcc: &str) -> Result<String> {
    let mut input: Vec<u8> = generation.as_bytes().to_vec();
    input.extend(std::fs::read(config).with_context(|| format!("reading {}", config.display()))?);
    for a in extra {
        input.extend(a.as_bytes());
        input.push(0);
    }
    for f in rust_files {
        input.extend(f.display().to_string().as_bytes());
        input.extend(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?);
    }
    let version = duct::cmd!(gcc, "-dumpfullversion").stdout_capture().stderr_null().unchecked().run()?;
    input.extend(gcc.as_bytes());
    input.extend(version.stdout);
    Ok(crate::util::short_hash(&input))
}

/// The cell's `vmlinux` next to its logs: a hard link (no copy of a file of tens of MB), else a
/// copy when the results are on another filesystem than the cache.
fn keep_vmlinux(build_dir: &Path, out_dir: &Path) -> Result<PathBuf> {
    let src = build_dir.join("vmlinux");
    let dst = out_dir.join("vmlinux");
    let _ = std::fs::remove_file(&dst);
    if std::fs::hard_link(&src, &dst).is_err() {
        let tmp = out_dir.join(".vmlinux.tmp");
        std::fs::copy(&src, &tmp).with_context(|| format!("copying {} to {}", src.display(), out_dir.display()))?;
        std::fs::rename(&tmp, &dst)?;
    }
    Ok(dst)
}

/// The build tree of the variant's Kconfig fragments, with a `.config` that has every symbol
/// they ask for (made once per tree: allnoconfig, the fragments merged, olddefconfig).
fn configure(req: &BuildRequest, tree: &Path, generation: &str) -> Result<PathBuf> {
    let m = req.arch.machine();
    let mut files = kconfig::fragments(req.repo, req.arch, &req.variant.kconfig_paths(req.repo));
    if !req.lockout_evidence {
        files.retain(|f| !f.ends_with(kconfig::LOCKOUT_EVIDENCE));
    }
    if req.debug_info {
        files.push(req.repo.join("configs/kconfig").join(kconfig::DEBUG_INFO));
    }
    let frags = kconfig::load(files)?;
    let out = req.cache.build_tree(&req.src.id, req.arch, &frags.hash);
    std::fs::create_dir_all(&out)?;
    let config = out.join(".config");
    let stamp = out.join(".ksmh-configured");
    if !(stamp.exists() && config.exists()) {
        let _ = std::fs::remove_file(&stamp);
        let log = |name: &str| req.out_dir.join(format!("kconfig-{name}.log"));
        // allnoconfig, not tinyconfig: tinyconfig turns PRINTK off.
        let allnoconfig = make_cmd(m, tree, &out, req.cache, &["allnoconfig".into()]);
        run_logged(allnoconfig, &log("allnoconfig"), "make allnoconfig")?;
        let mut merge_args: Vec<String> =
            vec!["-m".into(), "-O".into(), out.display().to_string(), config.display().to_string()];
        merge_args.extend(frags.files.iter().map(|f| f.display().to_string()));
        let merge = duct::cmd(tree.join("scripts/kconfig/merge_config.sh"), &merge_args)
            .dir(tree)
            .env("ARCH", m.kernel_arch)
            .env("CROSS_COMPILE", m.cross_prefix);
        run_logged(merge, &log("merge"), "merge_config.sh")?;
    }
    // After every change of the tree: a patch that adds a Kconfig symbol gets its default here
    // instead of a prompt (make's own syncconfig would ask), and an unchanged .config is not
    // rewritten. The same tree generation and fragments as last time: nothing to ask (1.2 s).
    let synced = out.join(".ksmh-olddefconfig");
    let want = format!("{generation} {}", frags.hash);
    if std::fs::read_to_string(&synced).ok().as_deref() != Some(want.as_str()) || !stamp.exists() {
        let _ = std::fs::remove_file(&synced);
        let olddefconfig = make_cmd(m, tree, &out, req.cache, &["olddefconfig".into()]);
        run_logged(olddefconfig, &req.out_dir.join("kconfig-olddefconfig.log"), "make olddefconfig")?;
    }
    let final_cfg = kconfig::parse(&std::fs::read_to_string(&config).context("reading the final .config")?);
    let mismatches = kconfig::verify(&frags.requested, &final_cfg);
    if !mismatches.is_empty() {
        let _ = std::fs::remove_file(&stamp);
        bail!(dropped_symbols(req, tree, &frags, &config, &mismatches));
    }
    std::fs::write(&stamp, &frags.hash)?;
    std::fs::write(&synced, &want)?;
    std::fs::copy(&config, req.out_dir.join("config"))?;
    Ok(out)
}

/// Which requested symbols Kconfig dropped and why (its own warning, else the `depends on`
/// lines of the symbol), the fragments to fix, and the way out when tracing is what is missing.
fn dropped_symbols(
    req: &BuildRequest,
    tree: &Path,
    frags: &kconfig::Fragments,
    config: &Path,
    mismatches: &[kconfig::Mismatch],
) -> String {
    let kout = ["kconfig-merge.log", "kconfig-olddefconfig.log"]
        .iter()
        .map(|f| std::fs::read_to_string(req.out_dir.join(f)).unwrap_or_default())
        .collect::<String>();
    let lines: Vec<String> = mismatches
        .iter()
        .map(|mm| match kconfig::explain(&mm.symbol, &kout) {
            Some(why) => format!("  {mm} ({why})"),
            None => match kconfig::find_dependencies(tree, &mm.symbol) {
                Some(d) => format!("  {mm} (unmet dependencies: {d})"),
                None => format!("  {mm} (no Kconfig in this tree declares it)"),
            },
        })
        .collect();
    let files: Vec<String> = frags.files.iter().map(|f| f.display().to_string()).collect();
    let evidence = frags.files.iter().find(|f| f.ends_with(kconfig::LOCKOUT_EVIDENCE));
    let tracing = evidence
        .and_then(|f| kconfig::load(vec![f.clone()]).ok())
        .is_some_and(|e| mismatches.iter().any(|mm| e.requested.contains_key(&mm.symbol)));
    let hint = if tracing {
        "\nthe lockout evidence needs kernel tracing; without it, run with --no-lockout-evidence (lockout-held is then SKIPPED)"
    } else {
        ""
    };
    format!(
        "Kconfig dropped requested symbols in {}:\n{}\nfix the fragments: {}{hint}",
        config.display(),
        lines.join("\n"),
        files.join(" ")
    )
}

/// The rust-ksm crate the kernel compiles: the repo's own, or a patched copy of it (a Rust
/// mutant) in the cache, keyed by the patches' content. The Kbuild rule records the path in
/// its command line, so switching between the two rebuilds the object.
fn rust_crate(req: &BuildRequest) -> Result<PathBuf> {
    let own = req.repo.join("rust-ksm");
    let patches = req.variant.rust_patch_paths(req.repo);
    if patches.is_empty() {
        return Ok(own);
    }
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for p in &patches {
        h.update(std::fs::read(p).with_context(|| format!("reading Rust patch {}", p.display()))?);
    }
    for f in walk_rs(&own.join("src"))? {
        h.update(std::fs::read(&f)?);
    }
    let key = format!("{:x}", h.finalize());
    let root = req.cache.rust_ksm_patched(&key[..16]);
    let copy = root.join("rust-ksm");
    let _lock = lock::acquire(&req.cache.locks(), "rust-ksm-patched", "the patched rust-ksm copies")?;
    if !root.join(".applied").exists() {
        // Made in a temporary folder and renamed: a cut-short copy or patch is never used.
        let tmp = root.with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        tools::run(duct::cmd!("cp", "-a", &own, tmp.join("rust-ksm")), "copying rust-ksm for its patches")?;
        for p in &patches {
            let (applies, output) =
                tools::merged_output(duct::cmd!("patch", "-p1", "--batch", "--forward", "-i", p).dir(&tmp))?;
            if !applies {
                let _ = std::fs::remove_dir_all(&tmp);
                bail!("Rust patch {} does not apply to rust-ksm:\n{}", p.display(), output);
            }
        }
        std::fs::write(tmp.join(".applied"), patches.iter().map(|p| format!("{}\n", p.display())).collect::<String>())?;
        let _ = std::fs::remove_dir_all(&root);
        std::fs::rename(&tmp, &root).with_context(|| format!("moving {} into place", root.display()))?;
    }
    Ok(copy)
}

fn walk_rs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk_rs(&p)?);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    p.metadata().and_then(|m| m.modified()).ok()
}
