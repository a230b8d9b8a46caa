//! `cargo xtask`: parses the command line and hands it to its command in `xtask::cmd`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::cmd;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Reproduce the KSM memory hot-remove lockdep warning on s390x and arm64 in QEMU",
    version
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Setup(cmd::Setup),
    Doctor(cmd::Doctor),
    Build(cmd::Build),
    Run(cmd::Run),
    Matrix(cmd::Matrix),
    Test(cmd::Test),
    Mutants(cmd::Mutants),
    Repro(cmd::Repro),
    Bench(cmd::Bench),
    Analyze(cmd::Analyze),
    Report(cmd::Report),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    xtask::tools::install_signal_handlers();
    let r = match cli.cmd {
        Cmd::Setup(c) => c.run(),
        Cmd::Doctor(c) => c.run(),
        Cmd::Build(c) => c.run(),
        Cmd::Run(c) => c.run(),
        Cmd::Matrix(c) => c.run(),
        Cmd::Test(c) => c.run(),
        Cmd::Mutants(c) => c.run(),
        Cmd::Repro(c) => c.run(),
        Cmd::Bench(c) => c.run(),
        Cmd::Analyze(c) => c.run(),
        Cmd::Report(c) => c.run(),
    };
    match r {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks of every command (unique names, valid defaults, ...).
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
