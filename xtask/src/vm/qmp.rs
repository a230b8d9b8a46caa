//! QMP over QEMU's unix socket, through the qapi crate's typed commands. Every command and
//! reply is appended to the cell's qmp.log, so what the host did to the guest is on record.

use std::fs::File;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use qapi::qmp;

type Stream = qapi::Stream<BufReader<UnixStream>, UnixStream>;

pub struct Qmp {
    inner: qapi::Qmp<Stream>,
    log: File,
    t0: Instant,
}

impl Qmp {
    /// QEMU creates the socket a moment after it starts: retry until `timeout`.
    pub fn connect(socket: &Path, log: &Path, timeout: Duration) -> Result<Qmp> {
        let t0 = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(_) if t0.elapsed() < timeout => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => bail!("QMP socket {} did not come up in {:?}: {e}", socket.display(), timeout),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let reader = BufReader::new(stream.try_clone()?);
        let mut q = Qmp {
            inner: qapi::Qmp::new(qapi::Stream::new(reader, stream)),
            log: File::create(log).with_context(|| format!("creating {}", log.display()))?,
            t0,
        };
        let caps = q.inner.handshake().map_err(|e| anyhow::anyhow!("QMP handshake failed: {e}"))?;
        q.note(&format!(
            "<- greeting: QEMU {}.{}.{}",
            caps.version.qemu.major, caps.version.qemu.minor, caps.version.qemu.micro
        ));
        Ok(q)
    }

    fn note(&mut self, s: &str) {
        let _ = writeln!(self.log, "[{:8.3}] {s}", self.t0.elapsed().as_secs_f64());
    }

    fn exec<C: qapi::Command + std::fmt::Debug>(&mut self, c: &C) -> Result<C::Ok>
    where
        C::Ok: std::fmt::Debug,
    {
        self.note(&format!("-> {} {}", C::NAME, serde_json::to_string(c).unwrap_or_default()));
        let r = self.inner.execute(c);
        match &r {
            Ok(ok) => self.note(&format!("<- {:?}", ok)),
            Err(e) => self.note(&format!("<- error: {e}")),
        }
        self.drain_events();
        r.map_err(|e| anyhow::anyhow!("QMP {} failed: {e}", C::NAME))
    }

    fn drain_events(&mut self) -> Vec<qmp::Event> {
        let ev: Vec<qmp::Event> = self.inner.events().collect();
        for e in &ev {
            let s = format!("<- event {e:?}");
            self.note(&s);
        }
        ev
    }

    /// Hot-adds `mib` MiB as a pc-dimm: a memory-backend-ram object and the device on it.
    pub fn add_dimm(&mut self, id: &str, mib: u64) -> Result<()> {
        let backend = format!("{id}-mem");
        self.exec(&qmp::object_add(qmp::ObjectOptions::memory_backend_ram {
            id: backend.clone(),
            memory_backend_ram: qmp::MemoryBackendProperties {
                size: mib * 1024 * 1024,
                dump: None,
                host_nodes: None,
                merge: None,
                policy: None,
                prealloc: None,
                prealloc_context: None,
                prealloc_threads: None,
                reserve: None,
                share: None,
                x_use_canonical_path_for_ramblock_id: None,
            },
        }))?;
        let mut args = qapi::Dictionary::new();
        args.insert("memdev".into(), serde_json::Value::String(backend));
        self.exec(&qmp::device_add { driver: "pc-dimm".into(), id: Some(id.into()), bus: None, arguments: args })?;
        Ok(())
    }

    /// Asks the guest to eject the DIMM and waits for QEMU's DEVICE_DELETED event.
    pub fn remove_dimm(&mut self, id: &str, timeout: Duration) -> Result<()> {
        self.exec(&qmp::device_del { id: id.into() })?;
        let t0 = Instant::now();
        loop {
            // query-version is a harmless round trip that collects pending events.
            let _ = self.inner.execute(&qmp::query_version {});
            for e in self.drain_events() {
                if let qmp::Event::DEVICE_DELETED { data, .. } = &e {
                    if data.device.as_deref() == Some(id) {
                        return Ok(());
                    }
                }
            }
            if t0.elapsed() > timeout {
                bail!("no DEVICE_DELETED for {id} within {timeout:?}: the guest did not release the DIMM");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Number of memory devices QEMU still has (after a removal: must be 0).
    pub fn memory_devices(&mut self) -> Result<usize> {
        Ok(self.exec(&qmp::query_memory_devices {})?.len())
    }
}
