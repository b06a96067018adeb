//! Renders the configuration files of every host from a [`ClusterModel`].
//!
//! Owns the text of haproxy.cfg, keepalived.conf, the sysctl drop-in and, in the bare profile,
//! /etc/default/etcd, the nginx site and ceph.conf. It must not do IO: every function here is
//! pure, so the same model gives byte-identical files (the plan and the checker tests rely on it).
//! Plain `format!` is used instead of a template engine: the files are short and every value
//! comes straight from the model.
//!
//! **Invariant:** no secret is ever rendered (VRRP runs without `authentication`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::model::{ClusterModel, LbCheck, Node, Profile, VrrpCheck};

/// One rendered file, destined for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Host name (a [`Node::name`]).
    pub host: String,
    /// Absolute target path on the host.
    pub path: String,
    /// Unix permission bits.
    pub mode: u32,
    /// The whole file.
    pub content: String,
}

/// Target of the HAProxy configuration.
pub const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
/// Target of the keepalived configuration.
pub const KEEPALIVED_CONF: &str = "/etc/keepalived/keepalived.conf";
/// Target of the sysctl drop-in that lets HAProxy bind the VIP on a backup.
pub const SYSCTL_CONF: &str = "/etc/sysctl.d/90-hadrill.conf";
/// Target of the etcd environment file (Debian's etcd-server reads it).
pub const ETCD_DEFAULT: &str = "/etc/default/etcd";
/// Target of the nginx site standing in for the ingress controller.
pub const NGINX_SITE: &str = "/etc/nginx/sites-enabled/hadrill";
/// Target of the Ceph configuration.
pub const CEPH_CONF: &str = "/etc/ceph/ceph.conf";

/// Every file of every host, sorted by (host, path).
pub fn render(model: &ClusterModel) -> Vec<File> {
    let mut files = Vec::new();
    for node in &model.nodes {
        let mut file = |path: &str, content: String| {
            files.push(File {
                host: node.name.clone(),
                path: path.to_owned(),
                mode: 0o644,
                content,
            });
        };
        if node.proxy {
            file(HAPROXY_CFG, haproxy_cfg(model));
            file(KEEPALIVED_CONF, keepalived_conf(model, node));
            file(SYSCTL_CONF, sysctl_conf());
        }
        if model.profile == Profile::Bare {
            if node.control_plane {
                file(ETCD_DEFAULT, etcd_default(model, node));
            }
            if node.worker {
                file(NGINX_SITE, nginx_site(model, node));
            }
            file(CEPH_CONF, ceph_conf(model));
        }
    }
    files.sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
    files
}

/// Milliseconds, as HAProxy wants them (`2000ms`).
fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Seconds, as keepalived and Ceph want them: an integer when whole, else a decimal.
fn secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}", d.as_secs_f64())
    }
}

/// The port the API frontend forwards to on each control-plane node.
fn api_backend_port(model: &ClusterModel) -> u16 {
    match model.profile {
        Profile::Bare => model.etcd.client_port,
        Profile::Kubernetes => model.kube.api_server_port,
    }
}

/// `/etc/haproxy/haproxy.cfg`: the same on every proxy node.
pub fn haproxy_cfg(model: &ClusterModel) -> String {
    let h = &model.haproxy;
    let mut s = String::new();
    s.push_str("# Rendered by hadrill from the cluster model; do not edit.\n");
    s.push_str("global\n    log /dev/log local0\n    maxconn 4096\n    daemon\n\n");
    s.push_str("defaults\n    log global\n    mode tcp\n    option tcplog\n");
    let _ = writeln!(s, "    retries {}", h.retries);
    if h.redispatch {
        s.push_str("    option redispatch\n");
    }
    let _ = writeln!(s, "    timeout connect {}", ms(h.timeout_connect));
    let _ = writeln!(s, "    timeout client {}", ms(h.timeout_idle));
    let _ = writeln!(s, "    timeout server {}", ms(h.timeout_idle));
    if let Some(check) = h.timeout_check {
        let _ = writeln!(s, "    timeout check {}", ms(check));
    }
    let _ = writeln!(
        s,
        "    default-server inter {} fall {} rise {}",
        ms(h.check_inter),
        h.check_fall,
        h.check_rise
    );
    let api: Vec<&Node> = model.nodes.iter().filter(|n| n.control_plane).collect();
    let ingress: Vec<&Node> = model.nodes.iter().filter(|n| n.worker).collect();
    let (health, server_opts) = match (h.api_check, model.profile) {
        (LbCheck::Tcp, _) => (None, "check"),
        (LbCheck::HttpHealth, Profile::Bare) => (Some("/health"), "check"),
        (LbCheck::HttpHealth, Profile::Kubernetes) => {
            (Some("/healthz"), "check check-ssl verify none")
        }
    };
    let api_port = api_backend_port(model);
    section(&mut s, model, "api", h.api_port, health);
    servers(&mut s, &api, api_port, server_opts);
    section(&mut s, model, "ingress", h.ingress_port, None);
    servers(&mut s, &ingress, h.ingress_backend_port, "check");
    s
}

/// A frontend on the VIP and the head of its backend.
fn section(s: &mut String, model: &ClusterModel, name: &str, port: u16, health: Option<&str>) {
    let _ = write!(
        s,
        "\nfrontend {name}\n    bind {vip}:{port}\n    default_backend {name}\n\n\
         backend {name}\n    balance roundrobin\n",
        vip = model.vip
    );
    if let Some(path) = health {
        let _ = writeln!(s, "    option httpchk GET {path}");
        s.push_str("    http-check expect status 200\n");
    }
}

/// One `server` line per node.
fn servers(s: &mut String, nodes: &[&Node], port: u16, opts: &str) {
    for n in nodes {
        let _ = writeln!(s, "    server {} {}:{port} {opts}", n.name, n.address);
    }
}

/// `/etc/sysctl.d/90-hadrill.conf`: HAProxy binds the VIP even where it is not local.
pub fn sysctl_conf() -> String {
    "# Rendered by hadrill: HAProxy binds the VIP on nodes that do not hold it.\n\
     net.ipv4.ip_nonlocal_bind = 1\n"
        .to_owned()
}

/// The command of keepalived's `vrrp_script`.
fn vrrp_check_script(model: &ClusterModel) -> String {
    match (model.keepalived.check, model.profile) {
        (VrrpCheck::HaproxyAlive, _) => "/usr/bin/pidof haproxy".to_owned(),
        (VrrpCheck::LocalLbHealthz, Profile::Kubernetes) => format!(
            "/usr/bin/curl -sfk --max-time 2 https://localhost:{}/healthz",
            model.haproxy.api_port
        ),
        (VrrpCheck::LocalLbHealthz, Profile::Bare) => format!(
            "/usr/bin/curl -sf --max-time 2 http://localhost:{}/health",
            model.haproxy.api_port
        ),
    }
}

/// `/etc/keepalived/keepalived.conf` of one proxy node.
pub fn keepalived_conf(model: &ClusterModel, node: &Node) -> String {
    let k = &model.keepalived;
    let mut s = String::new();
    s.push_str("# Rendered by hadrill from the cluster model; do not edit.\n");
    s.push_str("global_defs {\n    enable_script_security\n    script_user root\n}\n\n");
    let _ = write!(
        s,
        "vrrp_script check_lb {{\n    script \"{script}\"\n    interval {interval}\n    \
         fall {fall}\n    rise {rise}\n    weight {weight}\n}}\n\n",
        script = vrrp_check_script(model),
        interval = secs(k.check_interval),
        fall = k.check_fall,
        rise = k.check_rise,
        weight = k.check_weight,
    );
    let state = if node.vrrp_initial_master {
        "MASTER"
    } else {
        "BACKUP"
    };
    let _ = write!(
        s,
        "vrrp_instance VI_{id} {{\n    state {state}\n    interface {iface}\n    \
         virtual_router_id {id}\n    priority {prio}\n    advert_int {advert}\n",
        id = k.virtual_router_id,
        iface = model.vip_interface,
        prio = node.vrrp_priority,
        advert = secs(k.advert_int),
    );
    if k.nopreempt {
        s.push_str("    nopreempt\n");
    }
    let _ = writeln!(s, "    unicast_src_ip {}", node.address);
    s.push_str("    unicast_peer {\n");
    for peer in model
        .nodes
        .iter()
        .filter(|n| n.proxy && n.name != node.name)
    {
        let _ = writeln!(s, "        {}", peer.address);
    }
    let _ = write!(
        s,
        "    }}\n    virtual_ipaddress {{\n        {}/{}\n    }}\n    \
         track_script {{\n        check_lb\n    }}\n}}\n",
        model.vip, model.prefix_len
    );
    s
}

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
        ("ETCD_DATA_DIR", "/var/lib/etcd/default".to_owned()),
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

/// A UUID-shaped placeholder fsid derived from the cluster name (version 8, RFC 9562 variant).
pub fn ceph_fsid(name: &str) -> String {
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

/// `/etc/ceph/ceph.conf` (bare profile): the same on every node.
pub fn ceph_conf(model: &ClusterModel) -> String {
    let c = &model.ceph;
    let n_mons = usize::try_from(c.n_mons).expect("u32 fits usize");
    let mons: Vec<&Node> = model
        .nodes
        .iter()
        .filter(|n| n.storage())
        .take(n_mons)
        .collect();
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
         mon_osd_down_out_interval = {down_out}\nmon_lease = {lease}\n\
         mon_election_timeout = {election}\n",
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
        down_out = secs(c.down_out_interval),
        lease = secs(c.mon_lease),
        election = secs(c.mon_election_timeout),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NodeId;

    fn file<'a>(files: &'a [File], host: &str, path: &str) -> &'a str {
        &files
            .iter()
            .find(|f| f.host == host && f.path == path)
            .unwrap_or_else(|| panic!("no {path} on {host}"))
            .content
    }

    #[test]
    fn deterministic_and_sorted() {
        for profile in [Profile::Bare, Profile::Kubernetes] {
            let m = ClusterModel::seed(profile);
            let a = render(&m);
            assert_eq!(a, render(&m));
            let keys: Vec<_> = a.iter().map(|f| (&f.host, &f.path)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(keys, sorted);
        }
    }

    #[test]
    fn haproxy_lists_every_backend() {
        let m = ClusterModel::seed(Profile::Kubernetes);
        let cfg = haproxy_cfg(&m);
        for n in &m.nodes {
            assert!(cfg.contains(&format!("server {} {}:6443 check\n", n.name, n.address)));
            assert!(cfg.contains(&format!("server {} {}:880 check\n", n.name, n.address)));
        }
        assert!(cfg.contains("bind 10.77.0.100:6445\n"));
        let bare = haproxy_cfg(&ClusterModel::seed(Profile::Bare));
        assert_eq!(bare.matches(":2379 check\n").count(), 3);
        assert!(bare.contains("bind 10.77.0.100:6443\n"));
        assert!(bare.contains("default-server inter 2000ms fall 3 rise 2\n"));
        assert!(bare.contains("timeout client 60000ms\n"));
        assert!(bare.contains("option redispatch\n"));
    }

    #[test]
    fn haproxy_http_health() {
        let mut m = ClusterModel::seed(Profile::Kubernetes);
        m.haproxy.api_check = LbCheck::HttpHealth;
        let cfg = haproxy_cfg(&m);
        assert!(cfg.contains("option httpchk GET /healthz\n"));
        assert!(cfg.contains(":6443 check check-ssl verify none\n"));
        let mut m = ClusterModel::seed(Profile::Bare);
        m.haproxy.api_check = LbCheck::HttpHealth;
        m.haproxy.redispatch = false;
        let cfg = haproxy_cfg(&m);
        assert!(cfg.contains("option httpchk GET /health\n"));
        assert!(!cfg.contains("redispatch"));
    }

    #[test]
    fn keepalived_priorities_match_model() {
        let m = ClusterModel::seed(Profile::Bare);
        let files = render(&m);
        for id in m.node_ids() {
            let n = m.node(id);
            let conf = file(&files, &n.name, KEEPALIVED_CONF);
            assert!(conf.contains(&format!("    priority {}\n", n.vrrp_priority)));
            let state = if n.vrrp_initial_master {
                "MASTER"
            } else {
                "BACKUP"
            };
            assert!(conf.contains(&format!("    state {state}\n")));
            assert!(conf.contains("script \"/usr/bin/pidof haproxy\""));
            assert!(!conf.contains("killall"));
            assert!(!conf.contains(&format!("        {}\n", n.address)));
            let peers = conf.split("unicast_peer {").nth(1).expect("peers");
            let peers = peers.split('}').next().expect("block");
            assert_eq!(peers.matches("10.77.0.").count(), 2);
        }
        assert_eq!(m.node(NodeId(0)).vrrp_priority, 101);
    }

    #[test]
    fn etcd_cluster_and_timers() {
        let m = ClusterModel::seed(Profile::Bare);
        let conf = etcd_default(&m, &m.nodes[1]);
        assert!(conf.contains("ETCD_NAME=node-2\n"));
        assert!(conf.contains(
            "ETCD_INITIAL_CLUSTER=node-1=http://10.77.0.11:2380,\
             node-2=http://10.77.0.12:2380,node-3=http://10.77.0.13:2380\n"
        ));
        assert!(conf.contains("ETCD_HEARTBEAT_INTERVAL=100\nETCD_ELECTION_TIMEOUT=1000\n"));
        assert!(
            conf.contains("ETCD_LISTEN_CLIENT_URLS=http://10.77.0.12:2379,http://127.0.0.1:2379\n")
        );
    }

    #[test]
    fn ceph_conf_from_model() {
        let m = ClusterModel::seed(Profile::Bare);
        let conf = ceph_conf(&m);
        assert!(conf.contains("mon_host = 10.77.0.11,10.77.0.12,10.77.0.13\n"));
        assert!(conf.contains("public_network = 10.77.0.0/24\n"));
        assert!(conf.contains("osd_heartbeat_grace = 20\n"));
        assert!(conf.contains("mon_osd_down_out_interval = 600\n"));
        assert!(conf.contains("osd_pool_default_min_size = 2\n"));
        assert_eq!(ceph_fsid("hadrill"), ceph_fsid("hadrill"));
        assert_ne!(ceph_fsid("hadrill"), ceph_fsid("other"));
        assert_eq!(ceph_fsid("hadrill").len(), 36);
    }

    #[test]
    fn kubernetes_renders_only_proxy_files() {
        let files = render(&ClusterModel::seed(Profile::Kubernetes));
        assert_eq!(files.len(), 9);
        assert!(files
            .iter()
            .all(|f| [HAPROXY_CFG, KEEPALIVED_CONF, SYSCTL_CONF].contains(&f.path.as_str())));
    }
}
