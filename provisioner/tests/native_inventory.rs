//! hadrill's native inventory form: its SSH defaults, its node cap, and that Ansible's
//! variable folders beside it are not read.

use std::path::Path;

use provisioner::inventory;
use provisioner::model::{Profile, NODES_MAX};

/// A native inventory of `n` nodes on 10.0.0.0/24 (VIP .250), with `ssh` as its ssh section.
fn native(n: usize, ssh: &str) -> String {
    let mut s = format!("cluster:\n  name: c\n  vip: 10.0.0.250\n  prefix_len: 24\n{ssh}nodes:\n");
    for i in 1..=n {
        s.push_str(&format!(
            "  - name: n{i}\n    address: 10.0.0.{i}\n    storage_devices: [/dev/sdb]\n"
        ));
    }
    s
}

#[test]
fn the_ssh_section_is_every_nodes_default() {
    let dir = tempfile::Builder::new()
        .prefix("hadrill-native-ssh-")
        .tempdir()
        .unwrap();
    let key = dir.path().join("id");
    std::fs::write(&key, "not a real key\n").unwrap();
    let ssh = format!(
        "ssh:\n  user: admin\n  port: 2222\n  key: {}\n",
        key.display()
    );
    let inv = inventory::parse(Path::new("inv.yml"), &native(3, &ssh), Profile::Bare).unwrap();
    assert_eq!(inv.model.nodes.len(), 3);
    for n in &inv.model.nodes {
        assert_eq!(n.ssh.user, "admin", "{}", n.name);
        assert_eq!(n.ssh.port, 2222, "{}", n.name);
        assert_eq!(n.ssh.key.as_deref(), Some(key.as_path()), "{}", n.name);
    }
}

#[test]
fn a_native_inventory_holds_at_most_nodes_max_nodes() {
    for profile in [Profile::Bare, Profile::Kubernetes] {
        let inv = inventory::parse(Path::new("inv.yml"), &native(NODES_MAX, ""), profile).unwrap();
        assert_eq!(inv.model.nodes.len(), NODES_MAX);
        let e = inventory::parse(Path::new("inv.yml"), &native(NODES_MAX + 1, ""), profile)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("{} nodes: at most {NODES_MAX}", NODES_MAX + 1)),
            "{e}"
        );
    }
}

#[test]
fn group_vars_beside_a_native_inventory_are_not_read() {
    // Ansible's folders belong to Ansible's forms; a broken file there must not matter to a
    // native inventory in the same folder (it would be refused if read).
    let scratch = tempfile::Builder::new()
        .prefix("hadrill-native-vars-")
        .tempdir()
        .unwrap();
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join("group_vars")).unwrap();
    std::fs::write(dir.join("group_vars/all.yml"), "pod_cidr: [not, a, cidr\n").unwrap();
    let path = dir.join("inv.yml");
    std::fs::write(&path, native(3, "")).unwrap();
    let inv = inventory::load(&path, Profile::Bare).unwrap();
    assert_eq!(inv.model.nodes.len(), 3);
    // The same folder beside an Ansible inventory is read, and refused.
    let seed = include_str!("../examples/seed-inventory.yml");
    std::fs::write(&path, seed).unwrap();
    let e = inventory::load(&path, Profile::Bare)
        .unwrap_err()
        .to_string();
    assert!(e.contains("group_vars/all.yml"), "{e}");
}

/// The seed's Ansible layout with `n` hosts on 10.0.0.0/24 (VIP .250).
fn ansible(n: usize) -> String {
    let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
    let list =
        |hosts: &[String]| -> String { hosts.iter().map(|h| format!("        {h}:\n")).collect() };
    let mut s = String::from("all:\n  children:\n    kube:\n      hosts:\n");
    for (i, h) in names.iter().enumerate() {
        s.push_str(&format!(
            "        {h}:\n          ansible_host: 10.0.0.{}\n",
            i + 1
        ));
    }
    for (group, hosts) in [
        ("kube-master", &names[..]),
        ("zero-master", &names[..1]),
        ("other-master", &names[1..]),
        ("proxy", &names[..]),
        ("storage", &names[..]),
    ] {
        s.push_str(&format!("    {group}:\n      hosts:\n{}", list(hosts)));
    }
    s.push_str(
        "    vip:\n      hosts:\n        kube-cluster:\n          ansible_host: 10.0.0.250\n",
    );
    s
}

#[test]
fn an_ansible_inventory_holds_at_most_nodes_max_hosts() {
    let inv = inventory::parse(Path::new("inv.yml"), &ansible(NODES_MAX), Profile::Bare).unwrap();
    assert_eq!(inv.model.nodes.len(), NODES_MAX);
    let e = inventory::parse(Path::new("inv.yml"), &ansible(NODES_MAX + 1), Profile::Bare)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("{} hosts: at most {NODES_MAX}", NODES_MAX + 1)),
        "{e}"
    );
}

#[test]
fn masters_work_only_when_masters_are_schedulable() {
    let mut text = native(3, "").replace(
        "storage_devices: [/dev/sdb]\n",
        "storage_devices: [/dev/sdb]\n    roles: [master, proxy, storage]\n",
    );
    text.push_str("  - name: w4\n    address: 10.0.0.4\n    roles: [worker]\n");
    for (schedulable, masters_work) in [(true, true), (false, false)] {
        let t = format!("masters_schedulable: {schedulable}\n{text}");
        let inv = inventory::parse(Path::new("inv.yml"), &t, Profile::Bare).unwrap();
        let workers: Vec<bool> = inv.model.nodes.iter().map(|n| n.worker).collect();
        assert_eq!(
            workers,
            [masters_work, masters_work, masters_work, true],
            "masters_schedulable: {schedulable}"
        );
    }
}

#[test]
fn a_pool_larger_than_its_storage_hosts_is_warned_about() {
    let doubt = "PGs cannot place every copy on its own host";
    let warned = |n: usize, size: &str| {
        let text =
            native(n, "").replace("  prefix_len: 24\n", &format!("  prefix_len: 24\n{size}"));
        let inv = inventory::parse(Path::new("inv.yml"), &text, Profile::Bare).unwrap();
        inv.warnings.iter().any(|w| w.contains(doubt))
    };
    // Size 3 (the default) on 3 and on 4 storage hosts: every copy has a host of its own.
    assert!(!warned(3, ""));
    assert!(!warned(4, ""));
    // Size 3 on 2 hosts: one host would need two copies.
    assert!(warned(2, "  ceph_pool_min_size: 1\n"));
}
