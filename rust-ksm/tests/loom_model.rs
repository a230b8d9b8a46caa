//! loom model of the offline lockout: every interleaving (up to the
//! preemption bound) of ksmd, a `run` writer and the memory hotplug path
//! (mem_hotplug_lock; MEM_GOING_OFFLINE then MEM_OFFLINE, or then
//! MEM_CANCEL_OFFLINE; each notification under the chain's rwsem).
//!
//! Asserted in every execution: ksmd never scans, and no writer changes the
//! run state, while KSM_RUN_OFFLINE is set or memory is going offline; the
//! bit is clear at the end, nobody is left sleeping on it, the writer's value
//! stands; nothing deadlocks and no wake-up is lost (loom fails an execution
//! in which every thread is blocked); and the lock-order recorder sees no
//! cycle (the pre-fix protocol: the classic one, in every execution).
//!
//! Uses loom types directly: no `--cfg loom`.  LOOM_MAX_PREEMPTIONS
//! overrides the default bound.

mod common;

use common::loom_flavor::*;
use common::{show_cycle, LockOrder, KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM};
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

/// ksmd (`ksmd_iters` loop passes) and a writer (`run` = UNMERGE) on their
/// own threads, the hotplug path on the model's main thread.
fn model<K: Protocol>(
    bound: usize,
    make: fn(HostPrimitives) -> K,
    cancel: bool,
    ksmd_iters: usize,
    expect: Expect,
) {
    builder(bound).check(move || {
        let ld = std::sync::Arc::new(LockOrder::new(thread_key));
        let k = Arc::new(make(
            HostPrimitives::new(KSM_RUN_MERGE).with_lockdep(ld.clone()),
        ));
        let hp = Hotplug::new(Some(ld.clone()));

        let ksmd = {
            let k = k.clone();
            spawn(move || {
                for _ in 0..ksmd_iters {
                    ksmd_iteration(&*k);
                }
            })
        };
        let writer = {
            let k = k.clone();
            spawn(move || run_write(&*k, KSM_RUN_UNMERGE).unwrap())
        };
        hp.offline(&*k, cancel);
        ksmd.join().unwrap();
        writer.join().unwrap();

        let p = k.prims();
        assert_eq!(
            p.run_now(),
            KSM_RUN_UNMERGE,
            "the writer's value must stand, without KSM_RUN_OFFLINE"
        );
        assert_eq!(p.bit_waiters(), 0);
        assert!(!p.mutex_is_locked());
        assert_eq!(p.ghost.unmerges.load(Ordering::SeqCst), 1);
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
}

fn crate_protocol(p: HostPrimitives) -> Ksm<HostPrimitives> {
    Ksm::new(p)
}

#[test]
fn crate_protocol_offline() {
    model(
        CRATE_PREEMPTION_BOUND,
        crate_protocol,
        false,
        2,
        Expect::NoCycle,
    );
}

#[test]
fn crate_protocol_cancelled_offline() {
    model(
        CRATE_PREEMPTION_BOUND,
        crate_protocol,
        true,
        2,
        Expect::NoCycle,
    );
}

/// The pre-3.10 protocol is just as safe (mem_hotplug_lock serializes the
/// dance, as the commit says) -- only lockdep objects to it.
#[test]
fn pre_fix_protocol_is_safe_but_forms_the_cycle() {
    model(
        CONTROL_PREEMPTION_BOUND,
        PreFix,
        false,
        2,
        Expect::ClassicCycle,
    );
    model(
        CONTROL_PREEMPTION_BOUND,
        PreFix,
        true,
        2,
        Expect::ClassicCycle,
    );
}

/// Negative control: a ksmd without wait_while_offlining() is caught.
#[test]
#[should_panic(expected = "ksmd scans")]
fn model_catches_a_ksmd_without_the_lockout() {
    model(
        CONTROL_PREEMPTION_BOUND,
        |p| NoLockout(Ksm::new(p)),
        false,
        1,
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
        |p| Ksm::new(p.without_smp_mb()),
        false,
        1,
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
