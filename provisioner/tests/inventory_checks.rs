//! Inventories that read but could not run are refused with one line naming the file and the
//! field; the two examples, and what they may become, still load.

use std::net::Ipv4Addr;
use std::path::Path;

use provisioner::inventory::{self, Error, Inventory};
use provisioner::model::Profile;

const SEED: &str = include_str!("../examples/seed-inventory.yml");
const NATIVE: &str = include_str!("../examples/native-inventory.yml");

fn parse(text: &str, profile: Profile) -> Result<Inventory, Error> {
    inventory::parse(Path::new("inv.yml"), text, profile)
}

fn ok(text: &str, profile: Profile) -> Inventory {
    parse(text, profile).unwrap_or_else(|e| panic!("{e}"))
}

/// `text` is refused at `field`, on one printable line that names the file and contains `want`.
fn check_err(text: &str, profile: Profile, field: &str, want: &str) {
    let e = match parse(text, profile) {
        Ok(_) => panic!("accepted, want {field}: {want}"),
        Err(e) => e,
    };
    let line = e.to_string();
    assert!(line.starts_with("inv.yml"), "{line}");
    assert!(
        !line.chars().any(char::is_control),
        "not one printable line: {line:?}"
    );
    assert!(!line.contains(":0:"), "{line}");
    match &e {
        Error::Invalid { field: f, .. } => assert_eq!(f, field, "{line}"),
        Error::Read { .. } => panic!("{line}"),
    }
    assert!(line.contains(want), "`{line}` lacks `{want}`");
}

/// The native example with one of its lines replaced.
fn native(from: &str, to: &str) -> String {
    assert!(NATIVE.contains(from), "{from}");
    NATIVE.replacen(from, to, 1)
}

/// The native example with cluster options added.
fn native_with(options: &str) -> String {
    native("  name: homelab\n", &format!("  name: homelab\n{options}"))
}

/// The seed with `all.vars` added.
fn seed_with(vars: &str) -> String {
    let from = "    ansible_python_interpreter: python3\n";
    SEED.replacen(from, &format!("{from}{vars}"), 1)
}

#[test]
fn both_examples_load_as_they_are() {
    for profile in [Profile::Bare, Profile::Kubernetes] {
        let seed = ok(SEED, profile).model;
        let mut native = ok(NATIVE, profile).model;
        native.name.clone_from(&seed.name);
        assert_eq!(native, seed, "{profile:?}");
        assert_eq!(seed.check(), Ok(()));
    }
}

#[test]
fn duplicate_node_names_in_the_native_form() {
    let text = native("  - name: congratulations\n", "  - name: opti\n");
    check_err(
        &text,
        Profile::Bare,
        "nodes[1].name",
        "`opti` names another node too",
    );
}

#[test]
fn frontend_port_zero() {
    let b = Profile::Bare;
    let not_a_port = "0 is not a TCP port";
    check_err(
        &native_with("  api_port: 0\n"),
        b,
        "cluster.api_port",
        not_a_port,
    );
    check_err(
        &native_with("  ingress_port: 0\n"),
        b,
        "cluster.ingress_port",
        not_a_port,
    );
    check_err(
        &seed_with("    api_port: 0\n"),
        b,
        "all.vars.api_port",
        not_a_port,
    );
}

#[test]
fn frontends_on_one_port() {
    let text = native_with("  api_port: 8443\n  ingress_port: 8443\n");
    let want = "port 8443 is the API frontend's too";
    check_err(&text, Profile::Bare, "cluster.ingress_port", want);
}

#[test]
fn frontend_on_an_ssh_port() {
    let b = Profile::Bare;
    let text = native_with("  api_port: 22\n");
    check_err(&text, b, "cluster.api_port", "port 22 is opti's SSH port");
    let text = native(
        "    address: 192.168.1.10\n",
        "    address: 192.168.1.10\n    ssh: {port: 2222}\n",
    );
    let text = text.replace(
        "  name: homelab\n",
        "  name: homelab\n  ingress_port: 2222\n",
    );
    check_err(
        &text,
        b,
        "cluster.ingress_port",
        "port 2222 is rice's SSH port",
    );
}

#[test]
fn frontend_on_a_port_the_profile_binds() {
    let (b, k) = (Profile::Bare, Profile::Kubernetes);
    let cases = [
        (b, "api_port", 2379, "etcd's client port"),
        (b, "ingress_port", 2380, "etcd's peer port"),
        (b, "api_port", 8080, "nginx's (the ingress backend)"),
        (b, "ingress_port", 3300, "a Ceph monitor's (msgr2)"),
        (b, "api_port", 6789, "a Ceph monitor's (v1)"),
        (b, "api_port", 6800, "Ceph's OSD and mgr range"),
        (k, "api_port", 6443, "kube-apiserver's"),
        (
            k,
            "ingress_port",
            880,
            "traefik's hostPort (the ingress backend)",
        ),
        (k, "api_port", 10250, "the kubelet's"),
        (k, "api_port", 2379, "etcd's client port"),
    ];
    for (profile, key, port, whose) in cases {
        let want = format!("port {port} is {whose} on opti");
        check_err(
            &native_with(&format!("  {key}: {port}\n")),
            profile,
            &format!("cluster.{key}"),
            &want,
        );
    }
    // The bare profile's VIP takes 6443, which nothing binds on its nodes.
    ok(&native_with("  api_port: 6443\n"), b);
}

#[test]
fn ssh_port_zero() {
    let text = native("  port: 22\n", "  port: 0\n");
    check_err(&text, Profile::Bare, "ssh.port", "0 is not a TCP port");
    let text = native(
        "    address: 192.168.1.8\n",
        "    address: 192.168.1.8\n    ssh: {port: 0}\n",
    );
    check_err(
        &text,
        Profile::Bare,
        "nodes[1].ssh.port",
        "0 is not a TCP port",
    );
    let text = seed_with("    ansible_port: 0\n");
    check_err(
        &text,
        Profile::Bare,
        "all.vars.ansible_port",
        "0 is not a TCP port",
    );
}

#[test]
fn ssh_port_on_a_port_a_daemon_binds() {
    let text = native(
        "    address: 192.168.1.8\n",
        "    address: 192.168.1.8\n    ssh: {port: 2379}\n",
    );
    let want = "port 2379 is etcd's client port on this node";
    check_err(&text, Profile::Bare, "nodes[1].ssh.port", want);
    let text = native("  port: 22\n", "  port: 10250\n");
    check_err(&text, Profile::Kubernetes, "ssh.port", "the kubelet's");
}

#[test]
fn node_on_the_network_or_broadcast_address() {
    let b = Profile::Bare;
    for (addr, what) in [("192.168.1.0", "network"), ("192.168.1.255", "broadcast")] {
        let want = format!("address {addr} is the {what} address of 192.168.1.0/24");
        let text = native(
            "    address: 192.168.1.8\n",
            &format!("    address: {addr}\n"),
        );
        check_err(&text, b, "nodes[1].address", &want);
        let text = SEED.replace("192.168.1.8", addr);
        let field = "all.children.kube.hosts.congratulations.ansible_host";
        check_err(&text, b, field, &want);
    }
}

#[test]
fn vip_on_the_network_or_broadcast_address() {
    let b = Profile::Bare;
    let text = native("  vip: 192.168.1.100\n", "  vip: 192.168.1.255\n");
    check_err(
        &text,
        b,
        "cluster.vip",
        "VIP 192.168.1.255 is the broadcast address",
    );
    let text = SEED.replace("192.168.1.100", "192.168.1.0");
    let field = "all.children.vip.hosts.kube-cluster.ansible_host";
    check_err(&text, b, field, "VIP 192.168.1.0 is the network address");
}

#[test]
fn a_storage_device_listed_twice() {
    let b = Profile::Bare;
    let twice = "`/dev/sdb` is listed twice";
    let text = native(
        "    storage_devices: [/dev/sdb]\n",
        "    storage_devices: [/dev/sdb, /dev/sdc, /dev/sdb]\n",
    );
    check_err(&text, b, "nodes[0].storage_devices[2]", twice);
    let text = SEED.replace(
        "    storage:\n      hosts:",
        "    storage:\n      vars:\n        storage_devices: [/dev/sdb, /dev/sdb]\n      hosts:",
    );
    check_err(
        &text,
        b,
        "all.children.storage.vars.storage_devices[1]",
        twice,
    );
}

#[test]
fn a_vip_with_no_proxy_node() {
    let want = "no proxy node";
    let text = NATIVE
        .replace(
            "    storage_devices: [/dev/sdb]\n",
            "    roles: [master, worker, storage]\n    storage_devices: [/dev/sdb]\n",
        )
        .replace(
            "    roles: [master, worker, proxy, storage]\n    roles:",
            "    roles:",
        );
    check_err(&text, Profile::Bare, "nodes", want);
    let text = SEED.replace(
        "    proxy:\n      hosts:\n        opti:\n        congratulations:\n        rice:\n",
        "",
    );
    check_err(&text, Profile::Bare, "all.children.proxy", want);
}

#[test]
fn kubernetes_version_not_major_minor_patch() {
    let want = "is not a Kubernetes version (MAJOR.MINOR.PATCH, like 1.33.5)";
    for bad in [
        "\"\"",
        "banana",
        "1.33",
        "v1.33.5",
        "\"1.33.5'; touch x; echo '\"",
    ] {
        let text = native(
            "  kubernetes_version: 1.33.5\n",
            &format!("  kubernetes_version: {bad}\n"),
        );
        check_err(
            &text,
            Profile::Kubernetes,
            "cluster.kubernetes_version",
            want,
        );
    }
    let text = seed_with("    kubernetes_version: banana\n");
    check_err(
        &text,
        Profile::Kubernetes,
        "all.vars.kubernetes_version",
        "`banana` is not",
    );
}

#[test]
fn vip_interface_not_an_interface_name() {
    let want = "is not an interface name (1–15 of letters, digits, _ . -; not . or ..)";
    let bad = [
        "\"\"",
        "\".\"",
        "\"..\"",
        "eth/0",
        "\"eth0 x\"",
        "sixteen-bytes-ab",
        "\"eth0\\n  notify_master /bin/sh\"",
    ];
    for b in bad {
        let text = native(
            "  vip_interface: eth0\n",
            &format!("  vip_interface: {b}\n"),
        );
        check_err(&text, Profile::Bare, "cluster.vip_interface", want);
    }
    let text = native("  vip_interface: eth0\n", "  vip_interface: br-lab.10\n");
    assert_eq!(ok(&text, Profile::Bare).model.vip_interface, "br-lab.10");
}

/// The seed without its `vip` group.
fn seed_without_vip_group() -> String {
    let group =
        "    vip:\n      hosts:\n        kube-cluster:\n          ansible_host: 192.168.1.100\n";
    assert!(SEED.contains(group));
    SEED.replace(group, "")
}

#[test]
fn all_vars_vip_gives_the_vip_when_there_is_no_vip_group() {
    let text = seed_without_vip_group();
    check_err(
        &text,
        Profile::Bare,
        "all.children.vip",
        "missing: the VIP's address",
    );
    let text = text.replace(
        "python3\n",
        "python3\n    vip: 192.168.1.100\n    vip_name: kube-cluster\n",
    );
    let vars = ok(&text, Profile::Bare).model;
    assert_eq!(vars, ok(SEED, Profile::Bare).model, "the same cluster");
    let text = seed_without_vip_group().replace("python3\n", "python3\n    vip: 192.168.1.99\n");
    let m = ok(&text, Profile::Bare).model;
    assert_eq!((m.vip, m.vip_name), (Ipv4Addr::new(192, 168, 1, 99), None));
}

#[test]
fn all_vars_vip_must_agree_with_the_vip_group() {
    let b = Profile::Bare;
    ok(
        &seed_with("    vip: 192.168.1.100\n    vip_name: kube-cluster\n"),
        b,
    );
    let want = "`192.168.1.99` differs from the vip group's address `192.168.1.100`";
    check_err(
        &seed_with("    vip: 192.168.1.99\n"),
        b,
        "all.vars.vip",
        want,
    );
    let want = "`api` differs from the vip group's host name `kube-cluster`";
    check_err(
        &seed_with("    vip_name: api\n"),
        b,
        "all.vars.vip_name",
        want,
    );
    let text = seed_without_vip_group().replace("python3\n", "python3\n    vip_name: api\n");
    check_err(
        &text,
        b,
        "all.vars.vip_name",
        "names a VIP that is not given",
    );
    check_err(
        &seed_with("    vip: 300.1.1.1\n"),
        b,
        "all.vars.vip",
        "`300.1.1.1` is not an IPv4 address",
    );
}

#[test]
fn load_reads_through_the_size_cap() {
    let e = inventory::load(Path::new("/dev/zero"), Profile::Bare).expect_err("refused");
    assert!(matches!(e, Error::Read { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "/dev/zero: larger than {} bytes",
            provisioner::yaml::TEXT_LEN_MAX
        )
    );
    let e = inventory::load(Path::new("/nonexistent/inv.yml"), Profile::Bare).expect_err("refused");
    let line = e.to_string();
    assert!(
        line.starts_with("/nonexistent/inv.yml: cannot read: "),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for file in ["seed-inventory.yml", "native-inventory.yml"] {
        inventory::load(&examples.join(file), Profile::Kubernetes)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn etcd_pre_vote_is_a_cluster_option_in_both_forms() {
    // The seed's etcd (kubeadm's 3.5) has pre-vote on; Debian 12's etcd 3.4 has it off.
    assert!(ok(NATIVE, Profile::Bare).model.etcd.pre_vote);
    let off = ok(&native_with("  etcd_pre_vote: false\n"), Profile::Bare);
    assert!(!off.model.etcd.pre_vote);
    let rendered = provisioner::render::render(&off.model);
    let envs: Vec<_> = rendered
        .iter()
        .filter(|f| f.path == provisioner::render::ETCD_DEFAULT)
        .collect();
    assert_eq!(envs.len(), 3, "one etcd environment per node");
    for f in envs {
        assert!(f.content.contains("ETCD_PRE_VOTE=false"), "{}", f.content);
    }
    let seed_off = ok(
        &seed_with("    etcd_pre_vote: false\n"),
        Profile::Kubernetes,
    );
    assert!(!seed_off.model.etcd.pre_vote);
    check_err(
        &native_with("  etcd_pre_vote: maybe\n"),
        Profile::Bare,
        "cluster.etcd_pre_vote",
        "expected true or false",
    );
}
