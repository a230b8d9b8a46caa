//! The kernel side: the run word, the primitives as calls to the C helpers
//! in `mm/ksm_rust_glue.c`, and the `extern "C"` entry points that the
//! patched `mm/ksm.c` calls (prototypes in `mm/ksm_rust.h`).
//!
//! In the kernel (`--cfg 'feature="kernel"'` for a `*-unknown-none-*`
//! target, see `patches/rust/` for the Kbuild rule) the `ksm_glue_*` helpers
//! are C.  On the host this same file is compiled unchanged and the helpers
//! are the `#[no_mangle]` test doubles of [`crate::host`], so the host tests
//! run the very entry points the kernel links, not a copy of them.
//!
//! The run word lives here, as an `AtomicUsize` (same size and alignment as
//! the C `unsigned long` on s390x and arm64); relaxed loads and stores are
//! exactly `READ_ONCE`/`WRITE_ONCE`.  Its address is handed to the C helpers
//! for `wait_on_bit()`/`wake_up_bit()`, which only hash it and test the bit.
//! `ksm_thread_mutex` stays a C `DEFINE_MUTEX` (static in the glue file)
//! because lockdep's class key and name come from that macro.

#[cfg(all(feature = "kernel", target_os = "none"))]
use core::ffi::c_char;
use core::ffi::{c_int, c_uint, c_ulong};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::{
    Ksm, KsmPrimitives, MemoryAction, RunControl, RunStoreError, EINVAL, KSM_RUN_OFFLINE_BIT,
    KSM_RUN_STOP,
};

extern "C" {
    fn ksm_glue_mutex_lock();
    fn ksm_glue_mutex_unlock();
    fn ksm_glue_wait_on_bit(word: *mut c_ulong, bit: c_int);
    fn ksm_glue_wake_up_bit(word: *mut c_ulong, bit: c_int);
    fn ksm_glue_smp_mb();
    #[cfg(all(feature = "kernel", target_os = "none"))]
    fn ksm_glue_panic(file: *const c_char, len: usize, line: c_uint) -> !;
    /// In mm/ksm.c: set_current_oom_origin();
    /// unmerge_and_remove_all_rmap_items(); clear_current_oom_origin().
    fn ksm_glue_unmerge_all() -> c_int;
}

/// `ksm_run`: KSM_RUN_STOP at boot.
///
/// Exported unmangled because the harness reads it by this name from the
/// guest (kprobe fetch arg `+0(@rust_ksm_run):u64`): what the kernel sees
/// during an offline is then the word as written by this crate.  Nothing
/// but this module may store to it outside the host tests, which reset it
/// between runs.
#[allow(non_upper_case_globals)]
#[no_mangle]
pub static rust_ksm_run: AtomicUsize = AtomicUsize::new(KSM_RUN_STOP);

/// The kernel's primitives.
pub struct KernelPrimitives;

impl KernelPrimitives {
    fn word() -> *mut c_ulong {
        rust_ksm_run.as_ptr().cast::<c_ulong>()
    }
}

impl KsmPrimitives for KernelPrimitives {
    fn mutex_lock(&self) {
        // SAFETY: plain C call; may sleep, as every caller may.
        unsafe { ksm_glue_mutex_lock() }
    }
    fn mutex_unlock(&self) {
        // SAFETY: the protocol only unlocks what it locked.
        unsafe { ksm_glue_mutex_unlock() }
    }
    fn read_run(&self) -> usize {
        rust_ksm_run.load(Ordering::Relaxed)
    }
    fn write_run(&self, run: usize) {
        rust_ksm_run.store(run, Ordering::Relaxed)
    }
    fn wait_on_offline_bit(&self) {
        // SAFETY: the word is a static, valid for the kernel's lifetime.
        unsafe { ksm_glue_wait_on_bit(Self::word(), KSM_RUN_OFFLINE_BIT as c_int) }
    }
    fn wake_up_offline_bit(&self) {
        // SAFETY: as above.
        unsafe { ksm_glue_wake_up_bit(Self::word(), KSM_RUN_OFFLINE_BIT as c_int) }
    }
    fn smp_mb(&self) {
        // SAFETY: plain C call.
        unsafe { ksm_glue_smp_mb() }
    }
}

static KSM: Ksm<KernelPrimitives> = Ksm::new(KernelPrimitives);

/// The locking/flag part of `ksm_memory_callback()`; returns `NOTIFY_OK`.
#[no_mangle]
pub extern "C" fn rust_ksm_memory_callback(action: c_ulong) -> c_int {
    KSM.memory_callback(MemoryAction::from_raw(action as usize))
}

/// `wait_while_offlining()` for a caller that holds `ksm_thread_mutex`
/// (which only `rust_ksm_run_control_lock()` can take).
#[no_mangle]
pub extern "C" fn rust_ksm_wait_while_offlining() {
    KSM.wait_while_offlining()
}

/// `mutex_lock(&ksm_thread_mutex); wait_while_offlining();`
#[no_mangle]
pub extern "C" fn rust_ksm_run_control_lock() {
    KSM.lock_run_control().into_raw()
}

/// `mutex_unlock(&ksm_thread_mutex)` after `rust_ksm_run_control_lock()`.
#[no_mangle]
pub extern "C" fn rust_ksm_run_control_unlock() {
    // SAFETY: C pairs this with rust_ksm_run_control_lock().
    drop(unsafe { RunControl::from_raw(&KSM) })
}

/// `READ_ONCE(ksm_run)` for sysfs `run_show()`.
#[no_mangle]
pub extern "C" fn rust_ksm_run_show() -> c_ulong {
    KSM.run_show() as c_ulong
}

/// `READ_ONCE(ksm_run)` for C's lockless readers (`ksmd_should_run()`,
/// `__ksm_enter()`, `__ksm_exit()`).
#[no_mangle]
pub extern "C" fn rust_ksm_get_run() -> c_ulong {
    KSM.run_show() as c_ulong
}

/// `run_store()` after parsing: 0, `-EINVAL`, or unmerge's `-errno`.
#[no_mangle]
pub extern "C" fn rust_ksm_run_store(flags: c_uint) -> c_int {
    let unmerge = || {
        // SAFETY: plain C call, under ksm_thread_mutex as C expects.
        match unsafe { ksm_glue_unmerge_all() } {
            0 => Ok(()),
            err => Err(err),
        }
    };
    match KSM.run_store(flags as usize, unmerge) {
        Ok(()) => 0,
        Err(RunStoreError::Invalid) => -EINVAL,
        Err(RunStoreError::Unmerge(err)) => err,
    }
}

#[cfg(all(feature = "kernel", target_os = "none"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let (file, line) = match info.location() {
        Some(loc) => (loc.file(), loc.line()),
        None => ("rust-ksm", 0),
    };
    // SAFETY: pointer and length of a valid &str; the helper BUG()s.
    unsafe { ksm_glue_panic(file.as_ptr().cast::<c_char>(), file.len(), line) }
}
