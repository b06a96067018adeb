//! KVM or TCG: decided by booting a real guest kernel under KVM, because the cheap checks lie
//! on hosts where nested virtualisation half works (`/dev/kvm` exists, QEMU starts with
//! `-accel kvm`, libvirt reports kvm, yet a Linux guest hangs before its first message).
//!
//! The probe boots the node kernel with no root file system and `panic=-1`: under a working
//! KVM the transient domain ends within a few seconds. The answer is cached per host boot
//! (`$HADRILL_HOME/accel.json`, keyed by the kernel's boot id).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use virt::connect::Connect;
use virt::sys;

/// Longest the probe guest may take to panic and end under KVM.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// The accelerator and why it was chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accel {
    /// `kvm` or `qemu` (libvirt's domain type for TCG).
    pub kind: String,
    /// Why, in a few words.
    pub why: String,
    /// The host boot this was found on.
    boot_id: String,
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn tcg(why: &str) -> Accel {
    Accel {
        kind: "qemu".into(),
        why: format!("TCG: {why}"),
        boot_id: boot_id(),
    }
}

/// KVM when a guest really boots under it, else TCG.
pub fn detect(conn: &Connect, kernel: &Option<PathBuf>, home: &Path, say: &dyn Fn(&str)) -> Accel {
    let cache = home.join("accel.json");
    if let Some(a) = std::fs::read_to_string(&cache)
        .ok()
        .and_then(|t| serde_json::from_str::<Accel>(&t).ok())
        .filter(|a| a.boot_id == boot_id())
    {
        return a;
    }
    let a = probe(conn, kernel.as_deref(), say);
    if std::fs::create_dir_all(home).is_ok() {
        let _ = std::fs::write(&cache, serde_json::to_string(&a).expect("serializes"));
    }
    a
}

fn probe(conn: &Connect, kernel: Option<&Path>, say: &dyn Fn(&str)) -> Accel {
    if !Path::new("/dev/kvm").exists() {
        return tcg("no /dev/kvm");
    }
    let Some(kernel) = kernel else {
        return Accel {
            kind: "kvm".into(),
            why: "KVM: /dev/kvm present (not probed: no guest kernel at hand)".into(),
            boot_id: boot_id(),
        };
    };
    say("probing KVM with a guest kernel");
    let (uid, gid) = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").map_or((0, 0), |m| (m.uid(), m.gid()))
    };
    let name = format!("hadrill-kvm-probe-{}", std::process::id());
    let xml = super::xml::kvm_probe(&name, &kernel.display().to_string(), uid, gid);
    // AUTODESTROY: libvirt removes the probe when this connection closes, even after a crash.
    let dom = match conn.create_domain_xml(&xml, sys::VIR_DOMAIN_START_AUTODESTROY) {
        Ok(d) => d,
        Err(e) => return tcg(&format!("a KVM guest does not start ({})", e.message())),
    };
    let start = crate::wall::now();
    while start.elapsed() < PROBE_TIMEOUT {
        match dom.is_active() {
            Ok(true) => std::thread::sleep(Duration::from_millis(200)),
            _ => {
                return Accel {
                    kind: "kvm".into(),
                    why: format!(
                        "KVM: a guest kernel booted in {:.1} s",
                        start.elapsed().as_secs_f64()
                    ),
                    boot_id: boot_id(),
                }
            }
        }
    }
    let _ = dom.destroy();
    tcg(&format!(
        "a guest kernel under KVM did not boot within {} s",
        PROBE_TIMEOUT.as_secs()
    ))
}
