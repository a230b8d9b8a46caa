//! [`Kind`]: what a finding is, one level finer than its [`super::Category`]; the `kind` column
//! of the table in `mod.rs`. Its name is part of the fingerprint and of findings.json.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($(#[$doc])* $variant,)*
        }

        impl Kind {
            pub const ALL: &[Kind] = &[$(Kind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }
        }
    };
}

kinds! {
    // Lockdep.
    CircularLocking = "circular_locking",
    RecursiveLocking = "recursive_locking",
    InconsistentLockState = "inconsistent_lock_state",
    IrqLockInversion = "irq_lock_inversion",
    IrqUnsafeOrder = "irq_unsafe_order",
    BadUnlockBalance = "bad_unlock_balance",
    BadContention = "bad_contention",
    HeldLockFreed = "held_lock_freed",
    LockHeldReturningToUser = "lock_held_returning_to_user",
    LockHeldAtExit = "lock_held_at_exit",
    NestedLockNotTaken = "nested_lock_not_taken",
    SuspiciousRcuUsage = "suspicious_rcu_usage",
    InvalidWaitContext = "invalid_wait_context",
    NonStaticKey = "non_static_key",
    LockdepLimit = "lockdep_limit",
    LockdepBug = "lockdep_bug",
    DebugLocksWarnOn = "debug_locks_warn_on",
    // Warnings and BUGs.
    Warn = "warn",
    SleepingInAtomic = "sleeping_in_atomic",
    SchedulingWhileAtomic = "scheduling_while_atomic",
    SpinlockLockup = "spinlock_lockup",
    SpinlockBug = "spinlock_bug",
    BadPageState = "bad_page_state",
    BadPageMap = "bad_page_map",
    BadRssCounter = "bad_rss_counter",
    PreemptibleContext = "preemptible_context",
    WorkqueueLeakedLock = "workqueue_leaked_lock",
    KernelBug = "kernel_bug",
    Bug = "bug",
    // Oopses and panics.
    NullPointer = "null_pointer",
    PagingRequest = "paging_request",
    Oops = "oops",
    InternalError = "internal_error",
    GeneralProtectionFault = "general_protection_fault",
    InvalidOpcode = "invalid_opcode",
    ProgramCheck = "program_check",
    Serror = "serror",
    BadMode = "bad_mode",
    StackOverflow = "stack_overflow",
    KernelPanic = "kernel_panic",
    // Hangs, stalls, lockups.
    HungTask = "hung_task",
    WorkqueueLockup = "workqueue_lockup",
    RcuStall = "rcu_stall",
    SoftLockup = "soft_lockup",
    HardLockup = "hard_lockup",
    // Sanitizers.
    Kasan = "kasan",
    Kfence = "kfence",
    Kmsan = "kmsan",
    Kcsan = "kcsan",
    Ubsan = "ubsan",
    Kmemleak = "kmemleak",
    // The rest.
    OomKill = "oom_kill",
    PrintkDropped = "printk_dropped",
    KernelMessagesMissed = "kernel_messages_missed",
    AnalyzerOverflow = "analyzer_overflow",
    LockdepTurnedOff = "lockdep_turned_off",
    /// A new boot (`Linux version ..`): closes what is open, never a finding.
    Boot = "boot",
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown finding kind {s:?}"))
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(*k));
            assert_eq!(serde_json::to_string(k).unwrap(), format!("\"{k}\""));
        }
        assert!("no_such_kind".parse::<Kind>().is_err());
    }
}
