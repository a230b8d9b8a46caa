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
    Bisect(cmd::Bisect),
    Watch(cmd::Watch),
    Matrix(cmd::Matrix),
    Test(cmd::Test),
    Mutants(cmd::Mutants),
    Faults(cmd::Faults),
    Repro(cmd::Repro),
    Bench(cmd::Bench),
    Analyze(cmd::Analyze),
    Report(cmd::Report),
}

/// The hidden command of the reaper process (see `xtask::tools`).
const REAP: &str = "__reap";

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(REAP) {
        xtask::tools::reap(std::io::stdin().lock());
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    xtask::tools::install_signal_handlers();
    if let Ok(exe) = std::env::current_exe() {
        xtask::tools::start_reaper(&exe, &[REAP]);
    }
    let r = match cli.cmd {
        Cmd::Setup(c) => c.run(),
        Cmd::Doctor(c) => c.run(),
        Cmd::Build(c) => c.run(),
        Cmd::Run(c) => c.run(),
        Cmd::Bisect(c) => c.run(),
        Cmd::Watch(c) => c.run(),
        Cmd::Matrix(c) => c.run(),
        Cmd::Test(c) => c.run(),
        Cmd::Mutants(c) => c.run(),
        Cmd::Faults(c) => c.run(),
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
