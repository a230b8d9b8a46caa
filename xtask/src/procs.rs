//! Child process groups: QEMU and make run in their own process group so that a timeout,
//! Ctrl-C or SIGTERM kills the whole tree (QEMU's helpers, make's compilers), never just the
//! leader. A signal sets a flag the runners poll so the report is still written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

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
