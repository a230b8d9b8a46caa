//! Host commands, the lowest layer (it imports nothing from this crate): finding them
//! ([`which`], [`require_cmd`] with the package that provides each), one-shot commands
//! ([`shell`] for xshell's `cmd!` where a quick read-only command reads best, [`run`] and
//! [`merged_output`] for everything that changes something), and the one way to start a child,
//! [`Group`]: every child that can run long or change the cache (QEMU, make and its compilers,
//! tar, rsync, patch, rustc) runs in its own process group with no stdin, dies with the
//! harness (`PR_SET_PDEATHSIG`), and is registered with the reaper: a small process of our own
//! that outlives a SIGKILL of the harness and kills every registered group when the harness's
//! pipe closes. A signal sets a flag the runners poll so the report is still written.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// A shell for quick read-only one-shot commands: `xshell::cmd!(sh, "...")`, then `.read()`,
/// `.output()`, or `.quiet().run()` (without `quiet` xshell echoes the command line).
pub fn shell() -> Result<xshell::Shell> {
    Ok(xshell::Shell::new()?)
}

/// Runs a command to its end in its own group with stderr merged into stdout (the way a
/// terminal shows it, for error messages): whether it succeeded, and what it printed.
pub fn merged_output(expr: duct::Expression) -> std::io::Result<(bool, String)> {
    let g = Group::start(expr.stderr_to_stdout().stdout_capture().unchecked())?;
    let out = g.handle.wait()?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// [`merged_output`], an error with what it printed when it fails.
pub fn run(expr: duct::Expression, what: &str) -> Result<String> {
    let (ok, out) = merged_output(expr).map_err(|e| anyhow::anyhow!("{what}: cannot start: {e}"))?;
    if !ok {
        bail!("{what} failed:\n{}", out.trim_end());
    }
    Ok(out)
}

/// A command whose output the user watches (it goes to our stdout and stderr), in its own
/// group: whether it succeeded.
pub fn run_visible(expr: duct::Expression) -> std::io::Result<bool> {
    let g = Group::start(expr.unchecked())?;
    Ok(g.handle.wait()?.status.success())
}

/// Waits for `g` at most `limit`; None when the limit expired (the group is then killed).
pub fn wait_limited(g: &Group, limit: Duration) -> std::io::Result<Option<std::process::ExitStatus>> {
    let t0 = Instant::now();
    loop {
        if let Some(out) = g.handle.try_wait()? {
            return Ok(Some(out.status));
        }
        if t0.elapsed() > limit || interrupted() {
            g.kill();
            let out = g.handle.wait()?;
            return Ok(if interrupted() { Some(out.status) } else { None });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Installs SIGINT/SIGTERM/SIGHUP handling once: kill every registered group, set the flag.
/// A closed terminal (SIGHUP) is an interruption like Ctrl-C: the report is still written.
pub fn install_signal_handlers() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
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

/// The write end of the reaper's pipe, once started: each group's id goes in as `+pgid`, and
/// `-pgid` when it ended normally.
static REAPER: Mutex<Option<std::process::ChildStdin>> = Mutex::new(None);

/// Starts the reaper: `exe` run with `args` (our own binary's hidden `__reap` command) in a
/// process group of its own, so that neither Ctrl-C nor a SIGKILL of the harness reaches it.
/// Without it (the unit tests) children still die with us through PDEATHSIG, but their own
/// children (make's compilers) would not.
pub fn start_reaper(exe: &Path, args: &[&str]) {
    use std::os::unix::process::CommandExt as _;
    let child = std::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    if let Ok(mut c) = child {
        *REAPER.lock().unwrap() = c.stdin.take();
        // Not waited for: it outlives us by design; it exits as soon as our pipe closes.
        std::mem::forget(c);
    }
}

fn tell_reaper(line: String) {
    if let Ok(mut r) = REAPER.lock() {
        if let Some(w) = r.as_mut() {
            let _ = writeln!(w, "{line}");
        }
    }
}

/// The reaper's loop (`cargo xtask __reap`): reads `+pgid` / `-pgid` lines from stdin; at EOF
/// (the harness exited, however it died) kills every group still registered.
pub fn reap(input: impl std::io::BufRead) {
    // SAFETY: ignoring SIGINT and SIGHUP in this single-threaded helper: it must outlive a
    // terminal's Ctrl-C or hangup long enough to clean up.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let mut live: Vec<i32> = Vec::new();
    for line in input.lines().map_while(|l| l.ok()) {
        match (line.get(..1), line.get(1..).and_then(|n| n.trim().parse::<i32>().ok())) {
            (Some("+"), Some(p)) => live.push(p),
            (Some("-"), Some(p)) => live.retain(|q| *q != p),
            _ => {}
        }
    }
    for p in live {
        kill_group(p);
    }
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
        // SAFETY: getpid only reads.
        let parent = unsafe { libc::getpid() };
        let handle = expr
            .stdin_null()
            .before_spawn(move |c| {
                use std::os::unix::process::CommandExt;
                c.process_group(0);
                // SAFETY: between fork and exec only async-signal-safe calls: prctl, getppid.
                unsafe {
                    c.pre_exec(move || {
                        // Dies with the thread that started it; if that already happened
                        // between fork and prctl, the parent is no longer ours: give up.
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != parent {
                            return Err(std::io::Error::other("the harness died while starting a child"));
                        }
                        Ok(())
                    });
                }
                Ok(())
            })
            .start()?;
        let pgid = handle.pids().first().copied().unwrap_or(0) as i32;
        GROUPS.lock().unwrap().push(pgid);
        tell_reaper(format!("+{pgid}"));
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
        tell_reaper(format!("-{}", self.pgid));
    }
}

/// A fault-injection point for the suite's fault tests: with `KSMH_FAULT=<name>` the harness
/// SIGKILLs itself here, as a kill from outside would at the worst moment.
pub fn fault_point(name: &str) {
    if std::env::var("KSMH_FAULT").is_ok_and(|f| f == name) {
        eprintln!("KSMH_FAULT={name}: killing the harness here");
        // SAFETY: raise only sends a signal to ourselves.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reaper_kills_registered_groups_when_its_pipe_closes() {
        use std::os::unix::process::CommandExt as _;
        let mut kept = std::process::Command::new("sleep").arg("60").process_group(0).spawn().unwrap();
        let mut ended = std::process::Command::new("sleep").arg("60").process_group(0).spawn().unwrap();
        let (k, e) = (kept.id() as i32, ended.id() as i32);
        // `ended` ended normally (the harness said so), so the reaper must leave its id alone.
        reap(std::io::Cursor::new(format!("+{k}\n+{e}\n-{e}\nnoise\n")));
        let status = kept.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
        assert!(ended.try_wait().unwrap().is_none(), "an unregistered group must survive");
        ended.kill().unwrap();
        let _ = ended.wait();
    }

    #[test]
    fn a_child_has_no_stdin_and_its_own_group() {
        let (ok, out) = merged_output(duct::cmd!("sh", "-c", "cat; ps -o pgid= -p $$; echo $$")).unwrap();
        assert!(ok, "{out}");
        let nums: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(nums.len(), 2, "cat read nothing from stdin: {out:?}");
        assert_eq!(nums[0], nums[1], "the child leads its own process group");
    }
}
