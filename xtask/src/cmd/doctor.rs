//! `cargo xtask doctor`: every host requirement, found or missing, with the exact fix.

use anyhow::Result;

use super::setup::REQUIREMENTS;
use super::CacheDir;
use crate::arch::Arch;
use crate::cache::Cache;
use crate::kernel;

/// List every requirement as found/missing, with the exact fix
#[derive(clap::Args)]
pub struct Doctor {
    #[command(flatten)]
    cache: CacheDir,
}

impl Doctor {
    /// Exit 0 when everything cells need was found (the test suite's own tools may be missing:
    /// `setup --runtime-only` leaves them out), 1 otherwise.
    pub fn run(self) -> Result<i32> {
        Ok(if doctor(&self.cache.cache()) { 0 } else { 1 })
    }
}

/// Every requirement as found/missing, with the fix. Returns whether all that cells need were found.
fn doctor(cache: &Cache) -> bool {
    let mut all = true;
    let mut line = |ok: bool, what: &str, fix: &str, suite_only: bool| {
        if ok {
            println!("  found    {what}");
        } else if suite_only {
            println!("  missing  {what:<44} (only `cargo xtask test` needs it) fix: {fix}");
        } else {
            all = false;
            println!("  MISSING  {what:<44} fix: {fix}");
        }
    };
    println!("host requirements:");
    for r in REQUIREMENTS {
        line(r.found(), r.what, &r.fix(), r.suite_only);
    }
    for arch in Arch::ALL {
        let p = cache.busybox(arch);
        line(p.exists(), &format!("static busybox for {arch} ({})", p.display()), "cargo xtask setup", false);
        for (package, probe) in crate::kernel::SELFTEST_DEBS {
            let p = cache.foreign_deb_root(package, arch);
            let what = format!("{package} for {arch}'s selftests");
            line(p.join(probe).exists(), &what, "cargo xtask setup", false);
        }
    }
    // Which toolchain the rust variant will use (its absence is the requirement above).
    if let Ok(t) = kernel::rust_toolchain() {
        println!("  using    {} ({}) for the rust-ksm kernel object", t.rustc.display(), t.source);
    }
    println!("cache: {}", cache.root().display());
    all
}
