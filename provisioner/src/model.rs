//! The cluster model: topology, settings and every protocol timer, in one place.
//!
//! Both the rendered configuration files (`render`) and the simulation (`harness::sim`) read their
//! values from a [`ClusterModel`], so what the simulation predicts and what the real daemons are
//! told cannot drift apart. This module is pure data: no IO, no async, no rendering.
//!
//! The defaults are the seed article's design (danch/cluster-ansible) with each daemon's own
//! defaults where the seed does not set a value; ../shared/FACTS.md names the source of each.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Index of a node in [`ClusterModel::nodes`]; stable for the life of a lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u8);

impl NodeId {
    /// The index into `ClusterModel::nodes`.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// What runs on the cluster: the seed's Kubernetes stack, or the bare stand-in that runs here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// kubeadm stacked control plane, flannel, rook/Ceph, traefik (the seed).
    Kubernetes,
    /// keepalived + HAProxy in front of a 3-member etcd (the `api` stand-in), nginx, Ceph.
    Bare,
}

impl Profile {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Kubernetes => "kubernetes",
            Profile::Bare => "bare",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kubernetes" => Ok(Profile::Kubernetes),
            "bare" => Ok(Profile::Bare),
            other => Err(format!(
                "unknown profile `{other}` (expected kubernetes or bare)"
            )),
        }
    }
}

/// One machine of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Host name, as in the inventory (`node-1`, `opti`, ...).
    pub name: String,
    /// Address on the cluster network.
    pub address: Ipv4Addr,
    /// SSH access to the host.
    pub ssh: Ssh,
    /// Runs a control-plane member (API server, etcd, controller-manager, scheduler).
    pub control_plane: bool,
    /// Runs workloads (kubelet with pods; traefik).
    pub worker: bool,
    /// Runs keepalived and HAProxy.
    pub proxy: bool,
    /// Block devices given to Ceph OSDs (one OSD each); empty on non-storage hosts.
    pub storage_devices: Vec<String>,
    /// keepalived base priority before check-script weights.
    pub vrrp_priority: u8,
    /// keepalived `state MASTER` (claims the VIP at start) rather than `state BACKUP`.
    pub vrrp_initial_master: bool,
}

impl Node {
    /// Whether this host runs a Ceph OSD.
    pub fn storage(&self) -> bool {
        !self.storage_devices.is_empty()
    }
}

/// SSH access to one host. The key is a path; its contents are never read into the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ssh {
    /// Login user.
    pub user: String,
    /// TCP port of sshd.
    pub port: u16,
    /// Private key file, if not the agent or the default key.
    pub key: Option<std::path::PathBuf>,
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh {
            user: "root".to_owned(),
            port: 22,
            key: None,
        }
    }
}

/// How keepalived's `vrrp_script` decides that its host should hold the VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VrrpCheck {
    /// The seed: `killall -0 haproxy`: the HAProxy process is alive (nothing else).
    HaproxyAlive,
    /// The kubeadm HA guide: `curl -sfk https://localhost:LB_PORT/healthz` through local HAProxy.
    LocalLbHealthz,
}

/// keepalived (VRRP) settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keepalived {
    /// `advert_int`: interval between a master's adverts.
    pub advert_int: Duration,
    /// VRRP router id of the VIP's instance.
    pub virtual_router_id: u8,
    /// What the check script tests.
    pub check: VrrpCheck,
    /// `vrrp_script` interval.
    pub check_interval: Duration,
    /// `vrrp_script` timeout: a run slower than this counts as a failure. keepalived's default
    /// is the interval (the seed's 2 s); hadrill waits longer, because a process-alive check
    /// that is merely slow (a loaded host: `pgrep` took over 2 s in emulated guests here) says
    /// nothing about HAProxy, and one failure demotes a healthy master.
    pub check_timeout: Duration,
    /// `vrrp_script` fall: failures before the weight is removed (or FAULT with weight 0).
    pub check_fall: u32,
    /// `vrrp_script` rise: successes before the weight applies again.
    pub check_rise: u32,
    /// `vrrp_script` weight: > 0 added while the check passes, < 0 subtracted while it fails.
    pub check_weight: i32,
    /// `nopreempt`: a recovered higher-priority node does not take the VIP back.
    pub nopreempt: bool,
    /// What `move-vip` adds to the target's priority (through keepalived's track file).
    pub move_vip_bonus: u8,
}

/// How HAProxy health-checks a backend server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LbCheck {
    /// Plain TCP connect (the seed): passes while the port accepts connections.
    Tcp,
    /// HTTP GET of the health endpoint (the kubeadm guide's `/healthz`): passes only if it says 200.
    HttpHealth,
}

/// HAProxy settings, shared by the API and ingress frontends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Haproxy {
    /// Frontend port for the API on the VIP (seed: 6445 → API servers' 6443; bare: 6443 → etcd).
    pub api_port: u16,
    /// Frontend port for ingress on the VIP.
    pub ingress_port: u16,
    /// Backend port of the ingress controller on each node (seed: traefik hostPort 880).
    pub ingress_backend_port: u16,
    /// `inter`: time between two checks of one server.
    pub check_inter: Duration,
    /// `fall`: failed checks before a server is DOWN.
    pub check_fall: u32,
    /// `rise`: good checks before a server is UP again.
    pub check_rise: u32,
    /// How the API backends are checked.
    pub api_check: LbCheck,
    /// `timeout connect` per attempt.
    pub timeout_connect: Duration,
    /// `timeout client` / `timeout server`.
    pub timeout_idle: Duration,
    /// `timeout check`, if set (unset in the seed: `inter` bounds the whole check).
    pub timeout_check: Option<Duration>,
    /// `retries` after a failed connection attempt.
    pub retries: u32,
    /// `option redispatch`: the last retry goes to another server.
    pub redispatch: bool,
}

/// Stacked etcd settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Etcd {
    /// `--heartbeat-interval`.
    pub heartbeat: Duration,
    /// `--election-timeout`.
    pub election_timeout: Duration,
    /// `--pre-vote` (off by default in 3.4, on since 3.5).
    pub pre_vote: bool,
    /// Client port.
    pub client_port: u16,
    /// Peer port.
    pub peer_port: u16,
    /// Time to fsync one WAL entry (≈10 ms on a spinning disk).
    pub fsync: Duration,
}

impl Etcd {
    /// etcd's request timeout: 5 s + 2 × election timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(5) + 2 * self.election_timeout
    }
}

/// Kubernetes control plane and node-lifecycle settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kube {
    /// kube-apiserver's secure port on each control-plane node.
    pub api_server_port: u16,
    /// Pod network (flannel).
    pub pod_cidr: String,
    /// Service network.
    pub service_cidr: String,
    /// `--node-monitor-period`.
    pub node_monitor_period: Duration,
    /// `--node-monitor-grace-period`.
    pub node_monitor_grace: Duration,
    /// Toleration of NotReady/unreachable NoExecute taints before pods are evicted.
    pub eviction_toleration: Duration,
    /// kubelet node Lease renewal interval.
    pub kubelet_lease_renew: Duration,
    /// controller-manager / scheduler leader-election lease duration.
    pub leader_lease: Duration,
    /// Leader-election renew deadline.
    pub leader_renew_deadline: Duration,
    /// Leader-election retry period.
    pub leader_retry: Duration,
    /// Replicas of the probe's backend app behind the ingress.
    pub app_replicas: u32,
    /// Control-plane nodes run workloads too (the seed: every node a worker); their
    /// `NoSchedule` taint is not set.
    pub masters_schedulable: bool,
}

/// Ceph settings (rook in the `kubernetes` profile, Debian's packages in `bare`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceph {
    /// Monitors (one per storage host, at most).
    pub n_mons: u32,
    /// Name of the replicated pool the probes write to.
    pub pool: String,
    /// Pool `size`.
    pub pool_size: u32,
    /// Pool `min_size`.
    pub pool_min_size: u32,
    /// Placement groups in the pool.
    pub pg_num: u32,
    /// `osd_heartbeat_interval`.
    pub osd_heartbeat_interval: Duration,
    /// `osd_heartbeat_grace`.
    pub osd_heartbeat_grace: Duration,
    /// `mon_osd_min_down_reporters`.
    pub min_down_reporters: u32,
    /// `osd_mon_report_interval`: an OSD sends the failures it found to the mons with its next
    /// report, checked on its one-second tick.
    pub osd_mon_report_interval: Duration,
    /// `paxos_propose_interval`: the mons batch changes (an OSD marked down) into a proposal at
    /// most this often.
    pub paxos_propose_interval: Duration,
    /// `mon_osd_down_out_interval`.
    pub down_out_interval: Duration,
    /// `mon_lease`.
    pub mon_lease: Duration,
    /// `mon_election_timeout`.
    pub mon_election_timeout: Duration,
    /// Time for the PGs to re-peer after an OSDMap change.
    pub peering: Duration,
    /// Latency of one replicated write on healthy spinning disks.
    pub write_latency: Duration,
    /// `osd_memory_target` in bytes (small: the labs' nodes have 1–2 GiB).
    pub osd_memory_target: u64,
    /// Size of a file-backed OSD (a storage device path outside /dev), made sparse.
    pub file_osd_size: u64,
}

/// The ingress controller (traefik) on every worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traefik {
    /// Dial timeout to a backend pod.
    pub dial_timeout: Duration,
}

/// How the probes behave, for every lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probes {
    /// Time between two probes of one service.
    pub interval: Duration,
    /// A probe that takes longer has failed.
    pub timeout: Duration,
}

/// Machine lifecycle timings (boot and clean shutdown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// From power-on until the OS starts its services.
    pub boot: Duration,
    /// A clean shutdown: from the request until power is off.
    pub shutdown: Duration,
    /// Linux neighbour cache: base_reachable_time (an entry is REACHABLE for 0.5–1.5 ×).
    pub neigh_reachable: Duration,
    /// Linux neighbour cache: delay_first_probe_time.
    pub neigh_delay_probe: Duration,
    /// Linux neighbour cache: ucast_solicit × retrans_time.
    pub neigh_probes: Duration,
    /// Linux's initial TCP retransmission timeout (TCP_TIMEOUT_INIT): a connection attempt
    /// whose SYN was lost (a partition) sends it again this much later, so a peer connection
    /// comes back up to this long after a heal, and a client whose SYN went to a VIP holder
    /// that is gone reaches the new one if it took over by then.
    pub syn_rto: Duration,
    /// What an API probe's answer takes on these machines beyond what the model counts (its
    /// disk writes and link delays), as values to draw from, one per probe (bare: half for
    /// its /health, half for its write). Empty for the
    /// seed's hardware, where that is a millisecond or so. Emulated guests spend hundreds of
    /// milliseconds on a request: `compare` fills this from the lab's answers before the
    /// fault, so answers in flight when a holder drops the VIP are lost as on the lab.
    #[serde(default)]
    pub api_overhead: Vec<Duration>,
    /// The same for an ingress probe's answer.
    #[serde(default)]
    pub ingress_overhead: Vec<Duration>,
}

/// Every pinned version, in one place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    /// Kubernetes (kubeadm, kubelet, kubectl).
    pub kubernetes: String,
    /// flannel manifest.
    pub flannel: String,
    /// rook operator.
    pub rook: String,
    /// Ceph image used by rook.
    pub ceph_image: String,
    /// traefik image.
    pub traefik: String,
    /// Elasticsearch, Kibana and Filebeat.
    pub elastic: String,
    /// Prometheus.
    pub prometheus: String,
    /// Grafana.
    pub grafana: String,
}

/// The whole cluster: topology, every setting and every timer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterModel {
    /// Cluster name (used for file names and labels).
    pub name: String,
    /// What runs on the nodes.
    pub profile: Profile,
    /// The machines, in inventory order; the first control-plane node is the zero-master.
    pub nodes: Vec<Node>,
    /// The virtual IP held by keepalived.
    pub vip: Ipv4Addr,
    /// A DNS name for the VIP (the seed's `kube-cluster`), added to the API certificate.
    pub vip_name: Option<String>,
    /// Prefix length of the cluster network.
    pub prefix_len: u8,
    /// Network interface that carries the VIP.
    pub vip_interface: String,
    /// Default OSD device for a storage host whose inventory names none.
    pub default_storage_device: String,
    /// keepalived.
    pub keepalived: Keepalived,
    /// HAProxy.
    pub haproxy: Haproxy,
    /// etcd.
    pub etcd: Etcd,
    /// Kubernetes.
    pub kube: Kube,
    /// Ceph.
    pub ceph: Ceph,
    /// traefik.
    pub traefik: Traefik,
    /// Probes.
    pub probes: Probes,
    /// Machines.
    pub machine: Machine,
    /// Pinned versions.
    pub versions: Versions,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl Keepalived {
    /// The seed's keepalived: `killall -0 haproxy` every 2 s, weight +2.
    pub fn seed() -> Keepalived {
        Keepalived {
            advert_int: secs(1),
            virtual_router_id: 51,
            check: VrrpCheck::HaproxyAlive,
            check_interval: secs(2),
            check_timeout: secs(5),
            check_fall: 1,
            check_rise: 1,
            check_weight: 2,
            nopreempt: false,
            move_vip_bonus: 60,
        }
    }
}

impl Haproxy {
    /// The seed's HAProxy: TCP checks, retries 3, redispatch, timeout connect 10 s.
    pub fn seed(profile: Profile) -> Haproxy {
        Haproxy {
            api_port: match profile {
                Profile::Kubernetes => 6445,
                Profile::Bare => 6443,
            },
            ingress_port: 80,
            ingress_backend_port: match profile {
                Profile::Kubernetes => 880,
                Profile::Bare => 8080,
            },
            check_inter: secs(2),
            check_fall: 3,
            check_rise: 2,
            api_check: LbCheck::Tcp,
            timeout_connect: secs(10),
            timeout_idle: secs(60),
            timeout_check: None,
            retries: 3,
            redispatch: true,
        }
    }
}

impl Etcd {
    /// The seed's etcd: kubeadm 1.33's etcd 3.5 with its defaults (the seed sets none). Pre-vote
    /// is on by default there. Debian 12's etcd, which the `bare` profile runs in its place, is
    /// 3.4.23, where pre-vote is off; the `bare` profile turns it on, so that it measures the
    /// seed's etcd and not an older default. Without pre-vote a member returning from a
    /// partition forces an election, and a follower that misses heartbeats on a loaded host
    /// deposes a healthy leader (the simulation models the first; README has both).
    pub fn seed() -> Etcd {
        Etcd {
            heartbeat: ms(100),
            election_timeout: ms(1000),
            pre_vote: true,
            client_port: 2379,
            peer_port: 2380,
            fsync: ms(10),
        }
    }
}

impl Kube {
    /// The seed's Kubernetes settings (kubeadm defaults).
    pub fn seed() -> Kube {
        Kube {
            api_server_port: 6443,
            pod_cidr: "10.244.0.0/16".to_owned(),
            service_cidr: "10.96.0.0/12".to_owned(),
            node_monitor_period: secs(5),
            node_monitor_grace: secs(40),
            eviction_toleration: secs(300),
            kubelet_lease_renew: secs(10),
            leader_lease: secs(15),
            leader_renew_deadline: secs(10),
            leader_retry: secs(2),
            app_replicas: 3,
            masters_schedulable: true,
        }
    }
}

impl Ceph {
    /// The OSD's tick (`OSD_TICK_INTERVAL` in the source, not a setting): failures are looked for
    /// and reports sent on it.
    pub const OSD_TICK: Duration = Duration::from_secs(1);

    /// The longest wait between two heartbeat pings of one OSD: 0.5 s + 0.9 × the interval
    /// (each wait is 0.5 s + k/10 × interval for a random k in 0..10).
    pub fn ping_period_max(&self) -> Duration {
        ms(500) + self.osd_heartbeat_interval.mul_f64(0.9)
    }

    /// The longest time from a host's silent death to its OSD marked down: the first ping its
    /// peers send after the death goes out up to a whole ping period later; a grace after that
    /// ping the next tick finds it unanswered; the next report (one report interval, on a tick)
    /// carries the failure; the mons propose the new map within the propose interval.
    pub fn osd_markdown_bound(&self) -> Duration {
        self.ping_period_max()
            + self.osd_heartbeat_grace
            + Self::OSD_TICK
            + self.osd_mon_report_interval
            + Self::OSD_TICK
            + self.paxos_propose_interval
    }

    /// The seed's Ceph settings (Ceph defaults, pool of size 3 / min_size 2).
    pub fn seed() -> Ceph {
        Ceph {
            n_mons: 3,
            pool: "replica-pool".to_owned(),
            pool_size: 3,
            pool_min_size: 2,
            pg_num: 32,
            osd_heartbeat_interval: secs(6),
            osd_heartbeat_grace: secs(20),
            min_down_reporters: 2,
            osd_mon_report_interval: secs(5),
            paxos_propose_interval: secs(1),
            down_out_interval: secs(600),
            mon_lease: secs(5),
            mon_election_timeout: secs(5),
            peering: ms(1500),
            write_latency: ms(25),
            osd_memory_target: 512 << 20,
            file_osd_size: 4 << 30,
        }
    }
}

impl ClusterModel {
    /// The seed's three-node cluster, named `node-1..3` on 192.168.122.0/24 style addresses
    /// `base.11`, `base.12`, `base.13`, VIP `base.100`; node-1 is `state MASTER`.
    #[allow(clippy::too_many_lines)] // one table of defaults, read top to bottom
    pub fn three_nodes(profile: Profile, base: [u8; 3]) -> ClusterModel {
        let node = |i: u8| Node {
            name: format!("node-{i}"),
            address: Ipv4Addr::new(base[0], base[1], base[2], 10 + i),
            ssh: Ssh::default(),
            control_plane: true,
            worker: true,
            proxy: true,
            storage_devices: vec!["/dev/sdb".to_owned()],
            vrrp_priority: if i == 1 { 101 } else { 100 },
            vrrp_initial_master: i == 1,
        };
        ClusterModel {
            name: "hadrill".to_owned(),
            profile,
            nodes: (1..=3).map(node).collect(),
            vip: Ipv4Addr::new(base[0], base[1], base[2], 100),
            vip_name: None,
            prefix_len: 24,
            vip_interface: "eth0".to_owned(),
            default_storage_device: "/dev/sdb".to_owned(),
            keepalived: Keepalived::seed(),
            haproxy: Haproxy::seed(profile),
            etcd: Etcd::seed(),
            kube: Kube::seed(),
            ceph: Ceph::seed(),
            traefik: Traefik {
                dial_timeout: secs(30),
            },
            probes: Probes {
                interval: ms(200),
                timeout: secs(2),
            },
            machine: Machine {
                boot: secs(40),
                shutdown: secs(5),
                neigh_reachable: secs(30),
                neigh_delay_probe: secs(5),
                neigh_probes: secs(3),
                syn_rto: secs(1),
                api_overhead: Vec::new(),
                ingress_overhead: Vec::new(),
            },
            versions: Versions {
                kubernetes: "1.33.5".to_owned(),
                flannel: "v0.25.6".to_owned(),
                rook: "v1.14.9".to_owned(),
                ceph_image: "quay.io/ceph/ceph:v18.2.4".to_owned(),
                traefik: "v3.1.2".to_owned(),
                elastic: "8.15.0".to_owned(),
                prometheus: "v2.54.0".to_owned(),
                grafana: "11.1.4".to_owned(),
            },
        }
    }

    /// The default model the CLI uses without an inventory: three nodes on 10.77.0.0/24.
    pub fn seed(profile: Profile) -> ClusterModel {
        ClusterModel::three_nodes(profile, [10, 77, 0])
    }

    /// Node ids in inventory order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + Clone + '_ {
        (0..self.nodes.len()).map(|i| NodeId(u8::try_from(i).expect("node count fits u8")))
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Look a node up by name.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.node_ids().find(|&id| self.node(id).name == name)
    }

    /// The first control-plane node: where `kubeadm init` runs.
    pub fn zero_master(&self) -> Option<NodeId> {
        self.node_ids().find(|&id| self.node(id).control_plane)
    }

    /// keepalived's effective priority for a node whose check script passes or fails.
    pub fn vrrp_priority(&self, id: NodeId, check_ok: bool) -> u8 {
        let base = i32::from(self.node(id).vrrp_priority);
        let w = self.keepalived.check_weight;
        let p = match (w > 0, check_ok) {
            (true, true) => base + w,
            (false, false) if w < 0 => base + w,
            _ => base,
        };
        u8::try_from(p.clamp(1, 254)).expect("clamped")
    }

    /// VRRPv2 master-down interval for a backup with this effective priority:
    /// 3 × advert_int + (256 − priority)/256 s.
    pub fn vrrp_master_down(&self, priority: u8) -> Duration {
        let skew = Duration::from_secs(1) * u32::from(256 - u16::from(priority)) / 256;
        3 * self.keepalived.advert_int + skew
    }

    /// How long HAProxy takes to mark a silent server DOWN (FACTS.md): without `timeout check`,
    /// each failed check lasts `inter` and the next starts `inter` later, `fall` times.
    pub fn haproxy_silent_detection(&self) -> Duration {
        let h = &self.haproxy;
        let each = h
            .timeout_check
            .map_or(h.check_inter, |t| t.min(h.check_inter));
        (each + h.check_inter) * h.check_fall
    }

    /// The longest API gap a client through the VIP should see when the VIP holder dies:
    /// a backup's master-down timer (3 × advert_int + skew), HAProxy on the new holder
    /// detecting the dead server, and a second of slack.
    pub fn vip_loss_api_bound(&self) -> Duration {
        let backup = self
            .node_ids()
            .filter(|&i| self.node(i).proxy)
            .map(|i| self.vrrp_priority(i, true))
            .min()
            .unwrap_or(1);
        self.vrrp_master_down(backup) + self.haproxy_silent_detection() + Duration::from_secs(1)
    }

    /// Majority of the etcd members (control-plane nodes).
    pub fn etcd_quorum(&self) -> usize {
        self.nodes.iter().filter(|n| n.control_plane).count() / 2 + 1
    }

    /// The nodes that run a Ceph monitor: the first `n_mons` storage hosts.
    pub fn ceph_mons(&self) -> Vec<&Node> {
        let n = usize::try_from(self.ceph.n_mons).expect("u32 fits usize");
        self.nodes.iter().filter(|n| n.storage()).take(n).collect()
    }

    /// Majority of the monitors.
    pub fn mon_quorum(&self) -> usize {
        usize::try_from(self.ceph.n_mons).expect("u32 fits usize") / 2 + 1
    }

    /// How long after every fault is healed all services must be back: the slowest recovery
    /// path the model allows (a reboot, a neighbour-cache re-resolution, a Ceph re-peer), with
    /// a margin of one probe timeout.
    pub fn recovery_bound(&self) -> Duration {
        let m = &self.machine;
        let neigh = m.neigh_reachable * 3 / 2 + m.neigh_delay_probe + m.neigh_probes;
        let lb = self.haproxy.check_inter * (self.haproxy.check_rise + 1);
        let osd = self.ceph.osd_markdown_bound() + self.ceph.peering;
        let election = self.vrrp_master_down(1) + 2 * self.etcd.election_timeout;
        m.boot + neigh.max(lb + osd).max(election) + self.probes.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_down_matches_keepalived() {
        let m = ClusterModel::seed(Profile::Kubernetes);
        // 3 × 1 s + (256 − 102)/256 s = 3.6015625 s
        assert_eq!(m.vrrp_master_down(102), Duration::from_nanos(3_601_562_500));
        assert_eq!(m.vrrp_priority(NodeId(0), true), 103);
        assert_eq!(m.vrrp_priority(NodeId(1), true), 102);
        assert_eq!(m.vrrp_priority(NodeId(1), false), 100);
    }

    #[test]
    fn vip_loss_bound_adds_vrrp_and_haproxy() {
        let m = ClusterModel::seed(Profile::Bare);
        assert_eq!(m.haproxy_silent_detection(), Duration::from_secs(12));
        // 3.6015625 s (priority 102) + 12 s + 1 s.
        assert_eq!(m.vip_loss_api_bound(), Duration::from_nanos(16_601_562_500));
    }

    #[test]
    fn quorum_of_three_is_two() {
        let m = ClusterModel::seed(Profile::Bare);
        assert_eq!(m.etcd_quorum(), 2);
        assert_eq!(m.mon_quorum(), 2);
        assert_eq!(m.etcd.request_timeout(), Duration::from_secs(7));
    }
}
