//! Inventories: the seed's Ansible-style YAML, or hadrill's native form, into a [`ClusterModel`].
//!
//! Two readers feed one [`Spec`] (hosts with their groups and variables, cluster options), and
//! one builder checks it and fills the model. The Ansible form is read as it is
//! (`all.children.GROUP.hosts.HOST` with `ansible_host`); in the native form the groups that
//! can be derived are computed, not typed twice: `kube` is every node, `zero-master` the first
//! master, `other-master` the rest.
//!
//! **Invariant:** a bad inventory is an [`Error`] naming the file and the field, never a panic;
//! doubtful but workable input (an even number of masters, a pool that acknowledges writes
//! with one copy, a storage host with no device named) gives a warning instead.
//! The only IO is reading the file and checking that SSH key files can be opened.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use crate::model::{ClusterModel, Node, Profile, Ssh};
use crate::yaml;

/// A checked inventory: the model, and what the user should hear about it.
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The cluster.
    pub model: ClusterModel,
    /// Doubts that do not stop the run, one line each.
    pub warnings: Vec<String>,
}

/// An inventory that could not be read or checked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: cannot read")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid inventory.
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// Where in the document (`all.children.storage.hosts.rice`).
        field: String,
        /// What is wrong.
        message: String,
    },
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
    vip: Option<Ipv4Addr>,
    vip_name: Option<String>,
    vip_interface: Option<String>,
    prefix_len: Option<u8>,
    api_port: Option<u16>,
    ingress_port: Option<u16>,
    storage_device: Option<String>,
    ceph_pool_size: Option<u32>,
    ceph_pool_min_size: Option<u32>,
}

impl Options {
    const KEYS: [&'static str; 13] = [
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
    ];
}

/// Per-host SSH settings and devices, from Ansible host/group vars or the native node entry.
#[derive(Clone, Debug, Default)]
struct HostVars {
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

/// What both readers produce: hosts in inventory order, the VIP, options.
#[derive(Clone, Debug, Default)]
struct Spec {
    hosts: Vec<HostSpec>,
    vip: Option<(String, String)>,
    options: Options,
    /// SSH defaults for every host.
    defaults: HostVars,
    /// Whether masters also run workloads (the seed's design: every node a worker).
    masters_schedulable: bool,
    warnings: Vec<String>,
}

type Field = (String, String);

/// Reads and checks an inventory file for a profile.
pub fn load(path: &Path, profile: Profile) -> Result<Inventory, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text, profile)
}

/// Parses and checks an inventory from text; `path` is used in errors and to resolve relative
/// key paths.
pub fn parse(path: &Path, text: &str, profile: Profile) -> Result<Inventory, Error> {
    let invalid = |(field, message): Field| Error::Invalid {
        path: path.to_owned(),
        line: yaml::line_of_key(text, &field),
        field,
        message,
    };
    let from_yaml = |e: yaml::Error| Error::Invalid {
        path: path.to_owned(),
        line: e.line,
        field: e.field,
        message: e.message,
    };
    // The two forms are told apart by their top-level keys, then read with precise errors.
    let top: IndexMap<String, serde_json::Value> = yaml::from_str(text).map_err(from_yaml)?;
    let spec = if top.contains_key("all") {
        let root: ansible::Root = yaml::from_str(text).map_err(from_yaml)?;
        ansible::spec(&root).map_err(invalid)?
    } else {
        let root: native::Root = yaml::from_str(text).map_err(from_yaml)?;
        native::spec(root).map_err(invalid)?
    };
    let base = path.parent().unwrap_or(Path::new("."));
    build(spec, profile, base).map_err(invalid)
}

mod ansible {
    //! The seed's form: `all: {vars, children: {GROUP: {hosts: {HOST: {ansible_host}}}}}`.
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Root {
        pub all: GroupDoc,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct GroupDoc {
        #[serde(default)]
        pub vars: Option<IndexMap<String, serde_json::Value>>,
        #[serde(default)]
        pub hosts: Option<Hosts>,
        #[serde(default)]
        pub children: Option<IndexMap<String, Option<GroupDoc>>>,
    }

    /// `hosts:` is a map of hosts to their vars, or (as in the seed's `worker: {hosts: andy}`)
    /// a single host name.
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub(super) enum Hosts {
        One(String),
        Map(IndexMap<String, Option<IndexMap<String, serde_json::Value>>>),
    }

    pub(super) fn spec(root: &Root) -> Result<Spec, Field> {
        let mut spec = Spec {
            masters_schedulable: true,
            ..Spec::default()
        };
        let all = &root.all;
        if let Some(vars) = &all.vars {
            let (opts, defaults, warnings) = split_vars("all.vars", vars)?;
            spec.options = opts;
            spec.defaults = defaults;
            spec.warnings = warnings;
        }
        if all.hosts.is_some() {
            return Err((
                "all.hosts".into(),
                "hosts belong in groups under all.children".into(),
            ));
        }
        let children = all.children.as_ref().ok_or_else(|| {
            (
                "all.children".into(),
                "missing (the groups kube, kube-master, proxy, storage, vip)".into(),
            )
        })?;
        for (name, group) in children {
            let field = format!("all.children.{name}");
            let g = Group::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Group::ALL.iter().map(|g| g.as_str()).collect();
                (
                    field.clone(),
                    format!("unknown group `{name}` (expected {})", known.join(", ")),
                )
            })?;
            let Some(group) = group else { continue };
            if group.children.is_some() {
                return Err((
                    format!("{field}.children"),
                    "nested groups are not supported".into(),
                ));
            }
            let group_vars = match &group.vars {
                Some(vars) => group_vars(&format!("{field}.vars"), vars, &mut spec.warnings)?,
                None => HostVars::default(),
            };
            add_group(&mut spec, g, &field, group.hosts.as_ref(), &group_vars)?;
        }
        Ok(spec)
    }

    fn add_group(
        spec: &mut Spec,
        g: Group,
        field: &str,
        hosts: Option<&Hosts>,
        group_vars: &HostVars,
    ) -> Result<(), Field> {
        let entries: Vec<(String, Option<&IndexMap<String, serde_json::Value>>)> = match hosts {
            None => Vec::new(),
            Some(Hosts::One(name)) => vec![(name.clone(), None)],
            Some(Hosts::Map(m)) => m.iter().map(|(k, v)| (k.clone(), v.as_ref())).collect(),
        };
        for (name, vars) in entries {
            let hfield = format!("{field}.hosts.{name}");
            let vars = match vars {
                Some(v) => host_vars(&hfield, v)?,
                None => HostVars::default(),
            };
            if g == Group::Vip {
                if spec.vip.is_some() {
                    return Err((hfield, "the vip group holds one address".into()));
                }
                let addr = vars.address.ok_or_else(|| {
                    (
                        format!("{hfield}.ansible_host"),
                        "missing: the VIP's address".into(),
                    )
                })?;
                spec.vip = Some((name, addr));
                continue;
            }
            let pos = spec.hosts.iter().position(|h| h.name == name);
            let host = match pos {
                Some(i) => &mut spec.hosts[i],
                None => {
                    spec.hosts.push(HostSpec {
                        name: name.clone(),
                        field: hfield.clone(),
                        vars: HostVars::default(),
                        group_vars: Vec::new(),
                        groups: BTreeSet::new(),
                    });
                    spec.hosts.last_mut().expect("just pushed")
                }
            };
            host.groups.insert(g);
            merge(&mut host.vars, vars, &hfield)?;
            host.group_vars.push(group_vars.clone());
        }
        Ok(())
    }

    /// Vars of one group: host settings for its hosts; cluster options belong in `all.vars`.
    fn group_vars(
        field: &str,
        vars: &IndexMap<String, serde_json::Value>,
        warnings: &mut Vec<String>,
    ) -> Result<HostVars, Field> {
        let mut host = IndexMap::new();
        for (k, v) in vars {
            if Options::KEYS.contains(&k.as_str()) {
                return Err((
                    format!("{field}.{k}"),
                    "a cluster option: put it in all.vars".into(),
                ));
            } else if k.starts_with("ansible_") || k == "storage_devices" {
                host.insert(k.clone(), v.clone());
            } else {
                warnings.push(format!("{field}.{k}: unknown variable, ignored"));
            }
        }
        let hv = host_vars(field, &host)?;
        if hv.address.is_some() {
            return Err((
                format!("{field}.ansible_host"),
                "a host variable, not a group one".into(),
            ));
        }
        Ok(hv)
    }

    /// Merges vars given for the same host in another group; a conflicting value is an error.
    fn merge(into: &mut HostVars, from: HostVars, field: &str) -> Result<(), Field> {
        fn one<T: PartialEq + Clone>(
            a: &mut Option<T>,
            b: Option<T>,
            f: &str,
            key: &str,
        ) -> Result<(), Field> {
            match (a.as_ref(), b) {
                (Some(x), Some(y)) if *x != y => Err((
                    format!("{f}.{key}"),
                    "differs from the value given in another group".into(),
                )),
                (None, Some(y)) => {
                    *a = Some(y);
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        one(&mut into.address, from.address, field, "ansible_host")?;
        one(&mut into.user, from.user, field, "ansible_user")?;
        one(&mut into.port, from.port, field, "ansible_port")?;
        one(
            &mut into.key,
            from.key,
            field,
            "ansible_ssh_private_key_file",
        )?;
        one(
            &mut into.storage_devices,
            from.storage_devices,
            field,
            "storage_devices",
        )
    }

    fn host_vars(
        field: &str,
        vars: &IndexMap<String, serde_json::Value>,
    ) -> Result<HostVars, Field> {
        let mut hv = HostVars::default();
        for (k, v) in vars {
            let f = format!("{field}.{k}");
            match k.as_str() {
                "ansible_host" => hv.address = Some(string(&f, v)?),
                "ansible_user" => hv.user = Some(string(&f, v)?),
                "ansible_port" => hv.port = Some(port(&f, v)?),
                "ansible_ssh_private_key_file" => hv.key = Some(string(&f, v)?),
                "storage_devices" => hv.storage_devices = Some(list(&f, v)?),
                other if other.starts_with("ansible_") => {}
                other => {
                    return Err((
                        f.clone(),
                        format!("unknown host variable `{other}` (ansible_host, ansible_user, ansible_port, ansible_ssh_private_key_file, storage_devices)"),
                    ))
                }
            }
        }
        Ok(hv)
    }

    /// Splits `vars` into cluster options, SSH defaults and warnings about unknown keys.
    fn split_vars(
        field: &str,
        vars: &IndexMap<String, serde_json::Value>,
    ) -> Result<(Options, HostVars, Vec<String>), Field> {
        let mut opts = serde_json::Map::new();
        let mut ssh = IndexMap::new();
        let mut warnings = Vec::new();
        for (k, v) in vars {
            if Options::KEYS.contains(&k.as_str()) {
                opts.insert(k.clone(), v.clone());
            } else if k.starts_with("ansible_") {
                ssh.insert(k.clone(), v.clone());
            } else {
                warnings.push(format!("{field}.{k}: unknown variable, ignored"));
            }
        }
        let options: Options = serde_json::from_value(serde_json::Value::Object(opts))
            .map_err(|e| (field.to_owned(), e.to_string()))?;
        let defaults = host_vars(field, &ssh)?;
        if defaults.address.is_some() {
            return Err((
                format!("{field}.ansible_host"),
                "a host variable, not a cluster one".into(),
            ));
        }
        Ok((options, defaults, warnings))
    }

    fn string(f: &str, v: &serde_json::Value) -> Result<String, Field> {
        match v {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            _ => Err((f.to_owned(), "expected a string".into())),
        }
    }

    fn port(f: &str, v: &serde_json::Value) -> Result<u16, Field> {
        let s = string(f, v)?;
        s.parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| (f.to_owned(), format!("`{s}` is not a TCP port")))
    }

    fn list(f: &str, v: &serde_json::Value) -> Result<Vec<String>, Field> {
        match v {
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| string(&format!("{f}[{i}]"), x))
                .collect(),
            serde_json::Value::String(s) => Ok(vec![s.clone()]),
            _ => Err((f.to_owned(), "expected a list of device paths".into())),
        }
    }
}

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
        let vip = root
            .cluster
            .vip
            .ok_or_else(|| ("cluster.vip".to_owned(), "missing".to_owned()))?;
        let vip_name = root
            .cluster
            .vip_name
            .clone()
            .unwrap_or_else(|| "vip".into());
        let mut hosts = Vec::new();
        for (i, n) in root.nodes.into_iter().enumerate() {
            let field = format!("nodes[{i}]");
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
                            format!("unknown role `{r}` (master, worker, proxy, storage)"),
                        )
                    })?;
                groups.insert(g);
            }
            hosts.push(HostSpec {
                name: n.name,
                field,
                vars: HostVars {
                    address: Some(n.address),
                    user: n.ssh.user,
                    port: n.ssh.port,
                    key: n.ssh.key,
                    storage_devices: n.storage_devices,
                },
                group_vars: Vec::new(),
                groups,
            });
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
            hosts,
            vip: Some((vip_name, vip.to_string())),
            options: root.cluster,
            defaults: HostVars {
                user: root.ssh.user,
                port: root.ssh.port,
                key: root.ssh.key,
                ..HostVars::default()
            },
            masters_schedulable: root.masters_schedulable,
            warnings: Vec::new(),
        })
    }
}

/// Checks a spec and builds the model.
fn build(spec: Spec, profile: Profile, base: &Path) -> Result<Inventory, Field> {
    let Spec {
        hosts,
        vip,
        options: o,
        defaults,
        masters_schedulable,
        mut warnings,
    } = spec;
    if hosts.is_empty() {
        return Err(("(document)".into(), "no hosts".into()));
    }
    check_groups(&hosts)?;
    let (vip_name, vip_text) = vip.ok_or_else(|| {
        (
            "all.children.vip".to_owned(),
            "missing: the VIP's address".to_owned(),
        )
    })?;
    let vip: Ipv4Addr = vip_text.parse().map_err(|_| {
        (
            "all.children.vip".to_owned(),
            format!("`{vip_text}` is not an IPv4 address"),
        )
    })?;
    let prefix_len = o.prefix_len.unwrap_or(24);
    if !(8..=30).contains(&prefix_len) {
        return Err((
            "prefix_len".into(),
            format!("{prefix_len} is not a usable prefix length (8–30)"),
        ));
    }
    let default_device = o
        .storage_device
        .clone()
        .unwrap_or_else(|| "/dev/sdb".into());
    check_device("storage_device", &default_device)?;
    let mut nodes = Vec::new();
    let mut first_proxy = true;
    for h in &hosts {
        let node = node(
            h,
            &defaults,
            &default_device,
            masters_schedulable,
            base,
            &mut warnings,
        )?;
        let mut node = node;
        if node.proxy {
            node.vrrp_initial_master = first_proxy;
            node.vrrp_priority = if first_proxy { 101 } else { 100 };
            first_proxy = false;
        }
        nodes.push(node);
    }
    check_addresses(&hosts, &nodes, vip, prefix_len)?;
    let mut model = ClusterModel::seed(profile);
    model.nodes = nodes;
    model.vip = vip;
    model.vip_name = Some(vip_name);
    model.prefix_len = prefix_len;
    model.default_storage_device = default_device;
    model.kube.masters_schedulable = masters_schedulable;
    apply_options(&mut model, &o, &mut warnings)?;
    Ok(Inventory { model, warnings })
}

/// Group rules that hold whatever the form: masters, zero-master and other-master agree.
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
                format!("zero-master must be the first master ({})", masters[0].name),
            ));
        }
    }
    Ok(())
}

fn node(
    h: &HostSpec,
    defaults: &HostVars,
    default_device: &str,
    masters_schedulable: bool,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<Node, Field> {
    let has = |g: Group| h.groups.contains(&g);
    let text = h.vars.address.clone().ok_or_else(|| {
        (
            format!("{}.ansible_host", h.field),
            "missing: an IPv4 address is needed for every host".to_owned(),
        )
    })?;
    let address: Ipv4Addr = text.parse().map_err(|_| {
        (
            format!("{}.ansible_host", h.field),
            format!("`{text}` is not an IPv4 address"),
        )
    })?;
    if !valid_name(&h.name) {
        return Err((
            h.field.clone(),
            format!("`{}` is not a host name (letters, digits, -)", h.name),
        ));
    }
    let storage_devices = if has(Group::Storage) {
        match &var(h, defaults, |v| v.storage_devices.clone()) {
            None => {
                warnings.push(format!(
                    "{}: storage host names no storage_devices; using the cluster default {default_device}",
                    h.field
                ));
                vec![default_device.to_owned()]
            }
            Some(list) if list.is_empty() => {
                return Err((
                    format!("{}.storage_devices", h.field),
                    "empty: a storage host needs a device".into(),
                ));
            }
            Some(list) => {
                for (i, d) in list.iter().enumerate() {
                    check_device(&format!("{}.storage_devices[{i}]", h.field), d)?;
                }
                list.clone()
            }
        }
    } else {
        Vec::new()
    };
    let key = var(h, defaults, |v| v.key.clone())
        .map(|k| resolve_key(&k, base))
        .transpose()
        .map_err(|m| (format!("{}.ansible_ssh_private_key_file", h.field), m))?;
    Ok(Node {
        name: h.name.clone(),
        address,
        ssh: Ssh {
            user: var(h, defaults, |v| v.user.clone()).unwrap_or_else(|| "root".into()),
            port: var(h, defaults, |v| v.port).unwrap_or(22),
            key,
        },
        control_plane: has(Group::KubeMaster),
        worker: has(Group::Worker) || (masters_schedulable && has(Group::KubeMaster)),
        proxy: has(Group::Proxy),
        storage_devices,
        vrrp_priority: 100,
        vrrp_initial_master: false,
    })
}

/// A host's setting: its own, else its groups' (first group wins), else the cluster default.
fn var<T>(h: &HostSpec, defaults: &HostVars, get: impl Fn(&HostVars) -> Option<T>) -> Option<T> {
    get(&h.vars)
        .or_else(|| h.group_vars.iter().find_map(&get))
        .or_else(|| get(defaults))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
}

/// A device is an absolute path under /dev (a disk) or elsewhere (a file-backed OSD).
fn check_device(field: &str, d: &str) -> Result<(), Field> {
    let ok = d.starts_with('/')
        && d.len() > 1
        && !d.ends_with('/')
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.:".contains(c))
        && !d.split('/').any(|p| p == "..");
    if ok {
        Ok(())
    } else {
        Err((
            field.to_owned(),
            format!("`{d}` is not an absolute device path"),
        ))
    }
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
        Err(e) => Err(format!("cannot read the key {}: {e}", path.display())),
    }
}

fn check_addresses(
    hosts: &[HostSpec],
    nodes: &[Node],
    vip: Ipv4Addr,
    prefix_len: u8,
) -> Result<(), Field> {
    let mut seen: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
    for (h, n) in hosts.iter().zip(nodes) {
        if let Some(other) = seen.insert(n.address, &h.name) {
            return Err((
                format!("{}.ansible_host", h.field),
                format!("address {} is also {other}'s", n.address),
            ));
        }
        if n.address == vip {
            return Err((
                format!("{}.ansible_host", h.field),
                format!("address {} is the VIP", n.address),
            ));
        }
        let mask = u32::MAX << (32 - u32::from(prefix_len));
        if u32::from(n.address) & mask != u32::from(vip) & mask {
            let net = Ipv4Addr::from(u32::from(n.address) & mask);
            return Err((
                "all.children.vip".into(),
                format!(
                    "VIP {vip} is outside the nodes' subnet {net}/{prefix_len} ({} is {})",
                    h.name, n.address
                ),
            ));
        }
    }
    Ok(())
}

fn apply_options(
    model: &mut ClusterModel,
    o: &Options,
    warnings: &mut Vec<String>,
) -> Result<(), Field> {
    if let Some(n) = &o.name {
        if !valid_name(n) {
            return Err((
                "name".into(),
                format!("`{n}` is not a cluster name (letters, digits, -)"),
            ));
        }
        model.name.clone_from(n);
    }
    if let Some(v) = &o.kubernetes_version {
        model.versions.kubernetes.clone_from(v);
    }
    for (field, cidr) in [("pod_cidr", &o.pod_cidr), ("service_cidr", &o.service_cidr)] {
        if let Some(c) = cidr {
            check_cidr(field, c)?;
        }
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
    let size = o.ceph_pool_size.unwrap_or(model.ceph.pool_size);
    let min_size = o.ceph_pool_min_size.unwrap_or(model.ceph.pool_min_size);
    if size == 0 || min_size == 0 || min_size > size {
        return Err((
            "ceph_pool_min_size".into(),
            format!("pool size {size} / min_size {min_size}: need 1 ≤ min_size ≤ size"),
        ));
    }
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
    model.ceph.pool_size = size;
    model.ceph.pool_min_size = min_size;
    model.ceph.n_mons = u32::try_from(n_hosts.min(3)).expect("at most 3");
    let n_masters = model.nodes.iter().filter(|n| n.control_plane).count();
    if n_masters % 2 == 0 {
        warnings.push(format!(
            "{n_masters} masters: an even number adds no fault tolerance to etcd (quorum {})",
            n_masters / 2 + 1
        ));
    }
    Ok(())
}

fn check_cidr(field: &str, c: &str) -> Result<(), Field> {
    let ok = c.split_once('/').is_some_and(|(a, p)| {
        a.parse::<Ipv4Addr>().is_ok() && p.parse::<u8>().is_ok_and(|p| p <= 32)
    });
    if ok {
        Ok(())
    } else {
        Err((field.to_owned(), format!("`{c}` is not an IPv4 CIDR")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../examples/seed-inventory.yml");
    const NATIVE: &str = include_str!("../examples/native-inventory.yml");

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
            "all.children.proxies: unknown group `proxies`",
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
            "cannot read the key /nonexistent/hadrill-key",
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
        let w = ok(&SEED.replace("python3\n", "python3\n    colour: blue\n")).warnings;
        assert!(
            w.iter()
                .any(|w| w == "all.vars.colour: unknown variable, ignored"),
            "{w:?}"
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
