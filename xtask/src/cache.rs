//! The cache folder, everything reusable across runs and clones, and its layout in one place:
//! extracted sources, per-arch source copies, build trees, ccache, busybox, Rust sysroots,
//! patched rust-ksm copies and initramfs images. The repository stays source only.

use std::path::{Path, PathBuf};

use crate::arch::Arch;

pub const CACHE_ENV: &str = "KSM_HARNESS_CACHE";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// `--cache-dir`, else `$KSM_HARNESS_CACHE`, else `$XDG_CACHE_HOME/ksm-hotremove-harness`,
    /// else `~/.cache/ksm-hotremove-harness`.
    pub fn locate(flag: Option<&Path>) -> Cache {
        let var = std::env::var_os;
        Cache::new(resolve(flag, var(CACHE_ENV), var("XDG_CACHE_HOME"), var("HOME")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Kernel tarballs extracted once (`sources/linux-source-6.1`).
    pub fn sources(&self) -> PathBuf {
        self.root.join("sources")
    }

    /// The per-arch copy of a kernel source that variants patch.
    pub fn source_tree(&self, source_id: &str, arch: Arch) -> PathBuf {
        self.root.join("trees").join(source_id).join(arch.name())
    }

    /// One `O=` build tree per (source, arch, Kconfig fragments).
    pub fn build_tree(&self, source_id: &str, arch: Arch, config_hash: &str) -> PathBuf {
        self.root.join("build").join(source_id).join(format!("{}-{config_hash}", arch.name()))
    }

    /// Kernel source packages `setup` downloads (backports), and their unpacked `root/`.
    pub fn debs(&self) -> PathBuf {
        self.root.join("debs")
    }

    /// One lock file per shared thing (see `lock`).
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub fn ccache(&self) -> PathBuf {
        self.root.join("ccache")
    }

    /// Where `apt-get download busybox-static:<debian arch>` leaves its .deb.
    pub fn busybox_download(&self, debian_arch: &str) -> PathBuf {
        self.root.join("busybox").join("download").join(debian_arch)
    }

    /// The extracted busybox-static package of `arch`.
    pub fn busybox_root(&self, arch: Arch) -> PathBuf {
        self.root.join("busybox").join(arch.name())
    }

    pub fn busybox(&self, arch: Arch) -> PathBuf {
        self.busybox_root(arch).join("bin/busybox")
    }

    /// A foreign-arch Debian package extracted for building guest programs (`libnuma-dev`
    /// for the selftests), and where `apt-get download` leaves it.
    pub fn foreign_deb_root(&self, package: &str, arch: Arch) -> PathBuf {
        self.root.join("foreign").join(package).join(arch.name())
    }
    pub fn foreign_deb_download(&self, package: &str, arch: Arch) -> PathBuf {
        self.root.join("foreign").join("download").join(package).join(arch.name())
    }

    /// Kernel selftests built from a kernel source for an arch, by the hash of what goes in.
    pub fn selftests(&self, source_id: &str, arch: Arch, key: &str) -> PathBuf {
        self.root.join("selftests").join(source_id).join(format!("{arch}-{key}"))
    }

    /// The tree's uapi headers installed for an arch (`make headers_install`), which the
    /// selftests' Makefile puts before tools/include/uapi (KHDR_INCLUDES).
    pub fn uapi_headers(&self, source_id: &str, arch: Arch) -> PathBuf {
        self.root.join("selftests").join(source_id).join(format!("{arch}-uapi"))
    }

    /// The git worktree `bisect` checks commits out in, per bisected tree.
    pub fn bisect_worktree(&self, key: &str) -> PathBuf {
        self.root.join("bisect").join(key).join("linux")
    }

    /// `core` and the `compiler_builtins` stub per rustc version (`<version>/lib/rustlib/<target>`).
    pub fn rust_sysroots(&self) -> PathBuf {
        self.root.join("rust-sysroot")
    }

    /// A copy of rust-ksm with a Rust mutant's patches applied, by the patches' content hash.
    pub fn rust_ksm_patched(&self, key: &str) -> PathBuf {
        self.root.join("rust-ksm-patched").join(key)
    }

    /// The guest initramfs of `arch`, by the hash of everything that goes in.
    pub fn initramfs(&self, arch: Arch, key: &str) -> PathBuf {
        self.root.join("images").join(format!("{arch}-{key}"))
    }
}

fn resolve(
    flag: Option<&Path>,
    env: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let base = match xdg.filter(|p| !p.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(home.unwrap_or_else(|| "/tmp".into())).join(".cache"),
    };
    base.join("ksm-hotremove-harness")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_precedence_is_flag_env_xdg_home() {
        let f = Some(Path::new("/flag"));
        assert_eq!(resolve(f, Some("/env".into()), Some("/xdg".into()), Some("/h".into())), PathBuf::from("/flag"));
        assert_eq!(resolve(None, Some("/env".into()), Some("/xdg".into()), Some("/h".into())), PathBuf::from("/env"));
        assert_eq!(
            resolve(None, None, Some("/xdg".into()), Some("/h".into())),
            PathBuf::from("/xdg/ksm-hotremove-harness")
        );
        assert_eq!(
            resolve(None, Some("".into()), None, Some("/h".into())),
            PathBuf::from("/h/.cache/ksm-hotremove-harness")
        );
    }
}
