//! KSM's run state and the memory-hotplug offline lockout, in Rust.
//!
//! This crate owns the protocol of the v3.10 commit "ksm: stop hotremove
//! lockdep warning" (Hugh Dickins), as it is in Linux 6.1 `mm/ksm.c`:
//!
//! * `ksm_run` holds one of [`KSM_RUN_STOP`], [`KSM_RUN_MERGE`],
//!   [`KSM_RUN_UNMERGE`], plus the [`KSM_RUN_OFFLINE`] bit while memory is
//!   being offlined.  It is written only with `ksm_thread_mutex` held.
//! * The memory notifier: `MEM_GOING_OFFLINE` sets `KSM_RUN_OFFLINE` under
//!   `ksm_thread_mutex` and *drops the mutex again* before returning;
//!   `MEM_OFFLINE` and `MEM_CANCEL_OFFLINE` clear it under the mutex, then
//!   `smp_mb()` and `wake_up_bit()`.  The mutex is never held across two
//!   notifier calls: holding it from `MEM_GOING_OFFLINE` to `MEM_OFFLINE`
//!   (the pre-3.10 protocol) makes lockdep see
//!   `(memory_chain).rwsem -> ksm_thread_mutex -> (memory_chain).rwsem`.
//! * [`Ksm::wait_while_offlining`]: with the mutex held, while the bit is
//!   set, drop the mutex, `wait_on_bit()`, retake the mutex, look again.
//! * Every user that must not touch the stable tree while struct pages may
//!   vanish (ksmd's scan, the `run`, `merge_across_nodes` and
//!   `max_page_sharing` sysfs writers) enters through
//!   [`Ksm::lock_run_control`]: mutex + `wait_while_offlining()`.
//!
//! The kernel primitives sit behind one small trait, [`KsmPrimitives`]. In
//! the kernel (`feature = "kernel"` on a `target_os = "none"` target) they are
//! `extern "C"` calls to helpers in `mm/ksm_rust_glue.c` and an atomic word
//! owned by this crate (see [`kernel`]).  On the host, [`kernel`] is built
//! too, its helpers being the test doubles installed through [`host`]; the
//! tests also implement the trait directly with std or loom `Mutex` +
//! `Condvar`.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod kernel;

#[cfg(not(all(feature = "kernel", target_os = "none")))]
pub mod host;

/// ksmd does nothing.
pub const KSM_RUN_STOP: usize = 0;
/// ksmd scans and merges.
pub const KSM_RUN_MERGE: usize = 1;
/// ksmd stopped; all merged pages were unmerged.
pub const KSM_RUN_UNMERGE: usize = 2;
/// Set while memory is going offline (between `MEM_GOING_OFFLINE` and
/// `MEM_OFFLINE` / `MEM_CANCEL_OFFLINE`).
pub const KSM_RUN_OFFLINE: usize = 4;
/// `ilog2(KSM_RUN_OFFLINE)`: the bit number given to `wait_on_bit()` and
/// `wake_up_bit()`.
pub const KSM_RUN_OFFLINE_BIT: u32 = KSM_RUN_OFFLINE.trailing_zeros();

/// `include/linux/memory.h` notifier actions (Linux 6.1).  The header's
/// `(1<<0)` is written `1`: `1 >> 0` is the same number, a mutant no test
/// could tell apart.
pub const MEM_ONLINE: usize = 1;
/// See [`MEM_ONLINE`].
pub const MEM_GOING_OFFLINE: usize = 1 << 1;
/// See [`MEM_ONLINE`].
pub const MEM_OFFLINE: usize = 1 << 2;
/// See [`MEM_ONLINE`].
pub const MEM_GOING_ONLINE: usize = 1 << 3;
/// See [`MEM_ONLINE`].
pub const MEM_CANCEL_ONLINE: usize = 1 << 4;
/// See [`MEM_ONLINE`].
pub const MEM_CANCEL_OFFLINE: usize = 1 << 5;

/// `include/linux/notifier.h`: "Suits me".
pub const NOTIFY_OK: i32 = 0x0001;

/// `EINVAL`, returned (negated) for a `run` value above [`KSM_RUN_UNMERGE`].
pub const EINVAL: i32 = 22;

/// A memory notifier action, decoded from the raw `unsigned long`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryAction {
    /// `MEM_ONLINE`
    Online,
    /// `MEM_GOING_OFFLINE`
    GoingOffline,
    /// `MEM_OFFLINE`
    Offline,
    /// `MEM_GOING_ONLINE`
    GoingOnline,
    /// `MEM_CANCEL_ONLINE`
    CancelOnline,
    /// `MEM_CANCEL_OFFLINE`
    CancelOffline,
    /// Anything else (ignored, like the C `switch` did).
    Other(usize),
}

impl MemoryAction {
    /// Decodes a raw notifier action.
    pub const fn from_raw(action: usize) -> Self {
        match action {
            MEM_ONLINE => Self::Online,
            MEM_GOING_OFFLINE => Self::GoingOffline,
            MEM_OFFLINE => Self::Offline,
            MEM_GOING_ONLINE => Self::GoingOnline,
            MEM_CANCEL_ONLINE => Self::CancelOnline,
            MEM_CANCEL_OFFLINE => Self::CancelOffline,
            other => Self::Other(other),
        }
    }

    /// The raw notifier action.
    pub const fn raw(self) -> usize {
        match self {
            Self::Online => MEM_ONLINE,
            Self::GoingOffline => MEM_GOING_OFFLINE,
            Self::Offline => MEM_OFFLINE,
            Self::GoingOnline => MEM_GOING_ONLINE,
            Self::CancelOnline => MEM_CANCEL_ONLINE,
            Self::CancelOffline => MEM_CANCEL_OFFLINE,
            Self::Other(raw) => raw,
        }
    }
}

/// The kernel primitives the protocol needs, and nothing else.
///
/// In the kernel: `mutex_lock`/`mutex_unlock(&ksm_thread_mutex)`,
/// `READ_ONCE`/`WRITE_ONCE(ksm_run)`, `wait_on_bit(&ksm_run,
/// ilog2(KSM_RUN_OFFLINE), TASK_UNINTERRUPTIBLE)`, `wake_up_bit(&ksm_run,
/// ilog2(KSM_RUN_OFFLINE))` and `smp_mb()`.
pub trait KsmPrimitives {
    /// `mutex_lock(&ksm_thread_mutex)`; sleeps until the mutex is ours.
    fn mutex_lock(&self);
    /// `mutex_unlock(&ksm_thread_mutex)`; only by the holder.
    fn mutex_unlock(&self);
    /// `READ_ONCE(ksm_run)`.
    fn read_run(&self) -> usize;
    /// `WRITE_ONCE(ksm_run, run)`; only with `ksm_thread_mutex` held.
    fn write_run(&self, run: usize);
    /// `wait_on_bit(&ksm_run, KSM_RUN_OFFLINE_BIT, TASK_UNINTERRUPTIBLE)`:
    /// returns at once if the bit is clear, otherwise sleeps until a
    /// `wake_up_bit()` after the bit was cleared.
    fn wait_on_offline_bit(&self);
    /// `wake_up_bit(&ksm_run, KSM_RUN_OFFLINE_BIT)`.
    fn wake_up_offline_bit(&self);
    /// `smp_mb()`: orders the clearing store of the bit before
    /// `wake_up_bit()`'s unlocked `waitqueue_active()` check.
    fn smp_mb(&self);
}

/// Why a `run` write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStoreError<E> {
    /// The value is not one of STOP, MERGE, UNMERGE (`-EINVAL`).
    Invalid,
    /// Unmerging failed; `ksm_run` was set back to [`KSM_RUN_STOP`].
    Unmerge(E),
}

/// KSM's run control: the run word, the mutex and the offline lockout.
pub struct Ksm<P> {
    prims: P,
}

impl<P: KsmPrimitives> Ksm<P> {
    /// Wraps the primitives.
    pub const fn new(prims: P) -> Self {
        Self { prims }
    }

    /// The primitives (tests inspect them).
    pub fn primitives(&self) -> &P {
        &self.prims
    }

    /// The memory notifier's locking and flag part (`ksm_memory_callback()`
    /// minus `ksm_check_stable_tree()`, which the C caller runs for
    /// `MEM_OFFLINE` before calling this).
    ///
    /// Never returns with `ksm_thread_mutex` held.
    pub fn memory_callback(&self, action: MemoryAction) -> i32 {
        match action {
            MemoryAction::GoingOffline => {
                // Prevent ksm_do_scan(), unmerge_and_remove_all_rmap_items()
                // and remove_all_stable_nodes() while memory is going
                // offline: it is unsafe for them to touch the stable tree
                // at this time.  The mutex only orders this against them;
                // it is dropped again at once, the flag does the lockout.
                self.prims.mutex_lock();
                let run = self.prims.read_run();
                self.prims.write_run(run | KSM_RUN_OFFLINE);
                self.prims.mutex_unlock();
            }
            MemoryAction::Offline | MemoryAction::CancelOffline => {
                self.prims.mutex_lock();
                let run = self.prims.read_run();
                self.prims.write_run(run & !KSM_RUN_OFFLINE);
                self.prims.mutex_unlock();

                self.prims.smp_mb(); // wake_up_bit advises this
                self.prims.wake_up_offline_bit();
            }
            _ => {}
        }
        NOTIFY_OK
    }

    /// `wait_while_offlining()`: called with `ksm_thread_mutex` held; returns
    /// with it held and `KSM_RUN_OFFLINE` clear.
    pub fn wait_while_offlining(&self) {
        while self.prims.read_run() & KSM_RUN_OFFLINE != 0 {
            self.prims.mutex_unlock();
            self.prims.wait_on_offline_bit();
            self.prims.mutex_lock();
        }
    }

    /// Takes `ksm_thread_mutex` and waits out any offlining: the entry of
    /// every user that must not touch the stable tree while memory goes
    /// offline.  The guard drops the mutex.
    pub fn lock_run_control(&self) -> RunControl<'_, P> {
        self.prims.mutex_lock();
        self.wait_while_offlining();
        RunControl { ksm: self }
    }

    /// `run_show()`: the raw word, read once without the mutex, as the C
    /// code printed it (so `5` = MERGE while offlining is visible).
    pub fn run_show(&self) -> usize {
        self.prims.read_run()
    }

    /// `run_store()` minus parsing: STOP, MERGE or UNMERGE.  `unmerge` is
    /// `unmerge_and_remove_all_rmap_items()` (with the OOM-origin marking),
    /// called under the mutex, outside any offlining, after `ksm_run` was
    /// set to UNMERGE; when it fails, `ksm_run` is set back to STOP.
    pub fn run_store<E>(
        &self,
        flags: usize,
        unmerge: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), RunStoreError<E>> {
        if flags > KSM_RUN_UNMERGE {
            return Err(RunStoreError::Invalid);
        }
        let ctl = self.lock_run_control();
        if ctl.run() != flags {
            ctl.set_run(flags);
            if flags & KSM_RUN_UNMERGE != 0 {
                if let Err(e) = unmerge() {
                    ctl.set_run(KSM_RUN_STOP);
                    return Err(RunStoreError::Unmerge(e));
                }
            }
        }
        Ok(())
    }

    /// One pass of ksmd's loop body: under the run control, scan if
    /// `should_run(run)` says so.  Returns whether it scanned.
    pub fn ksmd_scan_once(
        &self,
        should_run: impl FnOnce(usize) -> bool,
        scan: impl FnOnce(),
    ) -> bool {
        let ctl = self.lock_run_control();
        if should_run(ctl.run()) {
            scan();
            true
        } else {
            false
        }
    }

    /// Runs `f` under the run control (the `merge_across_nodes` and
    /// `max_page_sharing` writers).
    pub fn with_run_control<R>(&self, f: impl FnOnce(&RunControl<'_, P>) -> R) -> R {
        let ctl = self.lock_run_control();
        f(&ctl)
    }
}

/// Proof that `ksm_thread_mutex` is held and no offlining is in progress
/// (none can start: `MEM_GOING_OFFLINE` needs the mutex to set the bit).
/// Dropping it unlocks the mutex.
pub struct RunControl<'a, P: KsmPrimitives> {
    ksm: &'a Ksm<P>,
}

impl<'a, P: KsmPrimitives> RunControl<'a, P> {
    /// The run state (never has [`KSM_RUN_OFFLINE`] here).
    pub fn run(&self) -> usize {
        self.ksm.prims.read_run()
    }

    /// Sets the run state: STOP, MERGE or UNMERGE.
    pub fn set_run(&self, run: usize) {
        debug_assert!(run <= KSM_RUN_UNMERGE);
        debug_assert!(self.ksm.prims.read_run() & KSM_RUN_OFFLINE == 0);
        self.ksm.prims.write_run(run & !KSM_RUN_OFFLINE);
    }

    /// Keeps the mutex held past this guard (for the C entry points, where
    /// lock and unlock are two calls).  Pair with [`RunControl::from_raw`].
    pub fn into_raw(self) {
        core::mem::forget(self);
    }

    /// Re-creates the guard of an earlier [`RunControl::into_raw`].
    ///
    /// # Safety
    /// The caller must hold the run control taken by
    /// [`Ksm::lock_run_control`] + [`RunControl::into_raw`] on this `ksm`,
    /// and must not use it through any other guard.
    pub unsafe fn from_raw(ksm: &'a Ksm<P>) -> Self {
        Self { ksm }
    }
}

impl<P: KsmPrimitives> Drop for RunControl<'_, P> {
    fn drop(&mut self) {
        self.ksm.prims.mutex_unlock();
    }
}
