//! Where things live: the repo (source only) and the results. The cache is [`crate::cache`].

use std::path::{Path, PathBuf};

pub const RESULTS_ENV: &str = "KSM_HARNESS_RESULTS";

/// The repository root: xtask lives one level below it.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask has a parent").to_path_buf()
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
