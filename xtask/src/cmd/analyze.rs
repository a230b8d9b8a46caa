//! `cargo xtask analyze`: the console analyzer alone (the work is in `console::cli`).

use std::path::PathBuf;

use anyhow::Result;

/// Find lockdep reports and other kernel problems in console logs (`-` = stdin)
#[derive(clap::Args)]
pub struct Analyze {
    #[arg(long)]
    json: bool,
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

impl Analyze {
    /// Exit 0 without problems, 1 with.
    pub fn run(self) -> Result<i32> {
        crate::console::run_analyze(self.json, &self.files)
    }
}
