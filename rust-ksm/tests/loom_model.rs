//! loom models of the offline lockout: every interleaving (up to a
//! preemption bound) of ksmd, sysfs writers and the memory hotplug path
//! (mem_hotplug_lock; MEM_GOING_OFFLINE then MEM_OFFLINE, or then
//! MEM_CANCEL_OFFLINE; each notification under the chain's rwsem).
//!
//! Two layers are modelled: the crate's `Ksm` on loom primitives (one
//! offline, ksmd and a `run` writer; with the pre-fix protocol and other
//! controls beside it), and the kernel layer, the exported `rust_ksm_*`
//! functions that mm/ksm.c calls, over loom doubles of the `ksm_glue_*`
//! helpers (two back-to-back offlines, one cancelled, ksmd, a `run` writer
//! and a tuning-knob writer: see the comment above `KERNEL_LAYER_CI_BOUND`).
//!
//! Asserted in every execution: ksmd never scans, no unmerge or knob write
//! runs, and no writer changes the run state, while KSM_RUN_OFFLINE is set or
//! memory is going offline; the bit is clear after each offline and at the
//! end, nobody is left sleeping on it, the writer's value stands; nothing
//! deadlocks and no wake-up is lost (loom fails an execution in which every
//! thread is blocked); and the lock-order recorder sees no cycle (the
//! pre-fix protocol: the classic one, in every execution).
//!
//! Uses loom types directly: no `--cfg loom`.  LOOM_MAX_PREEMPTIONS
//! overrides the bounds.  Each model prints its number of executions (see
//! them with `-- --nocapture`).

mod common;

use common::loom_flavor::*;
use common::{ffi_serial, show_cycle, LockOrder, KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM};
use rust_ksm::host::{ksm_glue_mutex_lock, ksm_glue_mutex_unlock, ksm_glue_wait_on_bit};
use rust_ksm::*;

/// Preemption bound of the crate's protocol models (a few seconds each in
/// a debug build); the controls use 2.
const CRATE_PREEMPTION_BOUND: usize = 3;
const CONTROL_PREEMPTION_BOUND: usize = 2;

fn builder(bound: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    b
}

#[derive(Clone, Copy, PartialEq)]
enum Expect {
    NoCycle,
    ClassicCycle,
}

/// Who runs in one model.  The hotplug path is the model's main thread;
/// ksmd and each writer get a thread of their own.
#[derive(Clone, Copy)]
struct Scenario {
    /// Offlines run back to back by the hotplug thread (mem_hotplug_lock
    /// taken anew for each), `true` = cancelled (MEM_CANCEL_OFFLINE).
    offlines: &'static [bool],
    /// ksmd loop passes.
    ksmd_iters: usize,
    /// A sysfs `run` writer: MERGE -> UNMERGE (so its unmerge runs).
    run_writer: bool,
    /// A sysfs merge_across_nodes / max_page_sharing writer.
    knob_writer: bool,
}

impl Scenario {
    /// The first model: one offline, ksmd and a `run` writer.
    const fn single(cancel: bool, ksmd_iters: usize) -> Self {
        Self {
            offlines: if cancel { &[true] } else { &[false] },
            ksmd_iters,
            run_writer: true,
            knob_writer: false,
        }
    }
}

/// Runs `sc` on the protocol `make` builds, in every interleaving with at
/// most `bound` preemptions; returns the number of executions.
fn model<K: Protocol>(
    bound: usize,
    make: fn(std::sync::Arc<LockOrder>) -> K,
    sc: Scenario,
    expect: Expect,
) -> usize {
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = executions.clone();
    let t0 = std::time::Instant::now();
    builder(bound).check(move || {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ld = std::sync::Arc::new(LockOrder::new(thread_key));
        // A std Arc: loom's would add a scheduling point at each clone and
        // drop, none of which is part of the protocol.
        let k = std::sync::Arc::new(make(ld.clone()));
        let hp = Hotplug::new(Some(ld.clone()));

        let mut threads = Vec::new();
        if sc.ksmd_iters > 0 {
            let k = k.clone();
            threads.push(spawn(move || {
                for _ in 0..sc.ksmd_iters {
                    ksmd_iteration(&*k);
                }
            }));
        }
        if sc.run_writer {
            let k = k.clone();
            threads.push(spawn(move || run_write(&*k, KSM_RUN_UNMERGE).unwrap()));
        }
        if sc.knob_writer {
            let k = k.clone();
            threads.push(spawn(move || knob_write(&*k)));
        }
        for &cancel in sc.offlines {
            hp.offline(&*k, cancel);
        }
        for t in threads {
            t.join().unwrap();
        }

        let want = if sc.run_writer {
            KSM_RUN_UNMERGE
        } else {
            KSM_RUN_MERGE
        };
        assert_eq!(
            k.run_now(),
            want,
            "the writer's value must stand, without KSM_RUN_OFFLINE"
        );
        assert_eq!(k.bit_waiters(), 0);
        assert!(!k.mutex_is_locked());
        let g = k.ghost();
        g.assert_clean();
        assert_eq!(g.unmerges.load(Ordering::SeqCst), sc.run_writer as usize);
        assert_eq!(
            g.knob_writes.load(Ordering::SeqCst),
            sc.knob_writer as usize
        );
        match (expect, ld.find_cycle()) {
            (Expect::NoCycle, None) => {}
            (Expect::ClassicCycle, Some(c)) => {
                assert_eq!(
                    c,
                    [MEMORY_CHAIN_RWSEM, KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM],
                    "{}",
                    show_cycle(&c)
                )
            }
            (_, c) => panic!("lock-order cycle: {:?}", c.map(|c| show_cycle(&c))),
        }
    });
    let n = executions.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "loom: bound {bound}, {} offline(s), {} ksmd pass(es), run writer {}, knob writer {}: {n} executions in {:.1?}",
        sc.offlines.len(),
        sc.ksmd_iters,
        sc.run_writer,
        sc.knob_writer,
        t0.elapsed()
    );
    n
}

fn crate_protocol(ld: std::sync::Arc<LockOrder>) -> Ksm<HostPrimitives> {
    Ksm::new(HostPrimitives::new(KSM_RUN_MERGE).with_lockdep(ld))
}

fn pre_fix(ld: std::sync::Arc<LockOrder>) -> PreFix {
    PreFix(HostPrimitives::new(KSM_RUN_MERGE).with_lockdep(ld))
}

#[test]
fn crate_protocol_offline() {
    model(
        CRATE_PREEMPTION_BOUND,
        crate_protocol,
        Scenario::single(false, 2),
        Expect::NoCycle,
    );
}

#[test]
fn crate_protocol_cancelled_offline() {
    model(
        CRATE_PREEMPTION_BOUND,
        crate_protocol,
        Scenario::single(true, 2),
        Expect::NoCycle,
    );
}

/// The pre-3.10 protocol is just as safe (mem_hotplug_lock serializes the
/// dance, as the commit says) -- only lockdep objects to it.
#[test]
fn pre_fix_protocol_is_safe_but_forms_the_cycle() {
    for cancel in [false, true] {
        model(
            CONTROL_PREEMPTION_BOUND,
            pre_fix,
            Scenario::single(cancel, 2),
            Expect::ClassicCycle,
        );
    }
}

/// Negative control: a ksmd without wait_while_offlining() is caught.
#[test]
#[should_panic(expected = "ksmd scans")]
fn model_catches_a_ksmd_without_the_lockout() {
    model(
        CONTROL_PREEMPTION_BOUND,
        |ld| NoLockout(crate_protocol(ld)),
        Scenario::single(false, 1),
        Expect::NoCycle,
    );
}

/// The `smp_mb()` between clearing the bit and `wake_up_bit()` ("wake_up_bit
/// advises this") is needed: without it the waker's unlocked
/// `waitqueue_active()` check may miss a ksmd that is just going to sleep
/// on the bit, and loom finds the lost wake-up (every thread blocked).
/// loom aborts the process on that deadlock (a panic while unwinding), so
/// the model runs in a child process: see the test below.
#[test]
#[ignore = "run in a child process by smp_mb_is_needed_against_a_lost_wakeup"]
fn child_model_without_smp_mb() {
    if std::env::var_os("RUST_KSM_LOOM_CHILD").is_none() {
        return; // only meaningful (and only safe) in the child
    }
    model(
        CONTROL_PREEMPTION_BOUND,
        |ld| {
            Ksm::new(
                HostPrimitives::new(KSM_RUN_MERGE)
                    .with_lockdep(ld)
                    .without_smp_mb(),
            )
        },
        Scenario::single(false, 1),
        Expect::NoCycle,
    );
}

#[test]
fn smp_mb_is_needed_against_a_lost_wakeup() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_model_without_smp_mb",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RUST_KSM_LOOM_CHILD", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("running 1 test"),
        "child ran no test:\n{stdout}\n{stderr}"
    );
    assert!(
        !out.status.success(),
        "loom found no lost wake-up without smp_mb():\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("deadlock"),
        "child failed, but not with a deadlock:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// The kernel layer: the exported rust_ksm_* functions (src/kernel.rs, called
// by symbol name as mm/ksm.c calls them) over loom doubles of the ksm_glue_*
// helpers, on the real `rust_ksm_run`.
//
// The model: the hotplug thread runs two offlines back to back, one of them
// cancelled, while ksmd (one pass), a sysfs `run` writer (MERGE -> UNMERGE,
// so its unmerge runs) and a merge_across_nodes/max_page_sharing writer
// each enter the run control once.  Every execution asserts what the model
// of the crate protocol asserts (no scan, unmerge or knob body while memory
// goes offline or KSM_RUN_OFFLINE is set; the run word unchanged across the
// window; the bit clear after each offline and at the end; nobody left on
// the bit; the writer's value stands; no lock-order cycle; no deadlock or
// lost wake-up, which loom reports), plus the glue's own checks (unlock
// only by the holder, no wait_on_bit with the mutex held, unmerge under the
// mutex, the word and bit handed to C are &rust_ksm_run and 2).
//
// Bounds, and why they are enough:
// * Threads: one of each kind of user, plus the hotplug thread (4 of the 5
//   loom allows).  All three users enter through the same
//   rust_ksm_run_control_lock() (the run writer through run_store's own
//   lock_run_control()); they differ only in what they do inside, so a
//   second user of a kind adds interleavings of identical code.
// * Offlines: two.  What one offline cannot show is a user woken by the end
//   of one offline (MEM_OFFLINE or MEM_CANCEL_OFFLINE) while the next
//   MEM_GOING_OFFLINE sets the bit again before that user retakes the
//   mutex: the reason wait_while_offlining() must loop.  Two offlines give
//   that transition; both orders are run, so each end action is followed by
//   a new offline.  A third repeats a transition already there, at about
//   16x the executions (730k at bound 1).
// * Passes: one each.  A second ksmd pass (about +10% executions) only
//   re-enters the same lock after the user's own unlock.
// * Preemptions: loom explores every interleaving in which at most `bound`
//   times a runnable thread is switched out; switches at blocking (mutex,
//   wait queue) and at yields are free and unbounded.  The glue yields
//   where the kernel may reschedule on its own: the migration window of
//   offline_pages() and a woken waiter's way to mutex_lock() (might_sleep()).
//   CI runs bound 1: 44,762 executions per order, 4-6 s each on 2 shared
//   cores in the dev profile.  It catches the `while` -> `if` mutant of
//   wait_while_offlining() (the control below keeps that true), a no-op
//   rust_ksm_memory_callback() and a bare-mutex rust_ksm_run_control_lock().
//   Bound 0 would not do: without a preemption loom runs one schedule.  The
//   exhaustive run is bound 2: 2,589,178 executions per order, 5-6 min
//   each (11 min for both on a loaded 2-core box): `cargo test -p rust-ksm
//   --test loom_model -- --ignored kernel_layer_exhaustive`.  Going from
//   bound 1 to 2 multiplied the executions by 58; bound 3 would take hours.
//   LOOM_MAX_PREEMPTIONS overrides both.

/// CI's preemption bound for the kernel-layer model (see above).
const KERNEL_LAYER_CI_BOUND: usize = 1;
/// The exhaustive run's.
const KERNEL_LAYER_EXHAUSTIVE_BOUND: usize = 2;

fn kernel_layer(ld: std::sync::Arc<LockOrder>) -> Ffi {
    Ffi::boot(KSM_RUN_MERGE, FfiGlue::new().with_lockdep(ld))
}

const fn back_to_back(offlines: &'static [bool]) -> Scenario {
    Scenario {
        offlines,
        ksmd_iters: 1,
        run_writer: true,
        knob_writer: true,
    }
}

/// MEM_OFFLINE, then an offline that is cancelled.
const OFFLINE_THEN_CANCELLED: Scenario = back_to_back(&[false, true]);
/// MEM_CANCEL_OFFLINE, then an offline that completes.
const CANCELLED_THEN_OFFLINE: Scenario = back_to_back(&[true, false]);

#[test]
fn kernel_layer_offline_then_cancelled_offline() {
    let _serial = ffi_serial();
    model(
        KERNEL_LAYER_CI_BOUND,
        kernel_layer,
        OFFLINE_THEN_CANCELLED,
        Expect::NoCycle,
    );
}

#[test]
fn kernel_layer_cancelled_offline_then_offline() {
    let _serial = ffi_serial();
    model(
        KERNEL_LAYER_CI_BOUND,
        kernel_layer,
        CANCELLED_THEN_OFFLINE,
        Expect::NoCycle,
    );
}

#[test]
#[ignore = "exhaustive at preemption bound 2: about 11 min"]
fn kernel_layer_exhaustive() {
    let _serial = ffi_serial();
    for sc in [OFFLINE_THEN_CANCELLED, CANCELLED_THEN_OFFLINE] {
        model(
            KERNEL_LAYER_EXHAUSTIVE_BOUND,
            kernel_layer,
            sc,
            Expect::NoCycle,
        );
    }
}

/// The kernel layer's run control with the `while` of
/// wait_while_offlining() made an `if`: the glue calls that
/// rust_ksm_run_control_lock() makes, in its order, minus the re-check
/// after retaking the mutex.  The notifier is the real one.
struct NoRecheck(Ffi);

impl NoRecheck {
    fn lock(&self) {
        ksm_glue_mutex_lock();
        if run_word() & KSM_RUN_OFFLINE != 0 {
            ksm_glue_mutex_unlock();
            ksm_glue_wait_on_bit(
                rust_ksm::kernel::rust_ksm_run.as_ptr().cast(),
                KSM_RUN_OFFLINE_BIT as std::ffi::c_int,
            );
            ksm_glue_mutex_lock();
        }
    }
}

impl Protocol for NoRecheck {
    fn ghost(&self) -> &Ghost {
        self.0.ghost()
    }
    fn run_now(&self) -> usize {
        self.0.run_now()
    }
    fn bit_waiters(&self) -> usize {
        self.0.bit_waiters()
    }
    fn mutex_is_locked(&self) -> bool {
        self.0.mutex_is_locked()
    }
    fn memory_callback(&self, action: MemoryAction) {
        self.0.memory_callback(action)
    }
    fn ksmd_scan_once(&self, should_run: impl FnOnce(usize) -> bool, scan: impl FnOnce()) -> bool {
        self.lock();
        let scanned = should_run(run_word());
        if scanned {
            scan();
        }
        ksm_glue_mutex_unlock();
        scanned
    }
    fn run_store(&self, flags: usize) -> Result<(), RunStoreError<i32>> {
        self.lock();
        if run_word() != flags {
            rust_ksm::kernel::rust_ksm_run.store(flags, std::sync::atomic::Ordering::Relaxed);
            if flags & KSM_RUN_UNMERGE != 0 {
                self.ghost().unmerge().unwrap();
            }
        }
        ksm_glue_mutex_unlock();
        Ok(())
    }
    fn knob_store(&self, body: impl FnOnce()) {
        self.lock();
        body();
        ksm_glue_mutex_unlock();
    }
}

/// Negative control: at CI's bound, the model catches a run control that
/// does not look at the bit again after retaking the mutex, in either
/// order of the offlines.  (A stress test caught this 22 times in 30; the
/// first loom model, one offline, never.)
#[test]
fn kernel_layer_model_catches_a_missing_recheck() {
    let _serial = ffi_serial();
    for sc in [OFFLINE_THEN_CANCELLED, CANCELLED_THEN_OFFLINE] {
        let caught = std::panic::catch_unwind(|| {
            model(
                KERNEL_LAYER_CI_BOUND,
                |ld| NoRecheck(kernel_layer(ld)),
                sc,
                Expect::NoCycle,
            )
        });
        let err = caught.expect_err("no-recheck run control passed the model");
        let msg = err
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| err.downcast_ref::<&str>().copied())
            .unwrap_or("");
        assert!(
            msg.contains("while memory goes offline") || msg.contains("while memory went offline"),
            "caught, but not by the lockout checks: {msg}"
        );
    }
}
