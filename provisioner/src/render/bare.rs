//! Files of the `bare` profile: etcd's environment, the nginx site standing in for ingress,
//! Ceph's configuration, the udev rule for OSD disks and the Ceph probe agent. Pure functions
//! of the model.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::{secs, CEPH_CONF, CEPH_DEFAULT, CEPH_PROBE, CEPH_UDEV, ETCD_DEFAULT, NGINX_SITE};
use crate::model::{ClusterModel, Node};

/// Where etcd keeps its data in the bare profile: not Debian's `default`, which the package
/// may already have initialised as a one-member cluster when it was installed.
pub const ETCD_DATA_DIR: &str = "/var/lib/etcd/hadrill";

/// The bare profile's files of one node: (path, mode, content).
pub fn files(model: &ClusterModel, node: &Node) -> Vec<(&'static str, u32, String)> {
    let mut out = Vec::new();
    if node.control_plane {
        out.push((ETCD_DEFAULT, 0o644, etcd_default(model, node)));
    }
    if node.worker {
        out.push((NGINX_SITE, 0o644, nginx_site(model, node)));
    }
    out.push((CEPH_CONF, 0o644, ceph_conf(model)));
    if node.storage() {
        out.push((CEPH_DEFAULT, 0o644, CEPH_DEFAULT_ENV.to_owned()));
    }
    out.push((CEPH_PROBE, 0o755, ceph_probe().to_owned()));
    if let Some(rule) = ceph_udev(node) {
        out.push((CEPH_UDEV, 0o644, rule));
    }
    out
}

/// `/etc/default/ceph`, read by Ceph's daemon units at each start. Debian's own line, and a
/// random messenger nonce instead of the pid: a daemon restarted with the pid it had before
/// (a node container restarted, a quick reboot) otherwise looks to its peers like the old
/// instance, and its placement groups stay `peering` (seen on the container lab: every group
/// peering 11 minutes after two nodes came back, both OSDs again at pid 87). cephadm and Rook
/// set the same variable for the same reason.
const CEPH_DEFAULT_ENV: &str = "\
# Ceph's daemon units read this at each start (hadrill).
TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES=134217728
CEPH_USE_RANDOM_NONCE=1
";

/// `/etc/default/etcd` of one control-plane node (bare profile).
pub fn etcd_default(model: &ClusterModel, node: &Node) -> String {
    let e = &model.etcd;
    let peer = |n: &Node| format!("http://{}:{}", n.address, e.peer_port);
    let cluster: Vec<String> = model
        .nodes
        .iter()
        .filter(|n| n.control_plane)
        .map(|n| format!("{}={}", n.name, peer(n)))
        .collect();
    let client = format!("http://{}:{}", node.address, e.client_port);
    let vars = [
        ("ETCD_NAME", node.name.clone()),
        ("ETCD_DATA_DIR", ETCD_DATA_DIR.to_owned()),
        ("ETCD_LISTEN_PEER_URLS", peer(node)),
        (
            "ETCD_LISTEN_CLIENT_URLS",
            format!("{client},http://127.0.0.1:{}", e.client_port),
        ),
        ("ETCD_ADVERTISE_CLIENT_URLS", client),
        ("ETCD_INITIAL_ADVERTISE_PEER_URLS", peer(node)),
        ("ETCD_INITIAL_CLUSTER", cluster.join(",")),
        ("ETCD_INITIAL_CLUSTER_STATE", "new".to_owned()),
        ("ETCD_INITIAL_CLUSTER_TOKEN", model.name.clone()),
        (
            "ETCD_HEARTBEAT_INTERVAL",
            e.heartbeat.as_millis().to_string(),
        ),
        (
            "ETCD_ELECTION_TIMEOUT",
            e.election_timeout.as_millis().to_string(),
        ),
        ("ETCD_PRE_VOTE", e.pre_vote.to_string()),
    ];
    let mut s = String::from("# Rendered by hadrill from the cluster model; do not edit.\n");
    for (k, v) in vars {
        let _ = writeln!(s, "{k}={v}");
    }
    s
}

/// `/etc/nginx/sites-enabled/hadrill`: the ingress stand-in answers 200 with its host name.
pub fn nginx_site(model: &ClusterModel, node: &Node) -> String {
    format!(
        "# Rendered by hadrill from the cluster model; do not edit.\n\
         server {{\n    listen {port};\n    server_name _;\n    location / {{\n        \
         default_type text/plain;\n        return 200 \"{host}\\n\";\n    }}\n}}\n",
        port = model.haproxy.ingress_backend_port,
        host = node.name,
    )
}

/// FNV-1a 64 from a given basis: a tiny deterministic hash (not for security).
fn fnv1a(basis: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(basis, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The cluster's fsid: a UUID derived from its name (version 8, RFC 9562 variant), so that
/// every render of one model gives the same file.
pub fn ceph_fsid(name: &str) -> String {
    uuid_of(name)
}

/// The uuid of one OSD: derived from cluster, host and device, so that re-running the plan
/// finds the OSD it made before (`ceph osd new UUID` returns the same id).
pub fn osd_uuid(model: &ClusterModel, node: &Node, device: &str) -> String {
    uuid_of(&format!("{}/osd/{}/{device}", model.name, node.name))
}

/// A UUID-shaped value derived from a string (not random, not secret).
fn uuid_of(name: &str) -> String {
    let hi = fnv1a(0xcbf2_9ce4_8422_2325, name.as_bytes());
    let lo = fnv1a(0x84222325_cbf29ce4, name.as_bytes());
    let hi = (hi & !0xf000) | 0x8000;
    let lo = (lo & !(0xc << 60)) | (0x8 << 60);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// The network address of `addr/prefix`.
fn network(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(u32::from(addr) & mask)
}

/// `/etc/ceph/ceph.conf` (bare profile): the same on every node. Besides the model's timers:
/// the monitors do not lengthen the heartbeat grace of OSDs they find laggy (the model's grace
/// is the grace), `mon_data_avail_warn` suits a lab node's small disk, and the clock-drift
/// allowance suits emulated guests.
pub fn ceph_conf(model: &ClusterModel) -> String {
    let c = &model.ceph;
    let mons = model.ceph_mons();
    let names: Vec<&str> = mons.iter().map(|n| n.name.as_str()).collect();
    let addrs: Vec<String> = mons.iter().map(|n| n.address.to_string()).collect();
    let net = model
        .nodes
        .first()
        .map_or(model.vip, |n| n.address)
        .to_owned();
    let mut s = String::from("# Rendered by hadrill from the cluster model; do not edit.\n");
    let _ = write!(
        s,
        "[global]\nfsid = {fsid}\nmon_initial_members = {names}\nmon_host = {addrs}\n\
         public_network = {net}/{prefix}\n\
         auth_cluster_required = cephx\nauth_service_required = cephx\nauth_client_required = cephx\n\
         osd_pool_default_size = {size}\nosd_pool_default_min_size = {min_size}\n\
         osd_pool_default_pg_num = {pg}\nosd_heartbeat_interval = {hb_int}\n\
         osd_heartbeat_grace = {hb_grace}\nmon_osd_min_down_reporters = {reporters}\n\
         osd_mon_report_interval = {report}\npaxos_propose_interval = {propose}\n\
         mon_osd_down_out_interval = {down_out}\nmon_lease = {lease}\n\
         mon_election_timeout = {election}\n\
         auth_allow_insecure_global_id_reclaim = false\n\
         osd_pool_default_pg_autoscale_mode = off\n\
         osd_memory_target = {mem}\n\
         mon_osd_adjust_heartbeat_grace = false\n\
         mon_osd_adjust_down_out_interval = false\n\
         mon_data_avail_warn = 5\n\
         mon_clock_drift_allowed = 0.5\n",
        fsid = ceph_fsid(&model.name),
        names = names.join(", "),
        addrs = addrs.join(","),
        net = network(net, model.prefix_len),
        prefix = model.prefix_len,
        size = c.pool_size,
        min_size = c.pool_min_size,
        pg = c.pg_num,
        hb_int = secs(c.osd_heartbeat_interval),
        hb_grace = secs(c.osd_heartbeat_grace),
        reporters = c.min_down_reporters,
        report = secs(c.osd_mon_report_interval),
        propose = secs(c.paxos_propose_interval),
        down_out = secs(c.down_out_interval),
        lease = secs(c.mon_lease),
        election = secs(c.mon_election_timeout),
        mem = c.osd_memory_target,
    );
    s
}

/// Whether an OSD device is a file (a sparse file made by the plan) rather than a disk.
pub fn is_file_device(device: &str) -> bool {
    !device.starts_with("/dev/")
}

/// `/etc/udev/rules.d/90-hadrill-ceph.rules`: the `ceph` user owns the OSD disks (its daemons
/// run as `ceph`); None when the node has no disk-backed OSD.
pub fn ceph_udev(node: &Node) -> Option<String> {
    let disks: Vec<&str> = node
        .storage_devices
        .iter()
        .filter(|d| !is_file_device(d))
        .filter_map(|d| d.strip_prefix("/dev/"))
        .collect();
    if disks.is_empty() {
        return None;
    }
    let mut s = String::from("# Rendered by hadrill: OSD disks belong to the ceph user.\n");
    for d in disks {
        let _ = writeln!(
            s,
            "KERNEL==\"{d}\", OWNER=\"ceph\", GROUP=\"ceph\", MODE=\"0660\""
        );
    }
    Some(s)
}

/// The Ceph probe agent: a client of the pool that a lab's probe drives over SSH. It reads a
/// probe number per line on stdin, writes one object to the pool, and answers
/// `N ok MS` or `N err MS CAUSE` within the timeout. One connected client for the whole drill
/// (as an application would keep), reconnecting when the monitors drop it.
pub fn ceph_probe() -> &'static str {
    include_str!("ceph-probe.py")
}
