//! Inventories: an Ansible inventory as Ansible reads it, or hadrill's native form, into a
//! [`ClusterModel`].
//!
//! Two readers feed one `Spec` (hosts with their groups and variables, cluster options, what
//! hadrill does not read), and one builder checks it and fills the model. The Ansible form is
//! read as it is (`ansible`: `all.children.GROUP.hosts.HOST` with `ansible_host`, groups nested
//! to any depth, host ranges, variables of any name); in the native form the groups that
//! can be derived are computed, not typed twice: `kube` is every node, `zero-master` the first
//! master, `other-master` the rest. In the Ansible form the VIP is the one host of the `vip`
//! group; `all.vars.vip` (and `vip_name`) give it when there is no such group, and are refused
//! when they differ from it.
//!
//! **Invariant:** a bad inventory is an [`Error`] naming the file and the field, never a panic;
//! doubtful but workable input (an even number of masters, a pool that acknowledges writes
//! with one copy, a storage host with no device named) gives a warning instead. Errors and
//! warnings are one printable line: values and keys in them are shown with [`shown`].
//! **Invariant:** every value is checked where it is read against its [`Kind`] (so the error
//! names its own field), and the model built is checked whole by [`ClusterModel::check`]
//! (ports, addresses, names given twice), whose fields are mapped back to the inventory's.
//! The only IO is reading the file through the size cap ([`yaml::read`]) and checking that SSH
//! key files can be opened.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use crate::model::{self, check_port, ClusterModel, Kind, Node, NodeField, Profile, Ssh};
use crate::text::{self, shown};
use crate::yaml;

/// A checked inventory: the model, and what the user should hear about it.
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The cluster.
    pub model: ClusterModel,
    /// Doubts that do not stop the run, one printable line each.
    pub warnings: Vec<String>,
    /// What the inventory holds that hadrill does not read (Ansible groups, hosts and
    /// variables for the user's playbooks), by field, one printable line each; plan.txt lists
    /// them. Names only: a value may be a secret.
    pub unused: Vec<String>,
}

/// An inventory that could not be read or checked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read: missing, unreadable, over the size cap, not text. The
    /// reason is part of the one line (as an `Invalid`'s message is), not a `#[source]` that
    /// a caller would print a second time.
    #[error("{}: {reason}", shown_path(path))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: text::ReadError,
    },
    /// The file is not a valid inventory.
    #[error("{}{}: {field}: {message}", shown_path(path), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<u64>,
        /// Where in the document (`all.children.storage.hosts.rice`), printable.
        field: String,
        /// What is wrong, one printable line.
        message: String,
    },
}

/// A file name as an error shows it: printable, not cut.
fn shown_path(path: &Path) -> String {
    text::one_line(&path.to_string_lossy())
}

/// The groups of the seed's inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Kube,
    KubeMaster,
    Worker,
    Proxy,
    Storage,
    Vip,
    ZeroMaster,
    OtherMaster,
}

impl Group {
    const ALL: [Group; 8] = [
        Group::Kube,
        Group::KubeMaster,
        Group::Worker,
        Group::Proxy,
        Group::Storage,
        Group::Vip,
        Group::ZeroMaster,
        Group::OtherMaster,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Group::Kube => "kube",
            Group::KubeMaster => "kube-master",
            Group::Worker => "worker",
            Group::Proxy => "proxy",
            Group::Storage => "storage",
            Group::Vip => "vip",
            Group::ZeroMaster => "zero-master",
            Group::OtherMaster => "other-master",
        }
    }

    fn parse(s: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// Cluster options: `all.vars` in the Ansible form, `cluster:` in the native form.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    name: Option<String>,
    kubernetes_version: Option<String>,
    pod_cidr: Option<String>,
    service_cidr: Option<String>,
    vip: Option<String>,
    vip_name: Option<String>,
    vip_interface: Option<String>,
    prefix_len: Option<u8>,
    api_port: Option<u16>,
    ingress_port: Option<u16>,
    storage_device: Option<String>,
    ceph_pool_size: Option<u32>,
    ceph_pool_min_size: Option<u32>,
    /// etcd's `--pre-vote` (kubeadm's etcd 3.5 has it on, Debian 12's etcd 3.4 off).
    etcd_pre_vote: Option<bool>,
}

impl Options {
    const KEYS: [&'static str; 14] = [
        "name",
        "kubernetes_version",
        "pod_cidr",
        "service_cidr",
        "vip",
        "vip_name",
        "vip_interface",
        "prefix_len",
        "api_port",
        "ingress_port",
        "storage_device",
        "ceph_pool_size",
        "ceph_pool_min_size",
        "etcd_pre_vote",
    ];

    /// Each option against its kind, where the form keeps it (`all.vars.` or `cluster.`).
    fn check(&self, form: Form) -> Result<(), Field> {
        let strings = [
            ("name", Kind::Name, &self.name),
            (
                "kubernetes_version",
                Kind::KubernetesVersion,
                &self.kubernetes_version,
            ),
            ("pod_cidr", Kind::Ipv4Cidr, &self.pod_cidr),
            ("service_cidr", Kind::Ipv4Cidr, &self.service_cidr),
            ("vip_name", Kind::DnsName, &self.vip_name),
            ("vip_interface", Kind::InterfaceName, &self.vip_interface),
            ("storage_device", Kind::DevicePath, &self.storage_device),
        ];
        for (key, kind, value) in strings {
            if let Some(v) = value {
                kind.check(v).map_err(|m| (form.option(key), m))?;
            }
        }
        for (key, port) in [
            ("api_port", self.api_port),
            ("ingress_port", self.ingress_port),
        ] {
            if let Some(p) = port {
                check_port(p).map_err(|m| (form.option(key), m))?;
            }
        }
        Ok(())
    }
}

/// Which form an inventory is in: it decides the names of its fields in errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Form {
    #[default]
    Ansible,
    Native,
}

impl Form {
    /// Where a cluster option is written.
    fn option(self, key: &str) -> String {
        match self {
            Form::Ansible => format!("all.vars.{key}"),
            Form::Native => format!("cluster.{key}"),
        }
    }

    /// Where the form lists its hosts.
    fn hosts(self) -> &'static str {
        match self {
            Form::Ansible => "all.children",
            Form::Native => "nodes",
        }
    }

    /// A host's field for a node field, after the host's own path.
    fn host_key(self, f: NodeField) -> String {
        let (ansible, native) = match f {
            NodeField::Name if self == Form::Ansible => return String::new(),
            NodeField::Name => return ".name".to_owned(),
            NodeField::Address => ("ansible_host", "address"),
            NodeField::SshUser => ("ansible_user", "ssh.user"),
            NodeField::SshPort => ("ansible_port", "ssh.port"),
            NodeField::SshKey => ("ansible_ssh_private_key_file", "ssh.key"),
            NodeField::StorageDevice(j) => return format!(".storage_devices[{j}]"),
        };
        match self {
            Form::Ansible => format!(".{ansible}"),
            Form::Native => format!(".{native}"),
        }
    }
}

/// Per-host SSH settings and devices, from Ansible host/group vars or the native node entry.
#[derive(Clone, Debug, Default)]
struct HostVars {
    /// Where they were written (`all.children.storage.vars`, `nodes[0]`; empty for the native
    /// form's `ssh:`), for errors.
    field: String,
    address: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    key: Option<String>,
    storage_devices: Option<Vec<String>>,
}

/// One host as the readers found it.
#[derive(Clone, Debug)]
struct HostSpec {
    name: String,
    /// Field path where the host is defined, for errors.
    field: String,
    vars: HostVars,
    /// Vars of the groups the host is in, in document order (host vars win over them).
    group_vars: Vec<HostVars>,
    groups: BTreeSet<Group>,
}

/// The VIP as a reader found it, with where each part was written.
#[derive(Clone, Debug)]
struct VipSpec {
    name: Option<String>,
    name_field: String,
    address: String,
    field: String,
}

/// What both readers produce: hosts in inventory order, the VIP, options.
#[derive(Clone, Debug, Default)]
struct Spec {
    form: Form,
    hosts: Vec<HostSpec>,
    vip: Option<VipSpec>,
    options: Options,
    /// SSH defaults for every host.
    defaults: HostVars,
    /// Whether masters also run workloads (the seed's design: every node a worker).
    masters_schedulable: bool,
    warnings: Vec<String>,
    /// Groups, hosts and variables hadrill does not read, by field.
    unused: Vec<String>,
}

/// A field path and what is wrong there.
type Field = (String, String);

/// Reads and checks an inventory file for a profile. The file is read through the size cap:
/// an endless one (`/dev/zero`) is refused after at most one byte more than the cap.
/// An Ansible inventory's `group_vars/` and `host_vars/` folders beside it are read too.
pub fn load(path: &Path, profile: Profile) -> Result<Inventory, Error> {
    let text = yaml::read(path).map_err(|reason| Error::Read {
        path: path.to_owned(),
        reason,
    })?;
    // The folders are Ansible's: beside a native inventory they are not read.
    let ansible = ini::is_ini(path, &text) || text.lines().any(|l| l.starts_with("all:"));
    let dirs = match path.parent() {
        Some(base) if ansible => VarsDirs::read(base)?,
        _ => VarsDirs::default(),
    };
    parse_with(path, &text, profile, &dirs)
}

/// Parses and checks an inventory from text; `path` is used in errors and to resolve relative
/// key paths.
pub fn parse(path: &Path, text: &str, profile: Profile) -> Result<Inventory, Error> {
    parse_with(path, text, profile, &VarsDirs::default())
}

/// [`parse`] with the variables of an Ansible inventory's `group_vars/` and `host_vars/`
/// folders (ignored for the native form, which has its own).
pub fn parse_with(
    path: &Path,
    text: &str,
    profile: Profile,
    dirs: &VarsDirs,
) -> Result<Inventory, Error> {
    let error = |line: u64, field: &str, message: &str| Error::Invalid {
        path: path.to_owned(),
        line: (line > 0).then_some(line),
        field: text::printable(field),
        message: text::one_line(message),
    };
    let invalid =
        |(field, message): Field| error(yaml::line_of_key(text, &field), &field, &message);
    let from_yaml = |e: yaml::Error| error(e.line, &e.field, &e.message);
    if ini::is_ini(path, text) {
        let (mut tree, lines) = ini::tree(text).map_err(|(n, (f, m))| error(n, &f, &m))?;
        let at = |(field, message): Field| {
            let field = ini::field(&field);
            error(ini::line_of(&lines, &field), &field, &message)
        };
        let spec = ansible::spec_with(&mut tree, dirs).map_err(at)?;
        let base = path.parent().unwrap_or(Path::new("."));
        return finish(build(spec, profile, base).map_err(at)?);
    }
    // The two YAML forms are told apart by their top-level keys, then read with precise errors.
    let top: IndexMap<String, serde_json::Value> = yaml::from_str(text).map_err(from_yaml)?;
    let spec = if top.contains_key("all") {
        let root: ansible::Root = yaml::from_str(text).map_err(from_yaml)?;
        let mut tree = ansible::tree(&root).map_err(invalid)?;
        ansible::spec_with(&mut tree, dirs).map_err(invalid)?
    } else {
        let root: native::Root = yaml::from_str(text).map_err(from_yaml)?;
        native::spec(root).map_err(invalid)?
    };
    let base = path.parent().unwrap_or(Path::new("."));
    finish(build(spec, profile, base).map_err(invalid)?)
}

/// Every warning and unused entry made one printable line.
fn finish(mut inventory: Inventory) -> Result<Inventory, Error> {
    for w in inventory.warnings.iter_mut().chain(&mut inventory.unused) {
        *w = text::one_line(w);
    }
    Ok(inventory)
}

mod ansible;
mod emit;
mod ini;
mod vars_dirs;

pub use emit::ansible_yaml;

pub use vars_dirs::{VarsDirs, VARS_FILES_MAX};

mod native {
    //! hadrill's own form: `cluster:` options, `ssh:` defaults, `nodes:` with their roles.
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Root {
        #[serde(default)]
        cluster: Options,
        #[serde(default)]
        ssh: SshDoc,
        nodes: Vec<NodeDoc>,
        #[serde(default = "yes")]
        masters_schedulable: bool,
    }

    fn yes() -> bool {
        true
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SshDoc {
        user: Option<String>,
        port: Option<u16>,
        key: Option<String>,
    }

    impl SshDoc {
        /// Each setting against its kind; `field` is where the block is (`ssh`, `nodes[0].ssh`).
        fn check(&self, field: &str) -> Result<(), Field> {
            if let Some(u) = &self.user {
                Kind::UserName
                    .check(u)
                    .map_err(|m| (format!("{field}.user"), m))?;
            }
            if let Some(p) = self.port {
                check_port(p).map_err(|m| (format!("{field}.port"), m))?;
            }
            if let Some(k) = &self.key {
                Kind::KeyPath
                    .check(k)
                    .map_err(|m| (format!("{field}.key"), m))?;
            }
            Ok(())
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NodeDoc {
        name: String,
        address: String,
        #[serde(default)]
        roles: Option<Vec<String>>,
        #[serde(default)]
        storage_devices: Option<Vec<String>>,
        #[serde(default)]
        ssh: SshDoc,
    }

    /// Roles a native node may have; every node is in `kube`.
    const ROLES: [(&str, Group); 4] = [
        ("master", Group::KubeMaster),
        ("worker", Group::Worker),
        ("proxy", Group::Proxy),
        ("storage", Group::Storage),
    ];

    pub(super) fn spec(root: Root) -> Result<Spec, Field> {
        root.cluster.check(Form::Native)?;
        root.ssh.check("ssh")?;
        let vip = root
            .cluster
            .vip
            .clone()
            .ok_or_else(|| ("cluster.vip".to_owned(), "missing".to_owned()))?;
        let vip_name = root
            .cluster
            .vip_name
            .clone()
            .unwrap_or_else(|| "vip".into());
        if root.nodes.len() > model::NODES_MAX {
            return Err((
                "nodes".into(),
                format!("{} nodes: at most {}", root.nodes.len(), model::NODES_MAX),
            ));
        }
        let mut hosts = Vec::new();
        for (i, n) in root.nodes.into_iter().enumerate() {
            hosts.push(host(i, n)?);
        }
        let masters: Vec<usize> = (0..hosts.len())
            .filter(|&i| hosts[i].groups.contains(&Group::KubeMaster))
            .collect();
        for (k, &i) in masters.iter().enumerate() {
            hosts[i].groups.insert(if k == 0 {
                Group::ZeroMaster
            } else {
                Group::OtherMaster
            });
        }
        Ok(Spec {
            form: Form::Native,
            hosts,
            vip: Some(VipSpec {
                name: Some(vip_name),
                name_field: "cluster.vip_name".into(),
                address: vip,
                field: "cluster.vip".into(),
            }),
            options: root.cluster,
            defaults: HostVars {
                user: root.ssh.user,
                port: root.ssh.port,
                key: root.ssh.key,
                ..HostVars::default()
            },
            masters_schedulable: root.masters_schedulable,
            warnings: Vec::new(),
            unused: Vec::new(),
        })
    }

    /// One node entry, its values checked, its roles as groups.
    fn host(i: usize, n: NodeDoc) -> Result<HostSpec, Field> {
        let field = format!("nodes[{i}]");
        Kind::HostName
            .check(&n.name)
            .map_err(|m| (format!("{field}.name"), m))?;
        n.ssh.check(&format!("{field}.ssh"))?;
        if let Some(list) = &n.storage_devices {
            model::check_devices(list)
                .map_err(|(j, m)| (format!("{field}.storage_devices[{j}]"), m))?;
        }
        let mut groups = BTreeSet::from([Group::Kube]);
        let roles = n
            .roles
            .unwrap_or_else(|| ROLES.iter().map(|(r, _)| (*r).to_owned()).collect());
        for (j, r) in roles.iter().enumerate() {
            let g = ROLES
                .iter()
                .find(|(name, _)| name == r)
                .map(|(_, g)| *g)
                .ok_or_else(|| {
                    (
                        format!("{field}.roles[{j}]"),
                        format!("unknown role {} (master, worker, proxy, storage)", shown(r)),
                    )
                })?;
            groups.insert(g);
        }
        Ok(HostSpec {
            name: n.name,
            field: field.clone(),
            vars: HostVars {
                field,
                address: Some(n.address),
                user: n.ssh.user,
                port: n.ssh.port,
                key: n.ssh.key,
                storage_devices: n.storage_devices,
            },
            group_vars: Vec::new(),
            groups,
        })
    }
}

/// Checks a spec and builds the model.
fn build(spec: Spec, profile: Profile, base: &Path) -> Result<Inventory, Field> {
    let Spec {
        form,
        hosts,
        vip,
        options: o,
        defaults,
        masters_schedulable,
        mut warnings,
        unused,
    } = spec;
    check_hosts(form, &hosts)?;
    let vip = vip.ok_or_else(|| {
        (
            "all.children.vip".to_owned(),
            "missing: the VIP's address (a vip group with one host, or all.vars.vip)".to_owned(),
        )
    })?;
    let vip_address = parse_ipv4(&vip.address).map_err(|m| (vip.field.clone(), m))?;
    let default_device = o
        .storage_device
        .clone()
        .unwrap_or_else(|| "/dev/sdb".into());
    let mut nodes = Vec::new();
    for h in &hosts {
        let at = Defaults {
            form,
            vars: &defaults,
            device: &default_device,
            masters_schedulable,
            base,
        };
        let mut node = node(h, &at, &mut warnings)?;
        if node.proxy {
            let first = !nodes.iter().any(|n: &Node| n.proxy);
            node.vrrp_initial_master = first;
            node.vrrp_priority = if first { 101 } else { 100 };
        }
        nodes.push(node);
    }
    let mut model = ClusterModel::seed(profile);
    model.nodes = nodes;
    model.vip = vip_address;
    model.vip_name.clone_from(&vip.name);
    model.prefix_len = o.prefix_len.unwrap_or(24);
    model.default_storage_device = default_device;
    model.kube.masters_schedulable = masters_schedulable;
    apply_options(&mut model, &o);
    let names = Names {
        form,
        hosts: &hosts,
        defaults: &defaults,
        vip: &vip,
    };
    model
        .check()
        .map_err(|e| (names.field(e.field), e.message))?;
    warnings.extend(doubts(&model));
    Ok(Inventory {
        model,
        warnings,
        unused,
    })
}

/// Where an inventory wrote what [`ClusterModel::check`] refers to.
struct Names<'a> {
    form: Form,
    hosts: &'a [HostSpec],
    defaults: &'a HostVars,
    vip: &'a VipSpec,
}

impl Names<'_> {
    fn field(&self, f: model::Field) -> String {
        use model::Field as F;
        let form = self.form;
        let option = match f {
            F::Name => "name",
            F::VipInterface => "vip_interface",
            F::PrefixLen => "prefix_len",
            F::DefaultStorageDevice => "storage_device",
            F::ApiPort => "api_port",
            F::IngressPort => "ingress_port",
            F::PodCidr => "pod_cidr",
            F::ServiceCidr => "service_cidr",
            F::KubernetesVersion => "kubernetes_version",
            F::CephPoolSize => "ceph_pool_size",
            F::CephPoolMinSize => "ceph_pool_min_size",
            F::Vip => return self.vip.field.clone(),
            F::VipName => return self.vip.name_field.clone(),
            F::Nodes => return form.hosts().to_owned(),
            F::Proxies if form == Form::Ansible => return "all.children.proxy".to_owned(),
            F::Proxies => return "nodes".to_owned(),
            F::Node(i, nf) => return self.node_field(i, nf),
            F::Setting(path) => return path.to_owned(),
        };
        form.option(option)
    }

    /// A node's field where its value was written: on the host, in a group, or cluster-wide.
    fn node_field(&self, i: usize, nf: NodeField) -> String {
        let Some(h) = self.hosts.get(i) else {
            return self.form.hosts().to_owned();
        };
        let d = self.defaults;
        let from = match nf {
            NodeField::Name | NodeField::Address => &h.vars,
            NodeField::SshUser => source(h, d, |v| v.user.is_some()),
            NodeField::SshPort => source(h, d, |v| v.port.is_some()),
            NodeField::SshKey => source(h, d, |v| v.key.is_some()),
            NodeField::StorageDevice(_) => source(h, d, |v| v.storage_devices.is_some()),
        };
        from.at(self.form, nf)
    }
}

/// An IPv4 address, or why not (the value shown).
fn parse_ipv4(text: &str) -> Result<Ipv4Addr, String> {
    text.parse()
        .map_err(|_| format!("{} is not an IPv4 address", shown(text)))
}

/// Group rules that hold whatever the form: masters, zero-master and other-master agree.
/// Between one and [`model::NODES_MAX`] hosts, in groups that make a cluster.
fn check_hosts(form: Form, hosts: &[HostSpec]) -> Result<(), Field> {
    if hosts.is_empty() {
        return Err((form.hosts().into(), "no hosts".into()));
    }
    if hosts.len() > model::NODES_MAX {
        let n = hosts.len();
        return Err((
            form.hosts().into(),
            format!("{n} hosts: at most {}", model::NODES_MAX),
        ));
    }
    check_groups(hosts)
}

fn check_groups(hosts: &[HostSpec]) -> Result<(), Field> {
    let has = |h: &HostSpec, g: Group| h.groups.contains(&g);
    let masters: Vec<&HostSpec> = hosts.iter().filter(|h| has(h, Group::KubeMaster)).collect();
    if masters.is_empty() {
        return Err((
            "all.children.kube-master".into(),
            "no master: at least one host must be in kube-master".into(),
        ));
    }
    let zero: Vec<&HostSpec> = hosts.iter().filter(|h| has(h, Group::ZeroMaster)).collect();
    if zero.len() > 1 {
        return Err((
            "all.children.zero-master".into(),
            "more than one zero-master".into(),
        ));
    }
    for h in hosts {
        for g in [Group::ZeroMaster, Group::OtherMaster] {
            if has(h, g) && !has(h, Group::KubeMaster) {
                return Err((
                    h.field.clone(),
                    format!("in {} but not in kube-master", g.as_str()),
                ));
            }
        }
        if has(h, Group::ZeroMaster) && has(h, Group::OtherMaster) {
            return Err((
                h.field.clone(),
                "in both zero-master and other-master".into(),
            ));
        }
    }
    if let Some(z) = zero.first() {
        if z.name != masters[0].name {
            return Err((
                z.field.clone(),
                format!(
                    "zero-master must be the first master ({})",
                    shown(&masters[0].name)
                ),
            ));
        }
    }
    Ok(())
}

/// What every host starts from: cluster-wide SSH settings and device, where keys are found.
struct Defaults<'a> {
    form: Form,
    vars: &'a HostVars,
    device: &'a str,
    masters_schedulable: bool,
    base: &'a Path,
}

fn node(h: &HostSpec, at: &Defaults<'_>, warnings: &mut Vec<String>) -> Result<Node, Field> {
    let has = |g: Group| h.groups.contains(&g);
    let address_field = format!("{}{}", h.field, at.form.host_key(NodeField::Address));
    let text = h.vars.address.clone().ok_or_else(|| {
        (
            address_field.clone(),
            "missing: an IPv4 address is needed for every host".to_owned(),
        )
    })?;
    let address = parse_ipv4(&text).map_err(|m| (address_field, m))?;
    let storage_devices = if has(Group::Storage) {
        match var(h, at.vars, |v| v.storage_devices.clone()) {
            None => {
                warnings.push(format!(
                    "{}: storage host names no storage_devices; using the cluster default {}",
                    h.field, at.device
                ));
                vec![at.device.to_owned()]
            }
            Some(list) if list.is_empty() => {
                return Err((
                    format!("{}.storage_devices", h.field),
                    "empty: a storage host needs a device".into(),
                ));
            }
            Some(list) => list,
        }
    } else {
        Vec::new()
    };
    let key = var(h, at.vars, |v| v.key.clone())
        .map(|k| resolve_key(&k, at.base))
        .transpose()
        .map_err(|m| {
            let from = source(h, at.vars, |v| v.key.is_some());
            (from.at(at.form, NodeField::SshKey), m)
        })?;
    Ok(Node {
        name: h.name.clone(),
        address,
        ssh: Ssh {
            user: var(h, at.vars, |v| v.user.clone()).unwrap_or_else(|| "root".into()),
            port: var(h, at.vars, |v| v.port).unwrap_or(22),
            key,
        },
        control_plane: has(Group::KubeMaster),
        worker: has(Group::Worker) || (at.masters_schedulable && has(Group::KubeMaster)),
        proxy: has(Group::Proxy),
        storage_devices,
        vrrp_priority: 100,
        vrrp_initial_master: false,
    })
}

/// Where a host's setting comes from, as [`var`] picks it (the host's own vars when unset).
fn source<'a>(
    h: &'a HostSpec,
    defaults: &'a HostVars,
    set: impl Fn(&HostVars) -> bool,
) -> &'a HostVars {
    std::iter::once(&h.vars)
        .chain(&h.group_vars)
        .chain(std::iter::once(defaults))
        .find(|v| set(v))
        .unwrap_or(&h.vars)
}

impl HostVars {
    /// The field of one setting in this block.
    fn at(&self, form: Form, f: NodeField) -> String {
        let path = format!("{}{}", self.field, form.host_key(f));
        path.trim_start_matches('.').to_owned()
    }
}

/// A host's setting: its own, else its groups' (first group wins), else the cluster default.
fn var<T>(h: &HostSpec, defaults: &HostVars, get: impl Fn(&HostVars) -> Option<T>) -> Option<T> {
    get(&h.vars)
        .or_else(|| h.group_vars.iter().find_map(&get))
        .or_else(|| get(defaults))
}

/// Expands `~/` and makes a relative key path relative to the inventory; the key must open.
fn resolve_key(k: &str, base: &Path) -> Result<PathBuf, String> {
    let path = match k.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from(k), |h| PathBuf::from(h).join(rest)),
        None if Path::new(k).is_relative() => base.join(k),
        None => PathBuf::from(k),
    };
    match std::fs::File::open(&path) {
        Ok(_) => Ok(path),
        Err(e) => Err(format!(
            "cannot read the key {}: {e}",
            shown(&path.to_string_lossy())
        )),
    }
}

/// The options on top of the seed's settings (each was checked where it was read).
fn apply_options(model: &mut ClusterModel, o: &Options) {
    if let Some(n) = &o.name {
        model.name.clone_from(n);
    }
    if let Some(v) = &o.kubernetes_version {
        model.versions.kubernetes.clone_from(v);
    }
    if let Some(c) = &o.pod_cidr {
        model.kube.pod_cidr.clone_from(c);
    }
    if let Some(c) = &o.service_cidr {
        model.kube.service_cidr.clone_from(c);
    }
    if let Some(i) = &o.vip_interface {
        model.vip_interface.clone_from(i);
    }
    if let Some(p) = o.api_port {
        model.haproxy.api_port = p;
    }
    if let Some(p) = o.ingress_port {
        model.haproxy.ingress_port = p;
    }
    let c = &mut model.ceph;
    c.pool_size = o.ceph_pool_size.unwrap_or(c.pool_size);
    c.pool_min_size = o.ceph_pool_min_size.unwrap_or(c.pool_min_size);
    model.etcd.pre_vote = o.etcd_pre_vote.unwrap_or(model.etcd.pre_vote);
    let n_hosts = model.nodes.iter().filter(|n| n.storage()).count();
    model.ceph.n_mons = u32::try_from(n_hosts.min(3)).expect("at most 3");
}

/// Warnings about a checked model that will run, but not as one may think.
fn doubts(model: &ClusterModel) -> Vec<String> {
    let mut warnings = Vec::new();
    let (size, min_size) = (model.ceph.pool_size, model.ceph.pool_min_size);
    let n_osds = model
        .nodes
        .iter()
        .map(|n| n.storage_devices.len())
        .sum::<usize>();
    let n_hosts = model.nodes.iter().filter(|n| n.storage()).count();
    if n_hosts < size as usize {
        warnings.push(format!("ceph pool size {size} on {n_hosts} storage hosts ({n_osds} OSDs): PGs cannot place every copy on its own host"));
    }
    if min_size == 1 {
        warnings.push(format!(
            "ceph pool min_size 1: writes are acknowledged with a single copy (size {size})"
        ));
    }
    let n_masters = model.nodes.iter().filter(|n| n.control_plane).count();
    if n_masters % 2 == 0 {
        warnings.push(format!(
            "{n_masters} masters: an even number adds no fault tolerance to etcd (quorum {})",
            n_masters / 2 + 1
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../examples/seed-inventory.yml");
    const NATIVE: &str = include_str!("../../examples/native-inventory.yml");

    fn ok(text: &str) -> Inventory {
        parse(Path::new("inv.yml"), text, Profile::Bare).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The one-line error for an inventory.
    fn err(text: &str) -> String {
        parse(Path::new("inv.yml"), text, Profile::Bare)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    fn check_err(text: &str, want: &str) {
        let got = err(text);
        assert!(got.contains(want), "got `{got}`, want `{want}`");
        assert!(!got.contains('\n'), "one line: {got}");
    }

    #[test]
    fn seed_inventory_as_it_is() {
        let inv = ok(SEED);
        let m = &inv.model;
        let names: Vec<&str> = m.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["opti", "congratulations", "rice"]);
        assert_eq!(m.vip, Ipv4Addr::new(192, 168, 1, 100));
        assert_eq!(m.vip_name.as_deref(), Some("kube-cluster"));
        assert!(m
            .nodes
            .iter()
            .all(|n| n.control_plane && n.worker && n.proxy));
        assert!(m.nodes.iter().all(|n| n.storage_devices == ["/dev/sdb"]));
        assert_eq!(
            m.zero_master().map(|z| m.node(z).name.as_str()),
            Some("opti")
        );
        // One warning per storage host without a device, none else.
        assert_eq!(inv.warnings.len(), 3, "{:?}", inv.warnings);
        assert!(inv.warnings[0].contains("using the cluster default /dev/sdb"));
        assert_eq!(m.nodes.iter().filter(|n| n.vrrp_initial_master).count(), 1);
    }

    #[test]
    fn native_form_derives_groups() {
        let inv = ok(NATIVE);
        assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
        let seed = ok(SEED).model;
        let mut m = inv.model;
        assert_eq!(m.name, "homelab");
        m.name.clone_from(&seed.name);
        assert_eq!(m, seed, "both forms describe the same cluster");
    }

    #[test]
    fn seeds_worker_group_with_a_single_host_name() {
        let text = SEED.replace(
            "    vip:\n",
            "    worker:\n      hosts:\n        andy\n    vip:\n",
        );
        let text = text.replace(
            "        rice:\n          ansible_host: 192.168.1.10\n",
            "        rice:\n          ansible_host: 192.168.1.10\n        andy:\n          ansible_host: 192.168.1.7\n",
        );
        let m = ok(&text).model;
        let andy = m.node(m.node_by_name("andy").unwrap());
        assert!(andy.worker && !andy.control_plane && !andy.proxy && !andy.storage());
    }

    #[test]
    fn bad_inventories_get_one_line_errors() {
        check_err(
            &SEED.replace("192.168.1.8", "192.168.1.11"),
            "all.children.kube.hosts.congratulations.ansible_host: address 192.168.1.11 is also opti's",
        );
        check_err(
            &SEED.replace("192.168.1.100", "10.0.0.100"),
            "VIP 10.0.0.100 is outside the nodes' subnet 192.168.1.0/24",
        );
        check_err(
            &SEED.replace("192.168.1.100", "192.168.1.10"),
            "address 192.168.1.10 is the VIP",
        );
        check_err(
            &SEED.replace("    proxy:", "    proxies:"),
            "all.children.proxies: unknown group `proxies`: did you mean proxy?",
        );
        check_err(
            &SEED.replace("        opti:\n          ansible_host: 192.168.1.11\n", "        opti:\n          ansible_host: 192.168.1.11\n          storage_devices: []\n"),
            "opti.storage_devices: empty: a storage host needs a device",
        );
        check_err(
            &SEED.replace("        opti:\n          ansible_host: 192.168.1.11\n", "        opti:\n          ansible_host: 192.168.1.11\n          storage_devices: [sdb]\n"),
            "storage_devices[0]: `sdb` is not an absolute device path",
        );
        check_err(
            &SEED.replace(
                "python3\n",
                "python3\n    ansible_ssh_private_key_file: /nonexistent/hadrill-key\n",
            ),
            "all.vars.ansible_ssh_private_key_file: cannot read the key `/nonexistent/hadrill-key`",
        );
        check_err(
            &SEED.replace("192.168.1.8", "192.168.1.300"),
            "`192.168.1.300` is not an IPv4 address",
        );
        check_err("all: [1, 2]\n", "inv.yml:1: all");
        check_err("nodes: []\ncluster: {vip: 10.0.0.1}\n", "no hosts");
        check_err(
            &NATIVE.replace("roles: [master,", "roles: [boss,"),
            "nodes[2].roles[0]: unknown role `boss`",
        );
        check_err(
            &NATIVE.replace("ceph_pool_min_size: 2", "ceph_pool_min_size: 4"),
            "need 1 ≤ min_size ≤ size",
        );
        check_err(
            &NATIVE.replace("  name: homelab\n", "  name: homelab\n  colour: blue\n"),
            "unknown field `colour`",
        );
    }

    #[test]
    fn doubtful_inventories_get_warnings() {
        let text = NATIVE.replace(
            "ceph_pool_size: 3\n  ceph_pool_min_size: 2",
            "ceph_pool_size: 2\n  ceph_pool_min_size: 1",
        );
        let w = ok(&text).warnings;
        assert!(
            w.iter()
                .any(|w| w.contains("min_size 1: writes are acknowledged with a single copy")),
            "{w:?}"
        );
        let text = NATIVE.replace(
            "    roles: [master, worker, proxy, storage]\n",
            "    roles: [worker, proxy, storage]\n",
        );
        let w = ok(&text).warnings;
        assert!(
            w.iter().any(|w| w.contains("2 masters: an even number")),
            "{w:?}"
        );
        // A variable hadrill does not read is kept and listed, not warned about, unless it
        // is a letter or two from one that hadrill reads.
        let inv = ok(&SEED.replace(
            "python3\n",
            "python3\n    colour: blue\n    ansible_usr: x\n",
        ));
        assert!(
            inv.unused.iter().any(|u| u == "all.vars.colour"),
            "{:?}",
            inv.unused
        );
        assert!(
            !inv.warnings.iter().any(|w| w.contains("colour")),
            "{:?}",
            inv.warnings
        );
        assert!(
            inv.warnings
                .iter()
                .any(|w| w == "all.vars.ansible_usr: not a variable hadrill reads; did you mean ansible_user?"),
            "{:?}",
            inv.warnings
        );
    }

    #[test]
    fn group_vars_apply_to_their_hosts() {
        let text = SEED.replace(
            "    storage:\n      hosts:",
            "    storage:\n      vars:\n        storage_devices: [/dev/vdb]\n        ansible_user: debian\n      hosts:",
        );
        let inv = ok(&text);
        assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
        assert!(inv
            .model
            .nodes
            .iter()
            .all(|n| n.storage_devices == ["/dev/vdb"] && n.ssh.user == "debian"));
    }
}
