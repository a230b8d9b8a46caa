use super::*;

fn n(s: &[u8]) -> (String, Option<Caller>) {
    let x = normalize(s);
    (x.text().to_string(), x.caller)
}

#[test]
fn strips_transport_prefixes() {
    let cases: &[(&[u8], &str, Option<Caller>)] = &[
        (b"[   40.123456] WARNING: x", "WARNING: x", None),
        (b"[   40.123456]        __lock_acquire+0x5f2/0xb90", "       __lock_acquire+0x5f2/0xb90", None),
        (b"[   40.123456][ T1234] BUG: x", "BUG: x", Some(Caller::Task(1234))),
        (b"[   40.123456][    C1] rcu: x", "rcu: x", Some(Caller::Cpu(1))),
        (b"[T1] hello", "hello", Some(Caller::Task(1))),
        (b"<4>[   40.1] msg", "msg", None),
        (b"<4>msg", "msg", None),
        (b"6,339,5140900,-;msg", "msg", None),
        (b"4,10,20,-,caller=T7;msg", "msg", Some(Caller::Task(7))),
        (b"Jan  1 00:00:00 myhost kernel: [   40.1] msg", "msg", None),
        (b"Jan 01 00:00:00 myhost kernel: msg", "msg", None),
        (b"Jan 01 00:00:00 myhost systemd-journald[123]: Missed 3 kernel messages", "Missed 3 kernel messages", None),
        (b"2024-01-31T12:00:00.123456Z [   40.1] msg", "msg", None),
        (b"2024-01-31T12:00:00+01:00 host kernel: msg", "msg", None),
        (b"[Mon Jan  1 00:00:00 2024] msg", "msg", None),
        (b"kern  :warn  : [   40.1] msg", "msg", None),
        (b"[    5.100000] myhost kernel: msg", "msg", None),
        (b"kernel: msg", "msg", None),
        (b"[   40.1] msg\r", "msg", None),
        (b"\x1b[0;31m[   40.1] BUG: x\x1b[0m", "BUG: x", None),
        (b"progress 10%\r[   40.1] BUG: x", "BUG: x", None),
        (b"userspace says hi[   40.123456] WARNING: x", "WARNING: x", None),
        (
            b"[ INFO: possible circular locking dependency detected ]",
            "[ INFO: possible circular locking dependency detected ]",
            None,
        ),
        (b"plain text [1.5] here", "plain text [1.5] here", None),
    ];
    for (raw, text, caller) in cases {
        assert_eq!(n(raw), (text.to_string(), *caller), "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn survives_garbage() {
    for raw in [
        &b"\xff\xfe[ 1.0] \xc3"[..],
        b"[",
        b"[ T",
        b"<",
        b"<123",
        b"1,2,3,",
        b"\x1b",
        b"\x1b]",
        b"\r\r",
        b"2024-01-01T",
    ] {
        let _ = n(raw);
    }
    assert_eq!(n(b"\xffBUG: x").0, "\u{fffd}BUG: x");
}
