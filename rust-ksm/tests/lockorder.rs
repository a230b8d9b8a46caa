//! Lock order, lockdep-style: the pre-3.10 protocol (ksm_thread_mutex held
//! from MEM_GOING_OFFLINE to MEM_OFFLINE, each notification under the
//! notifier chain's rwsem) forms the cycle
//! `(memory_chain).rwsem -> ksm_thread_mutex -> (memory_chain).rwsem`;
//! the crate's protocol forms none.
//!
//! `crate_protocol_*` run the crate's `Ksm` unchanged: put the pre-fix
//! locking back into `Ksm::memory_callback` and they fail.

mod common;

use std::collections::BTreeSet;

use common::std_flavor::*;
use common::{
    ffi_serial, find_cycle, show_cycle, LockOrder, KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM,
    MEM_HOTPLUG_LOCK,
};
use rust_ksm::*;

const CLASSIC_CYCLE: [&str; 3] = [MEMORY_CHAIN_RWSEM, KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM];

fn lockdep() -> Arc<LockOrder> {
    Arc::new(LockOrder::new(thread_key))
}

/// Everything KSM's users do, once, on one thread: ksmd, a run write, an
/// offline of the given kind, ksmd again, another run write.
fn exercise<K: Protocol>(k: &K, hp: &Hotplug, cancel: bool) {
    ksmd_iteration(k);
    run_write(k, KSM_RUN_UNMERGE).unwrap();
    run_write(k, KSM_RUN_MERGE).unwrap();
    hp.offline(k, cancel);
    ksmd_iteration(k);
    run_write(k, KSM_RUN_STOP).unwrap();
    assert_eq!(k.run_now() & KSM_RUN_OFFLINE, 0);
    assert!(!k.mutex_is_locked());
    k.ghost().assert_clean();
}

fn crate_protocol(ld: &Arc<LockOrder>) -> Ksm<HostPrimitives> {
    Ksm::new(HostPrimitives::new(KSM_RUN_MERGE).with_lockdep(ld.clone()))
}

fn pre_fix(ld: &Arc<LockOrder>) -> PreFix {
    PreFix(HostPrimitives::new(KSM_RUN_MERGE).with_lockdep(ld.clone()))
}

fn edges(list: &[(&'static str, &'static str)]) -> BTreeSet<(&'static str, &'static str)> {
    list.iter().copied().collect()
}

#[test]
fn recorder_finds_cycles_and_only_cycles() {
    assert_eq!(find_cycle(&edges(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(
        find_cycle(&edges(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    assert_eq!(
        find_cycle(&edges(&[("b", "a"), ("a", "b")])),
        Some(vec!["a", "b", "a"])
    );
    assert_eq!(
        find_cycle(&edges(&[("x", "c"), ("c", "b"), ("b", "a"), ("a", "c")])),
        Some(vec!["a", "c", "b", "a"])
    );
    assert_eq!(find_cycle(&edges(&[("a", "a")])), Some(vec!["a", "a"]));

    // Edges come from "held A while taking B" on the same thread only.
    let ld = lockdep();
    ld.acquire("A");
    ld.acquire("B");
    ld.release("A");
    ld.release("B");
    let ld2 = ld.clone();
    std::thread::spawn(move || {
        ld2.acquire("B");
        ld2.release("B");
        ld2.acquire("A");
        ld2.release("A");
    })
    .join()
    .unwrap();
    assert_eq!(ld.edges(), edges(&[("A", "B")]));
    ld.acquire("B");
    ld.acquire("A");
    assert_eq!(ld.held_by_current(), ["B", "A"]);
    assert_eq!(ld.find_cycle(), Some(vec!["A", "B", "A"]));
}

#[test]
fn pre_fix_protocol_forms_the_classic_cycle_on_a_cancelled_offline() {
    let ld = lockdep();
    let k = pre_fix(&ld);
    exercise(&k, &Hotplug::new(Some(ld.clone())), true);
    let cycle = ld
        .find_cycle()
        .expect("pre-fix protocol must form a lock-order cycle");
    assert_eq!(cycle, CLASSIC_CYCLE, "{}", show_cycle(&cycle));
    assert!(ld.edges().contains(&(KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM)));
}

#[test]
fn pre_fix_protocol_forms_the_classic_cycle_on_a_successful_offline() {
    let ld = lockdep();
    let k = pre_fix(&ld);
    exercise(&k, &Hotplug::new(Some(ld.clone())), false);
    assert_eq!(ld.find_cycle().as_deref(), Some(&CLASSIC_CYCLE[..]));
}

#[test]
fn crate_protocol_forms_no_cycle() {
    for cancel in [false, true] {
        let ld = lockdep();
        let k = crate_protocol(&ld);
        exercise(&k, &Hotplug::new(Some(ld.clone())), cancel);
        assert_eq!(ld.find_cycle().map(|c| show_cycle(&c)), None);
        // The recorder did see the notifier take the mutex inside the
        // chain and the hotplug lock, so "no cycle" is not "no data"...
        let e = ld.edges();
        for edge in [
            (MEM_HOTPLUG_LOCK, MEMORY_CHAIN_RWSEM),
            (MEMORY_CHAIN_RWSEM, KSM_THREAD_MUTEX),
            (MEM_HOTPLUG_LOCK, KSM_THREAD_MUTEX),
        ] {
            assert!(e.contains(&edge), "missing edge {edge:?} in {e:?}");
        }
        // ...and never the reverse: the mutex is not held into a notification.
        assert!(
            !e.contains(&(KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM)),
            "{e:?}"
        );
        assert!(
            !e.iter().any(|(a, _)| *a == KSM_THREAD_MUTEX),
            "ksm_thread_mutex held while taking another lock: {e:?}"
        );
    }
}

/// The exported functions, called as mm/ksm.c calls them: the same edges as
/// the crate's protocol, and no cycle.  (The kernel layer could differ from
/// `Ksm` only by its own code: a lock taken in another order there, or the
/// mutex left held across the notifier's return, shows up here.)
#[test]
fn kernel_layer_forms_no_cycle() {
    for cancel in [false, true] {
        let _serial = ffi_serial();
        let ld = lockdep();
        let k = Ffi::boot(KSM_RUN_MERGE, FfiGlue::new().with_lockdep(ld.clone()));
        exercise(&k, &Hotplug::new(Some(ld.clone())), cancel);
        knob_write(&k);
        assert_eq!(ld.find_cycle().map(|c| show_cycle(&c)), None);
        let e = ld.edges();
        assert!(e.contains(&(MEMORY_CHAIN_RWSEM, KSM_THREAD_MUTEX)), "{e:?}");
        assert!(
            !e.iter().any(|(a, _)| *a == KSM_THREAD_MUTEX),
            "ksm_thread_mutex held while taking another lock: {e:?}"
        );
        k.ghost().assert_clean();
        assert_eq!(k.ghost().unmerges.load(Ordering::SeqCst), 1);
        assert_eq!(k.ghost().knob_writes.load(Ordering::SeqCst), 1);
    }
}

/// Same, with real threads: ksmd and a writer sleep in wait_while_offlining()
/// while the hotplug thread goes through GOING_OFFLINE .. OFFLINE.
#[test]
fn crate_protocol_forms_no_cycle_with_concurrent_users() {
    let ld = lockdep();
    let k = Arc::new(crate_protocol(&ld));
    let hp = Arc::new(Hotplug::new(Some(ld.clone())));
    let mut threads = Vec::new();
    for i in 0..2 {
        let (k, hp) = (k.clone(), hp.clone());
        threads.push(spawn(move || {
            for _ in 0..50 {
                hp.offline(&*k, i == 1);
            }
        }));
    }
    {
        let k = k.clone();
        threads.push(spawn(move || {
            for _ in 0..200 {
                ksmd_iteration(&*k);
            }
        }));
    }
    {
        let k = k.clone();
        threads.push(spawn(move || {
            for i in 0..200 {
                run_write(&*k, [KSM_RUN_MERGE, KSM_RUN_STOP, KSM_RUN_UNMERGE][i % 3]).unwrap();
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ld.find_cycle(), None);
    assert_eq!(k.run_now() & KSM_RUN_OFFLINE, 0);
    assert_eq!(k.bit_waiters(), 0);
    k.ghost().assert_clean();
}
