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
}

/// What the host saw of the boot, outside the console.
#[derive(Debug, Default)]
pub struct Observed {
    pub qemu_exit: Option<i32>,
    pub timed_out: Option<String>,
    /// arm64: DEVICE_DELETED seen and query-memory-devices empty afterwards.
    pub dimm_removed: Option<bool>,
}

/// Boots and plays the scenario's host side; what the host saw goes into `seen` (also when an
/// error ends the boot early).
pub fn boot(req: &BootRequest, seen: &mut Observed, stage: &mut dyn FnMut(&str)) -> Result<()> {
    tools::require_cmd(req.arch.machine().qemu)?;
    let console_log = req.dir.join("console.log");
    let _ = fs::remove_file(&console_log);
    fs::File::create(&console_log)?;
    // Unix socket paths are limited to 108 bytes: keep the socket short and outside the results.
    let sock = std::env::temp_dir().join(format!("ksmh-{}-{}.qmp", std::process::id(), req.name));
    let _ = fs::remove_file(&sock);
    let (vm, mut qmp) = start(req, &console_log, &sock)?;
    let result = watch(req, &vm, &mut qmp, &mut Tail::new(console_log), seen, stage);
    drop(qmp);
    drop(vm); // kills the process group if still running
    let _ = fs::remove_file(&sock);
    result
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
            }
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
    pending: String,
    lineno: u64,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail { path, offset: 0, pending: String::new(), lineno: 0 }
    }

    /// Reads what was appended since the last call; whether anything was.
    fn read_new(&mut self) -> Result<bool> {
        let mut f = fs::File::open(&self.path)?;
        let len = f.metadata()?.len();
        if len <= self.offset {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::with_capacity((len - self.offset) as usize);
        f.take(len - self.offset).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.pending.push_str(&String::from_utf8_lossy(&buf));
        Ok(true)
    }

    /// The next complete line and its number.
    fn next_line(&mut self) -> Option<(u64, String)> {
        let nl = self.pending.find('\n')?;
        self.lineno += 1;
        Some((self.lineno, self.pending.drain(..=nl).collect()))
    }
}
