//! Renders the configuration files of every host from a [`ClusterModel`].
//!
//! Owns the text of every file hadrill puts on a host: the HA front (`front`: haproxy.cfg,
//! keepalived.conf, sysctl), the `bare` profile's etcd, nginx and Ceph files (`bare`), and the
//! `kubernetes` profile's kubeadm configurations and add-on manifests (`kube`, built from typed
//! structs). It must not do IO: every function here is pure, so the same model gives
//! byte-identical files (the plan and the checker tests rely on it). Plain `format!` renders
//! the daemons' own formats: the files are short and every value comes straight from the model.
//!
//! **Invariant:** for a model that passes [`ClusterModel::check`], no value changes a file's
//! shape: what is spliced into a daemon's format is a number, an address, or a string of a
//! [`crate::model::Kind`] that admits no space, quote, brace, `#` or line break (so it adds no
//! line, word or directive); the manifests are typed values, serialized, never spliced.
//!
//! **Invariant:** no secret is ever rendered (VRRP runs without `authentication`; Ceph keys,
//! join tokens and certificate keys are made on the hosts and relayed, never rendered).

use std::time::Duration;

use crate::model::{ClusterModel, Profile};

pub mod bare;
pub mod front;
pub mod kube;

pub use bare::{ceph_conf, ceph_fsid, etcd_default, nginx_site};
pub use front::{haproxy_cfg, keepalived_conf, sysctl_conf};

/// One rendered file, destined for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Host name (a [`crate::model::Node::name`]).
    pub host: String,
    /// Absolute target path on the host.
    pub path: String,
    /// Unix permission bits.
    pub mode: u32,
    /// `user:group` that owns the file.
    pub owner: String,
    /// The whole file.
    pub content: String,
}

/// Target of the HAProxy configuration.
pub const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
/// keepalived's check that HAProxy runs (the `HaproxyAlive` check).
pub const KEEPALIVED_CHECK: &str = "/etc/keepalived/check-haproxy";
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
/// Target of the udev rule that gives OSD block devices to the `ceph` user.
pub const CEPH_UDEV: &str = "/etc/udev/rules.d/90-hadrill-ceph.rules";
/// The environment of Ceph's daemon units (`EnvironmentFile=` of `ceph-{mon,mgr,osd}@`).
pub const CEPH_DEFAULT: &str = "/etc/default/ceph";
/// Target of the Ceph probe agent (a client of the pool, driven by the lab's probe).
pub const CEPH_PROBE: &str = "/usr/local/lib/hadrill/ceph-probe";

/// Every file of every host, sorted by (host, path).
pub fn render(model: &ClusterModel) -> Vec<File> {
    let mut files = Vec::new();
    for node in &model.nodes {
        let mut add = |path: &str, mode: u32, content: String| {
            files.push(File {
                host: node.name.clone(),
                path: path.to_owned(),
                mode,
                owner: "root:root".to_owned(),
                content,
            });
        };
        if node.proxy {
            add(HAPROXY_CFG, 0o644, haproxy_cfg(model));
            add(KEEPALIVED_CONF, 0o644, keepalived_conf(model, node));
            if model.keepalived.check == crate::model::VrrpCheck::HaproxyAlive {
                add(KEEPALIVED_CHECK, 0o755, front::haproxy_check_script());
            }
            add(SYSCTL_CONF, 0o644, sysctl_conf());
        }
        match model.profile {
            Profile::Bare => {
                for (path, mode, content) in bare::files(model, node) {
                    add(path, mode, content);
                }
            }
            Profile::Kubernetes => {
                for (path, mode, content) in kube::files(model, node) {
                    add(&path, mode, content);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LbCheck, NodeId};

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

    /// The optional local-LB check curls this node's HAProxy on localhost, so the API's
    /// frontend listens there too, and only then (the ingress never).
    #[test]
    fn the_local_lb_check_has_a_local_bind_to_ask() {
        for profile in [Profile::Kubernetes, Profile::Bare] {
            let mut m = ClusterModel::seed(profile);
            let port = m.haproxy.api_port;
            let local = format!("    bind 127.0.0.1:{port}\n");
            assert!(!haproxy_cfg(&m).contains("127.0.0.1"), "{profile:?}");
            m.keepalived.check = crate::model::VrrpCheck::LocalLbHealthz;
            let cfg = haproxy_cfg(&m);
            let api = &cfg[cfg.find("frontend api\n").expect("api")..];
            let api = &api[..api.find("\n\n").expect("end")];
            assert!(api.contains(&local), "{cfg}");
            assert_eq!(cfg.matches("127.0.0.1").count(), 1, "{cfg}");
            let conf = keepalived_conf(&m, &m.nodes[0]);
            assert!(conf.contains(&format!("://localhost:{port}/")), "{conf}");
        }
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
            assert!(conf.contains("script \"/etc/keepalived/check-haproxy\""));
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
    fn kubernetes_renders_the_front_and_kube_files_only() {
        let m = ClusterModel::seed(Profile::Kubernetes);
        let files = render(&m);
        let kube: usize = m.nodes.iter().map(|n| kube::files(&m, n).len()).sum();
        // haproxy.cfg, keepalived.conf and its check script, the sysctl file: per proxy node.
        assert_eq!(files.len(), 12 + kube);
        assert!(!files
            .iter()
            .any(|f| f.path == ETCD_DEFAULT || f.path == CEPH_CONF));
        let init: Vec<&File> = files
            .iter()
            .filter(|f| f.path == kube::KUBEADM_INIT)
            .collect();
        assert_eq!(
            init.len(),
            1,
            "kubeadm init is configured on the zero-master only"
        );
        assert_eq!((init[0].host.as_str(), init[0].mode), ("node-1", 0o600));
    }
}
