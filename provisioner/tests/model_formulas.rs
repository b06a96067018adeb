//! The model's derived figures against the daemons' documented formulas, written out here
//! with the seed's settings (Ceph's, keepalived's, etcd's defaults), not computed by calling
//! the model's own code: a changed term in the model fails these.

use std::net::Ipv4Addr;
use std::time::Duration;

use provisioner::model::{ClusterModel, Profile};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn profiles_are_named_as_the_cli_and_reports_name_them() {
    assert_eq!(Profile::Bare.as_str(), "bare");
    assert_eq!(Profile::Kubernetes.as_str(), "kubernetes");
}

/// Ceph's OSD heartbeats (OSD.cc): each wait is 0.5 s + k/10 × osd_heartbeat_interval for a
/// random k in 0..10, so at most 0.5 + 0.9 × 6 = 5.9 s with the default 6 s. A silent OSD is
/// marked down at most that, plus osd_heartbeat_grace (20 s), a tick (1 s), the failure
/// report's interval (osd_mon_report_interval, 5 s), a tick, and paxos_propose_interval (1 s)
/// later.
#[test]
fn ceph_marks_a_silent_osd_down_within_its_documented_timers() {
    let c = ClusterModel::seed(Profile::Bare).ceph;
    assert_eq!(c.ping_period_max(), secs(5.9));
    assert_eq!(
        c.osd_markdown_bound(),
        secs(5.9 + 20.0 + 1.0 + 5.0 + 1.0 + 1.0)
    );
    // Each term is the setting's, not a constant: a longer grace lengthens the bound by as much.
    let mut longer = c.clone();
    longer.osd_heartbeat_grace = secs(30.0);
    longer.osd_heartbeat_interval = secs(2.0);
    assert_eq!(longer.ping_period_max(), secs(0.5 + 1.8));
    assert_eq!(
        longer.osd_markdown_bound(),
        secs(0.5 + 1.8 + 30.0 + 1.0 + 5.0 + 1.0 + 1.0)
    );
}

/// A majority: ⌊n/2⌋ + 1 (etcd's and Ceph's monitors' quorum alike).
#[test]
fn quorum_is_a_majority() {
    for (members, quorum) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)] {
        let mut m = ClusterModel::seed(Profile::Bare);
        m.nodes = (0..members).map(|i| node(&m, i)).collect();
        assert_eq!(m.etcd_quorum(), quorum, "{members} etcd members");
        m.ceph.n_mons = members as u32;
        assert_eq!(m.mon_quorum(), quorum, "{members} monitors");
    }
}

/// keepalived's `track_script` weight: a positive weight is added while the check passes, a
/// negative one while it fails (keepalived.conf(5)); the result stays within 1–254.
#[test]
fn a_check_scripts_weight_moves_the_priority_as_keepalived_documents() {
    let mut m = ClusterModel::seed(Profile::Bare);
    let one = m.node_ids().next().unwrap();
    let base = m.node(one).vrrp_priority;
    assert_eq!(base, 101);
    for (weight, passing, failing) in [(2, 103, 101), (-20, 101, 81), (0, 101, 101)] {
        m.keepalived.check_weight = weight;
        assert_eq!(
            m.vrrp_priority(one, true),
            passing,
            "weight {weight}, passing"
        );
        assert_eq!(
            m.vrrp_priority(one, false),
            failing,
            "weight {weight}, failing"
        );
    }
    m.nodes[0].vrrp_priority = 254;
    m.keepalived.check_weight = 10;
    assert_eq!(m.vrrp_priority(one, true), 254);
    m.nodes[0].vrrp_priority = 5;
    m.keepalived.check_weight = -10;
    assert_eq!(m.vrrp_priority(one, false), 1);
}

/// After every heal, each service is back within the slowest recovery path: a boot (40 s),
/// then the longest of the client's neighbour entry going stale and re-resolved (1.5 ×
/// reachable 30 s + delay-probe 5 s + probes 3 s), HAProxy's rise (inter 2 s × (rise 2 + 1))
/// with an OSD marked down and re-peered (the mark-down bound + 1.5 s), and a backup's
/// master-down at priority 1 (3 × 1 s + 255/256 s) with two etcd elections (2 × the election
/// timeout, 1 s); plus a probe's 2 s.
/// With the seed's timers the neighbour path is the slowest; a 60 s OSD grace makes the
/// HAProxy-and-Ceph path the slowest, a 30 s etcd election timeout the election path.
#[test]
fn the_recovery_bound_is_the_slowest_documented_path() {
    let seed = ClusterModel::seed(Profile::Bare);
    let neigh = 30.0 * 1.5 + 5.0 + 3.0;
    let lb_osd = |grace: f64| 2.0 * (2.0 + 1.0) + (5.9 + grace + 1.0 + 5.0 + 1.0 + 1.0) + 1.5;
    let election = |timeout: f64| 3.0 + 255.0 / 256.0 + 2.0 * timeout;
    let mut slow_osd = seed.clone();
    slow_osd.ceph.osd_heartbeat_grace = secs(60.0);
    let mut slow_etcd = seed.clone();
    slow_etcd.etcd.election_timeout = secs(30.0);
    for (m, grace, timeout, slowest) in [
        (&seed, 20.0, 1.0, neigh),
        (&slow_osd, 60.0, 1.0, lb_osd(60.0)),
        (&slow_etcd, 20.0, 30.0, election(30.0)),
    ] {
        let paths = [neigh, lb_osd(grace), election(timeout)];
        assert_eq!(paths.iter().copied().fold(0.0, f64::max), slowest);
        let want = 40.0 + slowest + 2.0;
        let got = m.recovery_bound().as_secs_f64();
        assert!((got - want).abs() < 1e-6, "{got} s, want {want} s");
    }
}

/// The seed's cluster: node-1 alone claims the VIP at start (`state MASTER`, priority 101).
#[test]
fn one_node_starts_as_vrrp_master() {
    let m = ClusterModel::three_nodes(Profile::Bare, [10, 1, 2]);
    let masters: Vec<&str> = m
        .nodes
        .iter()
        .filter(|n| n.vrrp_initial_master)
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(masters, ["node-1"]);
    assert_eq!(m.nodes[1].address, Ipv4Addr::new(10, 1, 2, 12));
}

/// 1 to 16 nodes: none and seventeen are refused by the model itself, whatever built it.
#[test]
fn a_model_has_one_to_sixteen_nodes() {
    let mut m = ClusterModel::seed(Profile::Bare);
    m.nodes = (0..16).map(|i| node(&m, i)).collect();
    m.check().unwrap_or_else(|e| panic!("16 nodes: {e:?}"));
    m.nodes.push(node(&m, 16));
    assert!(m.check().is_err(), "17 nodes");
    m.nodes.clear();
    assert!(m.check().is_err(), "no node");
}

/// The `i`-th node like the seed's first, with its own name and address.
fn node(m: &ClusterModel, i: usize) -> provisioner::model::Node {
    let mut n = m.nodes[0].clone();
    n.name = format!("n{i}");
    n.address = Ipv4Addr::new(10, 77, 0, 20 + i as u8);
    n.vrrp_initial_master = i == 0;
    n
}

/// Ceph's OSD memory target as rendered for the labs' small nodes: 512 MiB (Ceph's default is
/// 4 GiB, more than a lab node has), in bytes, in the bare profile's ceph.conf.
#[test]
fn the_osd_memory_target_is_512_mib_in_ceph_conf() {
    let m = ClusterModel::seed(Profile::Bare);
    assert_eq!(m.ceph.osd_memory_target, 512 * 1024 * 1024);
    let conf = provisioner::render::render(&m)
        .into_iter()
        .find(|f| f.path == "/etc/ceph/ceph.conf")
        .expect("ceph.conf is rendered");
    assert!(
        conf.content.contains("osd_memory_target = 536870912\n"),
        "{}",
        conf.content
    );
}

/// An OSD on a file (a device path outside /dev, as the container lab uses) is made 4 GiB
/// when missing: the plan truncates it to that size, in bytes.
#[test]
fn a_file_backed_osd_is_made_4_gib() {
    let mut m = ClusterModel::seed(Profile::Bare);
    assert_eq!(m.ceph.file_osd_size, 4 * 1024 * 1024 * 1024);
    m.nodes[0].storage_devices = vec!["/var/lib/hadrill/osd0.img".into()];
    let plan = provisioner::plan::plan(&m);
    let osd = plan
        .steps
        .iter()
        .flat_map(|s| s.commands())
        .find(|c| c.contains("osd0.img") && c.contains("truncate"))
        .expect("a step makes the file");
    assert!(osd.contains("truncate -s 4294967296 "), "{osd}");
}
