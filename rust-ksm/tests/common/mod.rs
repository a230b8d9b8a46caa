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
//!   `wait_while_offlining()`: a negative control that loom must catch;
//! * [`Ffi`]: the exported `rust_ksm_*` functions of `src/kernel.rs`, called
//!   by symbol name the way `mm/ksm.c` calls them, on the global run word
//!   `rust_ksm_run`, with [`FfiGlue`] as the `ksm_glue_*` helpers.
//!
//! The same code is compiled twice, once per flavor (`std_flavor`,
//! `loom_flavor`), by the `flavor!` macro: only the `use` lines differ.
#![allow(dead_code, unused_imports)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex as StdMutex, MutexGuard as StdMutexGuard, OnceLock, PoisonError};

/// `mm/ksm_rust.h` as C sees it: these resolve by symbol name at link time,
/// so an export that is renamed, mangled or given another signature breaks
/// here as it would break the kernel link.
pub mod ksm_rust_h {
    use std::ffi::{c_int, c_uint, c_ulong};
    use std::sync::atomic::AtomicUsize;

    extern "C" {
        pub fn rust_ksm_memory_callback(action: c_ulong) -> c_int;
        pub fn rust_ksm_run_control_lock();
        pub fn rust_ksm_run_control_unlock();
        pub fn rust_ksm_wait_while_offlining();
        pub fn rust_ksm_run_show() -> c_ulong;
        pub fn rust_ksm_get_run() -> c_ulong;
        pub fn rust_ksm_run_store(flags: c_uint) -> c_int;
        /// What the guest's kprobe reads as `+0(@rust_ksm_run):u64`.
        #[link_name = "rust_ksm_run"]
        pub static RUST_KSM_RUN_BY_NAME: AtomicUsize;
    }
}

/// The calls of the patched `mm/ksm.c`, one wrapper per call site shape.
/// Safe wrappers: the functions have no preconditions beyond the pairing of
/// lock/unlock, which the callers keep.
pub mod c {
    use super::ksm_rust_h as h;
    use std::ffi::{c_uint, c_ulong};

    /// `ksm_memory_callback()`: `return rust_ksm_memory_callback(action);`
    pub fn memory_callback(action: usize) -> i32 {
        unsafe { h::rust_ksm_memory_callback(action as c_ulong) }
    }
    /// ksmd, `merge_across_nodes_store()`, `max_page_sharing_store()`.
    pub fn run_control_lock() {
        unsafe { h::rust_ksm_run_control_lock() }
    }
    /// Pairs with [`run_control_lock`].
    pub fn run_control_unlock() {
        unsafe { h::rust_ksm_run_control_unlock() }
    }
    /// Declared in `mm/ksm_rust.h` for a caller inside the run control.
    pub fn wait_while_offlining() {
        unsafe { h::rust_ksm_wait_while_offlining() }
    }
    /// `run_show()`.
    pub fn run_show() -> usize {
        unsafe { h::rust_ksm_run_show() as usize }
    }
    /// `ksmd_should_run()`, `__ksm_enter()`, `ksm_might_need_to_copy()`.
    pub fn get_run() -> usize {
        unsafe { h::rust_ksm_get_run() as usize }
    }
    /// `run_store()` after `kstrtouint()`, and `ksm_init()` without sysfs.
    pub fn run_store(flags: u32) -> i32 {
        unsafe { h::rust_ksm_run_store(flags as c_uint) }
    }
}

static FFI_SERIAL: StdMutex<()> = StdMutex::new(());
static BOOT_RUN: OnceLock<usize> = OnceLock::new();

/// The kernel layer is one set of globals per process (`rust_ksm_run`, the
/// installed glue): a test that drives it holds this for its whole run
/// (a loom test: around the whole model).  A failed test poisons nothing
/// for the next: each one installs its own double and sets the word.
pub fn ffi_serial() -> StdMutexGuard<'static, ()> {
    let g = FFI_SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    BOOT_RUN
        .get_or_init(|| rust_ksm::kernel::rust_ksm_run.load(std::sync::atomic::Ordering::SeqCst));
    g
}

/// `rust_ksm_run` as it was before any test of this process touched it:
/// the kernel's value at boot.
pub fn boot_run() -> usize {
    drop(ffi_serial());
    *BOOT_RUN.get().unwrap()
}

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
    /// `ksm_glue_unmerge_all()`.
    Unmerge,
}

macro_rules! flavor {
    () => {
        use rust_ksm::kernel::rust_ksm_run;
        use rust_ksm::{
            Ksm, KsmPrimitives, MemoryAction, RunStoreError, EINVAL, KSM_RUN_MERGE,
            KSM_RUN_OFFLINE, KSM_RUN_OFFLINE_BIT, KSM_RUN_STOP, KSM_RUN_UNMERGE, NOTIFY_OK,
        };
        use std::ffi::{c_int, c_ulong};
        use std::sync::atomic::{
            AtomicBool as GhostBool, AtomicI32 as GhostI32, AtomicUsize as GhostUsize,
        };
        use std::sync::Mutex as GhostMutex;
        use $crate::common::{
            c, Event, LockOrder, KSM_THREAD_MUTEX, MEMORY_CHAIN_RWSEM, MEM_HOTPLUG_LOCK,
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
            /// merge_across_nodes / max_page_sharing bodies run.
            pub knob_writes: GhostUsize,
            /// What `unmerge` returns: 0 or -errno.
            pub unmerge_result: GhostI32,
            /// Broken rules seen where a panic cannot be raised: inside an
            /// `extern "C"` call of the kernel layer a panic aborts, so the
            /// doubles record and [`Ghost::assert_clean`] reports.
            pub violations: GhostMutex<Vec<String>>,
        }

        impl Ghost {
            pub fn violation(&self, what: String) {
                self.violations.lock().unwrap().push(what);
            }
            pub fn assert_clean(&self) {
                let v = self.violations.lock().unwrap();
                assert!(v.is_empty(), "protocol violations: {v:?}");
            }
            /// `unmerge_and_remove_all_rmap_items()`: walks the stable
            /// tree, so it must not run while memory goes offline.
            pub fn unmerge(&self) -> Result<(), i32> {
                if self.window.load(Ordering::SeqCst) {
                    self.violation("unmerge while memory goes offline".into());
                }
                self.unmerges.fetch_add(1, Ordering::SeqCst);
                match self.unmerge_result.load(Ordering::SeqCst) {
                    0 => Ok(()),
                    err => Err(err),
                }
            }
        }

        /// wait_while_offlining() calls wait_on_bit() only after seeing the
        /// bit set; the bit can be cleared in between, so a call may return
        /// at once, but not every call, forever: that is a loop whose
        /// condition never sees the bit clear (a mutated `&` or `!=`), which
        /// would spin until a timeout.  Fail it at once instead (from inside
        /// an `extern "C"` call this aborts, which fails the test just the
        /// same).  loom needs none of this: its branch limit stops a spin.
        #[derive(Default)]
        pub struct SpinCheck {
            at_once_in_a_row: GhostUsize,
        }

        impl SpinCheck {
            const LIMIT: usize = 100_000;
            fn returned_at_once(&self) {
                let n = self.at_once_in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(
                    n < Self::LIMIT,
                    "wait_on_bit() returned at once {n} times in a row: wait_while_offlining() spins"
                );
            }
            fn slept(&self) {
                self.at_once_in_a_row.store(0, Ordering::SeqCst);
            }
        }

        /// The kernel primitives for the host: `ksm_thread_mutex` is a
        /// [`KMutex`] (lock and unlock are two calls, as in C), the bit wait
        /// queue a `Mutex` + `Condvar` with the kernel's lockless
        /// `waitqueue_active()` check in `wake_up_bit()`.
        pub struct HostPrimitives {
            mutex: KMutex,
            run: AtomicUsize,
            wq: Mutex<()>,
            wq_cv: Condvar,
            wq_waiters: AtomicUsize,
            spin: SpinCheck,
            /// Omit the barrier (to see whether the model needs it).
            pub skip_smp_mb: bool,
            pub ghost: Ghost,
            pub lockdep: Option<std::sync::Arc<LockOrder>>,
            pub log: Option<GhostMutex<Vec<Event>>>,
        }

        impl HostPrimitives {
            pub fn new(run: usize) -> Self {
                Self {
                    mutex: KMutex::new(),
                    run: AtomicUsize::new(run),
                    wq: Mutex::new(()),
                    wq_cv: Condvar::new(),
                    wq_waiters: AtomicUsize::new(0),
                    spin: SpinCheck::default(),
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
                self.mutex.is_locked()
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
                self.mutex.lock();
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
                self.mutex.unlock().unwrap();
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
                    self.mutex.held_by_current(),
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
                    self.spin.returned_at_once();
                    return;
                }
                self.spin.slept();
                // __wait_on_bit(): prepare_to_wait() queues us under the
                // wait queue lock and set_current_state() is a full barrier;
                // then test the bit again, sleep while set.
                let mut q = self.wq.lock().unwrap();
                self.wq_waiters.fetch_add(1, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                while self.run.load(Ordering::Relaxed) & KSM_RUN_OFFLINE != 0 {
                    q = cv_wait(&self.wq_cv, q);
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

        /// `ksm_glue_*` for the kernel layer: the same mutex and bit wait
        /// queue as [`HostPrimitives`], around the real `rust_ksm_run`
        /// (reached only through the pointer the Rust side passes, like C's
        /// `test_bit()`).  Every call is logged with the run word as it is
        /// at that moment, which shows where the Rust side wrote it (between
        /// which lock and unlock).  Rules it cannot panic about (it runs
        /// inside `extern "C"` calls) go to `ghost.violations`.
        pub struct FfiGlue {
            mutex: KMutex,
            wq: Mutex<()>,
            wq_cv: Condvar,
            wq_waiters: AtomicUsize,
            spin: SpinCheck,
            pub ghost: Ghost,
            pub lockdep: Option<std::sync::Arc<LockOrder>>,
            log: Option<GhostMutex<Vec<(Event, usize)>>>,
            /// Run once, by the first task that returns from a real sleep
            /// in `wait_on_bit()`, before it goes on: lets a std test put
            /// another MEM_GOING_OFFLINE exactly between the wake-up and the
            /// waiter's retaking of the mutex.
            after_wake: GhostMutex<Option<Box<dyn FnOnce() + Send>>>,
        }

        impl FfiGlue {
            pub fn new() -> Self {
                Self {
                    mutex: KMutex::new(),
                    wq: Mutex::new(()),
                    wq_cv: Condvar::new(),
                    wq_waiters: AtomicUsize::new(0),
                    spin: SpinCheck::default(),
                    ghost: Ghost::default(),
                    lockdep: None,
                    log: None,
                    after_wake: GhostMutex::new(None),
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
            pub fn with_unmerge_result(self, err: i32) -> Self {
                self.ghost.unmerge_result.store(err, Ordering::SeqCst);
                self
            }
            pub fn after_first_wake(&self, f: impl FnOnce() + Send + 'static) {
                *self.after_wake.lock().unwrap() = Some(Box::new(f));
            }
            fn ev(&self, e: Event) {
                if let Some(log) = &self.log {
                    log.lock().unwrap().push((e, run_word()));
                }
            }
            /// The calls so far, each with the run word at that moment.
            pub fn take_log(&self) -> Vec<(Event, usize)> {
                std::mem::take(&mut *self.log.as_ref().expect("with_log()").lock().unwrap())
            }
            pub fn mutex_is_locked(&self) -> bool {
                self.mutex.is_locked()
            }
            /// Tasks sleeping in `wait_on_bit()`.
            pub fn bit_waiters(&self) -> usize {
                self.wq_waiters.load(Ordering::SeqCst)
            }
            /// Rust must hand C the run word itself and bit 2 (C's
            /// `ilog2(KSM_RUN_OFFLINE)`, not the crate's constant): another
            /// address or bit would hash to another wait queue.  False (and
            /// recorded) otherwise: the call then does nothing, rather than
            /// dereference whatever it was given.
            fn bit_args_ok(&self, call: &str, word: *mut c_ulong, bit: c_int) -> bool {
                let ok = word.cast::<u8>() == rust_ksm_run.as_ptr().cast::<u8>() && bit == 2;
                if !ok {
                    self.ghost
                        .violation(format!("{call}({word:?}, {bit}): not &rust_ksm_run, 2"));
                }
                ok
            }
        }

        /// `READ_ONCE(ksm_run)` from outside the Rust side.
        pub fn run_word() -> usize {
            rust_ksm_run.load(std::sync::atomic::Ordering::SeqCst)
        }

        impl rust_ksm::host::Glue for FfiGlue {
            fn mutex_lock(&self) {
                self.mutex.lock();
                if let Some(l) = &self.lockdep {
                    l.acquire(KSM_THREAD_MUTEX);
                }
                self.ev(Event::Lock);
            }
            fn mutex_unlock(&self) {
                self.ev(Event::Unlock);
                if !self.mutex.held_by_current() {
                    // (KMutex::unlock would refuse too; lockdep must not
                    // be told of a release that did not happen.)
                    self.ghost.violation(self.mutex.unlock().unwrap_err());
                    return;
                }
                if let Some(l) = &self.lockdep {
                    l.release(KSM_THREAD_MUTEX);
                }
                self.mutex.unlock().unwrap();
            }
            fn wait_on_bit(&self, word: *mut c_ulong, bit: c_int) {
                self.ev(Event::WaitOnBit);
                if !self.bit_args_ok("wait_on_bit", word, bit) {
                    self.spin.returned_at_once();
                    return;
                }
                if self.mutex.held_by_current() {
                    self.ghost
                        .violation("wait_on_bit with ksm_thread_mutex held".into());
                }
                // SAFETY: the address of the static AtomicUsize (checked).
                let word = unsafe { &*word.cast::<std::sync::atomic::AtomicUsize>() };
                let set = || word.load(std::sync::atomic::Ordering::Relaxed) & (1 << bit) != 0;
                if !set() {
                    self.spin.returned_at_once();
                    return;
                }
                self.spin.slept();
                let mut q = self.wq.lock().unwrap();
                self.wq_waiters.fetch_add(1, Ordering::Relaxed);
                fence(Ordering::SeqCst);
                while set() {
                    q = cv_wait(&self.wq_cv, q);
                }
                self.wq_waiters.fetch_sub(1, Ordering::Relaxed);
                drop(q);
                let hook = self.after_wake.lock().unwrap().take();
                if let Some(hook) = hook {
                    hook();
                }
                // The woken task goes on to mutex_lock(), whose might_sleep()
                // is a cond_resched() under CONFIG_PREEMPT_VOLUNTARY: the
                // waker may well run on first, into the next offline's
                // MEM_GOING_OFFLINE.  A yield lets loom take that path
                // without spending a preemption on it.
                yield_now();
            }
            fn wake_up_bit(&self, word: *mut c_ulong, bit: c_int) {
                self.ev(Event::WakeUpBit);
                if !self.bit_args_ok("wake_up_bit", word, bit) {
                    return;
                }
                if self.wq_waiters.load(Ordering::Relaxed) != 0 {
                    let _q = self.wq.lock().unwrap();
                    self.wq_cv.notify_all();
                }
            }
            fn smp_mb(&self) {
                self.ev(Event::Mb);
                fence(Ordering::SeqCst);
            }
            fn unmerge_all(&self) -> c_int {
                self.ev(Event::Unmerge);
                if !self.mutex.held_by_current() {
                    self.ghost
                        .violation("unmerge without ksm_thread_mutex".into());
                }
                if run_word() & KSM_RUN_OFFLINE != 0 {
                    self.ghost
                        .violation("unmerge with KSM_RUN_OFFLINE set".into());
                }
                match self.ghost.unmerge() {
                    Ok(()) => 0,
                    Err(err) => err,
                }
            }
        }

        /// The kernel layer with an [`FfiGlue`] installed.  The caller holds
        /// [`ffi_serial`](crate::common::ffi_serial).
        pub struct Ffi {
            pub glue: std::sync::Arc<FfiGlue>,
        }

        impl Ffi {
            /// Installs `glue` and sets `rust_ksm_run` to `run`, as if the
            /// kernel had booted and run had been written.
            pub fn boot(run: usize, glue: FfiGlue) -> Self {
                rust_ksm_run.store(run, std::sync::atomic::Ordering::SeqCst);
                let glue = std::sync::Arc::new(glue);
                rust_ksm::host::install(glue.clone());
                Self { glue }
            }
        }

        impl Drop for Ffi {
            fn drop(&mut self) {
                rust_ksm::host::uninstall();
            }
        }

        /// A run-control protocol: what ksm.c's users call, and what the
        /// checks look at.
        pub trait Protocol: Send + Sync + 'static {
            /// MEM_GOING_OFFLINE sets KSM_RUN_OFFLINE (all but [`PreFix`]).
            const OFFLINE_BIT: bool = true;
            fn ghost(&self) -> &Ghost;
            fn run_now(&self) -> usize;
            fn bit_waiters(&self) -> usize;
            fn mutex_is_locked(&self) -> bool;
            fn memory_callback(&self, action: MemoryAction);
            fn ksmd_scan_once(
                &self,
                should_run: impl FnOnce(usize) -> bool,
                scan: impl FnOnce(),
            ) -> bool;
            /// A `run` write whose unmerge is [`Ghost::unmerge`].
            fn run_store(&self, flags: usize) -> Result<(), RunStoreError<i32>>;
            /// merge_across_nodes_store() / max_page_sharing_store(): `body`
            /// (remove_all_stable_nodes() and the knob) under the run control.
            fn knob_store(&self, body: impl FnOnce());
        }

        /// The protocols built on [`HostPrimitives`].
        pub trait OnHost {
            fn host(&self) -> &HostPrimitives;
        }
        impl OnHost for Ksm<HostPrimitives> {
            fn host(&self) -> &HostPrimitives {
                self.primitives()
            }
        }
        impl OnHost for PreFix {
            fn host(&self) -> &HostPrimitives {
                &self.0
            }
        }
        impl OnHost for NoLockout {
            fn host(&self) -> &HostPrimitives {
                self.0.primitives()
            }
        }

        macro_rules! host_accessors {
            () => {
                fn ghost(&self) -> &Ghost {
                    &OnHost::host(self).ghost
                }
                fn run_now(&self) -> usize {
                    OnHost::host(self).run_now()
                }
                fn bit_waiters(&self) -> usize {
                    OnHost::host(self).bit_waiters()
                }
                fn mutex_is_locked(&self) -> bool {
                    OnHost::host(self).mutex_is_locked()
                }
            };
        }

        /// The crate's protocol, as is.
        impl Protocol for Ksm<HostPrimitives> {
            host_accessors!();
            fn memory_callback(&self, action: MemoryAction) {
                assert_eq!(Ksm::memory_callback(self, action), NOTIFY_OK);
            }
            fn ksmd_scan_once(
                &self,
                should_run: impl FnOnce(usize) -> bool,
                scan: impl FnOnce(),
            ) -> bool {
                Ksm::ksmd_scan_once(self, should_run, scan)
            }
            fn run_store(&self, flags: usize) -> Result<(), RunStoreError<i32>> {
                Ksm::run_store(self, flags, || self.primitives().ghost.unmerge())
            }
            fn knob_store(&self, body: impl FnOnce()) {
                self.with_run_control(|_| body())
            }
        }

        /// The exported functions, called as mm/ksm.c calls them.
        impl Protocol for Ffi {
            fn ghost(&self) -> &Ghost {
                &self.glue.ghost
            }
            fn run_now(&self) -> usize {
                run_word()
            }
            fn bit_waiters(&self) -> usize {
                self.glue.bit_waiters()
            }
            fn mutex_is_locked(&self) -> bool {
                self.glue.mutex_is_locked()
            }
            fn memory_callback(&self, action: MemoryAction) {
                assert_eq!(c::memory_callback(action.raw()), NOTIFY_OK);
            }
            /// ksm_scan_thread()'s loop body.
            fn ksmd_scan_once(
                &self,
                should_run: impl FnOnce(usize) -> bool,
                scan: impl FnOnce(),
            ) -> bool {
                c::run_control_lock();
                let scanned = should_run(c::get_run());
                if scanned {
                    scan();
                }
                c::run_control_unlock();
                scanned
            }
            fn run_store(&self, flags: usize) -> Result<(), RunStoreError<i32>> {
                match c::run_store(flags as u32) {
                    0 => Ok(()),
                    err if err == -EINVAL => Err(RunStoreError::Invalid),
                    err => Err(RunStoreError::Unmerge(err)),
                }
            }
            fn knob_store(&self, body: impl FnOnce()) {
                c::run_control_lock();
                body();
                c::run_control_unlock();
            }
        }

        /// mm/ksm.c before v3.10's "ksm: stop hotremove lockdep warning":
        /// MEM_GOING_OFFLINE takes ksm_thread_mutex (mutex_lock_nested) and
        /// MEM_OFFLINE / MEM_CANCEL_OFFLINE release it; ksmd and the
        /// writers just take the mutex.
        pub struct PreFix(pub HostPrimitives);

        impl Protocol for PreFix {
            const OFFLINE_BIT: bool = false;
            host_accessors!();
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
            fn run_store(&self, flags: usize) -> Result<(), RunStoreError<i32>> {
                if flags > KSM_RUN_UNMERGE {
                    return Err(RunStoreError::Invalid);
                }
                self.0.mutex_lock();
                let mut res = Ok(());
                if self.0.read_run() != flags {
                    self.0.write_run(flags);
                    if flags & KSM_RUN_UNMERGE != 0 {
                        if let Err(e) = self.0.ghost.unmerge() {
                            self.0.write_run(KSM_RUN_STOP);
                            res = Err(RunStoreError::Unmerge(e));
                        }
                    }
                }
                self.0.mutex_unlock();
                res
            }
            fn knob_store(&self, body: impl FnOnce()) {
                self.0.mutex_lock();
                body();
                self.0.mutex_unlock();
            }
        }

        /// Negative control: the crate's notifier and writers, but a ksmd
        /// that takes the mutex without `wait_while_offlining()`.
        pub struct NoLockout(pub Ksm<HostPrimitives>);

        impl Protocol for NoLockout {
            host_accessors!();
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
            fn run_store(&self, flags: usize) -> Result<(), RunStoreError<i32>> {
                Protocol::run_store(&self.0, flags)
            }
            fn knob_store(&self, body: impl FnOnce()) {
                self.0.with_run_control(|_| body())
            }
        }

        /// What a user of the stable tree under the run control checks: no
        /// memory is going offline.  Recorded, not panicked: a user that
        /// died holding ksm_thread_mutex would block the others for good,
        /// hiding the first failure behind a deadlock.  Every test and
        /// model ends with [`Ghost::assert_clean`].
        pub fn assert_lockout<K: Protocol>(k: &K, who: &str) {
            if k.ghost().window.load(Ordering::SeqCst) {
                k.ghost()
                    .violation(format!("{who} while memory goes offline"));
            }
            if k.run_now() & KSM_RUN_OFFLINE != 0 {
                k.ghost()
                    .violation(format!("{who} with KSM_RUN_OFFLINE set"));
            }
        }

        /// ksmd's scan as the model sees it: asserts the lockout.
        pub fn checked_scan<K: Protocol>(k: &K) {
            assert_lockout(k, "ksmd scans");
            k.ghost().scans.fetch_add(1, Ordering::SeqCst);
        }

        /// One ksmd loop iteration (`ksmd_should_run()` = MERGE).
        pub fn ksmd_iteration<K: Protocol>(k: &K) -> bool {
            k.ksmd_scan_once(|run| run & KSM_RUN_MERGE != 0, || checked_scan(k))
        }

        /// A `run` write whose unmerge checks the lockout.
        pub fn run_write<K: Protocol>(k: &K, flags: usize) -> Result<(), RunStoreError<i32>> {
            k.run_store(flags)
        }

        /// A merge_across_nodes / max_page_sharing write: its
        /// remove_all_stable_nodes() walks the stable tree.
        pub fn knob_write<K: Protocol>(k: &K) {
            k.knob_store(|| {
                assert_lockout(k, "a tuning knob writer removes stable nodes");
                k.ghost().knob_writes.fetch_add(1, Ordering::SeqCst);
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
                let g = k.ghost();
                let during = k.run_now();
                if K::OFFLINE_BIT {
                    assert_ne!(
                        during & KSM_RUN_OFFLINE,
                        0,
                        "MEM_GOING_OFFLINE returned without setting KSM_RUN_OFFLINE"
                    );
                }
                g.window.store(true, Ordering::SeqCst);
                // Pages are migrated; struct pages may go away.
                yield_now();
                // Nobody may have changed the run state meanwhile: every
                // writer is locked out (the bit, or the pre-fix's mutex).
                assert_eq!(
                    k.run_now(),
                    during,
                    "the run word changed while memory went offline"
                );
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
                // Offlines are serialized by mem_hotplug_lock, which we
                // still hold: nobody can have set the bit again.
                assert_eq!(
                    k.run_now() & KSM_RUN_OFFLINE,
                    0,
                    "KSM_RUN_OFFLINE still set after the offline ended"
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
    pub use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
    pub use std::thread::{spawn, yield_now};

    /// `cv.wait(g)`, except that 5 s without a wake-up is a deadlock (a
    /// lost wake-up, a mutex never released; the tests hold nothing that
    /// long): fail instead of hanging, so that such a bug fails the suite
    /// at once rather than at its timeout.  (Inside an `extern "C"` call of
    /// the kernel layer the panic aborts the test binary: a failure too.)
    pub fn cv_wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let (g, res) = cv
            .wait_timeout(g, std::time::Duration::from_secs(5))
            .unwrap();
        assert!(!res.timed_out(), "deadlock: no wake-up for 5 s");
        g
    }

    /// Thread identity for [`LockOrder`](super::LockOrder).
    pub fn thread_key() -> String {
        format!("{:?}", std::thread::current().id())
    }

    /// `ksm_thread_mutex`: a `Mutex<bool>` + `Condvar`, so that lock and
    /// unlock can be two calls, as in C.
    pub struct KMutex {
        locked: Mutex<bool>,
        cv: Condvar,
        owner: Mutex<Option<String>>,
    }

    impl KMutex {
        pub fn new() -> Self {
            Self {
                locked: Mutex::new(false),
                cv: Condvar::new(),
                owner: Mutex::new(None),
            }
        }
        pub fn lock(&self) {
            let mut locked = self.locked.lock().unwrap();
            while *locked {
                locked = cv_wait(&self.cv, locked);
            }
            *locked = true;
            *self.owner.lock().unwrap() = Some(thread_key());
        }
        /// Only by the holder: `Err` (and nothing done) otherwise.
        pub fn unlock(&self) -> Result<(), String> {
            let mut locked = self.locked.lock().unwrap();
            let mut owner = self.owner.lock().unwrap();
            if owner.as_deref() != Some(&*thread_key()) {
                return Err(format!(
                    "mutex_unlock by {} of a ksm_thread_mutex held by {owner:?}",
                    thread_key()
                ));
            }
            *owner = None;
            *locked = false;
            drop((owner, locked));
            self.cv.notify_one();
            Ok(())
        }
        pub fn is_locked(&self) -> bool {
            self.owner.lock().unwrap().is_some()
        }
        pub fn held_by_current(&self) -> bool {
            self.owner.lock().unwrap().as_deref() == Some(&*thread_key())
        }
    }

    flavor!();
}

/// loom primitives: the model test.
pub mod loom_flavor {
    pub use loom::sync::atomic::{fence, AtomicUsize, Ordering};
    pub use loom::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
    pub use loom::thread::{spawn, yield_now};

    /// `cv.wait(g)`: loom itself fails an execution in which every thread
    /// is blocked.
    pub fn cv_wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        cv.wait(g).unwrap()
    }

    /// Thread identity for [`LockOrder`](super::LockOrder): loom's threads
    /// share one OS thread.
    pub fn thread_key() -> String {
        format!("{:?}", loom::thread::current().id())
    }

    /// A loom guard kept between the lock and the unlock call.  Sound
    /// here: every loom thread runs on the one OS thread of the model
    /// (std's reason for `!Send` guards does not arise), and [`KMutex`]
    /// drops it before the mutex it borrows.
    struct Stashed(MutexGuard<'static, ()>);
    unsafe impl Send for Stashed {}

    /// `ksm_thread_mutex` for loom: one loom `Mutex` whose guard is kept
    /// from the lock call to the unlock call.  A `Mutex<bool>` + `Condvar`
    /// (the std flavor) costs loom two more scheduling points per unlock,
    /// which the kernel's mutex does not have, and the state space grows
    /// with each; this keeps loom's branch points to the real ones.
    pub struct KMutex {
        // Declared (so dropped) before `m`, which it borrows.
        stash: std::sync::Mutex<Option<Stashed>>,
        owner: std::sync::Mutex<Option<String>>,
        m: Mutex<()>,
    }

    impl KMutex {
        pub fn new() -> Self {
            Self {
                stash: std::sync::Mutex::new(None),
                owner: std::sync::Mutex::new(None),
                m: Mutex::new(()),
            }
        }
        pub fn lock(&self) {
            let g = self.m.lock().unwrap();
            // SAFETY: see `Stashed`; the guard never outlives `self.m`.
            let g =
                unsafe { std::mem::transmute::<MutexGuard<'_, ()>, MutexGuard<'static, ()>>(g) };
            *self.stash.lock().unwrap() = Some(Stashed(g));
            *self.owner.lock().unwrap() = Some(thread_key());
        }
        /// Only by the holder: `Err` (and nothing done) otherwise.
        pub fn unlock(&self) -> Result<(), String> {
            let mut owner = self.owner.lock().unwrap();
            if owner.as_deref() != Some(&*thread_key()) {
                return Err(format!(
                    "mutex_unlock by {} of a ksm_thread_mutex held by {owner:?}",
                    thread_key()
                ));
            }
            *owner = None;
            drop(owner);
            let g = self.stash.lock().unwrap().take();
            drop(g);
            Ok(())
        }
        pub fn is_locked(&self) -> bool {
            self.owner.lock().unwrap().is_some()
        }
        pub fn held_by_current(&self) -> bool {
            self.owner.lock().unwrap().as_deref() == Some(&*thread_key())
        }
    }

    flavor!();
}
