//! ksm-hotremove-harness: matrix (cells) -> kernel (build) -> vm (boot) -> console (findings)
//! -> verdict -> report, one cell end to end in `runner`; the subcommands in `cmd`.
//!
//! Pure stages (`matrix`, `console`, `lockout`, `verdict`, the Kconfig checks in `kernel`) take
//! data and return data; only `kernel`, `vm`, `runner` and `report` touch processes and files.
//! `tools`, `lock`, `cache`, `paths`, `util`, `arch` are the low helpers: they import nothing above them.

pub mod arch;
pub mod bisect;
pub mod cache;
pub mod cmd;
pub mod console;
pub mod kernel;
pub mod known;
pub mod lock;
pub mod lockout;
pub mod matrix;
pub mod mutants;
pub mod outcome;
pub mod paths;
pub mod progress;
pub mod report;
pub mod runner;
pub mod selftest;
pub mod tools;
pub mod util;
pub mod verdict;
pub mod vm;
