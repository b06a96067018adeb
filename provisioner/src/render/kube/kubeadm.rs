//! kubeadm's configuration, API `kubeadm.k8s.io/v1beta4` (Kubernetes 1.31+), as typed structs:
//! the zero-master's InitConfiguration + ClusterConfiguration, and the JoinConfiguration built
//! from a relayed `kubeadm join` line.
//!
//! v1beta4 differs from v1beta3 where it matters here: `extraArgs` and `kubeletExtraArgs` are
//! lists of `{name, value}` (not maps), and the timeouts moved to a `timeouts` block (none is
//! set here, so kubeadm's defaults apply). The init configuration holds no secret: no
//! `bootstrapTokens` and no `certificateKey` (`kubeadm init --upload-certs` makes the key on
//! the host). Only [`join_config`] sees a token, CA hash and certificate key, and its errors
//! never contain them.

use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;
use serde::{Deserialize, Serialize};

use super::k8s::yaml;
use crate::model::{ClusterModel, Node};

/// The API version of every kubeadm document rendered here.
pub(super) const API_VERSION: &str = "kubeadm.k8s.io/v1beta4";
/// containerd's CRI socket.
pub(super) const CRI_SOCKET: &str = "unix:///run/containerd/containerd.sock";

/// One command-line flag of a component, without its dashes (v1beta4's `Arg`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Arg {
    pub(super) name: String,
    pub(super) value: String,
}

fn arg(name: &str, value: impl Into<String>) -> Arg {
    Arg {
        name: name.to_owned(),
        value: value.into(),
    }
}

/// Where one API server listens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ApiEndpoint {
    pub(super) advertise_address: String,
    pub(super) bind_port: u16,
}

/// How a node registers itself (`NodeRegistrationOptions`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NodeRegistration {
    pub(super) name: String,
    pub(super) cri_socket: String,
    /// `Some(vec![])` renders `taints: []` (no control-plane taint); `None` leaves kubeadm's
    /// default (the `NoSchedule` control-plane taint on control-plane nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) taints: Option<Vec<Taint>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) kubelet_extra_args: Vec<Arg>,
}

impl NodeRegistration {
    fn new(name: &str, node_ip: &str, schedulable: bool) -> NodeRegistration {
        NodeRegistration {
            name: name.to_owned(),
            cri_socket: CRI_SOCKET.to_owned(),
            taints: schedulable.then(Vec::new),
            kubelet_extra_args: vec![arg("node-ip", node_ip)],
        }
    }
}

/// `kubeadm init`-only settings of the zero-master.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct InitConfiguration {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) node_registration: NodeRegistration,
    #[serde(rename = "localAPIEndpoint")]
    pub(super) local_api_endpoint: ApiEndpoint,
}

/// The cluster-wide settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ClusterConfiguration {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) cluster_name: String,
    pub(super) kubernetes_version: String,
    pub(super) control_plane_endpoint: String,
    pub(super) networking: Networking,
    pub(super) api_server: ApiServer,
    pub(super) controller_manager: Component,
    pub(super) scheduler: Component,
    pub(super) etcd: Etcd,
}

/// Pod and service networks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Networking {
    pub(super) pod_subnet: String,
    pub(super) service_subnet: String,
}

/// The API server: flags and the extra names its certificate carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ApiServer {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) extra_args: Vec<Arg>,
    #[serde(rename = "certSANs")]
    pub(super) cert_sans: Vec<String>,
}

/// A control-plane component's flags (`ControlPlaneComponent`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Component {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) extra_args: Vec<Arg>,
}

/// Stacked etcd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Etcd {
    pub(super) local: LocalEtcd,
}

/// The local (stacked) etcd member of each control-plane node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LocalEtcd {
    pub(super) data_dir: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) extra_args: Vec<Arg>,
}

/// A node's `kubeadm join` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct JoinConfiguration {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) node_registration: NodeRegistration,
    pub(super) discovery: Discovery,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) control_plane: Option<JoinControlPlane>,
}

/// How the joining node finds and trusts the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Discovery {
    pub(super) bootstrap_token: BootstrapTokenDiscovery,
}

/// Token discovery, pinned to the cluster CA's public key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BootstrapTokenDiscovery {
    pub(super) api_server_endpoint: String,
    pub(super) token: String,
    pub(super) ca_cert_hashes: Vec<String>,
}

impl std::fmt::Debug for BootstrapTokenDiscovery {
    // The token and hashes are secrets: a failing assertion or a log must not show them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapTokenDiscovery")
            .field("api_server_endpoint", &self.api_server_endpoint)
            .field("token", &"<redacted>")
            .field("ca_cert_hashes", &self.ca_cert_hashes.len())
            .finish()
    }
}

/// The control-plane instance a joining node adds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct JoinControlPlane {
    #[serde(rename = "localAPIEndpoint")]
    pub(super) local_api_endpoint: ApiEndpoint,
    pub(super) certificate_key: String,
}

impl std::fmt::Debug for JoinControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinControlPlane")
            .field("local_api_endpoint", &self.local_api_endpoint)
            .field("certificate_key", &"<redacted>")
            .finish()
    }
}

/// A duration as Go's `time.ParseDuration` reads it: `40s`, `1500ms`.
pub(super) fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos() == d.subsec_millis() * 1_000_000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

/// `v1.33.5` from `1.33.5` (or from `v1.33.5`).
pub(super) fn kubernetes_version(model: &ClusterModel) -> String {
    let v = &model.versions.kubernetes;
    if v.starts_with('v') {
        v.clone()
    } else {
        format!("v{v}")
    }
}

/// The zero-master's InitConfiguration.
pub(super) fn init_configuration(model: &ClusterModel, master: &Node) -> InitConfiguration {
    let address = master.address.to_string();
    InitConfiguration {
        api_version: API_VERSION.to_owned(),
        kind: "InitConfiguration".to_owned(),
        node_registration: NodeRegistration::new(
            &master.name,
            &address,
            model.kube.masters_schedulable,
        ),
        local_api_endpoint: ApiEndpoint {
            advertise_address: address,
            bind_port: model.kube.api_server_port,
        },
    }
}

/// The names the API server certificate must carry: the VIP (and its DNS name), then every
/// control-plane node's address and name, each once.
fn cert_sans(model: &ClusterModel) -> Vec<String> {
    let mut sans = vec![model.vip.to_string()];
    sans.extend(model.vip_name.clone());
    for n in model.nodes.iter().filter(|n| n.control_plane) {
        sans.push(n.address.to_string());
        sans.push(n.name.clone());
    }
    let mut seen = std::collections::BTreeSet::new();
    sans.retain(|s| seen.insert(s.clone()));
    sans
}

/// Leader election of the controller-manager and the scheduler, from the model.
fn leader_election(model: &ClusterModel) -> Vec<Arg> {
    let k = &model.kube;
    vec![
        arg("leader-elect-lease-duration", go_duration(k.leader_lease)),
        arg(
            "leader-elect-renew-deadline",
            go_duration(k.leader_renew_deadline),
        ),
        arg("leader-elect-retry-period", go_duration(k.leader_retry)),
    ]
}

/// The ClusterConfiguration: every timer comes from the model.
pub(super) fn cluster_configuration(model: &ClusterModel) -> ClusterConfiguration {
    let k = &model.kube;
    let mut controller_manager = vec![
        arg("node-monitor-period", go_duration(k.node_monitor_period)),
        arg(
            "node-monitor-grace-period",
            go_duration(k.node_monitor_grace),
        ),
    ];
    controller_manager.extend(leader_election(model));
    // The DefaultTolerationSeconds admission plugin gives every pod this toleration of the
    // not-ready and unreachable taints: how long a dead node's pods wait before eviction.
    let toleration = k.eviction_toleration.as_secs().to_string();
    let e = &model.etcd;
    ClusterConfiguration {
        api_version: API_VERSION.to_owned(),
        kind: "ClusterConfiguration".to_owned(),
        cluster_name: model.name.clone(),
        kubernetes_version: kubernetes_version(model),
        control_plane_endpoint: format!("{}:{}", model.vip, model.haproxy.api_port),
        networking: Networking {
            pod_subnet: k.pod_cidr.clone(),
            service_subnet: k.service_cidr.clone(),
        },
        api_server: ApiServer {
            extra_args: vec![
                arg("default-not-ready-toleration-seconds", toleration.clone()),
                arg("default-unreachable-toleration-seconds", toleration),
            ],
            cert_sans: cert_sans(model),
        },
        controller_manager: Component {
            extra_args: controller_manager,
        },
        scheduler: Component {
            extra_args: leader_election(model),
        },
        etcd: Etcd {
            local: LocalEtcd {
                data_dir: "/var/lib/etcd".to_owned(),
                extra_args: vec![
                    arg("heartbeat-interval", e.heartbeat.as_millis().to_string()),
                    arg(
                        "election-timeout",
                        e.election_timeout.as_millis().to_string(),
                    ),
                    arg("pre-vote", e.pre_vote.to_string()),
                ],
            },
        },
    }
}

/// `kubeadm-init.yaml`: the InitConfiguration and the ClusterConfiguration, two documents.
pub(super) fn init_config(model: &ClusterModel, master: &Node) -> String {
    format!(
        "{}---\n{}",
        yaml(&init_configuration(model, master)),
        yaml(&cluster_configuration(model))
    )
}

/// The parts of a `kubeadm join` line.
struct JoinLine {
    endpoint: String,
    token: String,
    ca_cert_hashes: Vec<String>,
    control_plane: bool,
    certificate_key: Option<String>,
}

/// How many words a join line may have: far more than kubeadm prints.
const JOIN_WORDS_MAX: usize = 32;

/// A flag's name as an error may show it: only the known flags, never a value.
fn shown(flag: &str) -> &'static str {
    match flag {
        "--token" => "--token",
        "--discovery-token-ca-cert-hash" => "--discovery-token-ca-cert-hash",
        "--certificate-key" => "--certificate-key",
        "--control-plane" => "--control-plane",
        _ => "a flag",
    }
}

/// Whether `s` is N characters of `ok`.
fn all_of(s: &str, n: usize, ok: impl Fn(char) -> bool) -> bool {
    s.len() == n && s.chars().all(ok)
}

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn valid_token(t: &str) -> bool {
    t.split_once('.')
        .is_some_and(|(id, secret)| all_of(id, 6, lower_alnum) && all_of(secret, 16, lower_alnum))
}

fn valid_hash(h: &str) -> bool {
    h.strip_prefix("sha256:")
        .is_some_and(|hex| all_of(hex, 64, |c| c.is_ascii_hexdigit()))
}

fn valid_key(k: &str) -> bool {
    all_of(k, 64, |c| c.is_ascii_hexdigit())
}

fn valid_endpoint(e: &str) -> bool {
    e.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && !host.starts_with('-')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c))
            && port.parse::<u16>().is_ok_and(|p| p > 0)
    })
}

/// Splits and checks a join line (a shell continuation `\` between words is allowed, as
/// `kubeadm init` prints them). Errors name flags, never values.
fn parse_join(line: &str) -> Result<JoinLine, String> {
    let words: Vec<&str> = line.split_whitespace().filter(|w| *w != "\\").collect();
    if words.len() > JOIN_WORDS_MAX {
        return Err(format!(
            "kubeadm join line has more than {JOIN_WORDS_MAX} words"
        ));
    }
    let rest = match words.as_slice() {
        ["kubeadm", "join", rest @ ..] => rest,
        _ => return Err("expected a line starting with `kubeadm join`".to_owned()),
    };
    let mut endpoint = None;
    let mut token = None;
    let mut hashes = Vec::new();
    let mut control_plane = false;
    let mut key = None;
    let mut it = rest.iter();
    while let Some(&word) = it.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (word, None),
        };
        let mut value = || {
            inline
                .or_else(|| it.next().copied())
                .map(str::to_owned)
                .ok_or_else(|| format!("kubeadm join line: {} has no value", shown(flag)))
        };
        match flag {
            "--token" if token.is_none() => token = Some(value()?),
            "--certificate-key" if key.is_none() => key = Some(value()?),
            "--discovery-token-ca-cert-hash" => hashes.push(value()?),
            "--control-plane" if inline.is_some() => {
                return Err("kubeadm join line: --control-plane takes no value".to_owned())
            }
            "--control-plane" if !control_plane => control_plane = true,
            "--token" | "--certificate-key" | "--control-plane" => {
                return Err(format!("kubeadm join line: {} given twice", shown(flag)))
            }
            f if f.starts_with('-') => {
                return Err("kubeadm join line: unexpected flag (only --token, \
                     --discovery-token-ca-cert-hash, --control-plane and --certificate-key)"
                    .to_owned())
            }
            _ if endpoint.is_none() => endpoint = Some(word.to_owned()),
            _ => return Err("kubeadm join line: more than one api server endpoint".to_owned()),
        }
    }
    check_join(JoinLine {
        endpoint: endpoint.ok_or("kubeadm join line: no api server endpoint")?,
        token: token.ok_or("kubeadm join line: no --token")?,
        ca_cert_hashes: hashes,
        control_plane,
        certificate_key: key,
    })
}

/// The shape of each value: a malformed secret is named by its flag only.
fn check_join(line: JoinLine) -> Result<JoinLine, String> {
    if !valid_endpoint(&line.endpoint) {
        return Err("kubeadm join line: the api server endpoint is not host:port".to_owned());
    }
    if !valid_token(&line.token) {
        return Err(
            "kubeadm join line: --token is not of the form [a-z0-9]{6}.[a-z0-9]{16}".to_owned(),
        );
    }
    if line.ca_cert_hashes.is_empty() {
        return Err(
            "kubeadm join line: no --discovery-token-ca-cert-hash (unpinned discovery is refused)"
                .to_owned(),
        );
    }
    if !line.ca_cert_hashes.iter().all(|h| valid_hash(h)) {
        return Err(
            "kubeadm join line: --discovery-token-ca-cert-hash is not sha256:<64 hex>".to_owned(),
        );
    }
    if line
        .certificate_key
        .as_deref()
        .is_some_and(|k| !valid_key(k))
    {
        return Err("kubeadm join line: --certificate-key is not 64 hex digits".to_owned());
    }
    Ok(line)
}

/// The JoinConfiguration of one node from its parsed line.
pub(super) fn join_configuration(
    line: &str,
    node: &str,
    advertise: &str,
    bind_port: u16,
    control_plane: bool,
    schedulable: bool,
) -> Result<JoinConfiguration, String> {
    let parsed = parse_join(line)?;
    let control = match (control_plane, parsed.control_plane, parsed.certificate_key) {
        (true, true, Some(certificate_key)) => Some(JoinControlPlane {
            local_api_endpoint: ApiEndpoint {
                advertise_address: advertise.to_owned(),
                bind_port,
            },
            certificate_key,
        }),
        (true, false, _) => {
            return Err(format!(
                "{node} joins the control plane but the join line has no --control-plane"
            ))
        }
        (true, true, None) => {
            return Err(format!(
                "{node} joins the control plane but the join line has no --certificate-key"
            ))
        }
        (false, false, None) => None,
        (false, _, _) => {
            return Err(format!(
                "{node} joins as a worker but the join line is for a control-plane node"
            ))
        }
    };
    Ok(JoinConfiguration {
        api_version: API_VERSION.to_owned(),
        kind: "JoinConfiguration".to_owned(),
        // A worker has no control-plane taint to drop; `taints: []` says so explicitly.
        node_registration: NodeRegistration::new(node, advertise, schedulable || !control_plane),
        discovery: Discovery {
            bootstrap_token: BootstrapTokenDiscovery {
                api_server_endpoint: parsed.endpoint,
                token: parsed.token,
                ca_cert_hashes: parsed.ca_cert_hashes,
            },
        },
        control_plane: control,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Profile;

    const TOKEN: &str = "abcdef.0123456789abcdef";
    const HASH_HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const KEY: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn seed() -> ClusterModel {
        ClusterModel::seed(Profile::Kubernetes)
    }

    fn init(model: &ClusterModel) -> String {
        init_config(model, &model.nodes[0])
    }

    /// The init configuration has every line (compared trimmed of indentation).
    fn check_init(model: &ClusterModel, lines: &[&str]) {
        let text = init(model);
        for line in lines {
            assert!(
                text.lines().any(|l| l.trim() == *line),
                "no `{line}` in\n{text}"
            );
        }
    }

    /// The arg NAME of a list, which must be there once.
    fn value<'a>(args: &'a [Arg], name: &str) -> &'a str {
        let found: Vec<&Arg> = args.iter().filter(|a| a.name == name).collect();
        assert_eq!(found.len(), 1, "{name} in {args:?}");
        &found[0].value
    }

    #[test]
    fn init_reads_back_into_its_types() {
        let m = seed();
        let text = init(&m);
        let docs: Vec<&str> = text.split("\n---\n").collect();
        assert_eq!(docs.len(), 2);
        let i: InitConfiguration = serde_saphyr::from_str(docs[0]).expect("init");
        let c: ClusterConfiguration = serde_saphyr::from_str(docs[1]).expect("cluster");
        assert_eq!(i, init_configuration(&m, &m.nodes[0]));
        assert_eq!(c, cluster_configuration(&m));
    }

    #[test]
    fn controller_manager_and_scheduler_timers() {
        let m = seed();
        let c = cluster_configuration(&m);
        let cm = &c.controller_manager.extra_args;
        assert_eq!(value(cm, "node-monitor-period"), "5s");
        assert_eq!(value(cm, "node-monitor-grace-period"), "40s");
        for args in [cm, &c.scheduler.extra_args] {
            assert_eq!(value(args, "leader-elect-lease-duration"), "15s");
            assert_eq!(value(args, "leader-elect-renew-deadline"), "10s");
            assert_eq!(value(args, "leader-elect-retry-period"), "2s");
        }
        let api = &c.api_server.extra_args;
        assert_eq!(value(api, "default-unreachable-toleration-seconds"), "300");
        check_init(&m, &["value: 40s", "- name: node-monitor-grace-period"]);
    }

    #[test]
    fn etcd_timers_in_milliseconds() {
        let mut m = seed();
        m.etcd.heartbeat = Duration::from_millis(250);
        m.etcd.election_timeout = Duration::from_millis(2500);
        let etcd = cluster_configuration(&m).etcd.local.extra_args;
        assert_eq!(value(&etcd, "heartbeat-interval"), "250");
        assert_eq!(value(&etcd, "election-timeout"), "2500");
        // etcd 3.5's default, rendered from the model.
        assert_eq!(value(&etcd, "pre-vote"), "true");
        check_init(&seed(), &["- name: election-timeout", "value: \"1000\""]);
    }

    #[test]
    fn networks_endpoint_and_version() {
        let mut m = seed();
        m.kube.pod_cidr = "10.50.0.0/16".to_owned();
        m.kube.service_cidr = "10.60.0.0/16".to_owned();
        check_init(
            &m,
            &[
                "podSubnet: 10.50.0.0/16",
                "serviceSubnet: 10.60.0.0/16",
                "controlPlaneEndpoint: 10.77.0.100:6445",
                "kubernetesVersion: v1.33.5",
                "apiVersion: kubeadm.k8s.io/v1beta4",
                "criSocket: unix:///run/containerd/containerd.sock",
                "advertiseAddress: 10.77.0.11",
                "bindPort: 6443",
            ],
        );
    }

    #[test]
    fn cert_sans_cover_vip_name_and_every_control_plane_node() {
        let mut m = seed();
        m.vip_name = Some("kube-cluster".to_owned());
        m.nodes[2].control_plane = false;
        assert_eq!(
            cluster_configuration(&m).api_server.cert_sans,
            [
                "10.77.0.100",
                "kube-cluster",
                "10.77.0.11",
                "node-1",
                "10.77.0.12",
                "node-2"
            ]
        );
    }

    #[test]
    fn schedulable_masters_have_no_taint() {
        let mut m = seed();
        assert_eq!(
            init_configuration(&m, &m.nodes[0]).node_registration.taints,
            Some(vec![])
        );
        check_init(&m, &["taints: []"]);
        m.kube.masters_schedulable = false;
        assert!(!init(&m).contains("taints"));
    }

    #[test]
    fn no_secret_in_init() {
        let text = init(&seed());
        for word in ["bootstrapTokens", "certificateKey", "token"] {
            assert!(!text.contains(word), "{word}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(40)), "40s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
    }

    fn control_plane_line() -> String {
        format!(
            "kubeadm join 10.77.0.100:6445 --token {TOKEN} \
             --discovery-token-ca-cert-hash sha256:{HASH_HEX} --control-plane --certificate-key {KEY}\n"
        )
    }

    fn worker_line() -> String {
        format!(
            "kubeadm join 10.77.0.100:6445 --token {TOKEN} --discovery-token-ca-cert-hash sha256:{HASH_HEX} "
        )
    }

    fn join(line: &str, control_plane: bool) -> Result<JoinConfiguration, String> {
        join_configuration(line, "node-2", "10.77.0.12", 6443, control_plane, true)
    }

    #[test]
    fn control_plane_join() {
        let j = join(&control_plane_line(), true).expect("valid line");
        let d = &j.discovery.bootstrap_token;
        assert_eq!(d.api_server_endpoint, "10.77.0.100:6445");
        assert_eq!(d.token, TOKEN);
        assert_eq!(d.ca_cert_hashes, [format!("sha256:{HASH_HEX}")]);
        let cp = j.control_plane.clone().expect("control plane");
        assert_eq!(cp.certificate_key, KEY);
        assert_eq!(cp.local_api_endpoint.advertise_address, "10.77.0.12");
        assert_eq!(cp.local_api_endpoint.bind_port, 6443);
        assert_eq!(
            value(&j.node_registration.kubelet_extra_args, "node-ip"),
            "10.77.0.12"
        );
        assert_eq!(j.node_registration.name, "node-2");
        let text = yaml(&j);
        let back: JoinConfiguration = serde_saphyr::from_str(&text).expect("reads back");
        assert_eq!(back, j);
        assert!(!format!("{j:?}").contains(TOKEN), "Debug shows the token");
        assert!(!format!("{j:?}").contains(KEY), "Debug shows the key");
    }

    #[test]
    fn continued_lines_as_kubeadm_init_prints_them() {
        let line = format!(
            "kubeadm join 10.77.0.100:6445 --token {TOKEN} \\\n\t--discovery-token-ca-cert-hash \
             sha256:{HASH_HEX}\n"
        );
        assert!(join(&line, false).is_ok());
    }

    #[test]
    fn worker_join() {
        let j = join(&worker_line(), false).expect("valid line");
        assert_eq!(j.control_plane, None);
        assert_eq!(j.discovery.bootstrap_token.token, TOKEN);
        assert!(!yaml(&j).contains("controlPlane"));
        let back: JoinConfiguration = serde_saphyr::from_str(&yaml(&j)).expect("reads back");
        assert_eq!(back, j);
    }

    #[test]
    fn equals_form_and_taint_of_unschedulable_masters() {
        let line = format!(
            "kubeadm join 10.77.0.100:6445 --token={TOKEN} --discovery-token-ca-cert-hash=sha256:{HASH_HEX}"
        );
        let j = join_configuration(&line, "node-3", "10.77.0.13", 6443, false, false)
            .expect("valid line");
        assert_eq!(j.node_registration.taints, Some(vec![]));
        let j = join_configuration(&control_plane_line(), "n", "10.77.0.13", 6443, true, false)
            .expect("valid line");
        assert_eq!(j.node_registration.taints, None);
    }

    /// A bad line is refused with an error naming the problem, and no secret in it.
    fn check_err(line: &str, control_plane: bool, expected: &str) {
        let err = join(line, control_plane).expect_err("refused");
        for secret in [
            TOKEN,
            "0123456789abcdef",
            HASH_HEX,
            KEY,
            "fedcba98",
            "abcdef.",
        ] {
            assert!(!err.contains(secret), "error shows a secret: {err}");
        }
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(err.contains(expected), "{err:?} does not say {expected:?}");
    }

    const EP: &str = "kubeadm join 10.77.0.100:6445";

    fn hash() -> String {
        format!("--discovery-token-ca-cert-hash sha256:{HASH_HEX}")
    }

    #[test]
    fn missing_and_repeated_flags() {
        let hash = hash();
        check_err(&format!("{EP} {hash}"), false, "no --token");
        check_err(
            &format!("{EP} {hash} --token"),
            false,
            "--token has no value",
        );
        let no_hash = format!("{EP} --token {TOKEN}");
        check_err(&no_hash, false, "no --discovery-token-ca-cert-hash");
        let twice = format!("{EP} --token {TOKEN} --token {TOKEN} {hash}");
        check_err(&twice, false, "--token given twice");
        let no_endpoint = format!("kubeadm join --token {TOKEN} {hash}");
        check_err(&no_endpoint, false, "no api server endpoint");
        check_err(
            &format!("kubeadm init --token {TOKEN} {hash}"),
            false,
            "kubeadm join",
        );
        check_err("", false, "kubeadm join");
        check_err(
            &format!("{EP} {}", "x ".repeat(40)),
            false,
            "more than 32 words",
        );
    }

    #[test]
    fn unknown_flags_and_extra_words() {
        let hash = hash();
        let base = format!("{EP} --token {TOKEN} {hash}");
        check_err(
            &format!("{base} --unsafe-skip={TOKEN}"),
            false,
            "unexpected flag",
        );
        check_err(&format!("{base} --{KEY}"), false, "unexpected flag");
        check_err(
            &format!("{base} {KEY}"),
            false,
            "more than one api server endpoint",
        );
        let valued = format!("{base} --control-plane={KEY}");
        check_err(&valued, false, "--control-plane takes no value");
        let token_as_endpoint = format!("kubeadm join {TOKEN} --token {TOKEN} {hash}");
        check_err(&token_as_endpoint, false, "not host:port");
    }

    #[test]
    fn malformed_secrets() {
        let hash = hash();
        let short_hash = format!("sha256:{}", &HASH_HEX[1..]);
        let line = format!("{EP} --token {TOKEN} --discovery-token-ca-cert-hash {short_hash}");
        check_err(&line, false, "sha256:<64 hex>");
        let md5 = format!("{EP} --token {TOKEN} --discovery-token-ca-cert-hash md5:{HASH_HEX}");
        check_err(&md5, false, "sha256:<64 hex>");
        check_err(
            &format!("{EP} --token {TOKEN}x {hash}"),
            false,
            "--token is not",
        );
        let short_key = &KEY[2..];
        let line =
            format!("{EP} --token {TOKEN} {hash} --control-plane --certificate-key {short_key}");
        check_err(&line, true, "64 hex");
    }

    #[test]
    fn line_and_role_must_agree() {
        check_err(&worker_line(), true, "no --control-plane");
        let no_key = format!("{} --control-plane", worker_line());
        check_err(&no_key, true, "no --certificate-key");
        check_err(&control_plane_line(), false, "joins as a worker");
    }

    /// The render mutation run's survivors: the flags an error may name, each repeated or
    /// missing value, the token's alphabet, the endpoint's parts and the word cap's edge.
    #[test]
    fn every_flag_is_named_and_every_part_is_checked() {
        let hash = hash();
        let base = format!("{EP} --token {TOKEN} {hash}");
        check_err(
            &format!("{EP} --token {TOKEN} --discovery-token-ca-cert-hash"),
            false,
            "--discovery-token-ca-cert-hash has no value",
        );
        check_err(
            &format!("{base} --control-plane --certificate-key"),
            true,
            "--certificate-key has no value",
        );
        check_err(
            &format!("{base} --control-plane --certificate-key {KEY} --certificate-key {KEY}"),
            true,
            "--certificate-key given twice",
        );
        check_err(
            &format!("{base} --control-plane --control-plane --certificate-key {KEY}"),
            true,
            "--control-plane given twice",
        );
        // kubeadm's tokens are lower-case letters and digits: [a-z0-9]{6}.[a-z0-9]{16}.
        check_err(
            &format!("{EP} --token ABCDEF.0123456789ABCDEF {hash}"),
            false,
            "--token is not",
        );
        for endpoint in [":6445", "a_b:6445", "host:0", "host:x", "host"] {
            check_err(
                &format!("kubeadm join {endpoint} --token {TOKEN} {hash}"),
                false,
                "not host:port",
            );
        }
        for endpoint in ["h:1", "[fd00::1]:6443", "kube-cluster.lan:6443"] {
            let line = format!("kubeadm join {endpoint} --token {TOKEN} {hash}");
            assert!(join(&line, false).is_ok(), "{endpoint}");
        }
        // JOIN_WORDS_MAX words are read; one more is refused: 4 words and 14 hashes of 2.
        let mut at_cap = format!("{EP} --token={TOKEN}");
        for _ in 0..14 {
            at_cap += &format!(" {hash}");
        }
        assert_eq!(at_cap.split_whitespace().count(), JOIN_WORDS_MAX);
        assert!(join(&at_cap, false).is_ok());
        let over = format!("{at_cap} --discovery-token-ca-cert-hash=sha256:{HASH_HEX}");
        check_err(&over, false, "more than 32 words");
    }

    #[test]
    fn debug_shows_where_a_node_joins_and_no_secret() {
        let j = join(&control_plane_line(), true).expect("valid line");
        let d = format!("{:?}", j.discovery.bootstrap_token);
        assert!(
            d.contains("10.77.0.100:6445") && d.contains("<redacted>"),
            "{d}"
        );
        assert!(!d.contains(TOKEN) && !d.contains(HASH_HEX), "{d}");
        let cp = format!("{:?}", j.control_plane.expect("control plane"));
        assert!(
            cp.contains("10.77.0.12") && cp.contains("<redacted>"),
            "{cp}"
        );
        assert!(!cp.contains(KEY), "{cp}");
    }
}
