//! The HA front every profile shares: HAProxy and keepalived on every proxy node, and the
//! sysctl that lets HAProxy bind the VIP where it is not held. Pure functions of the model.

use std::fmt::Write as _;

use super::{ms, secs};

/// keepalived's track file: its number is added to the node's priority (`move-vip` writes the
/// model's bonus into the target's; it lives in /run, so a reboot forgets it).
pub const VIP_TRACK_FILE: &str = "/run/hadrill-vip-weight";
/// HAProxy's runtime API (the `drain` fault puts a node's servers in maintenance through it).
pub const HAPROXY_SOCKET: &str = "/run/haproxy/admin.sock";
use crate::model::{ClusterModel, LbCheck, Node, Profile, VrrpCheck};

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
    s.push_str("global\n    log /dev/log local0\n    maxconn 4096\n    daemon\n");
    let _ = writeln!(
        s,
        "    stats socket {HAPROXY_SOCKET} mode 600 level admin\n"
    );
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
    // keepalived's check that asks this node's HAProxy on localhost (the kubeadm HA guide's)
    // needs a bind there: the VIP's alone would send it to whichever node holds the VIP.
    let local = model.keepalived.check == VrrpCheck::LocalLbHealthz;
    section(&mut s, model, "api", h.api_port, health, local);
    servers(&mut s, &api, api_port, server_opts);
    section(&mut s, model, "ingress", h.ingress_port, None, false);
    servers(&mut s, &ingress, h.ingress_backend_port, "check");
    s
}

/// A frontend on the VIP (and on localhost when `local`) and the head of its backend.
fn section(
    s: &mut String,
    model: &ClusterModel,
    name: &str,
    port: u16,
    health: Option<&str>,
    local: bool,
) {
    let _ = write!(s, "\nfrontend {name}\n    bind {}:{port}\n", model.vip);
    if local {
        let _ = writeln!(s, "    bind 127.0.0.1:{port}");
    }
    let _ = write!(
        s,
        "    default_backend {name}\n\nbackend {name}\n    balance roundrobin\n"
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

/// `/etc/keepalived/check-haproxy`: the seed's check (`killall -0 haproxy`: the process is
/// alive) without scanning every process. Two reads and a comparison in the shell: keepalived
/// runs it every interval, and on a loaded emulated guest `pgrep` took 0.17 s and `killall`
/// 0.09 s a run against 0.05 s for this. Not `pidof`: a symlink to killall5, which keepalived's
/// script security runs by its resolved name, so it fails on every node (seen here).
pub fn haproxy_check_script() -> String {
    "#!/bin/sh\n\
     # Rendered by hadrill: succeeds while the HAProxy of Debian's unit runs.\n\
     read -r pid < /run/haproxy.pid && read -r comm < \"/proc/$pid/comm\" && [ \"$comm\" = haproxy ]\n"
        .to_owned()
}

/// The command of keepalived's `vrrp_script`.
fn vrrp_check_script(model: &ClusterModel) -> String {
    match (model.keepalived.check, model.profile) {
        (VrrpCheck::HaproxyAlive, _) => super::KEEPALIVED_CHECK.to_owned(),
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
    let _ = write!(
        s,
        "global_defs {{\n    enable_script_security\n    script_user root\n    \
         vrrp_garp_master_delay {}\n}}\n\n",
        secs(k.garp_master_delay)
    );
    let _ = write!(
        s,
        "vrrp_script check_lb {{\n    script \"{script}\"\n    interval {interval}\n    \
         timeout {timeout}\n    fall {fall}\n    rise {rise}\n    weight {weight}\n}}\n\n",
        script = vrrp_check_script(model),
        interval = secs(k.check_interval),
        timeout = secs(k.check_timeout),
        fall = k.check_fall,
        rise = k.check_rise,
        weight = k.check_weight,
    );
    let _ = write!(
        s,
        "track_file move_vip {{\n    file \"{VIP_TRACK_FILE}\"\n    weight 1\n    init_file 0\n}}\n\n"
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
         track_script {{\n        check_lb\n    }}\n    track_file {{\n        move_vip\n    }}\n}}\n",
        model.vip, model.prefix_len
    );
    s
}
