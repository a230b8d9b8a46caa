//! Kernel sources: the embedded default (Debian's linux-source-6.1 tarball, extracted
//! once into the cache) or a user's tree, and the per-arch working copy that patches go into.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::cache::Cache;
use crate::tools;

pub const DEBIAN_TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";

#[derive(Debug, Clone)]
pub struct KernelSource {
    /// Short, stable name used in cache paths: `debian-6.1.192` or `user-<hash>`.
    pub id: String,
    /// The tree patches are never applied to.
    pub pristine: PathBuf,
    pub version: String,
    /// Where it came from, for metadata and reproduce scripts.
    pub origin: String,
    /// User trees change under us; the copy is re-synced every run.
    pub resync: bool,
}

/// `VERSION.PATCHLEVEL.SUBLEVEL` from a kernel Makefile, or None if it is not one.
pub fn makefile_version(makefile: &str) -> Option<String> {
    let get = |key: &str| {
        makefile.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let (v, p, s) = (get("VERSION")?, get("PATCHLEVEL")?, get("SUBLEVEL")?);
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{v}.{p}.{s}{}", get("EXTRAVERSION").unwrap_or_default()))
}

fn check_kernel_tree(dir: &Path) -> Result<String> {
    let mk = dir.join("Makefile");
    let text = std::fs::read_to_string(&mk).ok();
    let version = text.as_deref().and_then(makefile_version);
    match version {
        Some(v) if dir.join("mm/ksm.c").exists() && dir.join("scripts/kconfig/merge_config.sh").exists() => Ok(v),
        _ => bail!(
            "{} is not a Linux kernel tree (no top-level Makefile with VERSION/PATCHLEVEL, or no mm/ksm.c); \
             pass --kernel-src with the top directory of a kernel checkout",
            dir.display()
        ),
    }
}

/// The embedded default: extract the tarball once; a stamp marks a complete extraction so
/// that an interrupted one is redone instead of half-used.
pub fn debian_default(cache: &Cache) -> Result<KernelSource> {
    let root = cache.sources();
    let dir = root.join("linux-source-6.1");
    let stamp = root.join("linux-source-6.1.extracted");
    if !stamp.exists() {
        if !Path::new(DEBIAN_TARBALL).exists() {
            bail!("{DEBIAN_TARBALL} is missing: run `cargo xtask setup` or `apt-get install -y linux-source-6.1`");
        }
        tools::require_cmd("xz")?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing half-extracted {}", dir.display()))?;
        }
        std::fs::create_dir_all(&root)?;
        eprintln!("extracting {DEBIAN_TARBALL} into {} (once)", root.display());
        let sh = tools::shell()?;
        cmd!(sh, "tar -xf {DEBIAN_TARBALL} -C {root}").quiet().run().context("extracting the kernel tarball")?;
        std::fs::write(&stamp, DEBIAN_TARBALL)?;
    }
    let version = check_kernel_tree(&dir)?;
    Ok(KernelSource {
        id: format!("debian-{version}"),
        pristine: dir,
        version,
        origin: format!("Debian linux-source-6.1 ({DEBIAN_TARBALL})"),
        resync: false,
    })
}

pub fn user_tree(path: &Path) -> Result<KernelSource> {
    let dir = path.canonicalize().with_context(|| format!("--kernel-src {}: no such directory", path.display()))?;
    let version = check_kernel_tree(&dir)?;
    let hash = crate::util::short_hash(dir.to_string_lossy().as_bytes());
    Ok(KernelSource {
        id: format!("user-{version}-{hash}"),
        pristine: dir.clone(),
        version,
        origin: dir.display().to_string(),
        resync: true,
    })
}

pub fn resolve(cache: &Cache, kernel_src: Option<&Path>) -> Result<KernelSource> {
    match kernel_src {
        Some(p) => user_tree(p),
        None => debian_default(cache),
    }
}

/// Makes the working copy exist and (for user trees) match the pristine tree, except for the
/// files that patches own: those are handled by `patches::switch`, which restores them.
pub fn sync_tree(src: &KernelSource, tree: &Path, patched_files: &[String]) -> Result<()> {
    let stamp = tree.join(".ksmh-copied");
    if stamp.exists() && !src.resync {
        return Ok(());
    }
    std::fs::create_dir_all(tree)?;
    if !stamp.exists() {
        eprintln!("copying {} to {}", src.pristine.display(), tree.display());
    }
    tools::require_cmd("rsync")?;
    // --checksum without -t: only files whose content differs are rewritten, and they get a
    // fresh mtime, so make rebuilds exactly what changed and nothing else.
    let excludes = patched_files.iter().map(|f| format!("--exclude=/{f}"));
    let (from, to) = (format!("{}/", src.pristine.display()), format!("{}/", tree.display()));
    let sh = tools::shell()?;
    cmd!(sh, "rsync -rl --checksum --delete --exclude=/.git --exclude=/.ksmh-* {excludes...} {from} {to}")
        .quiet()
        .run()
        .with_context(|| format!("copying the kernel source into {}", tree.display()))?;
    std::fs::write(&stamp, &src.origin)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_of_a_kernel_makefile() {
        let mk = "# SPDX\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\nNAME = x\n";
        assert_eq!(makefile_version(mk).as_deref(), Some("6.1.192"));
        assert_eq!(
            makefile_version("VERSION = 3\nPATCHLEVEL = 10\nSUBLEVEL = 0\nEXTRAVERSION = -rc1\n").as_deref(),
            Some("3.10.0-rc1")
        );
        assert_eq!(makefile_version("all:\n\techo hi\n"), None);
    }

    #[test]
    fn a_directory_that_is_not_a_kernel_is_refused_with_advice() {
        let d = std::env::temp_dir().join(format!("ksmh-notkernel-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let e = user_tree(&d).unwrap_err().to_string();
        assert!(e.contains("is not a Linux kernel tree") && e.contains("--kernel-src"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
