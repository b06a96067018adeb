//! Disk profiles: how a node's storage disk behaves, as data shared by the simulation and the
//! VM lab (which turns a profile into libvirt `<iotune>` caps, see vm-templates/disk-profiles).

use std::time::Duration;

/// The profile names a scenario may use in `slow-disk`.
pub const PROFILES: [&str; 3] = ["hdd-7200", "ssd", "unthrottled"];

/// One disk profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskProfile {
    /// Its name.
    pub name: &'static str,
    /// Random IOPS cap at queue depth 1 (`total_iops_sec`), 0 for none.
    pub iops: u32,
    /// Throughput cap in bytes per second (`total_bytes_sec`), 0 for none.
    pub bytes_per_sec: u64,
    /// Latency of one synchronous write (fdatasync) on this disk.
    pub sync_write: Duration,
}

/// Looks a profile up by name.
pub fn profile(name: &str) -> Option<DiskProfile> {
    let p = match name {
        // 7200 rpm: ≈12–13 ms average random access → ≈80 IOPS; ≈160 MB/s sequential.
        "hdd-7200" => DiskProfile {
            name: "hdd-7200",
            iops: 80,
            bytes_per_sec: 160_000_000,
            sync_write: Duration::from_millis(12),
        },
        "ssd" => DiskProfile {
            name: "ssd",
            iops: 20_000,
            bytes_per_sec: 500_000_000,
            sync_write: Duration::from_micros(800),
        },
        "unthrottled" => DiskProfile {
            name: "unthrottled",
            iops: 0,
            bytes_per_sec: 0,
            sync_write: Duration::from_micros(200),
        },
        _ => return None,
    };
    Some(p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_profile_exists() {
        for name in super::PROFILES {
            assert_eq!(super::profile(name).unwrap().name, name);
        }
    }
}
