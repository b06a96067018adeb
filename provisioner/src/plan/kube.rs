//! The `kubernetes` profile's plan: the seed's cluster with kubeadm, in one order a user can
//! read before it runs.
//!
//! Base on every node (swap off and kept off, kernel modules and sysctls, containerd,
//! kubelet/kubeadm/kubectl pinned, smartmontools on storage hosts, htop/atop/iotop), the HA
//! front on every proxy node, `kubeadm init --upload-certs` on the zero-master from the typed
//! configuration, control-plane joins one at a time with `--certificate-key` (relayed, so no
//! key material passes through the workstation), worker joins, then the add-ons: rook's pinned
//! upstream manifests and the rendered ones (flannel, the Ceph cluster and pool, traefik,
//! logging, monitoring, the probe app). Joins are retried with backoff: they time out now and
//! then, as the seed's article says.

use std::time::Duration;

use super::{quote, service_after_config, upload, Action, Plan, Relay, RelayTo, Step, StepId};
use crate::model::{ClusterModel, Node};
use crate::render::{self, kube, HAPROXY_CFG, KEEPALIVED_CONF};

const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";

/// kubeadm init and joins pull images: minutes on a home network.
const SETTLE_CONTROL_PLANE: Duration = Duration::from_secs(300);

fn kubectl(args: &str) -> String {
    format!("kubectl --kubeconfig {ADMIN_CONF} {args}")
}

/// Debian packages of a node besides Kubernetes' own.
pub fn packages(node: &Node) -> Vec<&'static str> {
    let mut p = vec![
        "containerd",
        "ca-certificates",
        "curl",
        "gpg",
        "htop",
        "atop",
        "iotop",
    ];
    if node.proxy {
        p.extend(["haproxy", "keepalived"]);
    }
    if node.storage() {
        p.push("smartmontools");
    }
    p
}

/// The plan of the kubernetes profile.
pub fn plan(model: &ClusterModel) -> Plan {
    let mut p = Plan::default();
    let Some(zero_id) = model.zero_master() else {
        return p;
    };
    let zero = model.node(zero_id).name.clone();
    // Rendered once: the manifests take a while to build, and every node needs its share.
    let files = render::render(model);
    let mut ready = Vec::new();
    for node in &model.nodes {
        ready.push(base(model, node, &files, &mut p));
    }
    let init = p.add(init(&zero).after(ready.iter().copied()));
    let mut joined = vec![init];
    let mut last = init;
    for node in model
        .nodes
        .iter()
        .filter(|n| n.control_plane && n.name != zero)
    {
        // One control-plane join at a time: each adds an etcd member.
        last = p.add(join(model, &zero, node, true).after([last]));
        joined.push(last);
    }
    for node in model.nodes.iter().filter(|n| !n.control_plane) {
        joined.push(p.add(join(model, &zero, node, false).after([init])));
    }
    addons(model, &zero, &mut p, &joined);
    p
}

/// A node's base and HA front; returns the id of its last step.
fn base(model: &ClusterModel, node: &Node, files: &[render::File], p: &mut Plan) -> StepId {
    let host = node.name.as_str();
    p.add(swap_off(host));
    p.add(install(host, &packages(node)));
    for f in files.iter().filter(|f| f.host == host) {
        p.add(upload(f));
    }
    p.add(Step::shell(
        host,
        "kernel modules",
        "grep -q '^overlay ' /proc/modules && grep -q '^br_netfilter ' /proc/modules",
        "modprobe overlay && modprobe br_netfilter",
    ));
    // ip_nonlocal_bind is set (render::SYSCTL_CONF) on proxy nodes only, where HAProxy binds
    // the VIP: a worker-only host that waited for it would never finish (the seed's `andy`).
    let mut sysctl = "test \"$(sysctl -n net.ipv4.ip_forward)\" = 1 && \
         test \"$(sysctl -n net.bridge.bridge-nf-call-iptables)\" = 1"
        .to_owned();
    if node.proxy {
        sysctl.push_str(" && test \"$(sysctl -n net.ipv4.ip_nonlocal_bind)\" = 1");
    }
    p.add(Step::shell(host, "sysctl", &sysctl, "sysctl --system"));
    p.add(service_after_config(
        host,
        "containerd",
        &[kube::CONTAINERD_CONF],
        false,
    ));
    p.add(apt_key(model, host));
    p.add(kube_packages(model, host));
    let mut last = p.add(Step::shell(
        host,
        "enable kubelet",
        "systemctl is-enabled --quiet kubelet",
        "systemctl enable kubelet",
    ));
    if node.proxy {
        p.add(service_after_config(host, "haproxy", &[HAPROXY_CFG], false));
        last = p.add(service_after_config(
            host,
            "keepalived",
            &[KEEPALIVED_CONF],
            false,
        ));
    }
    last
}

fn swap_off(host: &str) -> Step {
    Step::shell(
        host,
        "swap off and kept off",
        "test -z \"$(swapon --show --noheadings)\" && ! grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab \
         && test \"$(systemctl is-enabled swap.target 2>/dev/null)\" = masked",
        "swapoff -a && sed -ri 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# \\1/' /etc/fstab && systemctl mask swap.target",
    )
}

fn install(host: &str, list: &[&str]) -> Step {
    let pkgs = list.join(" ");
    let check = format!(
        "test \"$(dpkg-query -W -f='${{Status}}\\n' {pkgs} 2>/dev/null | grep -cx 'install ok installed')\" = {n}",
        n = list.len()
    );
    Step::shell(
        host,
        "install packages",
        &check,
        format!("apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {pkgs}"),
    )
    .attempts(3)
}

fn apt_key(model: &ClusterModel, host: &str) -> Step {
    let url = kube::apt_key_url(model);
    let keyring = kube::APT_KEYRING;
    Step::shell(
        host,
        "kubernetes apt key",
        &format!("test -s {keyring}"),
        format!(
            "mkdir -p /etc/apt/keyrings && curl -fsSL {} | gpg --batch --yes --dearmor -o {keyring}",
            quote(&url)
        ),
    )
    .attempts(3)
}

/// kubelet, kubeadm and kubectl at the pinned version, held.
fn kube_packages(model: &ClusterModel, host: &str) -> Step {
    let version = &model.versions.kubernetes;
    let v = format!("{version}-*");
    // The Debian revision follows the version: `1.33.5-1.1`; dots are literal in the pattern.
    let held = quote(&format!("^{}-", version.replace('.', r"\.")));
    let names = ["kubelet", "kubeadm", "kubectl"];
    let check = names
        .iter()
        .map(|n| format!("dpkg-query -W -f='${{Version}}' {n} 2>/dev/null | grep -q {held}"))
        .collect::<Vec<_>>()
        .join(" && ");
    let pins: Vec<String> = names.iter().map(|n| format!("{n}={}", quote(&v))).collect();
    Step::shell(
        host,
        "install kubelet kubeadm kubectl",
        &check,
        format!(
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y {} && apt-mark hold {}",
            pins.join(" "),
            names.join(" ")
        ),
    )
    .attempts(3)
}

fn init(zero: &str) -> Step {
    Step::shell(
        zero,
        "kubeadm init",
        &format!("test -f {ADMIN_CONF}"),
        format!(
            "kubeadm init --config {} --upload-certs",
            kube::KUBEADM_INIT
        ),
    )
    .verify(kubectl("get --raw /readyz"))
    .settle(SETTLE_CONTROL_PLANE)
    .logs_of("kubelet")
}

/// A join, relayed from the zero-master: the token and certificate key are printed there and
/// turned into a 0600 JoinConfiguration on the joining node, removed after the join.
fn join(model: &ClusterModel, zero: &str, node: &Node, control_plane: bool) -> Step {
    let read = if control_plane {
        format!(
            "key=$(kubeadm init phase upload-certs --upload-certs --config {} | tail -n 1) && \
             kubeadm token create --ttl 30m --print-join-command --certificate-key \"$key\"",
            kube::KUBEADM_INIT
        )
    } else {
        "kubeadm token create --ttl 30m --print-join-command".to_owned()
    };
    let verify = if control_plane {
        kubectl("get --raw /readyz")
    } else {
        format!("test -f {KUBELET_CONF} && systemctl is-active --quiet kubelet")
    };
    Step {
        host: node.name.clone(),
        name: if control_plane {
            "kubeadm join (control plane)".to_owned()
        } else {
            "kubeadm join (worker)".to_owned()
        },
        check: Some(format!("test -f {KUBELET_CONF}")),
        apply: Action::Relay(Relay {
            from: zero.to_owned(),
            read,
            to: RelayTo::KubeadmJoin {
                control_plane,
                advertise: node.address.to_string(),
                bind_port: model.kube.api_server_port,
                schedulable: model.kube.masters_schedulable,
            },
        }),
        verify: Some(verify),
        settle: SETTLE_CONTROL_PLANE,
        after: Vec::new(),
        attempts: 3,
        logs: Some(super::journal("kubelet")),
    }
}

/// Add-ons on the zero-master, after every join: rook's upstream manifests, then the rendered
/// ones. `kubectl diff` exits 0 when the cluster already matches, so a re-run changes nothing.
fn addons(model: &ClusterModel, zero: &str, p: &mut Plan, joined: &[StepId]) {
    let mut prev: Vec<StepId> = joined.to_vec();
    for (name, url) in kube::upstream(model) {
        let u = quote(&url);
        let id = p.add(
            Step::shell(
                zero,
                format!("apply {name}"),
                &format!(
                    "{} >/dev/null",
                    kubectl(&format!("diff --server-side -f {u}"))
                ),
                kubectl(&format!("apply --server-side -f {u}")),
            )
            .verify("true")
            .attempts(3)
            .after(prev.iter().copied()),
        );
        prev = vec![id];
    }
    let crd = p.add(
        Step::shell(
            zero,
            "rook CRDs established",
            &kubectl("wait --for condition=established --timeout=10s crd/cephclusters.ceph.rook.io crd/cephblockpools.ceph.rook.io"),
            "true",
        )
        .settle(SETTLE_CONTROL_PLANE)
        .after(prev.iter().copied()),
    );
    prev = vec![crd];
    for (name, _) in kube::addons(model) {
        let path = quote(&format!("{}/{name}", kube::ADDONS_DIR));
        let id = p.add(
            Step::shell(
                zero,
                format!("apply {name}"),
                &format!("{} >/dev/null", kubectl(&format!("diff -f {path}"))),
                kubectl(&format!("apply -f {path}")),
            )
            .verify("true")
            .after(prev.iter().copied()),
        );
        prev = vec![id];
    }
    p.add(
        Step::shell(
            zero,
            "every node Ready",
            &kubectl("wait --for=condition=Ready nodes --all --timeout=10s"),
            "true",
        )
        .settle(SETTLE_CONTROL_PLANE)
        .after(prev),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Profile;
    use crate::plan::plan_txt;

    #[test]
    fn joins_follow_init_one_control_plane_at_a_time() {
        let m = ClusterModel::seed(Profile::Kubernetes);
        let p = plan(&m);
        let init = p
            .steps
            .iter()
            .position(|s| s.name == "kubeadm init")
            .unwrap();
        assert_eq!(p.steps[init].host, "node-1");
        let joins: Vec<usize> = (0..p.steps.len())
            .filter(|&i| p.steps[i].name.starts_with("kubeadm join"))
            .collect();
        assert_eq!(joins.len(), 2);
        assert_eq!(p.steps[joins[0]].after, vec![init]);
        assert_eq!(p.steps[joins[1]].after, vec![joins[0]]);
        assert!(joins.iter().all(|&j| p.steps[j].attempts == 3));
        let txt = plan_txt(&p);
        assert!(txt.contains(
            "kubeadm init --config /etc/kubernetes/hadrill/kubeadm-init.yaml --upload-certs"
        ));
        assert!(txt.contains("into a typed JoinConfiguration (control plane: true)"));
    }

    #[test]
    fn pinned_versions_come_from_the_model() {
        let mut m = ClusterModel::seed(Profile::Kubernetes);
        m.versions.kubernetes = "1.34.1".into();
        let txt = plan_txt(&plan(&m));
        assert!(txt.contains("core:/stable:/v1.34/deb/Release.key"));
        assert!(txt.contains("kubelet='1.34.1-*'"));
    }
}
