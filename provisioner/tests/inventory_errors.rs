//! Every way an inventory can be wrong ends in one printable line in the user's words: never a
//! panic, a raw control character, a Rust type name, a library's advice or a made-up line 0.

use std::path::Path;

use proptest::prelude::*;
use provisioner::inventory::{self, Error};
use provisioner::model::Profile;

const SEED: &str = include_str!("../examples/seed-inventory.yml");
const NATIVE: &str = include_str!("../examples/native-inventory.yml");

/// What no message may contain.
const BANNED: [&str; 8] = [
    "struct ",
    "enum ",
    "Raw",
    "DuplicateKeyPolicy",
    ":0:",
    "IndexMap",
    "from_multiple",
    "serde",
];

/// The error's line is one printable line in the user's words; returns it.
fn check_line(e: &Error) -> String {
    let line = e.to_string();
    assert!(!line.chars().any(char::is_control), "{line:?}");
    for word in BANNED {
        assert!(!line.contains(word), "`{word}` in {line:?}");
    }
    line
}

/// `text` is refused (for both profiles) with a line that contains `want`.
fn check_refused(text: &str, want: &str) {
    for profile in [Profile::Bare, Profile::Kubernetes] {
        let e = match inventory::parse(Path::new("inv.yml"), text, profile) {
            Ok(_) => panic!("accepted; want `{want}`:\n{text}"),
            Err(e) => e,
        };
        let line = check_line(&e);
        assert!(line.starts_with("inv.yml"), "{line}");
        assert!(line.contains(want), "`{line}` lacks `{want}`");
    }
}

fn seed(from: &str, to: &str) -> String {
    assert!(SEED.contains(from), "{from}");
    SEED.replacen(from, to, 1)
}

fn native(from: &str, to: &str) -> String {
    assert!(NATIVE.contains(from), "{from}");
    NATIVE.replacen(from, to, 1)
}

const VARS: &str = "    ansible_python_interpreter: python3\n";
const OPTI: &str = "        opti:\n          ansible_host: 192.168.1.11\n";
const NODE0: &str = "    address: 192.168.1.11\n";

#[test]
fn yaml_errors() {
    check_refused("", "(document): expected a mapping, found nothing");
    check_refused("- a\n", "expected a mapping, found a list");
    check_refused("all: [\n", "inv.yml:1: (document): ");
    check_refused("all: {}\nall: {}\n", "duplicate key `all`");
    check_refused("all: {}\n---\nall: {}\n", "more than one YAML document");
    check_refused(
        "all: 3\n",
        "inv.yml:1: all: expected a mapping, found integer `3`",
    );
    check_refused("all: {}\nextra: 1\n", "unknown field `extra`");
    check_refused(
        "\"a\\u001b[31m\\nb\": 1\nnodes: []\n",
        r"unknown field `a\u{1b}[31m\nb`",
    );
    check_refused(&"# x\n".repeat(300_000), "file larger than 1048576 bytes");
    check_refused("nodes: 3\n", "nodes: expected a list");
    check_refused("nodes: [{name: a}]\n", "nodes[0]: missing field `address`");
    check_refused(
        &native("  port: 22\n", "  port: x\n"),
        "ssh.port: expected a whole number",
    );
    check_refused(
        &native("  prefix_len: 24\n", "  prefix_len: 300\n"),
        "from 0 to 255",
    );
    check_refused(
        &native("cluster:\n", "cluster: 3\nx:\n"),
        "cluster: expected a mapping",
    );
    check_refused(
        "all:\n  children:\n    kube:\n      hosts: 3\n",
        "all.children.kube.hosts: expected a host name or a mapping of host names",
    );
    check_refused(
        &seed(VARS, "    api_port: [1]\n"),
        "all.vars.api_port: expected a whole number from 0 to 65535, found a list",
    );
}

#[test]
fn ansible_structure_errors() {
    // A host in no group of hadrill's is kept for the playbooks, but is no node.
    check_refused(
        "all:\n  hosts: {a: {}}\n",
        "all.children: no hosts in the groups hadrill reads",
    );
    check_refused("all:\n  vars: {}\n", "all.children: no hosts");
    check_refused(
        &seed("    proxy:", "    \"pro\\u001bxy\":"),
        r"`pro\u{1b}xy` is not a group name",
    );
    check_refused(
        &seed(
            "    storage:\n      hosts:",
            "    storage:\n      vars: {vip_interface: eth1}\n      hosts:",
        ),
        "a cluster option: put it in all.vars",
    );
    check_refused(
        &seed(
            "    storage:\n      hosts:",
            "    storage:\n      vars: {ansible_host: 1.2.3.4}\n      hosts:",
        ),
        "a host variable, not a group one",
    );
    check_refused(
        &seed(VARS, "    ansible_host: 192.168.1.3\n"),
        "a host variable, not a cluster one",
    );
    check_refused(
        &seed(OPTI, "        opti:\n          \"col our\": blue\n"),
        "opti.col our: `col our` is not a variable name",
    );
    check_refused(
        &seed(OPTI, "        opti:\n          ansible_host: [1]\n"),
        "ansible_host: expected a string, found a list",
    );
    check_refused(
        &seed(
            OPTI,
            "        \"op ti\":\n          ansible_host: 192.168.1.11\n",
        ),
        "`op ti` is not a host name",
    );
    check_refused(
        &seed("        kube-cluster:", "        kube_cluster:"),
        "`kube_cluster` is not a DNS name",
    );
    check_refused(&seed("          ansible_host: 192.168.1.100\n", "          ansible_host: 192.168.1.100\n        two:\n          ansible_host: 192.168.1.101\n"), "the vip group holds one address");
    check_refused(
        &seed(
            "          ansible_host: 192.168.1.100\n",
            "          ansible_user: root\n",
        ),
        "kube-cluster.ansible_host: missing: the VIP's address",
    );
    check_refused(
        &seed(
            "    kube-master:\n      hosts:\n        opti:\n",
            "    kube-master:\n      hosts:\n        opti:\n          ansible_host: 192.168.1.12\n",
        ),
        "differs from the value given in another group",
    );
}

/// Groups of any depth and host ranges, refused where Ansible would refuse them or where a
/// typo would take a role from a host.
#[test]
fn ansible_group_and_range_errors() {
    check_refused(
        &seed("    proxy:", "    proxies:"),
        "all.children.proxies: unknown group `proxies`: did you mean proxy?",
    );
    check_refused(
        &seed(
            "    vip:\n",
            "    vip:\n      children: {kube: {children: {vip: }}}\n",
        ),
        "is a child of itself",
    );
    check_refused(
        &seed(
            OPTI,
            "        node[3:1]:\n          ansible_host: 192.168.1.11\n",
        ),
        "all.children.kube.hosts.node[3:1]: `node[3:1]`: a range's end comes before its start",
    );
    check_refused(
        &seed(OPTI, "        node[0:99999]:\n"),
        "a range of more than 1024 hosts",
    );
}

#[test]
fn ansible_value_errors() {
    check_refused(
        &seed(
            OPTI,
            "        opti:\n          ansible_host: 192.168.1.11\n          ansible_port: 70000\n",
        ),
        "`70000` is not a TCP port",
    );
    check_refused(&seed(OPTI, "        opti:\n          ansible_host: 192.168.1.11\n          ansible_user: \"r\\noot\"\n"), r"`r\noot` is not a user name");
    check_refused(&seed(OPTI, "        opti:\n          ansible_host: 192.168.1.11\n          ansible_ssh_private_key_file: \"\"\n"), "is not a key file path");
    check_refused(&seed(OPTI, "        opti:\n          ansible_host: 192.168.1.11\n          storage_devices: {a: 1}\n"), "expected a list of device paths, found a mapping");
    check_refused(&seed(OPTI, "        opti:\n          ansible_host: 192.168.1.11\n          storage_devices: [/dev/sdb, 3]\n"), "storage_devices[1]: `3` is not an absolute device path");
    check_refused(
        &seed(
            OPTI,
            "        opti:\n          ansible_host: 192.168.1.11\n          storage_devices: []\n",
        ),
        "empty: a storage host needs a device",
    );
    check_refused(
        &seed(OPTI, "        opti:\n"),
        "opti.ansible_host: missing: an IPv4 address",
    );
    check_refused(
        &seed("192.168.1.11", "192.168.1.x"),
        "`192.168.1.x` is not an IPv4 address",
    );
    check_refused(
        &seed(VARS, "    storage_device: /dev/../sdb\n"),
        "all.vars.storage_device: `/dev/../sdb` is not an absolute device path",
    );
    check_refused(
        &seed(VARS, "    name: \"a b\"\n"),
        "all.vars.name: `a b` is not a name",
    );
    check_refused(
        &seed(VARS, "    pod_cidr: 10.0.0.0/40\n"),
        "all.vars.pod_cidr: `10.0.0.0/40` is not an IPv4 CIDR",
    );
    check_refused(
        &seed(VARS, "    service_cidr: x\n"),
        "all.vars.service_cidr",
    );
    check_refused(
        &seed(VARS, "    prefix_len: 31\n"),
        "all.vars.prefix_len: 31 is not a usable prefix length",
    );
    check_refused(
        &seed(VARS, "    ceph_pool_min_size: 5\n"),
        "all.vars.ceph_pool_min_size: pool size 3 / min_size 5",
    );
    check_refused(
        &seed(VARS, "    ceph_pool_size: 0\n"),
        "all.vars.ceph_pool_size: 0",
    );
    check_refused(
        &seed(VARS, "    ansible_ssh_private_key_file: /nonexistent/k\n"),
        "all.vars.ansible_ssh_private_key_file: cannot read the key `/nonexistent/k`",
    );
}

#[test]
fn group_errors() {
    let no_master =
        "    kube-master:\n      hosts:\n        opti:\n        congratulations:\n        rice:\n";
    check_refused(&seed(no_master, ""), "no master");
    check_refused(
        &seed(
            "    zero-master:\n      hosts:\n        opti:\n",
            "    zero-master:\n      hosts:\n        opti:\n        rice:\n",
        ),
        "more than one zero-master",
    );
    let rice_first = seed(
        "    zero-master:\n      hosts:\n        opti:\n",
        "    zero-master:\n      hosts:\n        rice:\n",
    );
    let rice_first = rice_first.replace(
        "    other-master:\n      hosts:\n        congratulations:\n        rice:\n",
        "    other-master:\n      hosts:\n        opti:\n        congratulations:\n",
    );
    check_refused(&rice_first, "zero-master must be the first master (`opti`)");
    check_refused(
        &seed(
            "    other-master:\n      hosts:\n",
            "    other-master:\n      hosts:\n        opti:\n",
        ),
        "in both zero-master and other-master",
    );
    check_refused(
        &seed(
            no_master,
            "    kube-master:\n      hosts:\n        congratulations:\n        rice:\n",
        ),
        "in zero-master but not in kube-master",
    );
    check_refused("all:\n  children:\n    kube:\n", "all.children: no hosts");
    check_refused(
        "nodes: []\ncluster: {vip: 10.0.0.1}\n",
        "inv.yml:1: nodes: no hosts",
    );
    let n = provisioner::model::NODES_MAX + 1;
    let many: String = (0..n)
        .map(|i| format!("  - {{name: n{i}, address: 10.0.0.{}}}\n", i + 1))
        .collect();
    check_refused(
        &format!("cluster: {{vip: 10.0.0.200}}\nnodes:\n{many}"),
        &format!("{n} nodes: at most {}", n - 1),
    );
}

#[test]
fn native_errors() {
    check_refused(
        &native("  vip: 192.168.1.100\n", ""),
        "inv.yml:3: cluster.vip: missing",
    );
    check_refused(
        &native("  vip: 192.168.1.100\n", "  vip: \"1.2.3.4\\n\"\n"),
        r"cluster.vip: `1.2.3.4\n` is not an IPv4 address",
    );
    check_refused(
        &native("  vip_name: kube-cluster\n", "  vip_name: \"a b\"\n"),
        "cluster.vip_name: `a b` is not a DNS name",
    );
    check_refused(
        &native("  user: root\n", "  user: \"$(id)\"\n"),
        "ssh.user: `$(id)` is not a user name",
    );
    check_refused(
        &native("ssh:\n", "ssh:\n  key: \"\\r\"\n"),
        r"ssh.key: `\r` is not a key file path",
    );
    check_refused(
        &native("  - name: opti\n", "  - name: \"op;ti\"\n"),
        "nodes[0].name: `op;ti` is not a host name",
    );
    check_refused(
        &native(
            NODE0,
            "    address: 192.168.1.11\n    ssh: {user: \"a b\"}\n",
        ),
        "nodes[0].ssh.user",
    );
    check_refused(
        &native(
            NODE0,
            "    address: 192.168.1.11\n    ssh: {key: /nonexistent/k}\n",
        ),
        "nodes[0].ssh.key: cannot read the key",
    );
    check_refused(
        &native(
            "    storage_devices: [/dev/sdb]\n",
            "    storage_devices: [\"/dev/sdb #\"]\n",
        ),
        "nodes[0].storage_devices[0]: `/dev/sdb #` is not",
    );
    check_refused(
        &native("roles: [master,", "roles: [\"mas\\tter\","),
        r"nodes[2].roles[0]: unknown role `mas\tter`",
    );
    check_refused(
        &native("    address: 192.168.1.8\n", "    address: 192.168.1.11\n"),
        "nodes[1].address: address 192.168.1.11 is also opti's",
    );
    check_refused(
        &native("    address: 192.168.1.8\n", "    address: 192.168.1.100\n"),
        "is the VIP",
    );
    check_refused(
        &native("  vip: 192.168.1.100\n", "  vip: 10.0.0.1\n"),
        "cluster.vip: VIP 10.0.0.1 is outside the nodes' subnet",
    );
}

#[test]
fn read_errors() {
    let dir = tempfile::Builder::new()
        .prefix("hadrill-inv-")
        .tempdir()
        .unwrap();
    let not_text = dir.path().join("bytes\nname.yml");
    std::fs::write(&not_text, [0xff, 0xfe, 0x00]).unwrap();
    let e = inventory::load(&not_text, Profile::Bare).unwrap_err();
    assert!(matches!(e, Error::Read { .. }), "{e}");
    assert!(
        check_line(&e).ends_with(r"bytes\nname.yml: not UTF-8 text"),
        "{e}"
    );
    let big = dir.path().join("big.yml");
    std::fs::write(&big, vec![b'#'; provisioner::yaml::TEXT_LEN_MAX + 1]).unwrap();
    let e = inventory::load(&big, Profile::Bare).unwrap_err();
    assert!(
        check_line(&e).ends_with("big.yml: larger than 1048576 bytes"),
        "{e}"
    );
}

/// One mutation of an example: a byte written, inserted or removed at a position.
#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to YAML and to the checks, and any byte at all.
    let byte = prop_oneof![
        prop::sample::select(b":-[]{}#'\"\n\r\t ,.&*!|>%@`0129abz\x1b\\".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Remove),
    ]
}

fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Set(i, b) if !bytes.is_empty() => bytes[i % n] = b,
            Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Edit::Remove(i) if !bytes.is_empty() => {
                bytes.remove(i % n);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn mutated_examples_never_panic_and_say_one_line(
        native in any::<bool>(),
        kube in any::<bool>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let text = mutate(if native { NATIVE } else { SEED }, &edits);
        let profile = if kube { Profile::Kubernetes } else { Profile::Bare };
        match inventory::parse(Path::new("inv.yml"), &text, profile) {
            Ok(inv) => {
                for w in &inv.warnings {
                    prop_assert!(!w.chars().any(char::is_control), "{:?}", w);
                }
                prop_assert_eq!(inv.model.check(), Ok(()));
            }
            Err(e) => {
                check_line(&e);
            }
        }
    }
}

/// Inputs the fuzzer (fuzz/, run by .ci/test) once found a bad message for: each is still
/// refused with one printable line. A new finding is added here with its fix.
#[test]
fn fuzzer_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        for profile in [Profile::Bare, Profile::Kubernetes] {
            let e = inventory::parse(Path::new("inv.yml"), &text, profile)
                .expect_err("a finding is a bad inventory");
            let line = check_line(&e);
            assert!(line.starts_with("inv.yml"), "{}: {line}", path.display());
        }
        n += 1;
    }
    assert!(n >= 1, "the findings are there");
}
