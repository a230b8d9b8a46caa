//! Host side of the proof: the kernel primitives on std or loom
//! `Mutex` + `Condvar`, a tiny lockdep (lock-order recorder), the memory
//! hotplug path (mem_hotplug_lock + the memory notifier chain's rwsem), and
//! the protocols under test:
//!
//! * `Ksm<HostPrimitives>`: the crate's protocol, unchanged;
//! * [`PreFix`]: the protocol before "ksm: stop hotremove lockdep warning"
//!   (v3.10): `ksm_thread_mutex` held from MEM_GOING_OFFLINE to MEM_OFFLINE,
//!   no flag, no waiting;
//! * [`NoLockout`]: the crate's notifier but a ksmd that forgets
//!   `wait_while_offlining()`: a negative control that loom must catch.
//!
//! The same code is compiled twice, once per flavor (`std_flavor`,
//! `loom_flavor`), by the `flavor!` macro: only the `use` lines differ.
#![allow(dead_code, unused_imports)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex as StdMutex;

/// Lock names as lockdep prints them.
pub const KSM_THREAD_MUTEX: &str = "ksm_thread_mutex";
/// The memory notifier chain (a blocking notifier: callbacks run under
/// `down_read(&memory_chain.rwsem)`, taken anew for each notification).
pub const MEMORY_CHAIN_RWSEM: &str = "(memory_chain).rwsem";
/// `mem_hotplug_begin()`: held from before MEM_GOING_OFFLINE to after
/// MEM_OFFLINE / MEM_CANCEL_OFFLINE.
pub const MEM_HOTPLUG_LOCK: &str = "mem_hotplug_lock";

/// lockdep's idea in a few lines: per thread, the stack of held locks; on
/// each acquisition an edge "held A while taking B" for every held A; a
/// cycle in the edges is a possible deadlock (reported whether or not the
/// interleaving that deadlocks ever happened).
pub struct LockOrder {
    thread_key: fn() -> String,
    state: StdMutex<LockOrderState>,
}

#[derive(Default)]
struct LockOrderState {
    held: HashMap<String, Vec<&'static str>>,
    edges: BTreeSet<(&'static str, &'static str)>,
}

impl LockOrder {
    /// `thread_key` names the current thread (std and loom differ: loom's
    /// threads all run on one OS thread).
    pub fn new(thread_key: fn() -> String) -> Self {
        Self {
            thread_key,
            state: StdMutex::new(LockOrderState::default()),
        }
    }

    /// Records that the current thread now holds `lock`.
    pub fn acquire(&self, lock: &'static str) {
        let key = (self.thread_key)();
        let mut st = self.state.lock().unwrap();
        let held = st.held.entry(key).or_default().clone();
        for h in held {
            st.edges.insert((h, lock));
        }
        st.held.get_mut(&(self.thread_key)()).unwrap().push(lock);
    }

    /// Records that the current thread released `lock` (any order).
    pub fn release(&self, lock: &'static str) {
        let key = (self.thread_key)();
        let mut st = self.state.lock().unwrap();
        let held = st
            .held
            .get_mut(&key)
            .unwrap_or_else(|| panic!("{key} releases {lock} but holds nothing"));
        let pos = held
            .iter()
            .rposition(|l| *l == lock)
            .unwrap_or_else(|| panic!("{key} releases {lock} which it does not hold"));
        held.remove(pos);
    }

    /// Locks the current thread holds, in acquisition order.
    pub fn held_by_current(&self) -> Vec<&'static str> {
        let key = (self.thread_key)();
        self.state
            .lock()
            .unwrap()
            .held
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }

    /// All recorded "held A while taking B" edges.
    pub fn edges(&self) -> BTreeSet<(&'static str, &'static str)> {
        self.state.lock().unwrap().edges.clone()
    }

    /// A cycle in the lock-order graph, if any, as `[A, B, .., A]`, rotated
    /// to start at its smallest name (so it prints deterministically).
    pub fn find_cycle(&self) -> Option<Vec<&'static str>> {
        find_cycle(&self.edges())
    }
}

/// Depth-first search for a cycle in `edges`.
pub fn find_cycle(edges: &BTreeSet<(&'static str, &'static str)>) -> Option<Vec<&'static str>> {
    let mut graph: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    for &(a, b) in edges {
        graph.entry(a).or_default().push(b);
        graph.entry(b).or_default();
    }
    // 0 = unvisited, 1 = on the DFS stack, 2 = done
    let mut color: BTreeMap<&'static str, u8> = graph.keys().map(|k| (*k, 0)).collect();
    let mut stack: Vec<&'static str> = Vec::new();

    fn dfs(
        n: &'static str,
        graph: &BTreeMap<&'static str, Vec<&'static str>>,
        color: &mut BTreeMap<&'static str, u8>,
        stack: &mut Vec<&'static str>,
    ) -> Option<Vec<&'static str>> {
        color.insert(n, 1);
        stack.push(n);
        for &m in &graph[n] {
            match color[m] {
                1 => {
                    let start = stack.iter().position(|x| *x == m).unwrap();
                    return Some(stack[start..].to_vec());
                }
                0 => {
                    if let Some(c) = dfs(m, graph, color, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        color.insert(n, 2);
        None
    }

    let nodes: Vec<&'static str> = graph.keys().copied().collect();
    for n in nodes {
        if color[n] == 0 {
            if let Some(mut cycle) = dfs(n, &graph, &mut color, &mut stack) {
                let min = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap();
                cycle.rotate_left(min);
                cycle.push(cycle[0]);
                return Some(cycle);
            }
        }
    }
    None
}

/// `A -> B -> A`
pub fn show_cycle(cycle: &[&str]) -> String {
    cycle.join(" -> ")
}

/// What the primitives did, in order (for the unit tests of each transition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Lock,
    Unlock,
    Read(usize),
    Write(usize),
    WaitOnBit,
    WakeUpBit,
    Mb,
}

macro_rules! flavor {
    () => {
        use rust_ksm::{
            Ksm, KsmPrimitives, MemoryAction, RunStoreError, KSM_RUN_OFFLINE, KSM_RUN_STOP,
            KSM_RUN_UNMERGE,
        };
        use std::sync::atomic::{AtomicBool as GhostBool, AtomicUsize as GhostUsize};
        use std::sync::Mutex as GhostMutex;
        use $crate::common::{
            Event, LockOrder, KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM, MEM_HOTPLUG_LOCK,
        };

        /// Test-only state, outside the model (plain std atomics: in loom
        /// they are no scheduling points, they record what is true at this
        /// point of the serialized execution).
        #[derive(Default)]
        pub struct Ghost {
            /// Between MEM_GOING_OFFLINE and the MEM_OFFLINE pruning (or
            /// MEM_CANCEL_OFFLINE): struct pages may vanish, the stable
            /// tree must not be touched.
            pub window: GhostBool,
            /// ksmd scans done.
            pub scans: GhostUsize,
            /// Calls of the `unmerge` callback.
            pub unmerges: GhostUsize,
        }

        /// The kernel primitives for the host: `ksm_thread_mutex` is a
        /// `Mutex<bool>` + `Condvar` (so lock and unlock can be two calls,
        /// as in C), the bit wait queue a `Mutex` + `Condvar` with the
        /// kernel's lockless `waitqueue_active()` check in `wake_up_bit()`.
        pub struct HostPrimitives {
            mutex_locked: Mutex<bool>,
            mutex_cv: Condvar,
            run: AtomicUsize,
            wq: Mutex<()>,
            wq_cv: Condvar,
            wq_waiters: AtomicUsize,
            /// Omit the barrier (to see whether the model needs it).
            pub skip_smp_mb: bool,
            pub ghost: Ghost,
            pub lockdep: Option<std::sync::Arc<LockOrder>>,
            pub log: Option<GhostMutex<Vec<Event>>>,
        }

        impl HostPrimitives {
            pub fn new(run: usize) -> Self {
                Self {
                    mutex_locked: Mutex::new(false),
                    mutex_cv: Condvar::new(),
                    run: AtomicUsize::new(run),
                    wq: Mutex::new(()),
                    wq_cv: Condvar::new(),
                    wq_waiters: AtomicUsize::new(0),
                    skip_smp_mb: false,
                    ghost: Ghost::default(),
                    lockdep: None,
                    log: None,
                }
            }
            pub fn with_lockdep(mut self, lockdep: std::sync::Arc<LockOrder>) -> Self {
                self.lockdep = Some(lockdep);
                self
            }
            pub fn with_log(mut self) -> Self {
                self.log = Some(GhostMutex::new(Vec::new()));
                self
            }
            pub fn without_smp_mb(mut self) -> Self {
                self.skip_smp_mb = true;
                self
            }
            fn ev(&self, e: Event) {
                if let Some(log) = &self.log {
                    log.lock().unwrap().push(e);
                }
            }
            /// The events so far, and forget them.
            pub fn take_log(&self) -> Vec<Event> {
                std::mem::take(&mut *self.log.as_ref().expect("with_log()").lock().unwrap())
            }
            pub fn mutex_is_locked(&self) -> bool {
                *self.mutex_locked.lock().unwrap()
            }
            /// Tasks sleeping in `wait_on_bit()`.
            pub fn bit_waiters(&self) -> usize {
                self.wq_waiters.load(Ordering::SeqCst)
            }
            /// The run word, for final checks.
            pub fn run_now(&self) -> usize {
                self.run.load(Ordering::SeqCst)
            }
        }

        impl KsmPrimitives for HostPrimitives {
            fn mutex_lock(&self) {
                let mut locked = self.mutex_locked.lock().unwrap();
                while *locked {
                    locked = self.mutex_cv.wait(locked).unwrap();
                }
                *locked = true;
                drop(locked);
                if let Some(l) = &self.lockdep {
                    l.acquire(KSM_THREAD_MUTEX);
                }
                self.ev(Event::Lock);
            }
            fn mutex_unlock(&self) {
                self.ev(Event::Unlock);
                if let Some(l) = &self.lockdep {
                    l.release(KSM_THREAD_MUTEX);
                }
                let mut locked = self.mutex_locked.lock().unwrap();
                assert!(*locked, "mutex_unlock of an unlocked ksm_thread_mutex");
                *locked = false;
                drop(locked);
                self.mutex_cv.notify_one();
            }
            fn read_run(&self) -> usize {
                let v = self.run.load(Ordering::Relaxed);
                self.ev(Event::Read(v));
                v
            }
            fn write_run(&self, run: usize) {
                // The invariants of the protocol, checked on every write:
                // only under ksm_thread_mutex, and the run state proper
                // (STOP/MERGE/UNMERGE) never changes while offlining.
                assert!(
                    *self.mutex_locked.lock().unwrap(),
                    "ksm_run written without ksm_thread_mutex"
                );
                let old = self.run.load(Ordering::Relaxed);
                if (old ^ run) & !KSM_RUN_OFFLINE != 0 {
                    assert_eq!(
                        old & KSM_RUN_OFFLINE,
                        0,
                        "run state changed from {old} to {run} while KSM_RUN_OFFLINE"
                    );
                    assert!(
                        !self.ghost.window.load(Ordering::SeqCst),
                        "run state changed from {old} to {run} while memory goes offline"
                    );
                }
                self.ev(Event::Write(run));
                self.run.store(run, Ordering::Relaxed);
            }
            fn wait_on_offline_bit(&self) {
                self.ev(Event::WaitOnBit);
                // wait_on_bit(): test_bit() first, without the queue lock.
                if self.run.load(Ordering::Relaxed) & KSM_RUN_OFFLINE == 0 {
                    return;
                }
                // __wait_on_bit(): prepare_to_wait() queues us under the
                // wait queue lock and set_current_state() is a full barrier;
                // then test the bit again, sleep while set.
                let mut q = self.wq.lock().unwrap();
                self.wq_waiters.fetch_add(1, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                while self.run.load(Ordering::Relaxed) & KSM_RUN_OFFLINE != 0 {
                    q = self.wq_cv.wait(q).unwrap();
                }
                self.wq_waiters.fetch_sub(1, Ordering::Relaxed);
            }
            fn wake_up_offline_bit(&self) {
                self.ev(Event::WakeUpBit);
                // __wake_up_bit(): if (waitqueue_active(wq)) __wake_up(wq, ..)
                // -- the unlocked check that smp_mb() must precede.
                if self.wq_waiters.load(Ordering::Relaxed) != 0 {
                    let _q = self.wq.lock().unwrap();
                    self.wq_cv.notify_all();
                }
            }
            fn smp_mb(&self) {
                self.ev(Event::Mb);
                if !self.skip_smp_mb {
                    fence(Ordering::SeqCst);
                }
            }
        }

        /// A run-control protocol: what ksm.c's users call.
        pub trait Protocol: Send + Sync + 'static {
            fn prims(&self) -> &HostPrimitives;
            fn memory_callback(&self, action: MemoryAction);
            fn ksmd_scan_once(
                &self,
                should_run: impl FnOnce(usize) -> bool,
                scan: impl FnOnce(),
            ) -> bool;
            fn run_store(
                &self,
                flags: usize,
                unmerge: impl FnOnce() -> Result<(), i32>,
            ) -> Result<(), RunStoreError<i32>>;
        }

        /// The crate's protocol, as is.
        impl Protocol for Ksm<HostPrimitives> {
            fn prims(&self) -> &HostPrimitives {
                self.primitives()
            }
            fn memory_callback(&self, action: MemoryAction) {
                assert_eq!(Ksm::memory_callback(self, action), rust_ksm::NOTIFY_OK);
            }
            fn ksmd_scan_once(
                &self,
                should_run: impl FnOnce(usize) -> bool,
                scan: impl FnOnce(),
            ) -> bool {
                Ksm::ksmd_scan_once(self, should_run, scan)
            }
            fn run_store(
                &self,
                flags: usize,
                unmerge: impl FnOnce() -> Result<(), i32>,
            ) -> Result<(), RunStoreError<i32>> {
                Ksm::run_store(self, flags, unmerge)
            }
        }

        /// mm/ksm.c before v3.10's "ksm: stop hotremove lockdep warning":
        /// MEM_GOING_OFFLINE takes ksm_thread_mutex (mutex_lock_nested) and
        /// MEM_OFFLINE / MEM_CANCEL_OFFLINE release it; ksmd and the
        /// writers just take the mutex.
        pub struct PreFix(pub HostPrimitives);

        impl Protocol for PreFix {
            fn prims(&self) -> &HostPrimitives {
                &self.0
            }
            fn memory_callback(&self, action: MemoryAction) {
                match action {
                    MemoryAction::GoingOffline => self.0.mutex_lock(),
                    MemoryAction::Offline | MemoryAction::CancelOffline => self.0.mutex_unlock(),
                    _ => {}
                }
            }
            fn ksmd_scan_once(
                &self,
                should_run: impl FnOnce(usize) -> bool,
                scan: impl FnOnce(),
            ) -> bool {
                self.0.mutex_lock();
                let scanned = should_run(self.0.read_run());
                if scanned {
                    scan();
                }
                self.0.mutex_unlock();
                scanned
            }
            fn run_store(
                &self,
                flags: usize,
                unmerge: impl FnOnce() -> Result<(), i32>,
            ) -> Result<(), RunStoreError<i32>> {
                if flags > KSM_RUN_UNMERGE {
                    return Err(RunStoreError::Invalid);
                }
                self.0.mutex_lock();
                let mut res = Ok(());
                if self.0.read_run() != flags {
                    self.0.write_run(flags);
                    if flags & KSM_RUN_UNMERGE != 0 {
                        if let Err(e) = unmerge() {
                            self.0.write_run(KSM_RUN_STOP);
                            res = Err(RunStoreError::Unmerge(e));
                        }
                    }
                }
                self.0.mutex_unlock();
                res
            }
        }

        /// Negative control: the crate's notifier and writers, but a ksmd
        /// that takes the mutex without `wait_while_offlining()`.
        pub struct NoLockout(pub Ksm<HostPrimitives>);

        impl Protocol for NoLockout {
            fn prims(&self) -> &HostPrimitives {
                self.0.primitives()
            }
            fn memory_callback(&self, action: MemoryAction) {
                self.0.memory_callback(action);
            }
            fn ksmd_scan_once(
                &self,
                should_run: impl FnOnce(usize) -> bool,
                scan: impl FnOnce(),
            ) -> bool {
                let p = self.0.primitives();
                p.mutex_lock();
                let scanned = should_run(p.read_run() & !KSM_RUN_OFFLINE);
                if scanned {
                    scan();
                }
                p.mutex_unlock();
                scanned
            }
            fn run_store(
                &self,
                flags: usize,
                unmerge: impl FnOnce() -> Result<(), i32>,
            ) -> Result<(), RunStoreError<i32>> {
                self.0.run_store(flags, unmerge)
            }
        }

        /// ksmd's scan as the model sees it: asserts the lockout.
        pub fn checked_scan<K: Protocol>(k: &K) {
            let g = &k.prims().ghost;
            assert!(
                !g.window.load(Ordering::SeqCst),
                "ksmd scans while memory goes offline"
            );
            assert_eq!(
                k.prims().run_now() & KSM_RUN_OFFLINE,
                0,
                "ksmd scans with KSM_RUN_OFFLINE set"
            );
            g.scans.fetch_add(1, Ordering::SeqCst);
        }

        /// One ksmd loop iteration (`ksmd_should_run()` = MERGE).
        pub fn ksmd_iteration<K: Protocol>(k: &K) -> bool {
            k.ksmd_scan_once(|run| run & rust_ksm::KSM_RUN_MERGE != 0, || checked_scan(k))
        }

        /// A `run` write whose unmerge asserts the lockout too.
        pub fn run_write<K: Protocol>(k: &K, flags: usize) -> Result<(), RunStoreError<i32>> {
            k.run_store(flags, || {
                let g = &k.prims().ghost;
                assert!(
                    !g.window.load(Ordering::SeqCst),
                    "unmerge while memory goes offline"
                );
                g.unmerges.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        }

        /// offline_pages() as far as KSM sees it: mem_hotplug_begin(), the
        /// notifications, each under `down_read(&memory_chain.rwsem)`.
        pub struct Hotplug {
            hotplug_lock: Mutex<()>,
            chain: RwLock<()>,
            pub lockdep: Option<std::sync::Arc<LockOrder>>,
        }

        impl Hotplug {
            pub fn new(lockdep: Option<std::sync::Arc<LockOrder>>) -> Self {
                Self {
                    hotplug_lock: Mutex::new(()),
                    chain: RwLock::new(()),
                    lockdep,
                }
            }

            fn acquired(&self, lock: &'static str) {
                if let Some(l) = &self.lockdep {
                    l.acquire(lock);
                }
            }
            fn released(&self, lock: &'static str) {
                if let Some(l) = &self.lockdep {
                    l.release(lock);
                }
            }

            /// blocking_notifier_call_chain(&memory_chain, action, ..)
            pub fn notify<K: Protocol>(&self, k: &K, action: MemoryAction) {
                let r = self.chain.read().unwrap();
                self.acquired(MEMORY_CHAIN_RWSEM);
                k.memory_callback(action);
                self.released(MEMORY_CHAIN_RWSEM);
                drop(r);
            }

            /// Offline one memory block: MEM_GOING_OFFLINE, migration (the
            /// window), then MEM_OFFLINE -- or MEM_CANCEL_OFFLINE when
            /// `cancel` (an arch notifier refused, or error injection).
            pub fn offline<K: Protocol>(&self, k: &K, cancel: bool) {
                let h = self.hotplug_lock.lock().unwrap();
                self.acquired(MEM_HOTPLUG_LOCK);

                self.notify(k, MemoryAction::GoingOffline);
                let g = &k.prims().ghost;
                g.window.store(true, Ordering::SeqCst);
                // Pages are migrated; struct pages may go away.
                yield_now();
                // MEM_OFFLINE: ksm_check_stable_tree() has pruned what
                // pointed into the block (C, before rust_ksm_memory_callback);
                // MEM_CANCEL_OFFLINE: nothing went away.
                g.window.store(false, Ordering::SeqCst);
                self.notify(
                    k,
                    if cancel {
                        MemoryAction::CancelOffline
                    } else {
                        MemoryAction::Offline
                    },
                );

                self.released(MEM_HOTPLUG_LOCK);
                drop(h);
            }
        }
    };
}

/// std primitives: unit tests and the lock-order tests.
pub mod std_flavor {
    pub use std::sync::atomic::{fence, AtomicUsize, Ordering};
    pub use std::sync::{Arc, Condvar, Mutex, RwLock};
    pub use std::thread::{spawn, yield_now};

    /// Thread identity for [`LockOrder`](super::LockOrder).
    pub fn thread_key() -> String {
        format!("{:?}", std::thread::current().id())
    }

    flavor!();
}

/// loom primitives: the model test.
pub mod loom_flavor {
    pub use loom::sync::atomic::{fence, AtomicUsize, Ordering};
    pub use loom::sync::{Arc, Condvar, Mutex, RwLock};
    pub use loom::thread::{spawn, yield_now};

    /// Thread identity for [`LockOrder`](super::LockOrder): loom's threads
    /// share one OS thread.
    pub fn thread_key() -> String {
        format!("{:?}", loom::thread::current().id())
    }

    flavor!();
}
