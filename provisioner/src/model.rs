//! The cluster model: topology, settings and every protocol timer, in one place.
//!
//! Both the rendered configuration files (`render`) and the simulation (`harness::sim`) read their
//! values from a [`ClusterModel`], so what the simulation predicts and what the real daemons are
//! told cannot drift apart. This module is pure data: no IO, no async, no rendering.
//!
//! It also owns what a value must look like ([`Kind`]) and [`ClusterModel::check`], which
//! refuses a model that could not run: a string that could carry shell or config syntax, a
//! port clash, an address no host can have. Whoever builds a model (the inventory, a test, a
//! lab's record) checks it there before rendering or planning it.
//!
//! The defaults are the seed article's design (danch/cluster-ansible) with each daemon's own
//! defaults where the seed does not set a value; ../shared/FACTS.md names the source of each.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::text::shown;

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

    /// Each value of the node (the `i`-th) by its kind.
    fn check_values(&self, i: usize) -> Result<(), Invalid> {
        let at = |nf| move |m| invalid(Field::Node(i, nf), m);
        Kind::HostName
            .check(&self.name)
            .map_err(at(NodeField::Name))?;
        let ssh = &self.ssh;
        Kind::UserName
            .check(&ssh.user)
            .map_err(at(NodeField::SshUser))?;
        check_port(ssh.port).map_err(at(NodeField::SshPort))?;
        if let Some(key) = &ssh.key {
            Kind::KeyPath
                .check(&key.to_string_lossy())
                .map_err(at(NodeField::SshKey))?;
        }
        check_devices(&self.storage_devices)
            .map_err(|(j, m)| invalid(Field::Node(i, NodeField::StorageDevice(j)), m))
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
    /// `vrrp_garp_master_delay`: a new master sends a second burst of gratuitous ARPs this
    /// long after its first (and `vrrp_garp_lower_prio_delay`, which follows it, after
    /// answering a lower priority's advert). Until then a client that followed a master which
    /// stepped down keeps sending to it.
    #[serde(default = "garp_master_delay")]
    pub garp_master_delay: Duration,
}

fn garp_master_delay() -> Duration {
    secs(5)
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
    /// `option redispatch`: a refused connection is retried on another server, at once on a
    /// round-robin backend with more than one server UP, otherwise on the last retry.
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
    /// Time until the last placement group touched by an OSD map change is active again; each
    /// group is active at its own moment within it, and a write waits only for its own group.
    pub peering: Duration,
    /// An OSD that stops cleanly (it tells the mons) or whose port refuses (its peers report
    /// it at once: `osd_fast_fail_on_connection_refused`) is marked down this long after: the
    /// report and the mons' next proposal.
    #[serde(default = "fast_markdown")]
    pub fast_markdown: Duration,
    /// An OSD that is back (booted, reachable) is marked up this long after: its boot message
    /// and the mons' proposal.
    #[serde(default = "markup")]
    pub markup: Duration,
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
    /// What an ingress request takes through the controller to the app on healthy nodes
    /// (traefik routing to a pod); the bare profile's nginx answers itself in half of it.
    #[serde(default = "ingress_answer")]
    pub answer: Duration,
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
    /// Linux's least retransmission timeout of an established connection (TCP_RTO_MIN): a
    /// lost data segment on a LAN is sent again this much later, then twice as late each time.
    #[serde(default = "data_rto")]
    pub data_rto: Duration,
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
    /// The same for a Ceph probe's write (through the probe agent on a node): on the emulated
    /// guests a write takes 100–160 ms at the median and up to 0.9 s, where the model counts
    /// a disk write, so a loss's retransmissions reach the probe's deadline sooner there.
    #[serde(default)]
    pub ceph_overhead: Vec<Duration>,
    /// What a machine adds to an answer beyond what the model counts (disk writes, link
    /// delays, fsyncs), on average, where no figure was measured (the seed's hardware):
    /// about a millisecond. The simulation draws each answer's own.
    #[serde(default = "answer_extra_mean")]
    pub answer_extra_mean: Duration,
    /// From keepalived sending an advert until the peer's keepalived has handled it: each
    /// draws 0 up to this. Two backups whose master-down timers run out closer together than
    /// that both take over. The three VRRP figures come from the emulated guests (twelve
    /// takeovers captured on the lab's bridge: a takeover's GARPs left 5-98 ms after its
    /// advert, a cut-off holder answered an advert with GARPs 3-47 ms after it was sent,
    /// adverts came 1.000-1.049 s apart, both backups took over in 3 of 12); real hardware is
    /// faster in all three, and at a 200 ms probe only their ratios, which decide the races,
    /// show.
    #[serde(default = "vrrp_advert_transit")]
    pub vrrp_advert_transit: Duration,
    /// From a new master's first advert until its gratuitous ARPs leave (the VIP is added
    /// first): each draws 0 up to this.
    #[serde(default = "vrrp_garp_lag")]
    pub vrrp_garp_lag: Duration,
    /// How late a keepalived timer (the master's advert, a backup's master-down) may run
    /// (the host scheduling it): each draws 0 up to this.
    #[serde(default = "vrrp_timer_slack")]
    pub vrrp_timer_slack: Duration,
}

fn vrrp_advert_transit() -> Duration {
    ms(30)
}

fn vrrp_garp_lag() -> Duration {
    ms(80)
}

fn vrrp_timer_slack() -> Duration {
    ms(20)
}

fn data_rto() -> Duration {
    ms(200)
}

fn fast_markdown() -> Duration {
    ms(500)
}

fn markup() -> Duration {
    secs(2)
}

fn ingress_answer() -> Duration {
    ms(2)
}

fn answer_extra_mean() -> Duration {
    Duration::from_millis(1)
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
            garp_master_delay: garp_master_delay(),
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
    /// The kubelet's API port, on every address of every node.
    pub const KUBELET_PORT: u16 = 10250;
    /// kube-proxy's health port (kubeadm deploys kube-proxy), on every address of every node.
    pub const KUBE_PROXY_HEALTH_PORT: u16 = 10256;
    /// node-exporter's port: it runs in the host's network, on every address of every node.
    pub const NODE_EXPORTER_PORT: u16 = 9100;

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

    /// A monitor's ports (bare profile: on its host's address): msgr2, then the legacy v1.
    pub const MON_PORTS: [u16; 2] = [3300, 6789];

    /// Where OSDs and the mgr listen (bare profile): Ceph's `ms_bind_port_min` to
    /// `ms_bind_port_max`.
    pub const DAEMON_PORTS: RangeInclusive<u16> = 6800..=7300;

    /// The longest wait between two heartbeat pings of one OSD: 0.5 s + 0.9 × the interval
    /// (each wait is 0.5 s + k/10 × interval for a random k in 0..10).
    pub fn ping_period_max(&self) -> Duration {
        Self::PING_WAIT_MIN + self.osd_heartbeat_interval.mul_f64(0.9)
    }

    /// The shortest wait between two heartbeat pings (OSD.cc, not a setting).
    pub const PING_WAIT_MIN: Duration = Duration::from_millis(500);

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
            fast_markdown: fast_markdown(),
            markup: markup(),
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
                answer: ingress_answer(),
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
                data_rto: data_rto(),
                api_overhead: Vec::new(),
                ingress_overhead: Vec::new(),
                ceph_overhead: Vec::new(),
                answer_extra_mean: answer_extra_mean(),
                vrrp_advert_transit: vrrp_advert_transit(),
                vrrp_garp_lag: vrrp_garp_lag(),
                vrrp_timer_slack: vrrp_timer_slack(),
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

/// Most nodes a model may have: far more than the seed's three, and what the simulation's
/// queue limits are sized for (harness `sim::QUEUE_LEN_MAX`).
pub const NODES_MAX: usize = 16;

/// What a string of the model must look like. Each kind admits only characters that mean
/// nothing to a shell or to the configuration formats the value is spliced into (no space,
/// quote, `$`, `;`, `#`, brace, newline or other control character), so a value that passes
/// is data wherever it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A node's host name: 1–63 of `A-Z a-z 0-9 -`, not starting or ending with `-`.
    HostName,
    /// A cluster or pool name: the same characters as a host name.
    Name,
    /// A DNS name: host-name labels joined by dots, at most 253 bytes.
    DnsName,
    /// A Linux network interface name, as keepalived's configuration takes it: 1–15 of
    /// `A-Z a-z 0-9 _ . -`, not `.` or `..`.
    InterfaceName,
    /// A Kubernetes release: `MAJOR.MINOR.PATCH`, digits only (the apt pin adds `-*`).
    KubernetesVersion,
    /// A storage device: an absolute path of `A-Z a-z 0-9 _ . : -` segments (no `.` or `..`).
    DevicePath,
    /// A login user: 1–32 of `A-Z a-z 0-9 _ . -`, starting with a letter or `_`.
    UserName,
    /// An IPv4 CIDR: `A.B.C.D/N` with N at most 32.
    Ipv4Cidr,
    /// A file path (an SSH key): not empty, no control character.
    KeyPath,
    /// A container image tag or version pin: 1–128 of `A-Z a-z 0-9 _ . -`.
    ImageTag,
    /// A container image reference: 1–255 of `A-Z a-z 0-9 _ . - / : @`.
    ImageRef,
}

impl Kind {
    /// Ok when `value` is of this kind; else what is wrong, one line with the value shown.
    pub fn check(self, value: &str) -> Result<(), String> {
        if self.admits(value) {
            Ok(())
        } else {
            Err(format!("{} is not {}", shown(value), self.expected()))
        }
    }

    /// What the messages say a value of this kind is.
    fn expected(self) -> &'static str {
        match self {
            Kind::HostName => "a host name (1–63 letters, digits and -, not first or last)",
            Kind::Name => "a name (1–63 letters, digits and -, not first or last)",
            Kind::DnsName => "a DNS name (host-name labels joined by dots)",
            Kind::InterfaceName => {
                "an interface name (1–15 of letters, digits, _ . -; not . or ..)"
            }
            Kind::KubernetesVersion => "a Kubernetes version (MAJOR.MINOR.PATCH, like 1.33.5)",
            Kind::DevicePath => {
                "an absolute device path (like /dev/sdb; segments of letters, digits, _ . : -)"
            }
            Kind::UserName => "a user name (1–32 of letters, digits, _ . -; not - first)",
            Kind::Ipv4Cidr => "an IPv4 CIDR (like 10.244.0.0/16)",
            Kind::KeyPath => "a key file path (no control characters)",
            Kind::ImageTag => "an image tag (1–128 of letters, digits, _ . -)",
            Kind::ImageRef => "an image reference (letters, digits, _ . - / : @)",
        }
    }

    fn admits(self, v: &str) -> bool {
        let word = |v: &str, extra: &str| {
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        };
        match self {
            Kind::HostName | Kind::Name => label(v),
            Kind::DnsName => v.len() <= 253 && v.split('.').all(label),
            Kind::InterfaceName => {
                (1..=15).contains(&v.len()) && word(v, "_.-") && v != "." && v != ".."
            }
            Kind::KubernetesVersion => {
                let parts: Vec<&str> = v.split('.').collect();
                parts.len() == 3
                    && parts.iter().all(|p| {
                        (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
                    })
            }
            Kind::DevicePath => {
                let rest = v.strip_prefix('/').unwrap_or("");
                v.len() <= 255
                    && !rest.is_empty()
                    && rest
                        .split('/')
                        .all(|s| !s.is_empty() && s != "." && s != ".." && word(s, "_.:-"))
            }
            Kind::UserName => {
                (1..=32).contains(&v.len())
                    && word(v, "_.-")
                    && v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            }
            Kind::Ipv4Cidr => v.split_once('/').is_some_and(|(a, p)| {
                a.parse::<Ipv4Addr>().is_ok()
                    && (1..=2).contains(&p.len())
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && p.parse::<u8>().is_ok_and(|p| p <= 32)
            }),
            Kind::KeyPath => !v.is_empty() && v.len() <= 4096 && !v.chars().any(char::is_control),
            Kind::ImageTag => (1..=128).contains(&v.len()) && word(v, "_.-"),
            Kind::ImageRef => (1..=255).contains(&v.len()) && word(v, "_.-/:@"),
        }
    }
}

/// One DNS label: 1–63 of `A-Z a-z 0-9 -`, not starting or ending with `-`.
fn label(v: &str) -> bool {
    (1..=63).contains(&v.len())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !v.starts_with('-')
        && !v.ends_with('-')
}

/// Ok for a host's OSD devices: each a [`Kind::DevicePath`], none listed twice; else the
/// index of the first bad one and why.
pub fn check_devices(devices: &[String]) -> Result<(), (usize, String)> {
    let mut seen = BTreeSet::new();
    for (i, d) in devices.iter().enumerate() {
        Kind::DevicePath.check(d).map_err(|m| (i, m))?;
        if !seen.insert(d.as_str()) {
            return Err((
                i,
                format!("{} is listed twice: one OSD per device", shown(d)),
            ));
        }
    }
    Ok(())
}

/// Ok for a TCP port a daemon can listen on (1–65535).
pub fn check_port(port: u16) -> Result<(), String> {
    if port == 0 {
        Err("0 is not a TCP port (1–65535)".to_owned())
    } else {
        Ok(())
    }
}

/// Where in a model a value is refused; an inventory maps it to its own field names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// [`ClusterModel::name`].
    Name,
    /// [`ClusterModel::vip`].
    Vip,
    /// [`ClusterModel::vip_name`].
    VipName,
    /// [`ClusterModel::vip_interface`].
    VipInterface,
    /// [`ClusterModel::prefix_len`].
    PrefixLen,
    /// [`ClusterModel::default_storage_device`].
    DefaultStorageDevice,
    /// [`Haproxy::api_port`].
    ApiPort,
    /// [`Haproxy::ingress_port`].
    IngressPort,
    /// [`Kube::pod_cidr`].
    PodCidr,
    /// [`Kube::service_cidr`].
    ServiceCidr,
    /// [`Versions::kubernetes`].
    KubernetesVersion,
    /// [`Ceph::pool_size`].
    CephPoolSize,
    /// [`Ceph::pool_min_size`].
    CephPoolMinSize,
    /// The node list as a whole (how many, which roles).
    Nodes,
    /// The proxy nodes as a whole (none holds the VIP).
    Proxies,
    /// A field of one node, by index.
    Node(usize, NodeField),
    /// A setting that no inventory sets, by its path in the model.
    Setting(&'static str),
}

/// A field of one [`Node`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeField {
    /// [`Node::name`].
    Name,
    /// [`Node::address`].
    Address,
    /// [`Ssh::user`].
    SshUser,
    /// [`Ssh::port`].
    SshPort,
    /// [`Ssh::key`].
    SshKey,
    /// One of [`Node::storage_devices`], by index.
    StorageDevice(usize),
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let top = match self {
            Field::Name => "name",
            Field::Vip => "vip",
            Field::VipName => "vip_name",
            Field::VipInterface => "vip_interface",
            Field::PrefixLen => "prefix_len",
            Field::DefaultStorageDevice => "default_storage_device",
            Field::ApiPort => "haproxy.api_port",
            Field::IngressPort => "haproxy.ingress_port",
            Field::PodCidr => "kube.pod_cidr",
            Field::ServiceCidr => "kube.service_cidr",
            Field::KubernetesVersion => "versions.kubernetes",
            Field::CephPoolSize => "ceph.pool_size",
            Field::CephPoolMinSize => "ceph.pool_min_size",
            Field::Nodes | Field::Proxies => "nodes",
            Field::Setting(path) => path,
            Field::Node(i, nf) => {
                let rest = match nf {
                    NodeField::Name => "name".to_owned(),
                    NodeField::Address => "address".to_owned(),
                    NodeField::SshUser => "ssh.user".to_owned(),
                    NodeField::SshPort => "ssh.port".to_owned(),
                    NodeField::SshKey => "ssh.key".to_owned(),
                    NodeField::StorageDevice(j) => format!("storage_devices[{j}]"),
                };
                return write!(f, "nodes[{i}].{rest}");
            }
        };
        f.write_str(top)
    }
}

/// A model that could not run as it is: where, and why (one line, values shown).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// Where.
    pub field: Field,
    /// What is wrong.
    pub message: String,
}

/// Ports a daemon listens on, on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// Whose ports, as a message names them (`etcd's client port`).
    pub daemon: &'static str,
    /// The ports (a range for Ceph's OSDs and mgr).
    pub ports: RangeInclusive<u16>,
}

fn invalid(field: Field, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

impl ClusterModel {
    /// Ok when the model can be rendered, planned and run: every string is of its [`Kind`],
    /// every node has its own name and address in the VIP's subnet (neither its network nor
    /// its broadcast address), no device is listed twice on a host, a proxy node holds the
    /// VIP, and the VIP's frontends, SSH and the daemons each have their own ports.
    pub fn check(&self) -> Result<(), Invalid> {
        self.check_values()?;
        self.check_nodes()?;
        self.check_addresses()?;
        self.check_ports()?;
        let c = &self.ceph;
        if c.pool_size == 0 {
            return Err(invalid(
                Field::CephPoolSize,
                "0: a pool needs at least one copy",
            ));
        }
        if c.pool_min_size == 0 || c.pool_min_size > c.pool_size {
            return Err(invalid(
                Field::CephPoolMinSize,
                format!(
                    "pool size {} / min_size {}: need 1 ≤ min_size ≤ size",
                    c.pool_size, c.pool_min_size
                ),
            ));
        }
        Ok(())
    }

    /// Every string by its kind, every port by itself.
    fn check_values(&self) -> Result<(), Invalid> {
        use Field::Setting as S;
        let v = &self.versions;
        let strings = [
            (Field::Name, Kind::Name, self.name.as_str()),
            (
                Field::VipInterface,
                Kind::InterfaceName,
                &self.vip_interface,
            ),
            (Field::PodCidr, Kind::Ipv4Cidr, &self.kube.pod_cidr),
            (Field::ServiceCidr, Kind::Ipv4Cidr, &self.kube.service_cidr),
            (
                Field::KubernetesVersion,
                Kind::KubernetesVersion,
                &v.kubernetes,
            ),
            (S("ceph.pool"), Kind::Name, &self.ceph.pool),
            (S("versions.flannel"), Kind::ImageTag, &v.flannel),
            (S("versions.rook"), Kind::ImageTag, &v.rook),
            (S("versions.ceph_image"), Kind::ImageRef, &v.ceph_image),
            (S("versions.traefik"), Kind::ImageTag, &v.traefik),
            (S("versions.elastic"), Kind::ImageTag, &v.elastic),
            (S("versions.prometheus"), Kind::ImageTag, &v.prometheus),
            (S("versions.grafana"), Kind::ImageTag, &v.grafana),
        ];
        for (field, kind, value) in strings {
            kind.check(value).map_err(|m| invalid(field, m))?;
        }
        let device = &self.default_storage_device;
        Kind::DevicePath
            .check(device)
            .map_err(|m| invalid(Field::DefaultStorageDevice, m))?;
        if let Some(name) = &self.vip_name {
            Kind::DnsName
                .check(name)
                .map_err(|m| invalid(Field::VipName, m))?;
        }
        if !(8..=30).contains(&self.prefix_len) {
            return Err(invalid(
                Field::PrefixLen,
                format!("{} is not a usable prefix length (8–30)", self.prefix_len),
            ));
        }
        self.nodes
            .iter()
            .enumerate()
            .try_for_each(|(i, n)| n.check_values(i))
    }

    /// How many nodes, their names, roles and devices.
    fn check_nodes(&self) -> Result<(), Invalid> {
        if self.nodes.is_empty() || self.nodes.len() > NODES_MAX {
            return Err(invalid(
                Field::Nodes,
                format!("{} nodes: a cluster has 1 to {NODES_MAX}", self.nodes.len()),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !names.insert(n.name.as_str()) {
                return Err(invalid(
                    Field::Node(i, NodeField::Name),
                    format!(
                        "{} names another node too: each node needs its own name",
                        shown(&n.name)
                    ),
                ));
            }
        }
        if !self.nodes.iter().any(|n| n.control_plane) {
            return Err(invalid(Field::Nodes, "no control-plane (master) node"));
        }
        if !self.nodes.iter().any(|n| n.proxy) {
            return Err(invalid(
                Field::Proxies,
                "no proxy node: keepalived and HAProxy run on proxy nodes, so nothing would hold the VIP",
            ));
        }
        Ok(())
    }

    /// Node addresses and the VIP: distinct, on one subnet, none its network or broadcast
    /// address. Needs a prefix length of 8–30 (checked with the values).
    fn check_addresses(&self) -> Result<(), Invalid> {
        let p = self.prefix_len;
        let mask = u32::MAX << (32 - u32::from(p));
        let net = Ipv4Addr::from(u32::from(self.vip) & mask);
        let broadcast = Ipv4Addr::from(u32::from(net) | !mask);
        let special = |a: Ipv4Addr| {
            if a == net {
                Some(format!("the network address of {net}/{p}"))
            } else if a == broadcast {
                Some(format!("the broadcast address of {net}/{p}"))
            } else {
                None
            }
        };
        let mut seen: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let at = Field::Node(i, NodeField::Address);
            let a = n.address;
            if let Some(other) = seen.insert(a, &n.name) {
                return Err(invalid(at, format!("address {a} is also {other}'s")));
            }
            if a == self.vip {
                return Err(invalid(at, format!("address {a} is the VIP")));
            }
            if u32::from(a) & mask != u32::from(self.vip) & mask {
                let theirs = Ipv4Addr::from(u32::from(a) & mask);
                return Err(invalid(
                    Field::Vip,
                    format!(
                        "VIP {} is outside the nodes' subnet {theirs}/{p} ({} is {a})",
                        self.vip, n.name
                    ),
                ));
            }
            if let Some(what) = special(a) {
                return Err(invalid(
                    at,
                    format!("address {a} is {what}: no host can have it"),
                ));
            }
        }
        if let Some(what) = special(self.vip) {
            return Err(invalid(
                Field::Vip,
                format!("VIP {} is {what}: no host can have it", self.vip),
            ));
        }
        Ok(())
    }

    /// The ports a node's daemons listen on in this profile (besides sshd and HAProxy's
    /// frontends on the VIP). Where they listen on one address only, HAProxy's bind on the
    /// VIP would not fail, but the node would then answer one port two ways; with a wildcard
    /// bind (nginx, the kubelet, kube-apiserver) it fails.
    pub fn listens(&self, node: &Node) -> Vec<Listen> {
        let one = |daemon, p: u16| Listen {
            daemon,
            ports: p..=p,
        };
        let e = &self.etcd;
        let backend = self.haproxy.ingress_backend_port;
        let mut out = Vec::new();
        if node.control_plane {
            out.push(one("etcd's client port", e.client_port));
            out.push(one("etcd's peer port", e.peer_port));
        }
        match self.profile {
            Profile::Bare => {
                if node.worker {
                    out.push(one("nginx's (the ingress backend)", backend));
                }
                let mons = self.ceph_mons();
                if mons.iter().any(|m| m.name == node.name) {
                    let [v2, v1] = Ceph::MON_PORTS;
                    out.push(one("a Ceph monitor's (msgr2)", v2));
                    out.push(one("a Ceph monitor's (v1)", v1));
                }
                let mgr = mons.first().is_some_and(|m| m.name == node.name);
                if node.storage() || mgr {
                    out.push(Listen {
                        daemon: "Ceph's OSD and mgr range",
                        ports: Ceph::DAEMON_PORTS,
                    });
                }
            }
            Profile::Kubernetes => {
                if node.control_plane {
                    out.push(one("kube-apiserver's", self.kube.api_server_port));
                }
                if node.worker {
                    out.push(one("traefik's hostPort (the ingress backend)", backend));
                }
                out.push(one("the kubelet's", Kube::KUBELET_PORT));
                out.push(one(
                    "kube-proxy's health port",
                    Kube::KUBE_PROXY_HEALTH_PORT,
                ));
                out.push(one("node-exporter's", Kube::NODE_EXPORTER_PORT));
            }
        }
        out
    }

    /// The VIP's two frontends, each node's sshd and the daemons each need their own ports.
    fn check_ports(&self) -> Result<(), Invalid> {
        let h = &self.haproxy;
        let frontends = [
            (Field::ApiPort, h.api_port),
            (Field::IngressPort, h.ingress_port),
        ];
        for (field, port) in frontends {
            check_port(port).map_err(|m| invalid(field, m))?;
        }
        if h.ingress_port == h.api_port {
            return Err(invalid(
                Field::IngressPort,
                format!(
                    "port {} is the API frontend's too: each needs its own",
                    h.api_port
                ),
            ));
        }
        for (field, port) in frontends {
            for n in &self.nodes {
                if n.ssh.port == port {
                    return Err(invalid(
                        field,
                        format!("port {port} is {}'s SSH port", n.name),
                    ));
                }
                if let Some(l) = self
                    .listens(n)
                    .into_iter()
                    .find(|l| l.ports.contains(&port))
                {
                    return Err(invalid(
                        field,
                        format!(
                            "port {port} is {} on {}, where HAProxy binds the VIP",
                            l.daemon, n.name
                        ),
                    ));
                }
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let port = n.ssh.port;
            if let Some(l) = self
                .listens(n)
                .into_iter()
                .find(|l| l.ports.contains(&port))
            {
                return Err(invalid(
                    Field::Node(i, NodeField::SshPort),
                    format!(
                        "port {port} is {} on this node: sshd needs its own",
                        l.daemon
                    ),
                ));
            }
        }
        Ok(())
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

    #[test]
    fn seed_models_pass_their_check() {
        for profile in [Profile::Bare, Profile::Kubernetes] {
            assert_eq!(ClusterModel::seed(profile).check(), Ok(()), "{profile:?}");
        }
    }

    /// Each value in `good` is of `kind`; each in `bad` is refused with a one-line message.
    fn check_kind(kind: Kind, good: &[&str], bad: &[&str]) {
        for v in good {
            assert_eq!(kind.check(v), Ok(()), "{kind:?} {v:?}");
        }
        for v in bad {
            let m = kind.check(v).expect_err(&format!("{kind:?} {v:?}"));
            assert!(!m.chars().any(char::is_control), "{m}");
        }
    }

    /// Characters that a shell or a config file gives a meaning to.
    const META: [&str; 12] = [
        ";", "$(id)", "`id`", "'", "\"", "\n", "}", "{", "#", " ", "\r", "\u{1b}",
    ];

    #[test]
    fn kinds_admit_their_values_and_no_syntax() {
        check_kind(
            Kind::HostName,
            &["opti", "node-1", "A9"],
            &["", "-a", "a-", "a.b", &"x".repeat(64)],
        );
        check_kind(
            Kind::DnsName,
            &["kube-cluster", "api.lab.example"],
            &["", "a..b", ".a", "a_b"],
        );
        check_kind(
            Kind::InterfaceName,
            &["eth0", "br-lab.10", "en_p1"],
            &["", ".", "..", "a/b", "sixteen-bytes-ab"],
        );
        check_kind(
            Kind::KubernetesVersion,
            &["1.33.5", "1.34.0"],
            &["", "banana", "1.33", "v1.33.5", "1.33.5-1", "1..5"],
        );
        check_kind(
            Kind::DevicePath,
            &["/dev/sdb", "/dev/disk/by-id/ata-X_1", "/var/lib/osd.img"],
            &[
                "",
                "/",
                "sdb",
                "/dev/",
                "/dev//sdb",
                "/dev/../x",
                "/dev/./x",
            ],
        );
        check_kind(
            Kind::UserName,
            &["root", "hadrill", "_svc", "a.b-c"],
            &["", "-x", "1st", &"u".repeat(33)],
        );
        check_kind(
            Kind::Ipv4Cidr,
            &["10.244.0.0/16", "0.0.0.0/0"],
            &["", "10.0.0.0", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/+8"],
        );
        check_kind(Kind::KeyPath, &["/root/.ssh/id key", "~/k"], &["", "a\nb"]);
        let every = [
            Kind::HostName,
            Kind::Name,
            Kind::DnsName,
            Kind::InterfaceName,
            Kind::KubernetesVersion,
            Kind::DevicePath,
            Kind::UserName,
            Kind::Ipv4Cidr,
            Kind::ImageTag,
            Kind::ImageRef,
        ];
        for kind in every {
            for m in META {
                let v = format!("/dev/sdb{m}x");
                assert!(kind.check(&v).is_err(), "{kind:?} admits {v:?}");
            }
        }
    }

    /// `ClusterModel::check` refuses the seed model of `profile` after `change`, at `field`,
    /// with a one-line message.
    fn check_refused(profile: Profile, field: Field, change: impl FnOnce(&mut ClusterModel)) {
        let mut m = ClusterModel::seed(profile);
        change(&mut m);
        let e = m.check().expect_err(&format!("{field} refused"));
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
        assert_eq!(e.field, field, "{e}");
    }

    #[test]
    fn unusable_nodes_are_refused_where_they_are_wrong() {
        use NodeField as N;
        let b = Profile::Bare;
        check_refused(b, Field::Node(2, N::Name), |m| {
            m.nodes[2].name = "node-1".into()
        });
        let sdb = "/dev/sdb".to_owned();
        check_refused(b, Field::Node(0, N::StorageDevice(1)), |m| {
            m.nodes[0].storage_devices.push(sdb);
        });
        let (net, broadcast) = (Ipv4Addr::new(10, 77, 0, 0), Ipv4Addr::new(10, 77, 0, 255));
        check_refused(b, Field::Node(1, N::Address), |m| m.nodes[1].address = net);
        check_refused(b, Field::Node(1, N::Address), |m| {
            m.nodes[1].address = broadcast
        });
        check_refused(b, Field::Vip, |m| m.vip = broadcast);
        check_refused(b, Field::Vip, |m| m.vip = Ipv4Addr::new(10, 78, 0, 100));
        check_refused(b, Field::Proxies, |m| {
            m.nodes.iter_mut().for_each(|n| n.proxy = false);
        });
        check_refused(b, Field::Nodes, |m| m.nodes.clear());
        check_refused(b, Field::Node(1, N::SshUser), |m| {
            m.nodes[1].ssh.user = "a;b".into()
        });
        check_refused(b, Field::KubernetesVersion, |m| {
            m.versions.kubernetes = "banana".into();
        });
        check_refused(b, Field::VipInterface, |m| m.vip_interface = String::new());
        check_refused(b, Field::Setting("versions.rook"), |m| {
            m.versions.rook = "v1 x".into()
        });
        check_refused(b, Field::CephPoolMinSize, |m| m.ceph.pool_min_size = 4);
    }

    #[test]
    fn port_clashes_are_refused() {
        let (b, k) = (Profile::Bare, Profile::Kubernetes);
        check_refused(b, Field::ApiPort, |m| m.haproxy.api_port = 0);
        check_refused(b, Field::IngressPort, |m| {
            m.haproxy.ingress_port = m.haproxy.api_port;
        });
        check_refused(b, Field::ApiPort, |m| m.haproxy.api_port = 22);
        check_refused(b, Field::IngressPort, |m| m.haproxy.ingress_port = 2380);
        check_refused(b, Field::ApiPort, |m| m.haproxy.api_port = 8080);
        check_refused(b, Field::IngressPort, |m| m.haproxy.ingress_port = 6789);
        check_refused(b, Field::IngressPort, |m| m.haproxy.ingress_port = 7000);
        check_refused(k, Field::ApiPort, |m| m.haproxy.api_port = 6443);
        check_refused(k, Field::IngressPort, |m| m.haproxy.ingress_port = 10250);
        check_refused(b, Field::Node(0, NodeField::SshPort), |m| {
            m.nodes[0].ssh.port = 0
        });
        check_refused(b, Field::Node(2, NodeField::SshPort), |m| {
            m.nodes[2].ssh.port = 2379;
        });
    }

    #[test]
    fn a_port_clash_is_only_where_a_daemon_listens() {
        // 6443 is kube-apiserver's in the kubernetes profile only; bare uses it for the VIP.
        let mut m = ClusterModel::seed(Profile::Bare);
        m.nodes[0].ssh.port = 6443 + 1;
        m.haproxy.ingress_port = 3300 + 1;
        assert_eq!(m.check(), Ok(()));
        let listens = m.listens(&m.nodes[0]);
        assert!(
            listens.iter().any(|l| l.ports.contains(&3300)),
            "{listens:?}"
        );
        m.nodes[0].storage_devices.clear();
        m.nodes[0].control_plane = false;
        assert!(!m
            .listens(&m.nodes[0])
            .iter()
            .any(|l| l.ports.contains(&2379)));
    }
}
