//! One boot: QEMU with a kernel and the initramfs, in its own process group, and the host's side
//! of the scenario (arm64: hot-add and remove a DIMM over QMP when the guest asks), until QEMU
//! exits, the timeout expires or the guest goes quiet. The console goes to console.log, QEMU's
//! own output to qemu.log, every QMP exchange to qmp.log.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::markers::{self, Event, GuestParams, Marker};
use super::qmp::Qmp;
use crate::arch::{Arch, BootSpec, DIMM_MIB};
use crate::tools::{self, Group};

/// No console output for this long means the guest stopped making progress.
pub const INACTIVITY: Duration = Duration::from_secs(150);

/// The console of one cell is kept up to this size; past it the guest is stopped (a healthy
/// cell writes well under 1 MiB, the lockout trace dump included).
pub const CONSOLE_CAP_DEFAULT: u64 = 64 << 20;

/// Read at most this much of the console per poll, so a flood never lands in memory at once.
const READ_CHUNK: u64 = 4 << 20;

/// A line longer than this is cut (a guest writing without newlines must not grow a buffer).
const LINE_MAX: usize = 64 << 10;

pub struct BootRequest<'a> {
    pub arch: Arch,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// What the guest is told on the kernel command line.
    pub guest: GuestParams<'a>,
    pub timeout: Duration,
    /// Where console.log, qemu.log, qmp.log and qemu-cmdline.txt go.
    pub dir: &'a Path,
    /// Names the QMP socket: unique among the boots of this process.
    pub name: &'a str,
    /// Bytes of console kept before the guest is stopped.
    pub console_cap: u64,
}

/// What the host saw of the boot, outside the console.
#[derive(Debug, Default)]
pub struct Observed {
    pub qemu_exit: Option<i32>,
    pub timed_out: Option<String>,
    /// arm64: DEVICE_DELETED seen and query-memory-devices empty afterwards.
    pub dimm_removed: Option<bool>,
    /// The console reached the cap: the guest was stopped there.
    pub console_capped: Option<String>,
    /// Every guest marker, parsed as the console streamed in (the report never re-reads it).
    pub markers: Vec<Marker>,
}

/// Boots and plays the scenario's host side; what the host saw goes into `seen` (also when an
/// error ends the boot early).
pub fn boot(req: &BootRequest, seen: &mut Observed, stage: &mut dyn FnMut(&str)) -> Result<()> {
    tools::require_cmd(req.arch.machine().qemu)?;
    let console_log = req.dir.join("console.log");
    let _ = fs::remove_file(&console_log);
    fs::File::create(&console_log)?;
    // Unix socket paths are limited to 108 bytes: a short name in a private (0700) folder of
    // this process, never in the results and never guessable by other users.
    let sockdir = private_dir()?;
    let sock = sockdir.join(format!("{}.qmp", crate::util::short_hash(req.name.as_bytes())));
    let _ = fs::remove_file(&sock);
    let (vm, mut qmp) = start(req, &console_log, &sock)?;
    let result = watch(req, &vm, &mut qmp, &mut Tail::new(console_log), seen, stage);
    drop(qmp);
    drop(vm); // kills the process group if still running
    let _ = fs::remove_file(&sock);
    result
}

/// `$TMPDIR/ksmh-<pid>`, mode 0700, made once per process (an old one of a dead process with
/// our pid is taken over only if it is ours and private).
fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let d = std::env::temp_dir().join(format!("ksmh-{}", std::process::id()));
    match fs::DirBuilder::new().mode(0o700).create(&d) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let m = fs::symlink_metadata(&d)?;
            // SAFETY: getuid only reads.
            let me = unsafe { libc::getuid() };
            if !m.is_dir() || m.uid() != me || m.permissions().mode() & 0o077 != 0 {
                bail!("{} exists and is not a private folder of ours: remove it", d.display());
            }
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", d.display())),
    }
    Ok(d)
}

/// QEMU in its own process group, and the QMP connection to it.
fn start(req: &BootRequest, console_log: &Path, sock: &Path) -> Result<(Group, Qmp)> {
    let m = req.arch.machine();
    let extra = req.guest.cmdline();
    let spec =
        BootSpec { kernel: req.kernel, initrd: req.initrd, console_log, qmp_socket: sock, cmdline_extra: &extra };
    let args = m.qemu_args(&spec);
    fs::write(req.dir.join("qemu-cmdline.txt"), format!("{} {}\n", m.qemu, args.join(" ")))?;
    let qemu_log = req.dir.join("qemu.log");
    let vm = Group::start(duct::cmd(m.qemu, &args).stdin_null().stdout_path(&qemu_log).stderr_to_stdout().unchecked())
        .with_context(|| format!("starting {}", m.qemu))?;
    match Qmp::connect(sock, &req.dir.join("qmp.log"), Duration::from_secs(15)) {
        Ok(qmp) => Ok((vm, qmp)),
        Err(e) => {
            std::thread::sleep(Duration::from_millis(300));
            bail!("QEMU did not start: {e:#}\n{}\n(see {})", crate::util::tail_lines(&qemu_log, 10), qemu_log.display())
        }
    }
}

/// Follows the console until QEMU exits, the timeout expires, the guest goes quiet or the
/// harness is interrupted; the guest's markers drive the host's side.
fn watch(
    req: &BootRequest,
    vm: &Group,
    qmp: &mut Qmp,
    console: &mut Tail,
    seen: &mut Observed,
    stage: &mut dyn FnMut(&str),
) -> Result<()> {
    let t0 = Instant::now();
    let mut last_output = Instant::now();
    loop {
        if console.read_new()? {
            last_output = Instant::now();
        }
        while let Some((lineno, line)) = console.next_line() {
            if let Some(mk) = markers::parse_line(&line, lineno) {
                on_marker(&mk, qmp, req.dir, seen, stage)?;
                seen.markers.push(mk);
            }
        }
        if console.len >= req.console_cap {
            vm.kill();
            let mib = req.console_cap >> 20;
            seen.console_capped = Some(format!(
                "the console passed its {mib} MiB cap: the guest printed without end and was stopped there"
            ));
            // Keep exactly the cap: what QEMU wrote between the check and the kill goes.
            let _ = fs::OpenOptions::new().write(true).open(&console.path).and_then(|f| f.set_len(req.console_cap));
            return Ok(());
        }
        if let Ok(Some(out)) = vm.handle.try_wait() {
            seen.qemu_exit = out.status.code();
            return Ok(());
        }
        if tools::interrupted() {
            return Ok(());
        }
        if t0.elapsed() > req.timeout {
            seen.timed_out = Some(format!("the cell's {} s timeout expired", req.timeout.as_secs()));
            return Ok(());
        }
        if last_output.elapsed() > INACTIVITY {
            let quiet = INACTIVITY.as_secs();
            seen.timed_out = Some(format!("no console output for {quiet} s: the guest stopped making progress"));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host's side of the guest protocol: a phase names the progress stage, a hotplug request
/// adds or removes the DIMM.
fn on_marker(mk: &Marker, qmp: &mut Qmp, dir: &Path, seen: &mut Observed, stage: &mut dyn FnMut(&str)) -> Result<()> {
    match mk.event {
        Event::Phase => {
            if let Some(p) = mk.get("name") {
                stage(&format!("guest:{p}"));
            }
        }
        Event::HotplugRequest => match mk.get("action") {
            Some("add") => qmp.add_dimm("dimm0", DIMM_MIB)?,
            Some("remove") => {
                let r = qmp.remove_dimm("dimm0", Duration::from_secs(60));
                let empty = qmp.memory_devices().map(|n| n == 0).unwrap_or(false);
                seen.dimm_removed = Some(r.is_ok() && empty);
                if let Err(e) = r {
                    let _ = fs::write(dir.join("qmp-error.txt"), format!("{e:#}\n"));
                }
            }
            other => bail!("guest asked for unknown hotplug action {other:?}"),
        },
        _ => {}
    }
    Ok(())
}

/// The console log as QEMU writes it, read as it grows, line by line.
struct Tail {
    path: PathBuf,
    offset: u64,
    /// The file's length at the last look (QEMU may be ahead of what we read).
    len: u64,
    pending: String,
    lineno: u64,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail { path, offset: 0, len: 0, pending: String::new(), lineno: 0 }
    }

    /// Reads what was appended since the last call; whether anything was.
    fn read_new(&mut self) -> Result<bool> {
        let mut f = fs::File::open(&self.path)?;
        let len = f.metadata()?.len();
        self.len = len;
        if len <= self.offset {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let want = (len - self.offset).min(READ_CHUNK);
        let mut buf = Vec::with_capacity(want as usize);
        f.take(want).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.pending.push_str(&String::from_utf8_lossy(&buf));
        if !self.pending.contains('\n') && self.pending.len() > LINE_MAX {
            // No newline in sight: cut the line (markers are short; this is a flood).
            let mut cut = LINE_MAX;
            while !self.pending.is_char_boundary(cut) {
                cut -= 1;
            }
            self.pending.insert(cut, '\n');
        }
        Ok(true)
    }

    /// The next complete line and its number.
    fn next_line(&mut self) -> Option<(u64, String)> {
        let nl = self.pending.find('\n')?;
        self.lineno += 1;
        Some((self.lineno, self.pending.drain(..=nl).collect()))
    }
}
