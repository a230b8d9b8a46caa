//! `cargo xtask build`: only the kernel of (arch, variant), for a developer's own boots.

use anyhow::Result;

use super::KernelOpts;
use crate::arch::Arch;
use crate::kernel;
use crate::progress::Progress;

/// Build only the kernel of one arch and variant (prints the image and build tree)
#[derive(clap::Args)]
pub struct Build {
    #[arg(long, value_enum)]
    arch: Arch,
    #[arg(long, default_value = "upstream")]
    variant: String,
    /// A kernel of the matrix's `kernels:` axis (default: the oldest, 6.1)
    #[arg(long)]
    kernel: Option<String>,
    #[command(flatten)]
    opts: KernelOpts,
}

impl Build {
    pub fn run(self) -> Result<i32> {
        let (arch, variant) = (self.arch, &self.variant);
        let o = self.opts.options(1);
        let m = o.load_matrix()?;
        let (k, kdef) = match &self.kernel {
            Some(k) => m.kernel_named(k)?,
            None => m.first_kernel(),
        };
        let v = &kdef.variant(super::variant(&m, &o.matrix, variant, "")?);
        let src = kernel::resolve_source(&o.cache, &k.source)?;
        let out = self.opts.results.stamped(&format!("build-{arch}-{variant}"))?;
        let progress = Progress::new();
        let mut p = progress.cell(&format!("{arch}-{variant}"));
        let req = kernel::BuildRequest {
            cache: &o.cache,
            repo: &crate::paths::repo_root(),
            src: &src,
            arch,
            variant: v,
            out_dir: &out,
            jobs: o.make_jobs,
            lockout_evidence: o.lockout_evidence,
            debug_info: o.debug_info,
        };
        let b = kernel::build(&req, &mut |s| p.stage(s))?;
        p.finish("built");
        if let Some(v) = &b.vmlinux {
            println!("vmlinux (with reduced DWARF): {}", v.display());
        }
        println!(
            "kernel: {}\nbuild tree: {}\nlogs and .config: {}\n({:.0}s, {})",
            b.image.display(),
            b.build_dir.display(),
            out.display(),
            b.seconds,
            if b.relinked {
                "relinked"
            } else if b.up_to_date {
                "make skipped: nothing changed since this tree's last build"
            } else {
                "nothing to rebuild"
            }
        );
        Ok(0)
    }
}
