//! The daemons' documented timing formulas, written out from their specifications and sources
//! rather than taken from the model's functions, so that a test comparing the simulation
//! against them compares two independent statements. Every input is a model setting.

// Each test binary that includes this uses some of these.
#![allow(dead_code)]

use std::time::Duration;

use provisioner::model::ClusterModel;

/// VRRPv2's Master_Down_Interval (RFC 3768 §6.1, what keepalived implements):
/// 3 × Advertisement_Interval + Skew_Time, where Skew_Time = (256 − Priority) / 256 seconds.
pub fn master_down(m: &ClusterModel, priority: u32) -> Duration {
    3 * m.keepalived.advert_int + skew_time(priority)
}

/// VRRPv2's Skew_Time (RFC 3768 §6.1): (256 − Priority) / 256 seconds. A backup that hears an
/// advert of priority 0 takes over after it (§6.4.2).
pub fn skew_time(priority: u32) -> Duration {
    Duration::from_secs_f64(f64::from(256 - priority) / 256.0)
}

/// The latest an OSD on a silently dead host is marked down, from Ceph's own code paths: peers
/// ping every 0.5 s + k/10 × osd_heartbeat_interval (k in 0..10, OSD.cc), so the first ping
/// after the death goes out up to 0.5 + 0.9 × interval later; the tick (1 s) after
/// osd_heartbeat_grace finds it unanswered; the failure goes to the mons with the next report
/// (osd_mon_report_interval, sent on a tick); the mons propose the new map within
/// paxos_propose_interval.
pub fn osd_marked_down_by(m: &ClusterModel) -> Duration {
    let c = &m.ceph;
    let tick = Duration::from_secs(1);
    Duration::from_millis(500)
        + c.osd_heartbeat_interval.mul_f64(0.9)
        + c.osd_heartbeat_grace
        + tick
        + c.osd_mon_report_interval
        + tick
        + c.paxos_propose_interval
}

/// The longest a Linux client keeps sending to a neighbour entry that went stale
/// (Documentation/networking/ip-sysctl.rst): REACHABLE for a random 0.5–1.5 ×
/// base_reachable_time after its last confirmation, then DELAY for delay_first_probe_time on
/// first use, then PROBE: ucast_solicit unicast probes retrans_time apart before it resolves
/// again by broadcast.
pub fn neighbour_kept(m: &ClusterModel) -> Duration {
    let n = &m.machine;
    n.neigh_reachable * 3 / 2 + n.neigh_delay_probe + n.neigh_probes
}

/// What two backups taking over at once can add (keepalived: vrrp_garp_master_delay): clients
/// that followed the one that steps down keep sending to it until the winner's second burst of
/// gratuitous ARPs, garp_master_delay after its first, which left up to the GARPs' lag after
/// its advert.
pub fn clash(m: &ClusterModel) -> Duration {
    m.keepalived.garp_master_delay + m.machine.vrrp_garp_lag
}
