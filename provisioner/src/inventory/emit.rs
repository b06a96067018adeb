//! A cluster model written out as an Ansible inventory (`hadrill inventory --lab NAME`), so
//! that any lab can be drilled as an existing cluster, or handed to the user's playbooks.
//!
//! **Invariant:** reading what this writes gives the same model (tests check it for the
//! seed's, the native example's and a lab's cluster). Every name and value is written as a
//! JSON string, which YAML reads as a double-quoted scalar, escapes and all: nothing a value
//! holds can change the document's shape.

use std::fmt::Write as _;

use crate::model::ClusterModel;

/// `s` as a double-quoted YAML scalar.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The model as an Ansible inventory (YAML), or why the Ansible form cannot say it.
pub fn ansible_yaml(m: &ClusterModel, header: &str) -> Result<String, String> {
    if let Some(n) = m.nodes.iter().find(|n| n.control_plane && !n.worker) {
        return Err(format!(
            "{}: a master that runs no workloads; the Ansible form makes every master a worker",
            q(&n.name)
        ));
    }
    let mut s = String::new();
    for line in header.lines() {
        let _ = writeln!(s, "# {line}");
    }
    s.push_str("all:\n  vars:\n");
    for (k, v) in options(m) {
        let _ = writeln!(s, "    {k}: {v}");
    }
    s.push_str("  children:\n    kube:\n      hosts:\n");
    for n in &m.nodes {
        let _ = writeln!(s, "        {}:", q(&n.name));
        let _ = writeln!(s, "          ansible_host: {}", q(&n.address.to_string()));
        let _ = writeln!(s, "          ansible_user: {}", q(&n.ssh.user));
        let _ = writeln!(s, "          ansible_port: {}", n.ssh.port);
        if let Some(k) = &n.ssh.key {
            let key = q(&k.to_string_lossy());
            let _ = writeln!(s, "          ansible_ssh_private_key_file: {key}");
        }
        if n.storage() {
            let devices: Vec<String> = n.storage_devices.iter().map(|d| q(d)).collect();
            let _ = writeln!(s, "          storage_devices: [{}]", devices.join(", "));
        }
    }
    for (group, hosts) in groups(m) {
        if !hosts.is_empty() {
            let _ = writeln!(s, "    {group}:\n      hosts:");
        }
        for h in hosts {
            let _ = writeln!(s, "        {}:", q(h));
        }
    }
    if let Some(name) = &m.vip_name {
        let _ = writeln!(
            s,
            "    vip:\n      hosts:\n        {}:\n          ansible_host: {}",
            q(name),
            q(&m.vip.to_string())
        );
    }
    Ok(s)
}

/// The cluster options, as `all.vars` holds them.
fn options(m: &ClusterModel) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("name", q(&m.name)),
        ("kubernetes_version", q(&m.versions.kubernetes)),
        ("pod_cidr", q(&m.kube.pod_cidr)),
        ("service_cidr", q(&m.kube.service_cidr)),
        ("vip_interface", q(&m.vip_interface)),
        ("prefix_len", m.prefix_len.to_string()),
        ("api_port", m.haproxy.api_port.to_string()),
        ("ingress_port", m.haproxy.ingress_port.to_string()),
        ("storage_device", q(&m.default_storage_device)),
        ("ceph_pool_size", m.ceph.pool_size.to_string()),
        ("ceph_pool_min_size", m.ceph.pool_min_size.to_string()),
        ("etcd_pre_vote", m.etcd.pre_vote.to_string()),
    ];
    if m.vip_name.is_none() {
        v.push(("vip", q(&m.vip.to_string())));
    }
    v
}

/// hadrill's groups (but `kube`, every node, and `vip`) with their hosts, in node order.
fn groups(m: &ClusterModel) -> [(&'static str, Vec<&str>); 6] {
    let with = |role: fn(&crate::model::Node) -> bool| -> Vec<&str> {
        m.nodes
            .iter()
            .filter(|n| role(n))
            .map(|n| n.name.as_str())
            .collect()
    };
    let masters = with(|n| n.control_plane);
    [
        ("kube-master", masters.clone()),
        ("zero-master", masters.iter().copied().take(1).collect()),
        ("other-master", masters.iter().copied().skip(1).collect()),
        ("worker", with(|n| n.worker)),
        ("proxy", with(|n| n.proxy)),
        ("storage", with(crate::model::Node::storage)),
    ]
}
