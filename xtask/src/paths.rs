//! Where things live: the repo (source only), the cache (reusable across clones and
//! runs: kernel sources, build trees, ccache, busybox, Rust sysroots) and results.

use std::path::{Path, PathBuf};

pub const CACHE_ENV: &str = "KSM_HARNESS_CACHE";
pub const RESULTS_ENV: &str = "KSM_HARNESS_RESULTS";

/// The repository root: xtask lives one level below it.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask has a parent").to_path_buf()
}

/// `--cache-dir`, else `$KSM_HARNESS_CACHE`, else `$XDG_CACHE_HOME/ksm-hotremove-harness`,
/// else `~/.cache/ksm-hotremove-harness`.
pub fn cache_dir(flag: Option<&Path>) -> PathBuf {
    resolve_cache(flag, std::env::var_os(CACHE_ENV), std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

fn resolve_cache(
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

/// `--results-dir`, else `$KSM_HARNESS_RESULTS`, else `<repo>/results`.
pub fn results_root(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os(RESULTS_ENV).filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => repo_root().join("results"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_precedence_is_flag_env_xdg_home() {
        let f = Some(Path::new("/flag"));
        assert_eq!(
            resolve_cache(f, Some("/env".into()), Some("/xdg".into()), Some("/h".into())),
            PathBuf::from("/flag")
        );
        assert_eq!(
            resolve_cache(None, Some("/env".into()), Some("/xdg".into()), Some("/h".into())),
            PathBuf::from("/env")
        );
        assert_eq!(
            resolve_cache(None, None, Some("/xdg".into()), Some("/h".into())),
            PathBuf::from("/xdg/ksm-hotremove-harness")
        );
        assert_eq!(
            resolve_cache(None, Some("".into()), None, Some("/h".into())),
            PathBuf::from("/h/.cache/ksm-hotremove-harness")
        );
    }
}
