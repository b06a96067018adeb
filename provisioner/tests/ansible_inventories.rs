//! Ansible inventories as their owners write them (issue 17): the seed's own four-node file
//! with its playbooks' variables, groups nested under groups, host ranges, groups and
//! variables hadrill does not read. Each is read as Ansible reads it, and what hadrill does
//! not use is listed, not refused.

use std::path::Path;

use provisioner::inventory::{self, Inventory};
use provisioner::model::Profile;

const SEED: &str = include_str!("../examples/seed-inventory.yml");

fn ok(text: &str) -> Inventory {
    let inv = inventory::parse(Path::new("inv.yml"), text, Profile::Bare)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    // The kubernetes profile reads the same file the same way.
    let k = inventory::parse(Path::new("inv.yml"), text, Profile::Kubernetes).unwrap();
    assert_eq!(k.unused, inv.unused);
    inv
}

fn refused(text: &str) -> String {
    inventory::parse(Path::new("inv.yml"), text, Profile::Bare)
        .map(|_| ())
        .expect_err(text)
        .to_string()
}

/// The role flags of a node: (control plane, worker, proxy, storage).
fn roles(inv: &Inventory, name: &str) -> (bool, bool, bool, bool) {
    let m = &inv.model;
    let n = m.node(m.node_by_name(name).unwrap_or_else(|| panic!("no {name}")));
    (n.control_plane, n.worker, n.proxy, n.storage())
}

/// The storage nodes, by name.
fn storage(inv: &Inventory) -> Vec<&str> {
    let nodes = inv.model.nodes.iter();
    nodes
        .filter(|n| n.storage())
        .map(|n| n.name.as_str())
        .collect()
}

/// The seed's inventory.yml as its repository has it last: a fourth, worker-only host `andy`
/// given as a plain string (`hosts: andy`), and an `os_release` per host for the playbooks.
fn seed_as_upstream() -> String {
    let mut text = SEED.to_owned();
    for (host, addr, release) in [
        ("opti", "11", "cosmic"),
        ("congratulations", "8", "cosmic"),
        ("rice", "10", "cosmic"),
    ] {
        let from = format!("        {host}:\n          ansible_host: 192.168.1.{addr}\n");
        assert!(text.contains(&from), "{from}");
        let to = format!("{from}          os_release: {release}\n");
        text = text.replacen(&from, &to, 1);
    }
    text = text.replacen(
        "          os_release: cosmic\n    kube-master:",
        "          os_release: cosmic\n        andy:\n          ansible_host: 192.168.1.7\n          os_release: disco\n    kube-master:",
        1,
    );
    text.replacen(
        "    proxy:\n",
        "    worker:\n      hosts:\n        andy\n    proxy:\n",
        1,
    )
}

#[test]
fn the_seeds_own_inventory_plans_as_it_is() {
    let text = seed_as_upstream();
    assert_eq!(text.matches("os_release").count(), 4, "{text}");
    let inv = ok(&text);
    let names: Vec<&str> = inv.model.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["opti", "congratulations", "rice", "andy"]);
    assert_eq!(roles(&inv, "andy"), (false, true, false, false));
    assert_eq!(roles(&inv, "rice"), (true, true, true, true));
    assert_eq!(
        inv.unused,
        [
            "all.vars.ansible_python_interpreter",
            "all.children.kube.hosts.opti.os_release",
            "all.children.kube.hosts.congratulations.os_release",
            "all.children.kube.hosts.rice.os_release",
            "all.children.kube.hosts.andy.os_release",
        ]
    );
    // Nothing about the playbooks' variables among the warnings: they are not typos.
    assert!(
        !inv.warnings.iter().any(|w| w.contains("os_release")),
        "{:?}",
        inv.warnings
    );
}

#[test]
fn groups_nest_and_a_child_groups_variables_win_over_its_parents() {
    // kube-master made of its two children; ansible_user set on the parent and overridden
    // on one child, as Ansible's precedence has it (deeper group wins).
    let text = SEED
        .replacen(
            "    kube-master:\n      hosts:\n        opti:\n        congratulations:\n        rice:\n",
            "    kube-master:\n      vars:\n        ansible_user: parent\n      children:\n        zero-master:\n          vars:\n            ansible_user: child\n          hosts:\n            opti:\n        other-master:\n          hosts:\n            congratulations:\n            rice:\n",
            1,
        )
        .replacen("    zero-master:\n      hosts:\n        opti:\n", "", 1)
        .replacen(
            "    other-master:\n      hosts:\n        congratulations:\n        rice:\n",
            "",
            1,
        );
    assert!(!text.contains("\n    zero-master:"), "{text}");
    let inv = ok(&text);
    for name in ["opti", "congratulations", "rice"] {
        assert_eq!(roles(&inv, name), (true, true, true, true), "{name}");
    }
    let user = |name: &str| {
        let m = &inv.model;
        m.node(m.node_by_name(name).unwrap()).ssh.user.clone()
    };
    assert_eq!(user("opti"), "child");
    assert_eq!(user("rice"), "parent");
    assert_eq!(
        inv.model
            .zero_master()
            .map(|z| inv.model.node(z).name.as_str()),
        Some("opti")
    );
}

#[test]
fn groups_of_one_depth_apply_in_name_order_the_later_winning() {
    // proxy and storage are both depth 1: storage's value wins for a host in both (Ansible
    // merges groups of one depth by name, the later last).
    let text = SEED
        .replacen(
            "    proxy:\n      hosts:",
            "    proxy:\n      vars: {ansible_port: 2201}\n      hosts:",
            1,
        )
        .replacen(
            "    storage:\n      hosts:",
            "    storage:\n      vars: {ansible_port: 2202}\n      hosts:",
            1,
        );
    let inv = ok(&text);
    assert!(inv.model.nodes.iter().all(|n| n.ssh.port == 2202));
}

#[test]
fn host_ranges_stand_for_their_hosts() {
    let text = "all:
  children:
    kube:
      hosts:
        node[01:03]:
    kube-master:
      hosts:
        node01: {ansible_host: 10.0.0.1}
        node02: {ansible_host: 10.0.0.2}
        node03: {ansible_host: 10.0.0.3}
    proxy:
      hosts:
        node[01:03]:
    storage:
      hosts:
        node0[1:3:2]:
    vip:
      hosts:
        api: {ansible_host: 10.0.0.100}
";
    let inv = ok(text);
    let names: Vec<&str> = inv.model.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node01", "node02", "node03"]);
    // [1:3:2] with its padding written out: node01 and node03.
    assert_eq!(storage(&inv), ["node01", "node03"]);
    assert!(inv.unused.is_empty(), "{:?}", inv.unused);
    // Unpadded, node1 and node3 are hosts of their own, in storage with no address.
    let e = refused(&text.replace("node0[1:3:2]", "node[1:3:2]"));
    assert!(e.contains("hosts.node[1:3:2].ansible_host: missing"), "{e}");
    // Letters.
    let inv = ok(&text
        .replace("node[01:03]", "node0[a:c]")
        .replace("node0[1:3:2]", "node0[a:c:2]")
        .replace("node01", "node0a")
        .replace("node02", "node0b")
        .replace("node03", "node0c"));
    assert_eq!(storage(&inv), ["node0a", "node0c"]);
    for (pattern, want) in [
        (
            "node[01:3]",
            "a zero-padded range's start and end have the same width",
        ),
        ("node[a:3]", "a range is of numbers or of single letters"),
        ("node[1:3:0]", "a range's step is a whole number above 0"),
        ("node[1:3", "a range `[` with no `]`"),
        ("node[1]", "a range is [start:end] or [start:end:step]"),
        ("n[0:40][0:40]", "a range of more than 1024 hosts"),
    ] {
        let e = refused(&text.replace("node0[1:3:2]", pattern));
        assert!(e.contains(want), "{pattern}: {e}");
        assert!(e.contains("all.children.storage.hosts."), "{pattern}: {e}");
    }
}

#[test]
fn groups_and_variables_hadrill_does_not_read_are_kept_and_listed() {
    let text = SEED
        .replacen(
            "    vip:\n",
            "    monitoring:\n      vars:\n        grafana_admin_password: s3cret\n      hosts:\n        opti:\n        backup-box:\n          ansible_host: 192.168.1.50\n    vip:\n",
            1,
        )
        .replacen(
            "        rice:\n          ansible_host: 192.168.1.10\n",
            "        rice:\n          ansible_host: 192.168.1.10\n          ansible_become: true\n",
            1,
        );
    let inv = ok(&text);
    assert_eq!(inv.model.nodes.len(), 3);
    assert_eq!(
        inv.unused,
        [
            "all.vars.ansible_python_interpreter",
            "all.children.monitoring.vars.grafana_admin_password",
            "all.children.monitoring (group)",
            "all.children.kube.hosts.rice.ansible_become",
            "all.children.monitoring.hosts.backup-box (host in no group hadrill reads)",
        ]
    );
    // Names only: a value may be a secret.
    assert!(!inv.unused.iter().any(|u| u.contains("s3cret")));
    // A group or variable a letter or two from one of hadrill's is a typo.
    let e = refused(&SEED.replacen("    storage:\n", "    storrage:\n", 1));
    assert!(
        e.contains("all.children.storrage: unknown group `storrage`: did you mean storage?"),
        "{e}"
    );
    let typo = SEED.replacen(
        "        rice:\n          ansible_host: 192.168.1.10\n",
        "        rice:\n          ansible_host: 192.168.1.10\n          storage_device: [/dev/sdc]\n",
        1,
    );
    let inv = ok(&typo);
    assert!(
        inv.warnings.iter().any(|w| w
            == "all.children.kube.hosts.rice.storage_device: not a variable hadrill reads; did you mean storage_devices?"),
        "{:?}",
        inv.warnings
    );
}

const SEED_INI: &str = include_str!("../examples/seed-inventory.ini");

fn ini(text: &str) -> Result<Inventory, String> {
    inventory::parse(Path::new("hosts"), text, Profile::Bare).map_err(|e| e.to_string())
}

#[test]
fn the_seeds_inventory_in_ini_is_the_same_cluster() {
    let from_ini = inventory::parse(Path::new("inv.ini"), SEED_INI, Profile::Bare).unwrap();
    let from_yaml = ok(SEED);
    assert_eq!(from_ini.model, from_yaml.model);
    assert_eq!(from_ini.unused, ["[all:vars].ansible_python_interpreter"]);
    // Ansible's default inventory has no extension; the file says what it is.
    assert_eq!(ini(SEED_INI).unwrap().model, from_yaml.model);
}

#[test]
fn ini_host_lines_read_as_ansible_reads_them() {
    let text = SEED_INI
        .replace(
            "opti ansible_host=192.168.1.11\n",
            "opti ansible_host=192.168.1.11 storage_devices=\"['/dev/sdc', '/dev/sdd']\"  # two disks\n",
        )
        .replace(
            "rice ansible_host=192.168.1.10\n",
            "rice:2222 ansible_host=192.168.1.10 ansible_user='ops' os_release='a # b' x=1#ansible_port=1\n",
        )
        .replace("[zero-master]\n", "; a comment\n[zero-master]\n")
        .replace("[storage:children]\nkube\n", "[storage:children]\nkube\n\n[storage:vars]\nansible_port = 2200\n");
    let inv = ini(&text).unwrap();
    let m = &inv.model;
    let node = |name: &str| m.node(m.node_by_name(name).unwrap());
    assert_eq!(node("opti").storage_devices, ["/dev/sdc", "/dev/sdd"]);
    assert_eq!(
        (node("rice").ssh.port, node("rice").ssh.user.as_str()),
        (2222, "ops")
    );
    // A host's own port wins over its group's.
    assert_eq!(node("congratulations").ssh.port, 2200);
    assert!(
        inv.unused.contains(&"[kube] rice.os_release".to_owned()),
        "{:?}",
        inv.unused
    );
}

#[test]
fn ini_errors_name_the_line_and_the_field() {
    for (from, to, want) in [
        ("[vip]\n", "[vip:hosts]\n", "hosts:30: [vip:hosts]: `hosts`: a section is [group], [group:vars] or [group:children]"),
        ("[vip]\n", "[vip\n", "hosts:30: [vip: a section is"),
        (
            "rice ansible_host=192.168.1.10\n",
            "rice ansible_host='192.168.1.10\n",
            "hosts:11: [kube] rice: a quote is not closed",
        ),
        (
            "rice ansible_host=192.168.1.10\n",
            "rice ansible_host=192.168.1.10 colour\n",
            "hosts:11: [kube] rice: `colour`: expected key=value after the host",
        ),
        (
            "rice ansible_host=192.168.1.10\n",
            "rice ansible_host=192.168.1.10 ansible_port=http\n",
            "hosts:11: [kube] rice.ansible_port: `http` is not a TCP port",
        ),
        (
            "ansible_python_interpreter=python3\n",
            "ansible_python_interpreter\n",
            "hosts:6: [all:vars]: `ansible_python_interpreter`: expected key=value",
        ),
        (
            "[proxy:children]\nkube\n",
            "[proxy:children]\nkube\n\n[kube:children]\nproxy\n",
            "is a child of itself",
        ),
        ("[storage:children]\n", "[storrage:children]\n", "[storrage]: unknown group `storrage`: did you mean storage?"),
    ] {
        assert!(SEED_INI.contains(from), "{from}");
        let e = ini(&SEED_INI.replacen(from, to, 1)).expect_err(to);
        assert!(e.contains(want), "{to:?}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

/// A folder of its own under the system's temporary one, empty, removed when the guard
/// drops (a panic included).
fn folder(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("hadrill-inv-{name}-"))
        .tempdir()
        .unwrap()
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The one-line error of loading `inv` (with its folders).
fn load_err(inv: &Path) -> String {
    inventory::load(inv, Profile::Bare).unwrap_err().to_string()
}

#[test]
fn group_vars_and_host_vars_folders_beside_the_file_win_over_it() {
    let scratch = folder("vars-dirs");
    let dir = scratch.path();
    let inv = dir.join("inventory.yml");
    let text = SEED.replacen(
        "    kube:\n",
        "    kube:\n      vars:\n        ansible_user: from-inventory\n",
        1,
    );
    write(dir, "inventory.yml", &text);
    write(
        dir,
        "group_vars/kube.yml",
        "ansible_user: ops\nos_release: jammy\n",
    );
    write(
        dir,
        "group_vars/storage/disks.yaml",
        "storage_devices: [/dev/sdc]\n",
    );
    write(
        dir,
        "group_vars/storage/.hidden.yml",
        "storage_devices: [/dev/sdz]\n",
    );
    write(
        dir,
        "host_vars/rice",
        "ansible_port: 2222\nansible_host: 192.168.1.20\n",
    );
    write(dir, "host_vars/ghost.json", "{\"ansible_port\": 1}\n");
    let read = inventory::load(&inv, Profile::Bare).unwrap_or_else(|e| panic!("{e}"));
    let m = &read.model;
    let node = |name: &str| m.node(m.node_by_name(name).unwrap());
    assert!(m
        .nodes
        .iter()
        .all(|n| n.ssh.user == "ops" && n.storage_devices == ["/dev/sdc"]));
    assert_eq!(node("rice").ssh.port, 2222);
    assert_eq!(node("rice").address.to_string(), "192.168.1.20");
    assert_eq!(node("opti").ssh.port, 22);
    assert_eq!(
        read.unused,
        [
            "all.vars.ansible_python_interpreter",
            "group_vars/kube.yml.os_release",
            "host_vars/ghost.json (no host ghost in the inventory)",
        ]
    );
    // Parsing the text alone reads no folder.
    let alone = inventory::parse(&inv, &text, Profile::Bare).unwrap();
    assert!(alone
        .model
        .nodes
        .iter()
        .all(|n| n.ssh.user == "from-inventory"));
    // A bad value in a folder's file names that file (and its field); a file that is not
    // YAML names its line.
    write(dir, "host_vars/rice", "ansible_port: http\n");
    let e = load_err(&inv);
    assert!(
        e.contains("host_vars/rice.ansible_port: `http` is not a TCP port"),
        "{e}"
    );
    write(dir, "host_vars/rice", "ansible_port: [\n");
    let e = load_err(&inv);
    // The file and its line.
    let at = format!("{}:", dir.join("host_vars/rice").display());
    assert!(e.starts_with(&at), "{e}");
    assert!(
        e[at.len()..].starts_with(|c: char| c.is_ascii_digit()),
        "{e}"
    );
}

/// At most 256 variable files in one folder and in the two: exactly 256 are read.
#[test]
fn at_most_256_variable_files_are_read() {
    for (dir, split) in [("cap-one-folder", 256), ("cap-two-folders", 100)] {
        let scratch = folder(dir);
        let dir = scratch.path();
        write(dir, "inventory.yml", SEED);
        let inv = dir.join("inventory.yml");
        for i in 0..256 {
            let side = if i < split { "host_vars" } else { "group_vars" };
            write(dir, &format!("{side}/extra/{i:03}.yml"), "x: 1\n");
        }
        inventory::load(&inv, Profile::Bare).unwrap_or_else(|e| panic!("256 files: {e}"));
        write(dir, "host_vars/extra/999.yml", "x: 1\n");
        let e = inventory::load(&inv, Profile::Bare)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 256 variable files"), "{e}");
    }
}

/// A model written as an Ansible inventory reads back as the same model: the seed's, the
/// native example's (with its own SSH user and devices) and the embedded one (a lab's shape).
#[test]
fn a_cluster_written_as_an_ansible_inventory_reads_back_the_same() {
    let native = include_str!("../examples/native-inventory.yml");
    let scratch = folder("emit");
    let dir = scratch.path();
    write(dir, "key", "not a real key, but a file that opens");
    for profile in [Profile::Bare, Profile::Kubernetes] {
        let mut lab = provisioner::model::ClusterModel::seed(profile);
        for n in &mut lab.nodes {
            n.ssh.key = Some(dir.join("key"));
            n.ssh.port = 2222;
        }
        let models = [
            inventory::parse(Path::new("a.yml"), SEED, profile)
                .unwrap()
                .model,
            inventory::parse(Path::new("n.yml"), native, profile)
                .unwrap()
                .model,
            lab,
        ];
        for m in models {
            let text = inventory::ansible_yaml(&m, "made by a test\nsecond line").unwrap();
            assert!(
                text.starts_with("# made by a test\n# second line\nall:\n"),
                "{text}"
            );
            let back = inventory::parse(Path::new("back.yml"), &text, profile)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(back.model, m, "{text}");
            assert!(back.unused.is_empty(), "{:?}", back.unused);
        }
    }
    // A master that runs no workloads has no Ansible form.
    let mut m = ok(SEED).model;
    m.nodes[0].worker = false;
    let e = inventory::ansible_yaml(&m, "").unwrap_err();
    assert!(e.contains("every master a worker"), "{e}");
}

/// Inventories built to exhaust: groups linked as diamonds thirty deep (2^30 paths, each
/// group visited once), a chain of groups deeper than 32, more hosts than 4096. Each is read
/// or refused on one line; none runs away.
#[test]
fn inventories_built_to_exhaust_are_read_once_or_refused() {
    let mut diamonds = String::from("[all:children]\nd0\n");
    for i in 0..30 {
        diamonds += &format!(
            "[d{i}:children]\nd{}\ne{}\n[e{i}:children]\nd{}\ne{}\n",
            i + 1,
            i + 1,
            i + 1,
            i + 1
        );
    }
    diamonds += "[d30]\nh ansible_host=10.0.0.1\n";
    let e = ini(&diamonds).unwrap_err();
    assert!(e.contains("no hosts in the groups hadrill reads"), "{e}");
    let mut chain = String::new();
    for i in 0..40 {
        chain += &format!("[c{i}:children]\nc{}\n", i + 1);
    }
    let e = ini(&chain).unwrap_err();
    assert!(e.contains("groups nested more than 32 deep"), "{e}");
    let many: String = (0..5)
        .map(|i| format!("[g{i}]\nh{i}x[0000:1000]\n"))
        .collect();
    let e = ini(&many).unwrap_err();
    assert!(e.contains("more than 4096 hosts in the inventory"), "{e}");
    let groups: String = (0..1100).map(|i| format!("[g{i}]\n")).collect();
    let e = ini(&groups).unwrap_err();
    assert!(e.contains("more than 1024 groups in the inventory"), "{e}");
}

/// A file not named .yml, .yaml or .json is INI when its first line that says anything (past
/// blank lines, `#` and `;` comments and a `---`) is a `[section]` or not YAML's `key:`.
#[test]
fn a_file_without_a_yaml_name_says_what_it_is() {
    let yaml = ok(SEED).model;
    for lead in ["", "\n\n", "# c\n", "---\n", "# c\n\n---\n"] {
        let text = format!("{lead}{SEED}");
        assert_eq!(ini(&text).unwrap().model, yaml, "YAML after {lead:?}");
    }
    for lead in ["", "\n\n", "# c\n", "; c\n", "# c\n\n; d\n"] {
        let text = format!("{lead}{SEED_INI}");
        assert_eq!(ini(&text).unwrap().model, yaml, "INI after {lead:?}");
    }
    // An INI whose first line is a host, and a YAML that opens with a flow mapping.
    let host_first = format!("spare ansible_host=10.9.9.9\n{SEED_INI}");
    let inv = ini(&host_first).unwrap();
    assert!(
        inv.unused
            .iter()
            .any(|u| u.starts_with("[ungrouped] spare")),
        "{:?}",
        inv.unused
    );
    // YAML's flow style and compact JSON (no ": " anywhere) are YAML.
    for flow in [
        "{all: {children: {kube: {hosts: {a: {ansible_host: 10.0.0.1}}}}}}\n",
        "{\"all\":{\"children\":{\"kube\":{\"hosts\":{\"a\":{\"ansible_host\":\"10.0.0.1\"}}}}}}\n",
    ] {
        let e = ini(flow).unwrap_err();
        assert!(e.contains("no master"), "read as YAML: {e}");
    }
    // A section header may carry a comment, even one that reads like YAML.
    let commented = SEED_INI.replacen("[all:vars]\n", "[all:vars]  # cluster: the seed's\n", 1);
    assert_eq!(ini(&commented).unwrap().model, yaml);
    // A file named .yml is YAML whatever it holds.
    let e = inventory::parse(Path::new("inv.yml"), SEED_INI, Profile::Bare).unwrap_err();
    assert!(e.to_string().starts_with("inv.yml:"), "{e}");
}

/// `host:port` on a host line; a colon inside a range's brackets is the range's, one after
/// them (or an address's) is the name's. A group's `[g:vars]` given twice is one block, the
/// later value winning, as Ansible reads it.
#[test]
fn ini_ports_ranges_and_repeated_vars_sections() {
    let text = SEED_INI
        .replace(
            "[kube]\nopti ansible_host=192.168.1.11\ncongratulations ansible_host=192.168.1.8\nrice ansible_host=192.168.1.10\n",
            "[kube]\nn[1:3]:2222\n\n[addresses]\nn1 ansible_host=192.168.1.11\nn2 ansible_host=192.168.1.8\nn3 ansible_host=192.168.1.10\n\n[others]\nn[1:2]a:b:22\n2001:db8::1:22\n",
        )
        .replace("[zero-master]\nopti\n", "[zero-master]\nn1\n")
        .replace("[other-master]\ncongratulations\nrice\n", "[other-master]\nn2\nn3\n")
        + "\n[storage:vars]\nansible_user=first\n\n[storage:vars]\nansible_user=second\n";
    let inv = ini(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let names: Vec<&str> = inv.model.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["n1", "n2", "n3"]);
    assert!(inv
        .model
        .nodes
        .iter()
        .all(|n| n.ssh.port == 2222 && n.ssh.user == "second"));
    for want in [
        "[others] n[1:2]a:b:22 (n1a:b:22: a host in no group hadrill reads)",
        "[others] 2001:db8::1:22 (host in no group hadrill reads)",
    ] {
        assert!(
            inv.unused.iter().any(|u| u == want),
            "{want}: {:?}",
            inv.unused
        );
    }
}

/// Values as Python's literal_eval reads them (True, False, None, quoted strings), and the
/// quotes and backslashes of a host line as shlex reads them around a `#`.
#[test]
fn ini_values_and_quotes_read_as_ansible_reads_them() {
    let with_vars =
        |vars: &str| SEED_INI.replacen("[all:vars]\n", &format!("[all:vars]\n{vars}"), 1);
    let m = ini(&with_vars("etcd_pre_vote=True\n")).unwrap().model;
    assert!(m.etcd.pre_vote);
    let m = ini(&with_vars("etcd_pre_vote=False\n")).unwrap().model;
    assert!(!m.etcd.pre_vote);
    // None is no value: the default device, not a device named `None`.
    let m = ini(&with_vars("storage_device=None\n")).unwrap().model;
    assert_eq!(m.default_storage_device, "/dev/sdb");
    let m = ini(&with_vars("storage_device='/dev/vdb'\n"))
        .unwrap()
        .model;
    assert_eq!(m.default_storage_device, "/dev/vdb");
    let e = ini(&with_vars("etcd_pre_vote=yes\n")).unwrap_err();
    assert!(e.contains("etcd_pre_vote"), "{e}");
    // Quotes are taken off a value only when they wrap it whole.
    let e = ini(&with_vars("name='a'b'\n")).unwrap_err();
    assert!(e.contains("`'a'b'`"), "{e}");
    let port = |line: &str| {
        let text = SEED_INI.replacen("opti ansible_host=192.168.1.11\n", &format!("{line}\n"), 1);
        let m = ini(&text).unwrap_or_else(|e| panic!("{line}: {e}")).model;
        m.node(m.node_by_name("opti").unwrap()).ssh.port
    };
    for (line, want) in [
        (
            r"opti ansible_host=192.168.1.11 note=a\#b ansible_port=2201",
            2201,
        ),
        (
            r##"opti ansible_host=192.168.1.11 note="a\"#b" ansible_port=2202"##,
            2202,
        ),
        (
            r"opti ansible_host=192.168.1.11 note='a # b' ansible_port=2203",
            2203,
        ),
        (
            r"opti ansible_host=192.168.1.11 note='a\'#b' ansible_port=2204",
            22,
        ),
        (r"opti ansible_host=192.168.1.11 #ansible_port=2205", 22),
        (
            r##"opti ansible_host=192.168.1.11 note="x"#c ansible_port=2206"##,
            22,
        ),
    ] {
        assert_eq!(port(line), want, "{line}");
    }
}

/// The size caps at their edges. Ansible's INI reader always has the groups `all` and
/// `ungrouped`, so 1,022 sections make 1,024 groups (the cap, read: the error is then
/// another's) and 1,023 make one too many; 4 ranges of 1,024 hosts (a range's own cap) are the
/// 4,096 hosts of the cap, and one host more is refused.
#[test]
fn the_inventorys_size_caps_hold_at_their_edges() {
    let groups = |n: usize| -> String { (0..n).map(|i| format!("[g{i}]\n")).collect() };
    let e = ini(&groups(1022)).unwrap_err();
    assert!(!e.contains("groups in the inventory"), "1,024 groups: {e}");
    let e = ini(&groups(1023)).unwrap_err();
    assert!(e.contains("more than 1024 groups in the inventory"), "{e}");

    let hosts: String = (0..4)
        .map(|i| format!("[r{i}]\nh{i}x[0000:1023]\n"))
        .collect();
    let e = ini(&hosts).unwrap_err();
    assert!(!e.contains("hosts in the inventory"), "4,096 hosts: {e}");
    let e = ini(&format!("{hosts}[one]\nlast\n")).unwrap_err();
    assert!(e.contains("more than 4096 hosts in the inventory"), "{e}");
}

/// YAML's groups nest 31 deep below `all`, read; one more is refused by the YAML reader's
/// depth budget (serde-saphyr's default, 64 nested maps and lists), since each level is two
/// maps (`children:` and the group's own) below `all:`'s. So the group walk's own cap of 32 is
/// a second guard that a YAML file cannot reach (an INI file meets the same 32 in the group
/// resolver: `inventories_built_to_exhaust_are_read_once_or_refused`).
#[test]
fn yaml_groups_nest_31_deep_and_no_deeper() {
    let chain = |depth: usize| -> String {
        let mut text = String::from("all:\n");
        let mut indent = String::from("  ");
        for i in 1..=depth {
            text += &format!("{indent}children:\n{indent}  c{i}:\n");
            indent += "    ";
        }
        text
    };
    let e = refused(&chain(31));
    assert!(
        e.contains("no hosts"),
        "31 deep is read, then refused for its hosts: {e}"
    );
    let e = refused(&chain(32));
    let want =
        "inv.yml:65: (document): nested more than 64 maps and lists deep (the YAML reader's limit)";
    assert_eq!(e, want, "32 deep");
}

/// A host name Ansible reads but a node cannot have is named by the host's own field in the
/// Ansible form (the host is its key: no `.name` after it), as the native form names `.name`.
#[test]
fn a_bad_host_name_is_named_by_the_hosts_own_field() {
    let text = SEED.replacen("        opti:\n", "        \"op ti\":\n", 1);
    let e = refused(&text);
    let field = "all.children.kube.hosts.op ti: `op ti` is not a host name";
    assert!(e.contains(field), "{e}");
    assert!(!e.contains("op ti.name"), "{e}");
}

/// The seed's four hosts, planned on either profile: every kernel setting a host's `sysctl`
/// step waits for is set by a file written to that host. It was not: the kubernetes plan
/// waited for `ip_nonlocal_bind` everywhere, which only the proxies' file sets, so the
/// worker-only `andy` could never finish and `kubeadm init` waited on it.
#[test]
fn every_sysctl_a_host_waits_for_is_set_by_a_file_of_that_host() {
    let text = seed_as_upstream();
    for profile in [Profile::Kubernetes, Profile::Bare] {
        let model = inventory::parse(Path::new("inv.yml"), &text, profile)
            .expect("the seed's inventory")
            .model;
        let files = provisioner::render::render(&model);
        let plan = provisioner::plan::plan(&model);
        let mut waited = 0;
        for s in plan.steps.iter().filter(|s| s.name == "sysctl") {
            let check = s.check.as_deref().expect("a check");
            for key in check.split("sysctl -n ").skip(1) {
                let key = key.split(')').next().expect("a key");
                waited += 1;
                let set = files.iter().any(|f| {
                    f.host == s.host
                        && f.path.starts_with("/etc/sysctl.d/")
                        && f.content.contains(&format!("\n{key} = 1\n"))
                });
                assert!(
                    set,
                    "{profile:?}: {} waits for {key}, which no file of its sets",
                    s.host
                );
            }
        }
        // kubernetes: two settings on each of the four, and the VIP's bind on the three
        // proxies; bare: only the proxies' bind.
        let expected = if profile == Profile::Kubernetes {
            11
        } else {
            3
        };
        assert_eq!(waited, expected, "{profile:?}");
    }
}
