//! The C helpers of `mm/ksm_rust.h` for host builds, so that [`crate::kernel`]
//! compiles and links unchanged outside the kernel and the tests can call its
//! exported `rust_ksm_*` functions the way `mm/ksm.c` does.
//!
//! Each `ksm_glue_*` symbol here forwards to the [`Glue`] installed with
//! [`install`]: a test double with std or loom primitives (see
//! `tests/common/mod.rs`).  Calling into the kernel layer with none installed
//! is a bug of the test, and aborts: these are `extern "C"` functions, so a
//! panic cannot unwind out of them.  The doubles therefore report protocol
//! violations they see inside a call by recording them, not by panicking.
//!
//! Not built for the kernel (`feature = "kernel"` on a `target_os = "none"`
//! target), where C defines these symbols.

extern crate std;

use core::ffi::{c_int, c_ulong};
use std::sync::{Arc, PoisonError, RwLock};

/// What `mm/ksm_rust_glue.c` and `ksm_glue_unmerge_all()` in `mm/ksm.c` do,
/// as a host test double implements it.
pub trait Glue: Send + Sync {
    /// `mutex_lock(&ksm_thread_mutex)`.
    fn mutex_lock(&self);
    /// `mutex_unlock(&ksm_thread_mutex)`.
    fn mutex_unlock(&self);
    /// `wait_on_bit(word, bit, TASK_UNINTERRUPTIBLE)`.
    fn wait_on_bit(&self, word: *mut c_ulong, bit: c_int);
    /// `wake_up_bit(word, bit)`.
    fn wake_up_bit(&self, word: *mut c_ulong, bit: c_int);
    /// `smp_mb()`.
    fn smp_mb(&self);
    /// `unmerge_and_remove_all_rmap_items()` with the OOM-origin marking:
    /// 0 or `-errno`.
    fn unmerge_all(&self) -> c_int;
}

// A process-wide slot because the kernel layer is process-wide state (one
// run word, one `KSM`): tests that install a double must run one at a time.
static GLUE: RwLock<Option<Arc<dyn Glue>>> = RwLock::new(None);

/// Makes `glue` the implementation of the `ksm_glue_*` helpers; returns the
/// one it replaces.
pub fn install(glue: Arc<dyn Glue>) -> Option<Arc<dyn Glue>> {
    GLUE.write()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(glue)
}

/// Removes the installed double (so that its primitives, e.g. loom's, are
/// not kept past the test that made them); returns it.
pub fn uninstall() -> Option<Arc<dyn Glue>> {
    GLUE.write().unwrap_or_else(PoisonError::into_inner).take()
}

// The slot's lock is released before the call: the helpers block (mutex,
// wait_on_bit) while other threads go through the slot.
fn glue() -> Arc<dyn Glue> {
    GLUE.read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .expect("rust-ksm: a ksm_glue_* helper was called with no test double installed")
}

/// Host `ksm_glue_mutex_lock()`.
#[no_mangle]
pub extern "C" fn ksm_glue_mutex_lock() {
    glue().mutex_lock()
}

/// Host `ksm_glue_mutex_unlock()`.
#[no_mangle]
pub extern "C" fn ksm_glue_mutex_unlock() {
    glue().mutex_unlock()
}

/// Host `ksm_glue_wait_on_bit()`.
#[no_mangle]
pub extern "C" fn ksm_glue_wait_on_bit(word: *mut c_ulong, bit: c_int) {
    glue().wait_on_bit(word, bit)
}

/// Host `ksm_glue_wake_up_bit()`.
#[no_mangle]
pub extern "C" fn ksm_glue_wake_up_bit(word: *mut c_ulong, bit: c_int) {
    glue().wake_up_bit(word, bit)
}

/// Host `ksm_glue_smp_mb()`.
#[no_mangle]
pub extern "C" fn ksm_glue_smp_mb() {
    glue().smp_mb()
}

/// Host `ksm_glue_unmerge_all()`.
#[no_mangle]
pub extern "C" fn ksm_glue_unmerge_all() -> c_int {
    glue().unmerge_all()
}
