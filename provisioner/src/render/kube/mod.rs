//! The `kubernetes` profile's files: host preparation (kernel modules, sysctl, containerd, the
//! Kubernetes apt source), kubeadm's configurations and the add-on manifests the zero-master
//! applies, each built from typed structs: kubeadm's v1beta4 types (`kubeadm`), k8s-openapi's
//! objects and rook's custom resources (`rook`). The HA front (HAProxy, keepalived) is
//! rendered by `front`, the same for every profile.
//!
//! Must not: do IO (every function is pure: one model, byte-identical files), or render a
//! secret. No bootstrap token, CA hash or certificate key is part of a rendered file; the one
//! function that handles them, [`join_config`], turns a line relayed at run time into a
//! JoinConfiguration and never puts them in its errors.

mod dashboards;
mod flannel;
mod k8s;
mod kubeadm;
mod logging;
mod monitoring;
mod probe;
mod rook;
mod traefik;

pub use probe::{APP_PATH, CEPH_PROBE_PATH};

use crate::model::{ClusterModel, Node};

/// Target of kubeadm's init configuration (zero-master only).
pub const KUBEADM_INIT: &str = "/etc/kubernetes/hadrill/kubeadm-init.yaml";
/// Folder of the rendered add-on manifests (zero-master only), one file per [`addons`] entry.
pub const ADDONS_DIR: &str = "/etc/kubernetes/hadrill/addons";
/// Kernel modules containerd and bridged pod traffic need: overlay, br_netfilter.
pub const MODULES_CONF: &str = "/etc/modules-load.d/hadrill-k8s.conf";
/// sysctl for pod traffic: bridge-nf-call-iptables(6), ip_forward.
pub const K8S_SYSCTL: &str = "/etc/sysctl.d/91-hadrill-k8s.conf";
/// containerd's configuration: version 2, runc with the systemd cgroup driver, pinned sandbox.
pub const CONTAINERD_CONF: &str = "/etc/containerd/config.toml";
/// The apt source of pkgs.k8s.io for the model's Kubernetes minor version.
pub const APT_SOURCE: &str = "/etc/apt/sources.list.d/kubernetes.list";
/// The keyring [`APT_SOURCE`] trusts (the plan fetches it from [`apt_key_url`]).
pub const APT_KEYRING: &str = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg";
/// The pod sandbox image of Kubernetes 1.33's kubeadm; containerd must use the same one.
pub const SANDBOX_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// Per-node files of the kubernetes profile (the HA front files are rendered elsewhere):
/// (absolute path, mode, content). Every node: [`MODULES_CONF`], [`K8S_SYSCTL`],
/// [`CONTAINERD_CONF`], [`APT_SOURCE`]. The zero-master ([`ClusterModel::zero_master`]) also
/// gets [`KUBEADM_INIT`] and every add-on manifest at `ADDONS_DIR/<name>` (names from
/// [`addons`]).
pub fn files(model: &ClusterModel, node: &Node) -> Vec<(String, u32, String)> {
    let mut out = vec![
        (MODULES_CONF.to_owned(), 0o644, modules_conf()),
        (K8S_SYSCTL.to_owned(), 0o644, k8s_sysctl()),
        (CONTAINERD_CONF.to_owned(), 0o644, containerd_conf()),
        (APT_SOURCE.to_owned(), 0o644, apt_source(model)),
    ];
    let zero = model.zero_master().map(|id| model.node(id));
    if zero.is_some_and(|z| z.name == node.name) {
        out.push((
            KUBEADM_INIT.to_owned(),
            0o600,
            kubeadm::init_config(model, node),
        ));
        for (name, content) in addons(model) {
            out.push((format!("{ADDONS_DIR}/{name}"), 0o644, content));
        }
    }
    out
}

/// The rendered add-on manifests in apply order: (file name like `10-flannel.yaml`,
/// multi-document YAML). They follow [`upstream`]'s manifests.
pub fn addons(model: &ClusterModel) -> Vec<(String, String)> {
    [
        ("10-flannel.yaml", flannel::manifest(model)),
        ("20-rook-cluster.yaml", rook::manifest(model)),
        ("30-traefik.yaml", traefik::manifest(model)),
        ("40-logging.yaml", logging::manifest(model)),
        ("50-monitoring.yaml", monitoring::manifest(model)),
        ("60-hadrill-probe.yaml", probe::manifest(model)),
    ]
    .into_iter()
    .map(|(name, text)| (name.to_owned(), text))
    .collect()
}

/// Upstream manifests applied by pinned URL before the rendered add-ons, for what is too large
/// to type here: rook's CRDs, common resources and operator at `model.versions.rook`.
/// (name, url).
pub fn upstream(model: &ClusterModel) -> Vec<(String, String)> {
    ["crds.yaml", "common.yaml", "operator.yaml"]
        .into_iter()
        .map(|file| {
            (
                format!("rook-{file}"),
                format!(
                    "https://raw.githubusercontent.com/rook/rook/{}/deploy/examples/{file}",
                    model.versions.rook
                ),
            )
        })
        .collect()
}

/// Where a relayed join goes.
pub struct Join<'a> {
    /// Node name (the Node object's name).
    pub node: &'a str,
    /// The node's address: its kubelet's node IP and, on a control-plane node, the address its
    /// API server advertises.
    pub advertise: &'a str,
    /// Port its API server binds (control-plane joins).
    pub bind_port: u16,
    /// A control-plane join (`--control-plane --certificate-key K` in the line).
    pub control_plane: bool,
    /// A control-plane node registers without the control-plane taint (the seed's
    /// schedulable masters, `kube.masters_schedulable`).
    pub schedulable: bool,
}

/// Turns the line printed by `kubeadm token create --print-join-command [--certificate-key K]`
/// on the zero-master (`kubeadm join VIP:PORT --token T --discovery-token-ca-cert-hash
/// sha256:H [--control-plane --certificate-key K]`) into a kubeadm JoinConfiguration as YAML.
///
/// Errors are one lower-case line that never contains the token, a hash or the key.
pub fn join_config(line: &str, join: &Join<'_>) -> Result<String, String> {
    let config = kubeadm::join_configuration(
        line,
        join.node,
        join.advertise,
        join.bind_port,
        join.control_plane,
        join.schedulable,
    )?;
    Ok(k8s::yaml(&config))
}

/// `https://pkgs.k8s.io/core:/stable:/v1.33/deb/`: the repository of the model's minor version.
fn apt_repository(model: &ClusterModel) -> String {
    let version = kubeadm::kubernetes_version(model);
    let minor: Vec<&str> = version.splitn(3, '.').take(2).collect();
    format!("https://pkgs.k8s.io/core:/stable:/{}/deb/", minor.join("."))
}

/// The signing key of [`APT_SOURCE`]'s repository (armoured; the plan dearmours it into
/// [`APT_KEYRING`]).
pub fn apt_key_url(model: &ClusterModel) -> String {
    format!("{}Release.key", apt_repository(model))
}

/// `/etc/apt/sources.list.d/kubernetes.list`.
fn apt_source(model: &ClusterModel) -> String {
    format!(
        "# Rendered by hadrill from the cluster model; do not edit.\n\
         deb [signed-by={APT_KEYRING}] {} /\n",
        apt_repository(model)
    )
}

/// `/etc/modules-load.d/hadrill-k8s.conf`.
fn modules_conf() -> String {
    "# Rendered by hadrill: containerd's overlay snapshotter; bridged pod traffic through \
     iptables.\noverlay\nbr_netfilter\n"
        .to_owned()
}

/// `/etc/sysctl.d/91-hadrill-k8s.conf`.
fn k8s_sysctl() -> String {
    "# Rendered by hadrill: bridged pod traffic passes iptables; nodes route pod traffic.\n\
     net.bridge.bridge-nf-call-iptables = 1\n\
     net.bridge.bridge-nf-call-ip6tables = 1\n\
     net.ipv4.ip_forward = 1\n"
        .to_owned()
}

/// `/etc/containerd/config.toml`: the kubelet's systemd cgroup driver (kubeadm's default) must
/// match runc's, and the sandbox image must be kubeadm's, or the kubelet restarts pods.
fn containerd_conf() -> String {
    format!(
        "# Rendered by hadrill from the cluster model; do not edit.\n\
         version = 2\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"{SANDBOX_IMAGE}\"\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"runc\"\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  \
         runtime_type = \"io.containerd.runc.v2\"\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  \
         SystemdCgroup = true\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/opt/cni/bin\"\n  \
         conf_dir = \"/etc/cni/net.d\"\n"
    )
}

#[cfg(test)]
pub(super) mod testing {
    //! Reading rendered manifests back, for the tests of every add-on.

    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};

    /// The documents of a multi-document manifest, as rendered.
    pub(crate) fn documents(manifest: &str) -> Vec<&str> {
        manifest.split("\n---\n").collect()
    }

    #[derive(Deserialize)]
    struct TypeMeta {
        kind: String,
        metadata: Meta,
    }

    #[derive(Deserialize)]
    struct Meta {
        name: String,
    }

    /// (kind, name) of one document.
    pub(crate) fn kind_and_name(doc: &str) -> (String, String) {
        let meta: TypeMeta = serde_saphyr::from_str(doc).expect("a document with kind and name");
        (meta.kind, meta.metadata.name)
    }

    /// The one object of this kind and name in a manifest, typed.
    pub(crate) fn object<T: DeserializeOwned>(manifest: &str, kind: &str, name: &str) -> T {
        let doc = documents(manifest)
            .into_iter()
            .find(|d| kind_and_name(d) == (kind.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("no {kind} {name}"));
        serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{kind} {name}: {e}"))
    }

    /// A document parsed as T and written again: the same text, if T has every field.
    pub(crate) fn reserialize<T: DeserializeOwned + Serialize>(doc: &str) -> String {
        let value: T = serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
        super::k8s::yaml(&value)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    use k8s_openapi::api::core::v1::{
        ConfigMap, Namespace, PersistentVolumeClaim, Service, ServiceAccount,
    };
    use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    use k8s_openapi::api::storage::v1::StorageClass;

    use super::testing::{documents, kind_and_name, reserialize};
    use super::*;
    use crate::model::Profile;

    fn seed() -> ClusterModel {
        ClusterModel::seed(Profile::Kubernetes)
    }

    /// Every document of a manifest reads back into its type and writes the same text.
    fn check_round_trip(file: &str, manifest: &str) {
        for doc in documents(manifest) {
            let (kind, name) = kind_and_name(doc);
            let again = match kind.as_str() {
                "Namespace" => reserialize::<Namespace>(doc),
                "ServiceAccount" => reserialize::<ServiceAccount>(doc),
                "ClusterRole" => reserialize::<ClusterRole>(doc),
                "ClusterRoleBinding" => reserialize::<ClusterRoleBinding>(doc),
                "ConfigMap" => reserialize::<ConfigMap>(doc),
                "DaemonSet" => reserialize::<DaemonSet>(doc),
                "Deployment" => reserialize::<Deployment>(doc),
                "StatefulSet" => reserialize::<StatefulSet>(doc),
                "Service" => reserialize::<Service>(doc),
                "Ingress" => reserialize::<Ingress>(doc),
                "IngressClass" => reserialize::<IngressClass>(doc),
                "StorageClass" => reserialize::<StorageClass>(doc),
                "PersistentVolumeClaim" => reserialize::<PersistentVolumeClaim>(doc),
                "CephCluster" => reserialize::<rook::CephCluster>(doc),
                "CephBlockPool" => reserialize::<rook::CephBlockPool>(doc),
                other => panic!("{file}: unexpected kind {other}"),
            };
            let doc = if doc.ends_with('\n') {
                doc.to_owned()
            } else {
                format!("{doc}\n")
            };
            assert_eq!(again, doc, "{file}: {kind} {name} changed in a round trip");
        }
    }

    #[test]
    fn every_addon_round_trips() {
        let addons = addons(&seed());
        let names: Vec<&str> = addons.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "10-flannel.yaml",
                "20-rook-cluster.yaml",
                "30-traefik.yaml",
                "40-logging.yaml",
                "50-monitoring.yaml",
                "60-hadrill-probe.yaml"
            ]
        );
        for (name, manifest) in &addons {
            check_round_trip(name, manifest);
        }
    }

    #[test]
    fn files_are_deterministic() {
        let m = seed();
        for node in &m.nodes {
            assert_eq!(files(&m, node), files(&m, node));
        }
    }

    /// The paths a node is given.
    fn check_paths(model: &ClusterModel, node: usize, expected: &[&str]) {
        let got: Vec<String> = files(model, &model.nodes[node])
            .into_iter()
            .map(|(p, _, _)| p)
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn zero_master_gets_kubeadm_and_addons() {
        let common = [MODULES_CONF, K8S_SYSCTL, CONTAINERD_CONF, APT_SOURCE];
        let mut zero = common.to_vec();
        zero.push(KUBEADM_INIT);
        let addons: Vec<String> = addons(&seed())
            .into_iter()
            .map(|(n, _)| format!("{ADDONS_DIR}/{n}"))
            .collect();
        zero.extend(addons.iter().map(String::as_str));
        check_paths(&seed(), 0, &zero);
        check_paths(&seed(), 1, &common);
        let mut m = seed();
        m.nodes[0].control_plane = false;
        check_paths(&m, 0, &common);
        check_paths(&m, 1, &zero);
    }

    #[test]
    fn nothing_secret_is_rendered() {
        let m = seed();
        for (path, _, content) in files(&m, &m.nodes[0]) {
            for word in [
                "bootstrapTokens",
                "certificateKey",
                "token:",
                "caCertHashes",
            ] {
                assert!(!content.contains(word), "{path} contains {word}");
            }
        }
    }

    /// One host file contains every line.
    fn check_host_file(path: &str, lines: &[&str]) {
        let m = seed();
        let (_, mode, content) = files(&m, &m.nodes[1])
            .into_iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| panic!("no {path}"));
        assert_eq!(mode, 0o644);
        for line in lines {
            assert!(
                content.lines().any(|l| l == *line),
                "{path}: no `{line}` in\n{content}"
            );
        }
    }

    #[test]
    fn modules_and_sysctl() {
        check_host_file(MODULES_CONF, &["overlay", "br_netfilter"]);
        check_host_file(
            K8S_SYSCTL,
            &[
                "net.bridge.bridge-nf-call-iptables = 1",
                "net.bridge.bridge-nf-call-ip6tables = 1",
                "net.ipv4.ip_forward = 1",
            ],
        );
    }

    #[test]
    fn containerd_uses_systemd_cgroups_and_kubeadms_sandbox() {
        check_host_file(
            CONTAINERD_CONF,
            &[
                "version = 2",
                "  SystemdCgroup = true",
                "  sandbox_image = \"registry.k8s.io/pause:3.10\"",
                "  runtime_type = \"io.containerd.runc.v2\"",
            ],
        );
    }

    #[test]
    fn apt_source_follows_the_minor_version() {
        check_host_file(
            APT_SOURCE,
            &[
                "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] \
               https://pkgs.k8s.io/core:/stable:/v1.33/deb/ /",
            ],
        );
        let mut m = seed();
        m.versions.kubernetes = "v1.34.0".to_owned();
        assert_eq!(
            apt_key_url(&m),
            "https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key"
        );
    }

    #[test]
    fn join_config_as_yaml() {
        let line = format!(
            "kubeadm join 10.77.0.100:6445 --token abcdef.0123456789abcdef \
             --discovery-token-ca-cert-hash sha256:{} --control-plane --certificate-key {}",
            "0".repeat(64),
            "1".repeat(64)
        );
        let mut join = Join {
            node: "node-2",
            advertise: "10.77.0.12",
            bind_port: 6443,
            control_plane: true,
            schedulable: true,
        };
        let yaml = join_config(&line, &join).expect("valid line");
        assert!(yaml.starts_with("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n"));
        assert!(yaml.contains("  taints: []\n") && yaml.contains("controlPlane:\n"));
        join.schedulable = false;
        let tainted = join_config(&line, &join).expect("valid line");
        assert!(!tainted.contains("taints"));
        let err = join_config(&line.replace("--token", "--tokn"), &join).expect_err("bad flag");
        assert!(!err.contains("abcdef"), "{err}");
    }

    #[test]
    fn upstream_pins_rook() {
        let urls: Vec<String> = upstream(&seed()).into_iter().map(|(_, u)| u).collect();
        let base = "https://raw.githubusercontent.com/rook/rook/v1.14.9/deploy/examples";
        assert_eq!(
            urls,
            [
                format!("{base}/crds.yaml"),
                format!("{base}/common.yaml"),
                format!("{base}/operator.yaml")
            ]
        );
    }
}
