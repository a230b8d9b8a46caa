//! Booting a kernel: the guest's initramfs (`image`: busybox, images/init, the workload), QEMU
//! on the machine `arch` defines, with QMP for memory hotplug (`boot`, `qmp`) -> console.log,
//! qemu.log, qmp.log; and the guest protocol in one place (`markers`): the `ksmh.*` parameters
//! the guest is given and the `@@KSMH` lines it answers with.

mod boot;
mod image;
pub mod markers;
mod qmp;

pub use boot::{boot, BootRequest, Observed, CONSOLE_CAP_DEFAULT, INACTIVITY};
pub use image::{build as build_image, ExtraFile, Image};
