//! ksm-hotremove-harness: config -> build -> boot -> console -> verdict -> report.
//!
//! Pure stages (`kconfig`, `matrix`, `console`, `verdict`) take data and return data; only
//! `build`, `image`, `runner`, `qmp` and `report` touch processes and files.

pub mod arch;
pub mod cache;
pub mod cmd;
pub mod console;
pub mod html;
pub mod kernel;
pub mod known;
pub mod lockout;
pub mod matrix;
pub mod mutants;
pub mod paths;
pub mod progress;
pub mod report;
pub mod runner;
pub mod tools;
pub mod util;
pub mod verdict;
pub mod vm;
