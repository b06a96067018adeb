//! Disk profiles: how a node's storage disk behaves, as data (vm-templates/disk-profiles.yaml)
//! shared by the simulation (the latency of a synchronous write) and the VM lab (libvirt
//! `<iotune>` caps on the OSD's disk, set at `up` and changed by the `slow-disk` fault).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

/// The profiles file, embedded: the binary needs no data files beside it.
const PROFILES_YAML: &str = include_str!("../../../vm-templates/disk-profiles.yaml");

/// One disk profile.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskProfile {
    /// Its name.
    pub name: String,
    /// Random IOPS cap (`total_iops_sec`), 0 for none.
    pub iops: u64,
    /// Throughput cap in bytes per second (`total_bytes_sec`), 0 for none.
    pub bytes_per_sec: u64,
    /// Latency of one synchronous write (fdatasync) on this disk.
    pub sync_write: Duration,
    /// What the disk is made of: the simulation's disk model (`hadrill bench`).
    pub mechanics: crate::sim::disk::Mechanics,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    total_iops_sec: u64,
    total_bytes_sec: u64,
    sync_write_ms: f64,
    model: crate::sim::disk::Mechanics,
}

fn all() -> &'static BTreeMap<String, DiskProfile> {
    static ALL: OnceLock<BTreeMap<String, DiskProfile>> = OnceLock::new();
    ALL.get_or_init(|| {
        let raw: BTreeMap<String, Raw> =
            provisioner::yaml::from_str(PROFILES_YAML).expect("disk-profiles.yaml parses (tested)");
        raw.into_iter()
            .map(|(name, r)| {
                let p = DiskProfile {
                    name: name.clone(),
                    iops: r.total_iops_sec,
                    bytes_per_sec: r.total_bytes_sec,
                    sync_write: Duration::from_secs_f64(r.sync_write_ms / 1000.0),
                    mechanics: r.model,
                };
                (name, p)
            })
            .collect()
    })
}

/// Every profile name, sorted.
pub fn names() -> Vec<&'static str> {
    all().keys().map(String::as_str).collect()
}

/// Looks a profile up by name.
pub fn profile(name: &str) -> Option<&'static DiskProfile> {
    all().get(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profiles_file_has_the_three_profiles() {
        assert_eq!(names(), ["hdd-7200", "ssd", "unthrottled"]);
        let hdd = profile("hdd-7200").unwrap();
        // 7200 rpm: ≈12–13 ms random access → ≈80 IOPS at queue depth 1 (FACTS.md).
        assert_eq!((hdd.iops, hdd.sync_write), (80, Duration::from_millis(12)));
        assert_eq!(profile("unthrottled").unwrap().iops, 0);
        assert!(profile("floppy").is_none());
    }
}
