//! Kernel sources: the embedded default (Debian's linux-source-6.1 tarball, extracted
//! once into the cache) or a user's tree, and the per-arch working copy that patches go into.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cache::Cache;
use crate::{lock, tools};

pub const DEBIAN_TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";

/// A kernel source Debian ships as `linux-source-X.Y`: installed (its tarball in /usr/src),
/// or, for a backports kernel, downloaded by `setup` into the cache without touching the
/// host's apt sources (`<cache>/debs/root/usr/src/`).
pub fn debian_tarball(cache: &Cache, package: &str) -> Option<PathBuf> {
    let name = format!("{package}.tar.xz");
    [Path::new("/usr/src").join(&name), cache.debs().join("root/usr/src").join(&name)].into_iter().find(|p| p.exists())
}

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
    /// What the per-arch copies were made from (the extraction stamp): a new one re-copies.
    pub stamp: String,
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

/// An embedded kernel: Debian's `package` tarball extracted once, under the sources lock. The
/// extraction goes to a temporary folder renamed into place, and a stamp names the tarball
/// (its size, mtime and package version): a cut-short extraction is never used, and a
/// `linux-source` update re-extracts.
pub fn debian(cache: &Cache, package: &str) -> Result<KernelSource> {
    let Some(tarball) = debian_tarball(cache, package) else {
        bail!(
            "the {package} tarball is missing (neither /usr/src nor {}): run `cargo xtask setup`",
            cache.debs().display()
        );
    };
    let want = tarball_stamp(&tarball, &package_version(cache, package))?;
    let _lock = lock::acquire(&cache.locks(), "sources", "the kernel sources")?;
    let dir = extract_once(&tarball, &cache.sources(), package, &want)?;
    let version = check_kernel_tree(&dir)?;
    Ok(KernelSource {
        id: format!("debian-{version}"),
        pristine: dir,
        version,
        origin: format!("Debian {package} ({})", tarball.display()),
        resync: false,
        stamp: want,
    })
}

/// The default kernel: Debian's linux-source-6.1.
pub fn debian_default(cache: &Cache) -> Result<KernelSource> {
    debian(cache, "linux-source-6.1")
}

/// What identifies a tarball's content well enough to notice an update.
fn tarball_stamp(tarball: &Path, package_version: &str) -> Result<String> {
    let m = tarball.metadata().with_context(|| format!("reading {}", tarball.display()))?;
    let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
    Ok(format!("{} size={} mtime={mtime} package={package_version}\n", tarball.display(), m.len()))
}

/// The installed package's version, else the version of the .deb `setup` downloaded.
fn package_version(cache: &Cache, pkg: &str) -> String {
    let installed = tools::shell().ok().and_then(|sh| {
        let fmt = "${Version}";
        xshell::cmd!(sh, "dpkg-query -W -f {fmt} {pkg}").quiet().ignore_stderr().read().ok()
    });
    let downloaded = || {
        std::fs::read_dir(cache.debs()).ok()?.flatten().find_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let rest = n.strip_prefix(&format!("{pkg}_"))?;
            Some(rest.split('_').next()?.replace("%3a", ":"))
        })
    };
    installed.filter(|v| !v.is_empty()).or_else(downloaded).unwrap_or_else(|| "unknown".into())
}

/// `root/<name>` extracted from `tarball` (whose top folder is `name`), unless the stamp
/// `root/<name>.extracted` already says `stamp`. The caller holds the sources lock.
pub fn extract_once(tarball: &Path, root: &Path, name: &str, stamp: &str) -> Result<PathBuf> {
    let dir = root.join(name);
    let stamp_file = root.join(format!("{name}.extracted"));
    if dir.is_dir() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp) {
        return Ok(dir);
    }
    tools::require_cmd("xz")?;
    // The stamp goes first: from here until the rename, the folder is not to be trusted.
    let _ = std::fs::remove_file(&stamp_file);
    let tmp = root.join(format!(".extract-{name}"));
    for old in [&tmp, &dir] {
        if old.exists() {
            std::fs::remove_dir_all(old).with_context(|| format!("removing the old {}", old.display()))?;
        }
    }
    std::fs::create_dir_all(&tmp)?;
    eprintln!("extracting {} into {} (once)", tarball.display(), root.display());
    tools::run(duct::cmd!("tar", "-xf", tarball, "-C", &tmp), "extracting the kernel tarball")?;
    tools::fault_point("extract");
    std::fs::rename(tmp.join(name), &dir)
        .with_context(|| format!("{} holds no top folder {name}", tarball.display()))?;
    let _ = std::fs::remove_dir_all(&tmp);
    crate::util::write_atomic(&stamp_file, stamp.as_bytes())?;
    Ok(dir)
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
        stamp: format!("{}\n", dir.display()),
    })
}

/// A matrix kernel's `source:`: `debian` (linux-source-6.1), `debian:PACKAGE`, or a path.
pub fn resolve(cache: &Cache, source: &str) -> Result<KernelSource> {
    match source.strip_prefix("debian") {
        Some("") => debian_default(cache),
        Some(rest) if rest.starts_with(':') => debian(cache, &rest[1..]),
        _ => user_tree(Path::new(source)),
    }
}

/// A variant without patches that must be clean needs KSM's offline lockout in the tree
/// itself (the upstream fix of Linux 3.10): without it the cell could only fail, and the reason
/// is the tree, not the kernel's behaviour.
pub fn check_has_lockout(src: &KernelSource) -> Result<()> {
    let ksm = std::fs::read_to_string(src.pristine.join("mm/ksm.c")).unwrap_or_default();
    if !ksm.contains("KSM_RUN_OFFLINE") {
        bail!(
            "{} ({}) has no KSM_RUN_OFFLINE in mm/ksm.c: the offline lockout (the upstream fix) is missing, so a \
             variant without patches cannot be clean here; use a tree with the fix, or run the prefix variant (expects the splat)",
            src.origin,
            src.version
        );
    }
    Ok(())
}

/// The version of a kernel tree (`--kernel-src`), or why it is not one.
pub fn tree_version(path: &Path) -> Result<String> {
    Ok(user_tree(path)?.version)
}

/// Makes the working copy exist and (for user trees, or a re-extracted source) match the
/// pristine tree, except for the files that patches own: those are handled by
/// `patches::switch`, which restores them. The stamp is written only after a complete copy.
/// Returns whether a file of the tree may have changed.
pub fn sync_tree(src: &KernelSource, tree: &Path, patched_files: &[String]) -> Result<bool> {
    let stamp = tree.join(".ksmh-copied");
    let current = std::fs::read_to_string(&stamp).ok();
    if current.as_deref() == Some(src.stamp.as_str()) && !src.resync {
        return Ok(false);
    }
    std::fs::create_dir_all(tree)?;
    if current.is_none() {
        eprintln!("copying {} to {}", src.pristine.display(), tree.display());
    }
    let _ = std::fs::remove_file(&stamp);
    let copied = mirror(&src.pristine, tree, patched_files)?;
    crate::util::write_atomic(&stamp, src.stamp.as_bytes())?;
    Ok(copied || current.as_deref() != Some(src.stamp.as_str()))
}

/// `tree` made equal to `pristine` except for `.git`, our `.ksmh-*` files and `keep`: whether
/// rsync changed anything (its itemized list).
pub fn mirror(pristine: &Path, tree: &Path, keep: &[String]) -> Result<bool> {
    tools::require_cmd("rsync")?;
    // --checksum without -t: only files whose content differs are rewritten, and they get a
    // fresh mtime, so make rebuilds exactly what changed and nothing else.
    let mut args: Vec<String> =
        ["-rli", "--checksum", "--delete", "--exclude=/.git", "--exclude=/.ksmh-*"].map(String::from).to_vec();
    args.extend(keep.iter().map(|f| format!("--exclude=/{f}")));
    args.push(format!("{}/", pristine.display()));
    args.push(format!("{}/", tree.display()));
    let out = tools::run(duct::cmd("rsync", &args), &format!("copying the kernel source into {}", tree.display()))?;
    Ok(out.lines().any(|l| !l.trim().is_empty()))
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
