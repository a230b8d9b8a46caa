//! Unit tests of every transition of the run state and the offline lockout,
//! on std primitives.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::std_flavor::*;
use common::Event::{self, *};
use rust_ksm::*;

fn ksm(run: usize) -> Arc<Ksm<HostPrimitives>> {
    Arc::new(Ksm::new(HostPrimitives::new(run).with_log()))
}

/// Waits (bounded) until `n` tasks sleep in wait_on_bit().
fn wait_for_bit_waiters(k: &Ksm<HostPrimitives>, n: usize) {
    let t0 = Instant::now();
    while k.primitives().bit_waiters() != n {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no task went to sleep on the bit"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn log(k: &Ksm<HostPrimitives>) -> Vec<Event> {
    k.primitives().take_log()
}

#[test]
fn constants_match_the_kernel() {
    assert_eq!(
        (
            KSM_RUN_STOP,
            KSM_RUN_MERGE,
            KSM_RUN_UNMERGE,
            KSM_RUN_OFFLINE
        ),
        (0, 1, 2, 4)
    );
    assert_eq!(KSM_RUN_OFFLINE_BIT, 2); // ilog2(KSM_RUN_OFFLINE)
    assert_eq!(
        [
            MEM_ONLINE,
            MEM_GOING_OFFLINE,
            MEM_OFFLINE,
            MEM_GOING_ONLINE,
            MEM_CANCEL_ONLINE,
            MEM_CANCEL_OFFLINE
        ],
        [1, 2, 4, 8, 16, 32]
    );
    assert_eq!(NOTIFY_OK, 1);
}

#[test]
fn memory_actions_decode_and_encode() {
    for raw in 0..128usize {
        assert_eq!(MemoryAction::from_raw(raw).raw(), raw);
    }
    // Each named action decodes to its own variant, not to Other(raw)
    // (which would round-trip just as well, and be ignored by the notifier).
    for (raw, action) in [
        (MEM_ONLINE, MemoryAction::Online),
        (MEM_GOING_OFFLINE, MemoryAction::GoingOffline),
        (MEM_OFFLINE, MemoryAction::Offline),
        (MEM_GOING_ONLINE, MemoryAction::GoingOnline),
        (MEM_CANCEL_ONLINE, MemoryAction::CancelOnline),
        (MEM_CANCEL_OFFLINE, MemoryAction::CancelOffline),
    ] {
        assert_eq!(MemoryAction::from_raw(raw), action);
        assert_eq!(action.raw(), raw);
    }
    assert_eq!(MemoryAction::from_raw(3), MemoryAction::Other(3));
}

#[test]
fn going_offline_sets_the_bit_under_the_mutex_and_drops_it() {
    for run in [KSM_RUN_STOP, KSM_RUN_MERGE, KSM_RUN_UNMERGE] {
        let k = ksm(run);
        assert_eq!(k.memory_callback(MemoryAction::GoingOffline), NOTIFY_OK);
        assert_eq!(
            log(&k),
            [Lock, Read(run), Write(run | KSM_RUN_OFFLINE), Unlock]
        );
        assert!(
            !k.primitives().mutex_is_locked(),
            "MEM_GOING_OFFLINE must not return with the mutex held"
        );
        assert_eq!(k.run_show(), run | KSM_RUN_OFFLINE);
    }
}

#[test]
fn offline_and_cancel_clear_the_bit_then_mb_then_wake() {
    for action in [MemoryAction::Offline, MemoryAction::CancelOffline] {
        for run in [KSM_RUN_STOP, KSM_RUN_MERGE, KSM_RUN_UNMERGE] {
            let k = ksm(run);
            k.memory_callback(MemoryAction::GoingOffline);
            log(&k);
            assert_eq!(k.memory_callback(action), NOTIFY_OK);
            // Cleared under the mutex, mutex dropped, smp_mb(), wake_up_bit().
            assert_eq!(
                log(&k),
                [
                    Lock,
                    Read(run | KSM_RUN_OFFLINE),
                    Write(run),
                    Unlock,
                    Mb,
                    WakeUpBit
                ]
            );
            assert!(!k.primitives().mutex_is_locked());
            assert_eq!(k.run_show(), run);
        }
    }
}

#[test]
fn other_memory_actions_do_nothing() {
    for action in [
        MemoryAction::Online,
        MemoryAction::GoingOnline,
        MemoryAction::CancelOnline,
        MemoryAction::Other(0),
        MemoryAction::Other(64),
    ] {
        let k = ksm(KSM_RUN_MERGE);
        assert_eq!(k.memory_callback(action), NOTIFY_OK);
        assert_eq!(log(&k), []);
        assert_eq!(k.run_show(), KSM_RUN_MERGE);
    }
}

#[test]
fn offline_without_going_offline_is_harmless() {
    let k = ksm(KSM_RUN_MERGE);
    k.memory_callback(MemoryAction::Offline);
    assert_eq!(k.run_show(), KSM_RUN_MERGE);
    assert_eq!(k.primitives().bit_waiters(), 0);
}

#[test]
fn repeated_offlines_leave_the_run_state_alone() {
    let k = ksm(KSM_RUN_MERGE);
    for cancel in [false, true, false, true] {
        k.memory_callback(MemoryAction::GoingOffline);
        assert_eq!(k.run_show(), KSM_RUN_MERGE | KSM_RUN_OFFLINE);
        k.memory_callback(if cancel {
            MemoryAction::CancelOffline
        } else {
            MemoryAction::Offline
        });
        assert_eq!(k.run_show(), KSM_RUN_MERGE);
    }
}

#[test]
fn wait_while_offlining_returns_at_once_when_not_offlining() {
    let k = ksm(KSM_RUN_MERGE);
    let ctl = k.lock_run_control();
    assert_eq!(ctl.run(), KSM_RUN_MERGE);
    drop(ctl);
    assert_eq!(
        log(&k),
        [Lock, Read(KSM_RUN_MERGE), Read(KSM_RUN_MERGE), Unlock]
    );
}

#[test]
fn wait_while_offlining_drops_the_mutex_sleeps_and_retakes_it() {
    let k = ksm(KSM_RUN_MERGE);
    k.memory_callback(MemoryAction::GoingOffline);
    log(&k);
    let (tx, rx) = mpsc::channel();
    let k2 = k.clone();
    let t = spawn(move || {
        k2.primitives().mutex_lock();
        k2.wait_while_offlining();
        // Back with the mutex held and the bit clear.
        tx.send((k2.primitives().mutex_is_locked(), k2.run_show()))
            .unwrap();
        k2.primitives().mutex_unlock();
    });
    wait_for_bit_waiters(&k, 1);
    // The waiter does not hold the mutex while it sleeps: we can take it.
    assert!(rx.try_recv().is_err());
    k.primitives().mutex_lock();
    k.primitives().mutex_unlock();
    k.memory_callback(MemoryAction::Offline);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        (true, KSM_RUN_MERGE)
    );
    t.join().unwrap();
    let ev = log(&k);
    // lock, see the bit, unlock, wait_on_bit ... lock again, see it clear.
    assert_eq!(
        ev[..4],
        [
            Lock,
            Read(KSM_RUN_MERGE | KSM_RUN_OFFLINE),
            Unlock,
            WaitOnBit
        ]
    );
    assert!(!k.primitives().mutex_is_locked());
}

#[test]
fn run_store_rejects_invalid_values_without_locking() {
    let k = ksm(KSM_RUN_MERGE);
    for flags in [3, 4, 5, 7, usize::MAX] {
        assert_eq!(
            k.run_store(flags, || -> Result<(), i32> { panic!("no unmerge") }),
            Err(RunStoreError::Invalid)
        );
    }
    assert_eq!(log(&k), []);
    assert_eq!(k.run_show(), KSM_RUN_MERGE);
}

#[test]
fn run_store_transitions() {
    // (from, to, unmerge called, final)
    let cases = [
        (KSM_RUN_STOP, KSM_RUN_STOP, false, KSM_RUN_STOP),
        (KSM_RUN_STOP, KSM_RUN_MERGE, false, KSM_RUN_MERGE),
        (KSM_RUN_STOP, KSM_RUN_UNMERGE, true, KSM_RUN_UNMERGE),
        (KSM_RUN_MERGE, KSM_RUN_STOP, false, KSM_RUN_STOP),
        (KSM_RUN_MERGE, KSM_RUN_MERGE, false, KSM_RUN_MERGE),
        (KSM_RUN_MERGE, KSM_RUN_UNMERGE, true, KSM_RUN_UNMERGE),
        (KSM_RUN_UNMERGE, KSM_RUN_STOP, false, KSM_RUN_STOP),
        (KSM_RUN_UNMERGE, KSM_RUN_MERGE, false, KSM_RUN_MERGE),
        (KSM_RUN_UNMERGE, KSM_RUN_UNMERGE, false, KSM_RUN_UNMERGE),
    ];
    for (from, to, unmerges, fin) in cases {
        let k = ksm(from);
        let mut called = false;
        let r = k.run_store(to, || {
            called = true;
            // unmerge runs under the mutex, with ksm_run already UNMERGE
            assert!(k.primitives().mutex_is_locked());
            assert_eq!(k.primitives().run_now(), KSM_RUN_UNMERGE);
            Ok::<(), i32>(())
        });
        assert_eq!(r, Ok(()), "{from} -> {to}");
        assert_eq!(called, unmerges, "{from} -> {to}");
        assert_eq!(k.run_show(), fin, "{from} -> {to}");
        assert!(!k.primitives().mutex_is_locked());
    }
}

#[test]
fn run_store_unmerge_failure_stops() {
    let k = ksm(KSM_RUN_MERGE);
    assert_eq!(
        k.run_store(KSM_RUN_UNMERGE, || Err(-12)),
        Err(RunStoreError::Unmerge(-12))
    );
    assert_eq!(k.run_show(), KSM_RUN_STOP);
    assert!(!k.primitives().mutex_is_locked());
    let ev: Vec<Event> = log(&k)
        .into_iter()
        .filter(|e| !matches!(e, Read(_)))
        .collect();
    assert_eq!(
        ev,
        [Lock, Write(KSM_RUN_UNMERGE), Write(KSM_RUN_STOP), Unlock]
    );
}

#[test]
fn ksmd_scans_only_when_merging() {
    for (run, scans) in [
        (KSM_RUN_STOP, false),
        (KSM_RUN_MERGE, true),
        (KSM_RUN_UNMERGE, false),
    ] {
        let k = ksm(run);
        let mut scanned = false;
        let r = k.ksmd_scan_once(|run| run & KSM_RUN_MERGE != 0, || scanned = true);
        assert_eq!((r, scanned), (scans, scans));
        assert!(!k.primitives().mutex_is_locked());
    }
}

#[test]
fn run_show_shows_the_offline_bit_like_c() {
    let k = ksm(KSM_RUN_MERGE);
    assert_eq!(k.run_show(), 1);
    k.memory_callback(MemoryAction::GoingOffline);
    assert_eq!(k.run_show(), 5); // the C "%lu" of ksm_run
    k.memory_callback(MemoryAction::CancelOffline);
    assert_eq!(k.run_show(), 1);
}

/// ksmd, the run writer, merge_across_nodes/max_page_sharing: each blocks
/// while offlining and proceeds after MEM_OFFLINE or MEM_CANCEL_OFFLINE.
#[test]
fn every_user_is_locked_out_until_offline_or_cancel() {
    for end in [MemoryAction::Offline, MemoryAction::CancelOffline] {
        let k = ksm(KSM_RUN_MERGE);
        k.memory_callback(MemoryAction::GoingOffline);
        let (tx, rx) = mpsc::channel::<&'static str>();
        let mut threads = Vec::new();
        {
            let (k, tx) = (k.clone(), tx.clone());
            threads.push(spawn(move || {
                // Scans unless the writer below stopped KSM first.
                k.ksmd_scan_once(
                    |run| run & KSM_RUN_MERGE != 0,
                    || assert_eq!(k.primitives().run_now() & KSM_RUN_OFFLINE, 0),
                );
                tx.send("ksmd").unwrap();
            }));
        }
        {
            let (k, tx) = (k.clone(), tx.clone());
            threads.push(spawn(move || {
                k.run_store(KSM_RUN_STOP, || Ok::<(), i32>(())).unwrap();
                tx.send("run").unwrap();
            }));
        }
        {
            let (k, tx) = (k.clone(), tx.clone());
            threads.push(spawn(move || {
                k.with_run_control(|ctl| assert_eq!(ctl.run() & KSM_RUN_OFFLINE, 0));
                tx.send("knob").unwrap();
            }));
        }
        wait_for_bit_waiters(&k, 3);
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "someone got past the lockout"
        );
        assert_eq!(
            k.run_show(),
            KSM_RUN_MERGE | KSM_RUN_OFFLINE,
            "the run state changed while offlining"
        );
        k.memory_callback(end);
        let mut done: Vec<_> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        done.sort();
        assert_eq!(done, ["knob", "ksmd", "run"]);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(k.run_show() & KSM_RUN_OFFLINE, 0);
        assert_eq!(k.primitives().bit_waiters(), 0);
        assert!(!k.primitives().mutex_is_locked());
    }
}

/// The run control held: GOING_OFFLINE waits for the mutex, then the
/// holder's successor waits for the bit.
#[test]
fn going_offline_waits_for_a_holder_of_the_run_control() {
    let k = ksm(KSM_RUN_MERGE);
    let ctl = k.lock_run_control();
    let k2 = k.clone();
    let (tx, rx) = mpsc::channel();
    let t = spawn(move || {
        k2.memory_callback(MemoryAction::GoingOffline);
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "GOING_OFFLINE did not wait for the mutex"
    );
    drop(ctl);
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    t.join().unwrap();
    assert_eq!(k.run_show(), KSM_RUN_MERGE | KSM_RUN_OFFLINE);
    k.memory_callback(MemoryAction::Offline);
    assert_eq!(k.run_show(), KSM_RUN_MERGE);
}

#[test]
fn run_control_raw_round_trip() {
    let k = ksm(KSM_RUN_MERGE);
    k.lock_run_control().into_raw();
    assert!(k.primitives().mutex_is_locked());
    k.wait_while_offlining(); // what rust_ksm_wait_while_offlining() does
    drop(unsafe { RunControl::from_raw(&*k) });
    assert!(!k.primitives().mutex_is_locked());
}
