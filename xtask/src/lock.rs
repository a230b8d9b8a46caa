//! Locks on the shared things in the cache (the extracted sources, an arch's source copy and
//! build folder, busybox, the Rust sysroot, the initramfs images), so that two `cargo xtask`
//! runs never build into or boot from each other's state. `flock(2)` on a file per thing:
//! the kernel drops it when the holder dies, however it dies, so a SIGKILLed run leaves no
//! stale lock. The holder writes its pid and command into the file for the waiting side's
//! message. Low layer: imports nothing from this crate.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

static NO_WAIT: AtomicBool = AtomicBool::new(false);

/// `--no-wait`: a held lock is an error at once instead of a wait.
pub fn set_no_wait(on: bool) {
    NO_WAIT.store(on, Ordering::SeqCst);
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the lock in `dir/<name>.lock` for `what` (said in messages). When another process
/// holds it: waits with one line saying for what and whose pid, or (with `--no-wait`) fails
/// with that line.
pub fn acquire(dir: &Path, name: &str, what: &str) -> Result<Lock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening lock {}", path.display()))?;
    if !flock(&f, libc::LOCK_EX | libc::LOCK_NB)? {
        let holder = holder(&mut f);
        let line = format!("waiting for {what} held by {holder} (lock {})", path.display());
        if NO_WAIT.load(Ordering::SeqCst) {
            bail!("{what} is held by {holder} (lock {}): another run is using it; run again when it is done, or without --no-wait to wait", path.display());
        }
        eprintln!("{line}");
        if !flock(&f, libc::LOCK_EX)? {
            bail!("could not take {}", path.display());
        }
    }
    f.set_len(0)?;
    f.rewind()?;
    let cmd = std::env::args().skip(1).take(8).collect::<Vec<_>>().join(" ");
    write!(f, "pid {} ({cmd})", std::process::id())?;
    f.flush()?;
    Ok(Lock { _file: f })
}

fn holder(f: &mut File) -> String {
    let mut s = String::new();
    let _ = f.rewind().and_then(|_| f.read_to_string(&mut s));
    let s = s.trim();
    if s.is_empty() {
        "another process".into()
    } else {
        s.to_string()
    }
}

/// Whether the lock was taken (false: `LOCK_NB` and held elsewhere).
fn flock(f: &File, op: i32) -> Result<bool> {
    loop {
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), op) };
        if r == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e).context("flock"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_is_told_who_holds_it() {
        let d = std::env::temp_dir().join(format!("ksmh-lock-{}", std::process::id()));
        let first = acquire(&d, "tree", "the s390x tree").unwrap();
        let text = std::fs::read_to_string(d.join("tree.lock")).unwrap();
        assert!(text.starts_with(&format!("pid {}", std::process::id())), "{text}");
        // A second open file description conflicts even in the same process.
        let f = OpenOptions::new().read(true).write(true).open(d.join("tree.lock")).unwrap();
        assert!(!flock(&f, libc::LOCK_EX | libc::LOCK_NB).unwrap(), "held: must not be taken");
        set_no_wait(true);
        let e = acquire(&d, "tree", "the s390x tree").unwrap_err().to_string();
        set_no_wait(false);
        assert!(e.contains("the s390x tree is held by pid") && e.contains("--no-wait"), "{e}");
        let waiter = std::thread::spawn({
            let d = d.clone();
            move || acquire(&d, "tree", "the s390x tree").map(|_| ())
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!waiter.is_finished(), "the second taker must wait while the first holds it");
        drop(first);
        waiter.join().unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }
}
