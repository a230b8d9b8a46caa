//! Building a kernel, one public entry: [`build`]. A kernel source (Debian's embedded tree or
//! `--kernel-src`, extracted and copied per arch into the cache: `source`) gets the variant's
//! patch series (`patches`), a verified `.config` from the Kconfig fragments (`kconfig`), for
//! the rust variant a Rust `core` for the kernel's target (`rustcore`), and `make` in a build
//! tree per (source, arch, fragments) with ccache (`build`). With `--debug-info`, the frames of a
//! cell's reports are decoded to file:line with its vmlinux (`decode`).

mod build;
pub mod debian;
pub mod decode;
mod kconfig;
mod patches;
mod rustcore;
pub mod selftests;
mod source;

pub use build::{build, BuildRequest, Built};
pub use patches::{expand as expand_series, series_applies};
pub use rustcore::{probe as rust_toolchain, Toolchain};
pub use selftests::{Selftests, FOREIGN_DEBS as SELFTEST_DEBS};
pub use source::{
    check_has_lockout, mirror as mirror_tree, resolve as resolve_source, tree_version, KernelSource, DEBIAN_TARBALL,
};
