//! The kernel layer (`src/kernel.rs`) on the host: every exported
//! `rust_ksm_*` function and the `rust_ksm_run` symbol, reached by symbol
//! name (`common::ksm_rust_h`) and called in the sequences the patched
//! `mm/ksm.c` uses, over std doubles of the `ksm_glue_*` helpers.
//!
//! The doubles log each helper call with the run word as it is at that
//! moment: `(Lock, 1), (Unlock, 5)` says the word went from MERGE to
//! MERGE|OFFLINE between taking and dropping `ksm_thread_mutex`, which is
//! the rule ("written only under the mutex") as C observes it.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::std_flavor::*;
use common::Event::{self, *};
use common::{boot_run, c, ffi_serial, ksm_rust_h};
use linux::*;
use rust_ksm::kernel::rust_ksm_run;

/// The numbers mm/ksm.c passes and expects, from the kernel headers, not
/// from the crate: a constant that is wrong on the Rust side must show up
/// here as it would in the kernel.
mod linux {
    // mm/ksm_rust.h (the old mm/ksm.c defines)
    pub const KSM_RUN_STOP: usize = 0;
    pub const KSM_RUN_MERGE: usize = 1;
    pub const KSM_RUN_UNMERGE: usize = 2;
    pub const KSM_RUN_OFFLINE: usize = 4;
    /// ilog2(KSM_RUN_OFFLINE), for wait_on_bit() / wake_up_bit()
    pub const KSM_RUN_OFFLINE_BIT: i32 = 2;
    // include/linux/memory.h
    pub const MEM_ONLINE: usize = 1 << 0;
    pub const MEM_GOING_OFFLINE: usize = 1 << 1;
    pub const MEM_OFFLINE: usize = 1 << 2;
    pub const MEM_GOING_ONLINE: usize = 1 << 3;
    pub const MEM_CANCEL_ONLINE: usize = 1 << 4;
    pub const MEM_CANCEL_OFFLINE: usize = 1 << 5;
    // include/linux/notifier.h, include/uapi/asm-generic/errno-base.h
    pub const NOTIFY_OK: i32 = 0x0001;
    pub const EINVAL: i32 = 22;
    pub const ENOMEM: i32 = 12;
}

/// How long something that should happen at once may take before the test
/// calls it lost (generous for a loaded machine, short for a mutant that
/// makes a task wait forever).
const PATIENCE: Duration = Duration::from_secs(5);

/// The kernel layer booted for one test: the globals are ours until drop.
struct Kernel {
    // Dropped first: uninstalls the double before the next test may run.
    k: Ffi,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Kernel {
    type Target = Ffi;
    fn deref(&self) -> &Ffi {
        &self.k
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // Every test also leaves the kernel as it found it: no rule broken
        // inside a call, the mutex free, nobody asleep on the bit.
        if !std::thread::panicking() {
            self.k.ghost().assert_clean();
            assert!(!self.k.mutex_is_locked(), "test ended with the mutex held");
            assert_eq!(self.k.bit_waiters(), 0);
        }
    }
}

fn kernel(run: usize) -> Kernel {
    kernel_with(run, FfiGlue::new())
}

fn kernel_with(run: usize, glue: FfiGlue) -> Kernel {
    let serial = ffi_serial();
    Kernel {
        k: Ffi::boot(run, glue.with_log()),
        _serial: serial,
    }
}

fn log(k: &Kernel) -> Vec<(Event, usize)> {
    k.glue.take_log()
}

/// Waits (bounded) until `n` tasks sleep in wait_on_bit(); fails at once if
/// a message arrives on `rx` first (someone got past the lockout).
fn wait_for_sleepers<T: std::fmt::Debug>(k: &Kernel, n: usize, rx: &mpsc::Receiver<T>) {
    let t0 = Instant::now();
    while k.bit_waiters() != n {
        if let Ok(m) = rx.try_recv() {
            panic!("got past the lockout while memory goes offline: {m:?}");
        }
        assert!(t0.elapsed() < PATIENCE, "no task went to sleep on the bit");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// For tests whose threads sleep on the bit inside `thread::scope`: if the
/// test fails before it ends the offline, end it here (behind the back of
/// the code under test), so that the scope's join sees the first failure
/// rather than sleepers that never wake.
struct WakeSleepersOnPanic;

impl Drop for WakeSleepersOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            rust_ksm_run.fetch_and(!KSM_RUN_OFFLINE, Ordering::SeqCst);
            rust_ksm::host::ksm_glue_smp_mb();
            rust_ksm::host::ksm_glue_wake_up_bit(rust_ksm_run.as_ptr().cast(), KSM_RUN_OFFLINE_BIT);
        }
    }
}

const GOING: usize = MEM_GOING_OFFLINE;
const STATES: [usize; 3] = [KSM_RUN_STOP, KSM_RUN_MERGE, KSM_RUN_UNMERGE];

#[test]
fn run_word_is_exported_by_name_and_stop_at_boot() {
    assert_eq!(
        boot_run(),
        KSM_RUN_STOP,
        "ksm_run must be KSM_RUN_STOP at boot"
    );
    let k = kernel(KSM_RUN_MERGE);
    // The kprobe fetcharg `+0(@rust_ksm_run):u64` resolves this symbol: it
    // must be the very word the Rust side reads and writes...
    let by_name = std::ptr::addr_of!(ksm_rust_h::RUST_KSM_RUN_BY_NAME);
    assert_eq!(by_name, std::ptr::addr_of!(rust_ksm_run));
    // ...and a u64 / unsigned long in size and alignment on the 64-bit
    // targets the kernel object is built for.
    assert_eq!(std::mem::size_of_val(&rust_ksm_run), 8);
    assert_eq!(std::mem::align_of_val(&rust_ksm_run), 8);
    assert_eq!(c::memory_callback(GOING), NOTIFY_OK);
    let seen = unsafe { ksm_rust_h::RUST_KSM_RUN_BY_NAME.load(Ordering::SeqCst) };
    assert_eq!(seen, KSM_RUN_MERGE | KSM_RUN_OFFLINE);
    c::memory_callback(MEM_OFFLINE);
    drop(k);
}

#[test]
fn going_offline_sets_the_bit_under_the_mutex_and_drops_it() {
    for run in STATES {
        let k = kernel(run);
        assert_eq!(c::memory_callback(GOING), NOTIFY_OK);
        assert_eq!(log(&k), [(Lock, run), (Unlock, run | KSM_RUN_OFFLINE)]);
        assert!(
            !k.mutex_is_locked(),
            "MEM_GOING_OFFLINE must not return with the mutex held"
        );
        assert_eq!(c::run_show(), run | KSM_RUN_OFFLINE);
        // `ksm_run |= KSM_RUN_OFFLINE`: setting it again leaves it set.
        c::memory_callback(GOING);
        assert_eq!(c::get_run(), run | KSM_RUN_OFFLINE);
        c::memory_callback(MEM_CANCEL_OFFLINE);
    }
}

#[test]
fn offline_and_cancel_clear_the_bit_then_mb_then_wake() {
    for action in [MEM_OFFLINE, MEM_CANCEL_OFFLINE] {
        for run in STATES {
            let k = kernel(run);
            c::memory_callback(GOING);
            log(&k);
            assert_eq!(c::memory_callback(action), NOTIFY_OK);
            // Cleared under the mutex, mutex dropped, smp_mb(), then
            // wake_up_bit() on &rust_ksm_run, bit 2 (the double checks
            // the arguments).
            assert_eq!(
                log(&k),
                [
                    (Lock, run | KSM_RUN_OFFLINE),
                    (Unlock, run),
                    (Mb, run),
                    (WakeUpBit, run)
                ]
            );
            assert_eq!(c::run_show(), run);
            // Clearing a clear bit changes nothing (a MEM_CANCEL_OFFLINE
            // for an offline KSM never saw is harmless).
            c::memory_callback(action);
            assert_eq!(c::run_show(), run);
        }
    }
}

#[test]
fn other_memory_actions_do_nothing() {
    let k = kernel(KSM_RUN_MERGE);
    for during_offline in [false, true] {
        if during_offline {
            c::memory_callback(GOING);
            log(&k);
        }
        let run = c::get_run();
        for action in [
            MEM_ONLINE,
            MEM_GOING_ONLINE,
            MEM_CANCEL_ONLINE,
            0,
            64,
            MEM_GOING_OFFLINE | MEM_OFFLINE,
            1 << 40,
            usize::MAX,
        ] {
            assert_eq!(c::memory_callback(action), NOTIFY_OK, "action {action:#x}");
            assert_eq!(log(&k), [], "action {action:#x}");
            assert_eq!(c::get_run(), run, "action {action:#x}");
        }
    }
    c::memory_callback(MEM_OFFLINE);
}

#[test]
fn run_show_and_get_run_read_the_word_as_is() {
    let k = kernel(KSM_RUN_STOP);
    for word in [0, 1, 2, 5, 6, usize::MAX >> 1] {
        rust_ksm_run.store(word, Ordering::SeqCst);
        assert_eq!((c::run_show(), c::get_run()), (word, word));
    }
    // Lockless readers: no mutex, no other helper.
    assert_eq!(log(&k), []);
    rust_ksm_run.store(KSM_RUN_STOP, Ordering::SeqCst);
}

#[test]
fn run_control_lock_holds_the_mutex_until_unlock() {
    for run in STATES {
        let k = kernel(run);
        c::run_control_lock();
        assert!(k.mutex_is_locked());
        assert_eq!(c::get_run(), run);
        // The bit is clear, so no wait_on_bit(): just the mutex.
        assert_eq!(log(&k), [(Lock, run)]);
        c::run_control_unlock();
        assert!(!k.mutex_is_locked());
        assert_eq!(log(&k), [(Unlock, run)]);
    }
}

/// ksmd, merge_across_nodes and max_page_sharing: `rust_ksm_run_control_lock()`
/// sleeps on the bit without the mutex, and returns with the mutex held and
/// the bit clear once MEM_OFFLINE or MEM_CANCEL_OFFLINE comes.
#[test]
fn run_control_lock_waits_out_an_offline_without_holding_the_mutex() {
    for end in [MEM_OFFLINE, MEM_CANCEL_OFFLINE] {
        let k = kernel(KSM_RUN_MERGE);
        c::memory_callback(GOING);
        log(&k);
        let (tx, rx) = mpsc::channel();
        let t = spawn(move || {
            c::run_control_lock();
            tx.send(c::get_run()).unwrap();
            c::run_control_unlock();
        });
        wait_for_sleepers(&k, 1, &rx);
        assert!(
            !k.mutex_is_locked(),
            "asleep on the bit with the mutex held"
        );
        assert_eq!(
            log(&k),
            [
                (Lock, KSM_RUN_MERGE | KSM_RUN_OFFLINE),
                (Unlock, KSM_RUN_MERGE | KSM_RUN_OFFLINE),
                (WaitOnBit, KSM_RUN_MERGE | KSM_RUN_OFFLINE)
            ]
        );
        c::memory_callback(end);
        assert_eq!(rx.recv_timeout(PATIENCE), Ok(KSM_RUN_MERGE));
        t.join().unwrap();
        assert_eq!(c::get_run(), KSM_RUN_MERGE);
    }
}

/// The re-check: a waiter woken by the end of one offline finds the bit set
/// again by the next MEM_GOING_OFFLINE when it retakes the mutex, and must
/// sleep again.  The double runs that MEM_GOING_OFFLINE in the waiter's own
/// thread, after its wake-up and before its mutex_lock() (it holds no lock
/// then), which makes the race deterministic.
#[test]
fn run_control_lock_looks_again_after_retaking_the_mutex() {
    for (first, second) in [
        (MEM_OFFLINE, MEM_CANCEL_OFFLINE),
        (MEM_CANCEL_OFFLINE, MEM_OFFLINE),
    ] {
        let k = kernel(KSM_RUN_MERGE);
        c::memory_callback(GOING);
        let next_offline_began = std::sync::Arc::new(AtomicBool::new(false));
        {
            let began = next_offline_began.clone();
            k.glue.after_first_wake(move || {
                assert_eq!(c::memory_callback(GOING), NOTIFY_OK);
                began.store(true, Ordering::SeqCst);
            });
        }
        let (tx, rx) = mpsc::channel();
        let t = spawn(move || {
            c::run_control_lock();
            tx.send(c::get_run()).unwrap();
            c::run_control_unlock();
        });
        wait_for_sleepers(&k, 1, &rx);
        c::memory_callback(first);
        let t0 = Instant::now();
        while !(next_offline_began.load(Ordering::SeqCst) && k.bit_waiters() == 1) {
            if let Ok(run) = rx.try_recv() {
                panic!(
                    "{first:#x} then MEM_GOING_OFFLINE: got the run control with ksm_run = {run}"
                );
            }
            assert!(t0.elapsed() < PATIENCE, "waiter lost");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(c::get_run(), KSM_RUN_MERGE | KSM_RUN_OFFLINE);
        c::memory_callback(second);
        assert_eq!(rx.recv_timeout(PATIENCE), Ok(KSM_RUN_MERGE));
        t.join().unwrap();
        let waits = log(&k).iter().filter(|(e, _)| *e == WaitOnBit).count();
        assert_eq!(waits, 2, "the waiter must have slept once per offline");
    }
}

/// `rust_ksm_wait_while_offlining()`: for a caller that already holds
/// ksm_thread_mutex (taken here with the C helper itself, as a C caller
/// inside the run control would hold it).
#[test]
fn wait_while_offlining_export() {
    let k = kernel(KSM_RUN_MERGE);
    // Not offlining: returns at once, mutex still held, nothing else done.
    c::run_control_lock();
    log(&k);
    c::wait_while_offlining();
    assert!(k.mutex_is_locked());
    assert_eq!(log(&k), []);
    c::run_control_unlock();

    // Offlining: drops the mutex while it sleeps, retakes it after.
    c::memory_callback(GOING);
    log(&k);
    let (tx, rx) = mpsc::channel();
    let t = spawn(move || {
        rust_ksm::host::ksm_glue_mutex_lock();
        c::wait_while_offlining();
        tx.send(c::get_run()).unwrap();
        rust_ksm::host::ksm_glue_mutex_unlock();
    });
    wait_for_sleepers(&k, 1, &rx);
    assert!(!k.mutex_is_locked());
    c::memory_callback(MEM_OFFLINE);
    assert_eq!(rx.recv_timeout(PATIENCE), Ok(KSM_RUN_MERGE));
    t.join().unwrap();
    assert_eq!(
        log(&k)[..4],
        [
            (Lock, KSM_RUN_MERGE | KSM_RUN_OFFLINE),
            (Unlock, KSM_RUN_MERGE | KSM_RUN_OFFLINE),
            (WaitOnBit, KSM_RUN_MERGE | KSM_RUN_OFFLINE),
            (Lock, KSM_RUN_MERGE | KSM_RUN_OFFLINE),
        ]
    );
}

#[test]
fn run_store_rejects_invalid_values_at_once() {
    let k = kernel(KSM_RUN_MERGE);
    // Even while offlining: the value is checked before the lock.
    c::memory_callback(GOING);
    log(&k);
    for flags in [3, 4, 5, 7, 8, u32::MAX] {
        assert_eq!(c::run_store(flags), -EINVAL, "flags {flags}");
    }
    assert_eq!(log(&k), []);
    assert_eq!(c::get_run(), KSM_RUN_MERGE | KSM_RUN_OFFLINE);
    assert_eq!(k.ghost().unmerges.load(Ordering::SeqCst), 0);
    c::memory_callback(MEM_OFFLINE);
}

#[test]
fn run_store_transitions() {
    for from in STATES {
        for to in STATES {
            let k = kernel(from);
            assert_eq!(c::run_store(to as u32), 0, "{from} -> {to}");
            assert_eq!(c::get_run(), to, "{from} -> {to}");
            // Unmerge only on a change to UNMERGE, under the mutex, with
            // the word already UNMERGE (the double checks the mutex).
            let want: Vec<(Event, usize)> = if from == to {
                vec![(Lock, from), (Unlock, from)]
            } else if to == KSM_RUN_UNMERGE {
                vec![(Lock, from), (Unmerge, to), (Unlock, to)]
            } else {
                vec![(Lock, from), (Unlock, to)]
            };
            assert_eq!(log(&k), want, "{from} -> {to}");
        }
    }
}

#[test]
fn run_store_unmerge_failure_returns_the_error_and_stops() {
    for from in [KSM_RUN_STOP, KSM_RUN_MERGE] {
        let k = kernel_with(from, FfiGlue::new().with_unmerge_result(-ENOMEM));
        assert_eq!(c::run_store(KSM_RUN_UNMERGE as u32), -ENOMEM);
        assert_eq!(c::get_run(), KSM_RUN_STOP);
        assert_eq!(
            log(&k),
            [
                (Lock, from),
                (Unmerge, KSM_RUN_UNMERGE),
                (Unlock, KSM_RUN_STOP)
            ]
        );
    }
}

/// ksm_init() without CONFIG_SYSFS: `rust_ksm_run_store(KSM_RUN_MERGE)`.
#[test]
fn ksm_init_without_sysfs_starts_merging() {
    let k = kernel(KSM_RUN_STOP);
    assert_eq!(c::run_store(KSM_RUN_MERGE as u32), 0);
    assert_eq!(c::run_show(), KSM_RUN_MERGE);
    assert_eq!(log(&k), [(Lock, KSM_RUN_STOP), (Unlock, KSM_RUN_MERGE)]);
}

/// ksmd, the run writer and a knob writer, each as mm/ksm.c runs them,
/// block during an offline and go on after MEM_OFFLINE or
/// MEM_CANCEL_OFFLINE, in whatever order they get the mutex.
#[test]
fn every_user_is_locked_out_until_offline_or_cancel() {
    for end in [MEM_OFFLINE, MEM_CANCEL_OFFLINE] {
        let k = kernel(KSM_RUN_MERGE);
        c::memory_callback(GOING);
        let ffi: &Ffi = &k;
        let (tx, rx) = mpsc::channel::<&'static str>();
        std::thread::scope(|s| {
            let _rescue = WakeSleepersOnPanic;
            let tx1 = tx.clone();
            s.spawn(move || {
                // Scans unless the writer below stopped KSM first.
                ksmd_iteration(ffi);
                tx1.send("ksmd").unwrap();
            });
            let tx2 = tx.clone();
            s.spawn(move || {
                assert_eq!(run_write(ffi, KSM_RUN_UNMERGE), Ok(()));
                tx2.send("run").unwrap();
            });
            let tx3 = tx.clone();
            s.spawn(move || {
                knob_write(ffi);
                tx3.send("knob").unwrap();
            });
            wait_for_sleepers(&k, 3, &rx);
            assert_eq!(
                c::run_show(),
                KSM_RUN_MERGE | KSM_RUN_OFFLINE,
                "the run state changed while offlining"
            );
            c::memory_callback(end);
            let mut done: Vec<_> = (0..3).map(|_| rx.recv_timeout(PATIENCE).unwrap()).collect();
            done.sort();
            assert_eq!(done, ["knob", "ksmd", "run"]);
        });
        assert_eq!(c::run_show(), KSM_RUN_UNMERGE);
        let g = k.ghost();
        assert_eq!(g.unmerges.load(Ordering::SeqCst), 1);
        assert_eq!(g.knob_writes.load(Ordering::SeqCst), 1);
    }
}

/// The run control held by one user: MEM_GOING_OFFLINE waits for the
/// mutex, so the bit never appears under a user's feet.
#[test]
fn going_offline_waits_for_a_holder_of_the_run_control() {
    let k = kernel(KSM_RUN_MERGE);
    c::run_control_lock();
    let (tx, rx) = mpsc::channel();
    let t = spawn(move || {
        c::memory_callback(GOING);
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "MEM_GOING_OFFLINE did not wait for the mutex"
    );
    assert_eq!(c::get_run(), KSM_RUN_MERGE);
    c::run_control_unlock();
    rx.recv_timeout(PATIENCE).unwrap();
    t.join().unwrap();
    assert_eq!(c::get_run(), KSM_RUN_MERGE | KSM_RUN_OFFLINE);
    c::memory_callback(MEM_OFFLINE);
    drop(k);
}

/// The slot the `ksm_glue_*` symbols dispatch through: each install
/// replaces (and hands back) the previous double, uninstall empties it.  A
/// double left installed would serve the next test's calls.
#[test]
fn glue_slot_install_and_uninstall() {
    use rust_ksm::host::{install, uninstall, Glue};
    let _serial = ffi_serial();
    let same = |a: &Option<std::sync::Arc<dyn Glue>>, b: &std::sync::Arc<FfiGlue>| {
        a.as_ref().is_some_and(|a| {
            std::ptr::addr_eq(std::sync::Arc::as_ptr(a), std::sync::Arc::as_ptr(b))
        })
    };
    let (a, b) = (
        std::sync::Arc::new(FfiGlue::new().with_log()),
        std::sync::Arc::new(FfiGlue::new().with_log()),
    );
    uninstall();
    assert!(install(a.clone()).is_none());
    assert!(same(&install(b.clone()), &a));
    assert!(same(&uninstall(), &b));
    assert!(uninstall().is_none());
    // What is installed is what the helpers call.
    install(a.clone());
    rust_ksm::host::ksm_glue_smp_mb();
    assert!(same(&uninstall(), &a));
    assert_eq!(
        a.take_log().iter().map(|(e, _)| *e).collect::<Vec<_>>(),
        [Mb]
    );
    assert_eq!(b.take_log(), []);
}
