//! Host commands, the lowest layer (it imports nothing from this crate): finding them
//! ([`which`], [`require_cmd`] with the package that provides each), one-shot commands
//! ([`shell`] for xshell's `cmd!`, [`merged_output`] when stderr and stdout tell one story),
//! and the one way to start a long-running child, [`Group`]:
//! QEMU and make run in their own process group so that a timeout, Ctrl-C or SIGTERM kills the
//! whole tree (QEMU's helpers, make's compilers), never just the leader. A signal sets a flag
//! the runners poll so the report is still written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Result};

/// Every host command a step may need, with the Debian package that provides it: the one place
/// that maps a missing tool to its fix (`setup` installs these, `doctor` lists them).
pub const PACKAGES: &[(&str, &str)] = &[
    ("s390x-linux-gnu-gcc", "gcc-s390x-linux-gnu"),
    ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("qemu-system-s390x", "qemu-system-misc"),
    ("qemu-system-aarch64", "qemu-system-arm"),
    ("ccache", "ccache"),
    ("make", "make"),
    ("bc", "bc"),
    ("bison", "bison"),
    ("flex", "flex"),
    ("xz", "xz-utils"),
    ("patch", "patch"),
    ("rsync", "rsync"),
    ("dpkg-deb", "dpkg"),
    ("chromium", "chromium"),
];

/// The package that provides `cmd`, if it is one of [`PACKAGES`].
pub fn package_of(cmd: &str) -> Option<&'static str> {
    PACKAGES.iter().find(|(c, _)| *c == cmd).map(|(_, p)| *p)
}

pub fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(cmd)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Fails with the exact install command when a tool a later step needs is missing.
pub fn require_cmd(cmd: &str) -> Result<()> {
    if which(cmd).is_some() {
        return Ok(());
    }
    let pkg = package_of(cmd).unwrap_or("(unknown package)");
    bail!("`{cmd}` is not installed: run `cargo xtask setup` or `apt-get install -y {pkg}`")
}

/// Runs a one-shot command to its end with stderr merged into stdout (the way a terminal shows
/// it, for error messages): whether it succeeded, and what it printed.
pub fn merged_output(expr: duct::Expression) -> std::io::Result<(bool, String)> {
    let out = expr.stderr_to_stdout().stdout_capture().unchecked().run()?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// A shell for one-shot commands: `xshell::cmd!(sh, "...")`, then `.read()`, `.output()`, or
/// `.quiet().run()` (without `quiet` xshell echoes the command line).
pub fn shell() -> Result<xshell::Shell> {
    Ok(xshell::Shell::new()?)
}

static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Installs SIGINT/SIGTERM handling once: kill every registered group, set the flag.
pub fn install_signal_handlers() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            let first = !INTERRUPTED.swap(true, Ordering::SeqCst);
            kill_all();
            if first {
                eprintln!("\ninterrupted (signal {sig}): stopping children, writing the report");
            } else {
                std::process::exit(130);
            }
        }
    });
}

pub fn kill_all() {
    for g in GROUPS.lock().map(|g| g.clone()).unwrap_or_default() {
        kill_group(g);
    }
}

pub fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: killpg only sends a signal; a stale group id gets ESRCH, which is fine.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// A started expression in its own process group, registered for signal cleanup.
pub struct Group {
    pub handle: duct::Handle,
    pub pgid: i32,
}

impl Group {
    pub fn start(expr: duct::Expression) -> std::io::Result<Group> {
        let handle = expr
            .before_spawn(|c| {
                std::os::unix::process::CommandExt::process_group(c, 0);
                Ok(())
            })
            .start()?;
        let pgid = handle.pids().first().copied().unwrap_or(0) as i32;
        GROUPS.lock().unwrap().push(pgid);
        Ok(Group { handle, pgid })
    }

    pub fn kill(&self) {
        kill_group(self.pgid);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Whatever happened to us, leave no QEMU or compiler behind.
        self.kill();
        let _ = self.handle.wait();
        if let Ok(mut g) = GROUPS.lock() {
            g.retain(|p| *p != self.pgid);
        }
    }
}
