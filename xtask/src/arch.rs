//! The per-arch facts, in one place: toolchain, kernel image, QEMU machine, console,
//! and how memory is taken away from the guest. Nothing else says `if arch == ...`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    S390x,
    Arm64,
}

/// How the guest gets memory that it can take away again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryMode {
    /// Boot memory above `movablecore` is ZONE_MOVABLE; blocks there can go offline.
    BootMovable,
    /// Boot memory cannot go offline: the host hot-adds a pc-dimm over QMP and removes it again.
    DimmHotplug,
}

impl MemoryMode {
    pub fn guest_param(self) -> &'static str {
        match self {
            MemoryMode::BootMovable => "movable",
            MemoryMode::DimmHotplug => "hotplug",
        }
    }
}

pub struct Machine {
    /// `ARCH=` for the kernel's make.
    pub kernel_arch: &'static str,
    pub cross_prefix: &'static str,
    pub libc_package: &'static str,
    pub debian_arch: &'static str,
    /// Relative to the build tree.
    pub image: &'static str,
    pub qemu: &'static str,
    /// The QEMU machine, CPU and memory options (the rest of the command line is common).
    pub qemu_machine: &'static [&'static str],
    pub console: &'static str,
    pub memory: MemoryMode,
    pub rust_target: &'static str,
    /// Seconds; TCG on s390x is the slower guest.
    pub default_timeout: u64,
}

pub const FIRMWARE_AARCH64: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::S390x, Arch::Arm64];

    pub fn name(self) -> &'static str {
        match self {
            Arch::S390x => "s390x",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == s)
    }

    pub fn machine(self) -> &'static Machine {
        match self {
            Arch::S390x => &S390X,
            Arch::Arm64 => &ARM64,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

static S390X: Machine = Machine {
    kernel_arch: "s390",
    cross_prefix: "s390x-linux-gnu-",
    libc_package: "libc6-dev-s390x-cross",
    debian_arch: "s390x",
    image: "arch/s390/boot/bzImage",
    qemu: "qemu-system-s390x",
    #[rustfmt::skip] // option/value pairs read best side by side
    qemu_machine: &[
        "-M", "s390-ccw-virtio", "-m", "4G", "-smp", "2",
        // The default virtio-net-ccw NIC costs 2.1 of a 4.4 s boot under TCG (the channel
        // subsystem's initial device recognition, measured with initcall_debug); no cell uses it.
        "-nic", "none",
    ],
    console: "ttysclp0",
    memory: MemoryMode::BootMovable,
    rust_target: "s390x-unknown-none-softfloat",
    default_timeout: 300,
};

static ARM64: Machine = Machine {
    kernel_arch: "arm64",
    cross_prefix: "aarch64-linux-gnu-",
    libc_package: "libc6-dev-arm64-cross",
    debian_arch: "arm64",
    image: "arch/arm64/boot/Image",
    qemu: "qemu-system-aarch64",
    #[rustfmt::skip] // option/value pairs read best side by side
    qemu_machine: &[
        "-M", "virt", "-cpu", "cortex-a57", "-smp", "2",
        "-m", "1G,slots=4,maxmem=4G",
        // UEFI + ACPI: the path on which QEMU's arm64 virt machine can hot-remove a DIMM.
        "-bios", FIRMWARE_AARCH64,
        // With -bios the default NIC wants an efi-virtio.rom that Debian does not ship.
        "-nic", "none",
    ],
    console: "ttyAMA0",
    memory: MemoryMode::DimmHotplug,
    rust_target: "aarch64-unknown-none-softfloat",
    default_timeout: 180,
};

/// What one boot needs; the QEMU command line is derived from it and the machine.
pub struct BootSpec<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub console_log: &'a Path,
    pub qmp_socket: &'a Path,
    pub cmdline_extra: &'a str,
}

/// Size of the pc-dimm the host plugs into the arm64 guest.
pub const DIMM_MIB: u64 = 512;

impl Machine {
    pub fn gcc(&self) -> String {
        format!("{}gcc", self.cross_prefix)
    }

    pub fn image_path(&self, build_dir: &Path) -> PathBuf {
        build_dir.join(self.image)
    }

    pub fn kernel_cmdline(&self, extra: &str) -> String {
        // panic=-1 with -no-reboot: a guest panic ends QEMU at once instead of hanging the cell.
        let base = format!("console={} panic=-1 loglevel=7", self.console);
        let mem = match self.memory {
            // ZONE_DMA covers everything below 2 GiB on s390, so Movable needs memory above that.
            MemoryMode::BootMovable => " movablecore=2G",
            // A plain `online` of a DIMM block (mem-on-off-test.sh onlines what it offlined so)
            // picks ZONE_MOVABLE while the kernel zones can carry it, so the DIMM stays removable.
            MemoryMode::DimmHotplug => " memory_hotplug.online_policy=auto-movable",
        };
        format!("{base}{mem} {extra}").trim_end().to_string()
    }

    pub fn qemu_args(&self, spec: &BootSpec) -> Vec<String> {
        let mut a: Vec<String> = self.qemu_machine.iter().map(|s| s.to_string()).collect();
        a.extend(["-display", "none", "-no-reboot", "-monitor", "none"].map(String::from));
        a.extend([
            "-serial".into(),
            format!("file:{}", spec.console_log.display()),
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", spec.qmp_socket.display()),
            "-kernel".into(),
            spec.kernel.display().to_string(),
            "-initrd".into(),
            spec.initrd.display().to_string(),
            "-append".into(),
            self.kernel_cmdline(spec.cmdline_extra),
        ]);
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_names() {
        for a in Arch::ALL {
            assert_eq!(Arch::parse(a.name()), Some(a));
        }
        assert_eq!(Arch::parse("x86_64"), None);
    }

    #[test]
    fn s390x_gets_a_movable_zone_and_arm64_gets_dimm_slots() {
        let s = Arch::S390x.machine().kernel_cmdline("ksmh.scenario=offline");
        assert!(s.contains("movablecore=2G") && s.contains("console=ttysclp0") && s.contains("panic=-1"));
        let spec = BootSpec {
            kernel: Path::new("/k"),
            initrd: Path::new("/i"),
            console_log: Path::new("/c.log"),
            qmp_socket: Path::new("/q.sock"),
            cmdline_extra: "",
        };
        let a = Arch::Arm64.machine().qemu_args(&spec).join(" ");
        assert!(a.contains("slots=4,maxmem=4G") && a.contains(FIRMWARE_AARCH64));
        assert!(a.contains("-serial file:/c.log") && a.contains("-qmp unix:/q.sock,server=on,wait=off"));
        assert!(!Arch::Arm64.machine().kernel_cmdline("").contains("movablecore"));
        assert!(Arch::Arm64.machine().kernel_cmdline("").contains("online_policy=auto-movable"));
    }
}
