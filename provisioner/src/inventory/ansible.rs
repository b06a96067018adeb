//! The Ansible form, read as Ansible reads it: `all: {vars, hosts, children: {GROUP: {…}}}`
//! in YAML (or INI, `super::ini`), groups nested to any depth, host ranges (`node[01:03]`),
//! `hosts: name` as a plain string, host and group variables of any name.
//!
//! Both syntaxes become one [`Tree`] (groups with their hosts, children and variables, each
//! with the field it was written at); [`spec`] then reads hadrill's groups (kube,
//! kube-master, zero-master, other-master, worker, proxy, storage, vip) and variables
//! (ansible_host, ansible_user, ansible_port, ansible_ssh_private_key_file, storage_devices,
//! and the cluster options in `all.vars`) from it. Every other group, host and variable is
//! kept for the user's playbooks and listed as unused (plan.txt shows the list); a name one or
//! two letters away from one of hadrill's gets a warning, as a typo would. Group variables
//! follow Ansible's precedence: a child group's over its parent's, groups of one depth by
//! name (the later wins), a host's own over any group's.
use std::collections::{BTreeMap, BTreeSet};

use super::vars_dirs::VarsDirs;
use super::*;

/// Deepest nesting of groups, and most hosts one range may stand for: an inventory past
/// either is refused (a hostile file would otherwise exhaust the stack or the memory).
pub(super) const GROUP_DEPTH_MAX: usize = 32;
pub(super) const RANGE_HOSTS_MAX: usize = 1024;
/// Most hosts and groups an inventory may hold in all (hadrill's own are far fewer: the rest
/// are the playbooks'); past them it is refused rather than read to its end.
pub(super) const TREE_HOSTS_MAX: usize = 4096;
pub(super) const TREE_GROUPS_MAX: usize = 1024;

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

pub(super) type Vars = IndexMap<String, serde_json::Value>;

/// `hosts:` is a map of hosts to their vars, or (as in the seed's `worker: {hosts: andy}`)
/// a single host name.
#[derive(Debug)]
pub(super) enum Hosts {
    One(String),
    Map(IndexMap<String, Option<Vars>>),
}

/// By hand rather than `untagged`, so that a wrong value is told what is expected.
impl<'de> Deserialize<'de> for Hosts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Hosts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a host name or a mapping of host names to their variables")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Hosts, E> {
                Ok(Hosts::One(s.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Hosts, A::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(map);
                Deserialize::deserialize(d).map(Hosts::Map)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// An Ansible inventory as Ansible reads it, before hadrill looks at its groups: groups and
/// hosts in the order first written (`all` first), each with where it was written.
#[derive(Debug, Default)]
pub(super) struct Tree {
    pub(super) groups: IndexMap<String, GroupNode>,
    pub(super) hosts: IndexMap<String, HostNode>,
}

/// One group: its variables (each block with its field), its own hosts and its children.
#[derive(Debug, Default)]
pub(super) struct GroupNode {
    pub(super) field: String,
    pub(super) vars: Vec<(String, Vars)>,
    pub(super) hosts: Vec<String>,
    pub(super) children: Vec<String>,
}

/// One host: where it was first written, and each block of variables given for it.
#[derive(Debug, Default)]
pub(super) struct HostNode {
    pub(super) field: String,
    pub(super) vars: Vec<(String, Vars)>,
    /// Blocks from `host_vars/` files, which win over the inventory's (the first, over the
    /// rest).
    pub(super) files: Vec<(String, Vars)>,
}

impl Tree {
    /// Past [`TREE_HOSTS_MAX`] or [`TREE_GROUPS_MAX`]: why, for the field being read.
    pub(super) fn too_big(&self) -> Option<String> {
        if self.hosts.len() > TREE_HOSTS_MAX {
            return Some(format!("more than {TREE_HOSTS_MAX} hosts in the inventory"));
        }
        (self.groups.len() > TREE_GROUPS_MAX)
            .then(|| format!("more than {TREE_GROUPS_MAX} groups in the inventory"))
    }

    /// The group `name`, made (written at `field`) if it is new.
    pub(super) fn group(&mut self, name: &str, field: &str) -> &mut GroupNode {
        self.groups
            .entry(name.to_owned())
            .or_insert_with(|| GroupNode {
                field: field.to_owned(),
                ..GroupNode::default()
            })
    }

    /// `host`, written at `field`, in `group`, with the variables written there.
    pub(super) fn add_host(
        &mut self,
        group: &str,
        gfield: &str,
        host: &str,
        field: &str,
        vars: Vars,
    ) {
        let g = self.group(group, gfield);
        if !g.hosts.iter().any(|h| h == host) {
            g.hosts.push(host.to_owned());
        }
        let h = self
            .hosts
            .entry(host.to_owned())
            .or_insert_with(|| HostNode {
                field: field.to_owned(),
                ..HostNode::default()
            });
        if !vars.is_empty() {
            h.vars.push((field.to_owned(), vars));
        }
    }

    /// `child` (written at `field`) a child of `parent`.
    pub(super) fn add_child(&mut self, parent: &str, pfield: &str, child: &str, field: &str) {
        self.group(child, field);
        let p = self.group(parent, pfield);
        if !p.children.iter().any(|c| c == child) {
            p.children.push(child.to_owned());
        }
    }
}

/// The YAML form's tree.
pub(super) fn tree(root: &Root) -> Result<Tree, Field> {
    let mut t = Tree::default();
    walk(&mut t, "all", "all", &root.all, 0)?;
    Ok(t)
}

fn walk(t: &mut Tree, name: &str, field: &str, doc: &GroupDoc, depth: usize) -> Result<(), Field> {
    if depth > GROUP_DEPTH_MAX {
        return Err((
            field.to_owned(),
            format!("groups nested more than {GROUP_DEPTH_MAX} deep"),
        ));
    }
    t.group(name, field);
    if let Some(vars) = &doc.vars {
        t.group(name, field)
            .vars
            .push((format!("{field}.vars"), vars.clone()));
    }
    let entries: Vec<(String, Vars)> = match &doc.hosts {
        None => Vec::new(),
        Some(Hosts::One(host)) => vec![(host.clone(), Vars::new())],
        Some(Hosts::Map(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect(),
    };
    for (pattern, vars) in entries {
        let hfield = format!("{field}.hosts.{pattern}");
        for host in expand(&pattern).map_err(|m| (hfield.clone(), m))? {
            t.add_host(name, field, &host, &hfield, vars.clone());
        }
        if let Some(why) = t.too_big() {
            return Err((hfield, why));
        }
    }
    for (child, doc) in doc.children.iter().flatten() {
        let cfield = format!("{field}.children.{child}");
        if !group_name(child) {
            return Err((
                cfield,
                format!(
                    "{} is not a group name (letters, digits, _ and -)",
                    shown(child)
                ),
            ));
        }
        t.add_child(name, field, child, &cfield);
        if let Some(why) = t.too_big() {
            return Err((cfield, why));
        }
        if let Some(doc) = doc {
            walk(t, child, &cfield, doc, depth + 1)?;
        }
    }
    Ok(())
}

/// An Ansible group name: a letter or `_`, then letters, digits, `_` and `-` (which Ansible
/// still reads, with a warning; the seed's groups have it).
pub(super) fn group_name(k: &str) -> bool {
    k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A host pattern's names: `node[01:03]` is node01, node02, node03 (Ansible's host ranges:
/// numbers keep a leading-zero start's width, letters `[a:c]`, an optional step `[1:9:2]`, a
/// missing start is 0, several ranges in one name multiply, up to [`RANGES_MAX`]).
pub(super) fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| format!("{}: {why}", shown(pattern));
    if pattern.matches('[').count() > RANGES_MAX {
        return Err(bad(&format!("more than {RANGES_MAX} ranges in one name")));
    }
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_owned()]);
    };
    let close = pattern[open..]
        .find(']')
        .map(|c| open + c)
        .ok_or_else(|| bad("a range `[` with no `]`"))?;
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let items = range(&pattern[open + 1..close]).map_err(|why| bad(&why))?;
    let rest = expand(tail)?;
    if items.len() * rest.len() > RANGE_HOSTS_MAX {
        return Err(bad(&format!(
            "a range of more than {RANGE_HOSTS_MAX} hosts"
        )));
    }
    Ok(items
        .iter()
        .flat_map(|i| rest.iter().map(move |r| format!("{head}{i}{r}")))
        .collect())
}

/// Most ranges in one host pattern.
const RANGES_MAX: usize = 4;

/// What one range (`01:03`, `a:c`, `1:9:2`) stands for.
fn range(inner: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = inner.split(':').collect();
    let (start, end, step) = match parts.as_slice() {
        [a, b] => (*a, *b, "1"),
        [a, b, s] => (*a, *b, *s),
        _ => return Err("a range is [start:end] or [start:end:step]".into()),
    };
    let step: usize = step
        .parse()
        .ok()
        .filter(|&s| s > 0)
        .ok_or("a range's step is a whole number above 0")?;
    let start = if start.is_empty() { "0" } else { start };
    if let (Ok(a), Ok(b)) = (start.parse::<u64>(), end.parse::<u64>()) {
        let width = if start.len() > 1 && start.starts_with('0') {
            if start.len() != end.len() {
                return Err("a zero-padded range's start and end have the same width".into());
            }
            start.len()
        } else {
            0
        };
        if b < a {
            return Err("a range's end comes before its start".into());
        }
        if (b - a) / step as u64 >= RANGE_HOSTS_MAX as u64 {
            return Err(format!("a range of more than {RANGE_HOSTS_MAX} hosts"));
        }
        return Ok((a..=b)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect());
    }
    let letter = |s: &str| {
        let mut c = s.chars();
        match (c.next(), c.next()) {
            (Some(x), None) if x.is_ascii_alphabetic() => Some(x),
            _ => None,
        }
    };
    match (letter(start), letter(end)) {
        (Some(a), Some(b)) if a <= b => Ok((a..=b).step_by(step).map(String::from).collect()),
        (Some(_), Some(_)) => Err("a range's end comes before its start".into()),
        _ => Err("a range is of numbers or of single letters".into()),
    }
}

/// What the tree says about each group: its depth (Ansible's: the longest path from `all`)
/// and every host in it or in a group below it.
struct Groups {
    depth: BTreeMap<String, usize>,
    members: BTreeMap<String, BTreeSet<String>>,
}

/// Depth-first from `name`: children before parents in `post`; a group met again while
/// it is being visited is its own descendant.
fn visit<'a>(
    t: &'a Tree,
    name: &'a str,
    stack: usize,
    open: &mut BTreeSet<&'a str>,
    done: &mut BTreeSet<&'a str>,
    post: &mut Vec<&'a str>,
) -> Result<(), Field> {
    let g = &t.groups[name];
    if open.contains(name) {
        return Err((
            g.field.clone(),
            format!("group {} is a child of itself", shown(name)),
        ));
    }
    if done.contains(name) {
        return Ok(());
    }
    if stack > GROUP_DEPTH_MAX {
        return Err((
            g.field.clone(),
            format!("groups nested more than {GROUP_DEPTH_MAX} deep"),
        ));
    }
    open.insert(name);
    for child in &g.children {
        visit(t, child, stack + 1, open, done, post)?;
    }
    open.remove(name);
    done.insert(name);
    post.push(name);
    Ok(())
}

/// Each group's depth and members, in time linear in the groups and their links (a group
/// reached by many paths is visited once: a file of diamonds cannot make it exponential).
fn resolve(t: &Tree) -> Result<Groups, Field> {
    let (mut open, mut done, mut post) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    visit(t, "all", 0, &mut open, &mut done, &mut post)?;
    // A group written but under no parent (INI's `[x:children]` naming an unknown one) is
    // still a group of `all`, as in Ansible.
    let loose: Vec<&str> = t
        .groups
        .keys()
        .map(String::as_str)
        .filter(|g| !done.contains(g))
        .collect();
    for &g in &loose {
        visit(t, g, 1, &mut open, &mut done, &mut post)?;
    }
    let mut out = Groups {
        depth: BTreeMap::new(),
        members: BTreeMap::new(),
    };
    // Depth: the longest path from `all`, parents before children.
    out.depth.insert("all".to_owned(), 0);
    for g in loose {
        out.depth.insert(g.to_owned(), 1);
    }
    for &g in post.iter().rev() {
        let d = out.depth.get(g).copied().unwrap_or(1);
        for child in &t.groups[g].children {
            // The longest path: a child met again through a deeper parent goes deeper.
            let c = out.depth.entry(child.clone()).or_default();
            *c = (*c).max(d + 1);
            if *c > GROUP_DEPTH_MAX {
                return Err((
                    t.groups[child].field.clone(),
                    format!("groups nested more than {GROUP_DEPTH_MAX} deep"),
                ));
            }
        }
    }
    // Members: children before parents.
    for &g in &post {
        let node = &t.groups[g];
        let mut members: BTreeSet<String> = node.hosts.iter().cloned().collect();
        for child in &node.children {
            members.extend(out.members[child].iter().cloned());
        }
        out.members.insert(g.to_owned(), members);
    }
    Ok(out)
}

/// The names hadrill reads, for "did you mean".
const HOST_KEYS: [&str; 5] = [
    "ansible_host",
    "ansible_user",
    "ansible_port",
    "ansible_ssh_private_key_file",
    "storage_devices",
];

/// One of `known` one or two letters away from `name` (not `name` itself), or its plural
/// (`proxies` for `proxy`, `workers` for `worker`).
fn near<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let plural = |k: &str| match k.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{k}s"),
    };
    known.into_iter().find(|k| {
        *k != name && name.len() > 3 && (strsim::levenshtein(name, k) <= 2 || plural(k) == name)
    })
}

/// Records an unused variable (and warns when it looks like a typo of one of hadrill's).
fn unused_var(spec: &mut Spec, field: &str, key: &str, all: bool) {
    spec.unused.push(format!("{field}.{key}"));
    let options = Options::KEYS.iter().copied().filter(|_| all);
    if let Some(k) = near(key, HOST_KEYS.into_iter().chain(options)) {
        spec.warnings.push(format!(
            "{field}.{key}: not a variable hadrill reads; did you mean {k}?"
        ));
    }
}

/// [`spec`] with the `group_vars/` and `host_vars/` folders' variables put in first.
pub(super) fn spec_with(t: &mut Tree, dirs: &VarsDirs) -> Result<Spec, Field> {
    let mut unused = Vec::new();
    dirs.apply(t, &mut unused);
    let mut spec = spec(t)?;
    spec.unused.extend(unused);
    Ok(spec)
}

pub(super) fn spec(t: &Tree) -> Result<Spec, Field> {
    let mut spec = Spec {
        masters_schedulable: true,
        ..Spec::default()
    };
    let g = resolve(t)?;
    split_vars(&mut spec, &t.groups["all"].vars)?;
    let known = hadrills_groups(t, &g, &mut spec)?;
    for (name, h) in &t.hosts {
        let Some(groups) = known.get(name.as_str()) else {
            let own = [format!(".{name}"), format!(" {name}")];
            spec.unused
                .push(if own.iter().any(|o| h.field.ends_with(o.as_str())) {
                    format!("{} (host in no group hadrill reads)", h.field)
                } else {
                    format!("{} ({name}: a host in no group hadrill reads)", h.field)
                });
            continue;
        };
        host(&mut spec, t, &g, name, h, groups)?;
    }
    vip_from_vars(&mut spec)?;
    // Each once, in the order first met.
    let mut seen = BTreeSet::new();
    spec.unused.retain(|u| seen.insert(u.clone()));
    Ok(spec)
}

/// Which of hadrill's groups each host is in; the other groups, and their variables, are
/// listed as unused.
fn hadrills_groups<'t>(
    t: &'t Tree,
    g: &Groups,
    spec: &mut Spec,
) -> Result<BTreeMap<&'t str, BTreeSet<Group>>, Field> {
    let mut known: BTreeMap<&str, BTreeSet<Group>> = BTreeMap::new();
    // `ungrouped` is Ansible's own (INI's hosts before any section): its hosts are listed
    // as hosts, not it.
    let named = t.groups.iter().filter(|(name, _)| *name != "all");
    for (name, node) in named {
        // Its variables that hadrill does not read, listed once (those it reads are checked
        // where a node takes them).
        for (field, vars) in &node.vars {
            for key in vars.keys().filter(|k| !HOST_KEYS.contains(&k.as_str())) {
                unused_var(spec, field, key, false);
            }
        }
        let Some(group) = Group::parse(name) else {
            // A group a letter or two from one of hadrill's is a typo that would take a
            // role from its hosts: refused, not kept.
            if let Some(k) = near(name, Group::ALL.iter().map(|g| g.as_str())) {
                return Err((
                    node.field.clone(),
                    format!("unknown group {}: did you mean {k}?", shown(name)),
                ));
            }
            if name != "ungrouped" || !node.vars.is_empty() {
                spec.unused.push(format!("{} (group)", node.field));
            }
            continue;
        };
        for h in &g.members[name] {
            let h = t.hosts.get_key_value(h).map_or("", |(k, _)| k.as_str());
            known.entry(h).or_default().insert(group);
        }
    }
    if known.is_empty() {
        return Err((
            "all.children".into(),
            "no hosts in the groups hadrill reads (kube, kube-master, zero-master, other-master, worker, proxy, storage, vip)".into(),
        ));
    }
    Ok(known)
}

/// One host in hadrill's groups: the VIP, or a node with its own and its groups' variables.
fn host(
    spec: &mut Spec,
    t: &Tree,
    g: &Groups,
    name: &str,
    h: &HostNode,
    groups: &BTreeSet<Group>,
) -> Result<(), Field> {
    // The inventory's blocks must agree; host_vars/ files win over them.
    let vars = read_blocks(spec, &h.field, &h.vars, merge)?;
    let mut files = read_blocks(spec, &h.field, &h.files, |a, b, _| {
        overlay(a, b);
        Ok(())
    })?;
    overlay(&mut files, vars);
    let vars = files;
    if groups.contains(&Group::Vip) {
        Kind::DnsName
            .check(name)
            .map_err(|m| (h.field.clone(), m))?;
        if groups.len() > 1 {
            return Err((
                h.field.clone(),
                "the VIP's host is in the vip group alone".into(),
            ));
        }
        return add_vip(spec, name, &h.field, vars);
    }
    Kind::HostName
        .check(name)
        .map_err(|m| (h.field.clone(), m))?;
    // Its groups' vars, highest precedence first: deeper groups, then later names.
    let mut own: Vec<(&String, &GroupNode)> = t
        .groups
        .iter()
        .filter(|(gname, _)| *gname != "all" && g.members[*gname].contains(name))
        .collect();
    own.sort_by_key(|(gname, _)| std::cmp::Reverse((g.depth[*gname], (*gname).clone())));
    let group_vars = own
        .into_iter()
        .map(|(_, node)| group_block(node))
        .collect::<Result<Vec<_>, _>>()?;
    spec.hosts.push(HostSpec {
        name: name.to_owned(),
        field: h.field.clone(),
        vars,
        group_vars,
        groups: groups.clone(),
    });
    Ok(())
}

/// A host's blocks of variables as one, combined in order by `combine`; the names hadrill
/// does not read are listed.
fn read_blocks(
    spec: &mut Spec,
    host_field: &str,
    blocks: &[(String, Vars)],
    combine: impl Fn(&mut HostVars, HostVars, &str) -> Result<(), Field>,
) -> Result<HostVars, Field> {
    let mut vars = HostVars {
        field: host_field.to_owned(),
        ..HostVars::default()
    };
    for (field, block) in blocks {
        let (hv, unused) = host_vars(field, block)?;
        for key in unused {
            unused_var(spec, field, &key, false);
        }
        combine(&mut vars, hv, field)?;
    }
    Ok(vars)
}

/// One group's variables as one block (several blocks of one group: the first written wins).
fn group_block(node: &GroupNode) -> Result<HostVars, Field> {
    let mut out = HostVars {
        field: node
            .vars
            .first()
            .map_or_else(|| node.field.clone(), |(f, _)| f.clone()),
        ..HostVars::default()
    };
    for (field, vars) in &node.vars {
        let hv = group_vars(field, vars)?;
        overlay(&mut out, hv);
    }
    Ok(out)
}

/// Fills what `into` leaves unset from `from`.
fn overlay(into: &mut HostVars, from: HostVars) {
    into.address = into.address.take().or(from.address);
    into.user = into.user.take().or(from.user);
    into.port = into.port.or(from.port);
    into.key = into.key.take().or(from.key);
    into.storage_devices = into.storage_devices.take().or(from.storage_devices);
}

/// `all.vars.vip` and `vip_name`: the VIP when there is no `vip` group; with one, they
/// must say what it says.
fn vip_from_vars(spec: &mut Spec) -> Result<(), Field> {
    let o = &spec.options;
    if let Some(text) = &o.vip {
        let addr = parse_ipv4(text).map_err(|m| ("all.vars.vip".to_owned(), m))?;
        match &spec.vip {
            None => {
                spec.vip = Some(VipSpec {
                    name: o.vip_name.clone(),
                    name_field: "all.vars.vip_name".into(),
                    address: text.clone(),
                    field: "all.vars.vip".into(),
                });
                return Ok(());
            }
            Some(v) if parse_ipv4(&v.address).is_ok_and(|a| a != addr) => {
                return Err((
                    "all.vars.vip".into(),
                    format!(
                        "{} differs from the vip group's address {}: give the VIP once",
                        shown(text),
                        shown(&v.address)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    match (&spec.vip, &o.vip_name) {
        (None, Some(_)) => Err((
            "all.vars.vip_name".into(),
            "names a VIP that is not given (no vip group, no all.vars.vip)".into(),
        )),
        (Some(v), Some(n)) if v.name.as_ref() != Some(n) => Err((
            "all.vars.vip_name".into(),
            format!(
                "{} differs from the vip group's host name {}: give the VIP once",
                shown(n),
                shown(v.name.as_deref().unwrap_or_default())
            ),
        )),
        _ => Ok(()),
    }
}

/// The one host of the `vip` group: its name is the VIP's DNS name, its address the VIP.
fn add_vip(spec: &mut Spec, name: &str, field: &str, vars: HostVars) -> Result<(), Field> {
    if spec.vip.is_some() {
        return Err((field.to_owned(), "the vip group holds one address".into()));
    }
    let address = vars.address.ok_or_else(|| {
        (
            format!("{field}.ansible_host"),
            "missing: the VIP's address".into(),
        )
    })?;
    spec.vip = Some(VipSpec {
        name: Some(name.to_owned()),
        name_field: field.to_owned(),
        address,
        field: format!("{field}.ansible_host"),
    });
    Ok(())
}

/// Vars of one group: host settings for its hosts; cluster options belong in `all.vars`.
fn group_vars(field: &str, vars: &Vars) -> Result<HostVars, Field> {
    if let Some(k) = vars.keys().find(|k| Options::KEYS.contains(&k.as_str())) {
        return Err((
            format!("{field}.{k}"),
            "a cluster option: put it in all.vars".into(),
        ));
    }
    // Its unused variables were listed with the group.
    let (hv, _) = host_vars(field, vars)?;
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

/// A host's (or a group's, or `all`'s) variables, each of hadrill's checked against its kind;
/// the names of the others, which hadrill does not read.
fn host_vars(field: &str, vars: &Vars) -> Result<(HostVars, Vec<String>), Field> {
    // Where the block was written is its caller's to keep (a host's, a group's, `all`'s):
    // `field` here names each value's error.
    let mut hv = HostVars::default();
    let mut unused = Vec::new();
    for (k, v) in vars {
        let f = format!("{field}.{k}");
        let checked = |kind: Kind| {
            let s = string(&f, v)?;
            kind.check(&s).map(|()| s).map_err(|m| (f.clone(), m))
        };
        match k.as_str() {
            "ansible_host" => hv.address = Some(string(&f, v)?),
            "ansible_user" => hv.user = Some(checked(Kind::UserName)?),
            "ansible_port" => hv.port = Some(port(&f, v)?),
            "ansible_ssh_private_key_file" => hv.key = Some(checked(Kind::KeyPath)?),
            "storage_devices" => hv.storage_devices = Some(devices(&f, v)?),
            // Any other variable is the playbooks' (os_release, ansible_python_interpreter):
            // kept, listed as unused. A key that is no variable name is a typo, not one.
            other if variable_name(other) => unused.push(other.to_owned()),
            other => {
                return Err((
                    f.clone(),
                    format!(
                        "{} is not a variable name (letters, digits, _)",
                        shown(other)
                    ),
                ))
            }
        }
    }
    Ok((hv, unused))
}

/// `all`'s variables (every block, the first written wins): cluster options and SSH defaults;
/// the rest is unused.
fn split_vars(spec: &mut Spec, blocks: &[(String, Vars)]) -> Result<(), Field> {
    let mut opts = serde_json::Map::new();
    let mut at: BTreeMap<String, String> = BTreeMap::new();
    let mut defaults = HostVars::default();
    for (field, vars) in blocks {
        let mut ssh = IndexMap::new();
        for (k, v) in vars {
            if Options::KEYS.contains(&k.as_str()) {
                if !opts.contains_key(k) {
                    opts.insert(k.clone(), v.clone());
                    at.insert(k.clone(), field.clone());
                }
            } else {
                ssh.insert(k.clone(), v.clone());
            }
        }
        let (hv, unused) = host_vars(field, &ssh)?;
        for key in unused {
            unused_var(spec, field, &key, true);
        }
        if hv.address.is_some() {
            return Err((
                format!("{field}.ansible_host"),
                "a host variable, not a cluster one".into(),
            ));
        }
        if defaults.field.is_empty() {
            defaults.field.clone_from(field);
        }
        overlay(&mut defaults, hv);
    }
    let options: Options = yaml::from_value(serde_json::Value::Object(opts)).map_err(|e| {
        let key = e
            .field
            .split(['.', '['])
            .next()
            .unwrap_or_default()
            .to_owned();
        let field = at.get(&key).map_or("all.vars", String::as_str);
        (
            format!("{field}.{}", e.field).replace(".(document)", ""),
            e.message,
        )
    })?;
    options.check(Form::Ansible)?;
    spec.options = options;
    spec.defaults = defaults;
    Ok(())
}

/// An Ansible variable name: a letter or `_`, then letters, digits and `_`.
fn variable_name(k: &str) -> bool {
    k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a value holds, for "expected …, found …".
fn found(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "nothing".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => shown(s),
        serde_json::Value::Array(_) => "a list".into(),
        serde_json::Value::Object(_) => "a mapping".into(),
    }
}

fn string(f: &str, v: &serde_json::Value) -> Result<String, Field> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err((
            f.to_owned(),
            format!("expected a string, found {}", found(other)),
        )),
    }
}

fn port(f: &str, v: &serde_json::Value) -> Result<u16, Field> {
    let s = string(f, v)?;
    let p = s.parse::<u16>().map_err(|_| {
        (
            f.to_owned(),
            format!("{} is not a TCP port (1–65535)", shown(&s)),
        )
    })?;
    check_port(p).map(|()| p).map_err(|m| (f.to_owned(), m))
}

/// A list of device paths (or one path), each an absolute path, none twice.
fn devices(f: &str, v: &serde_json::Value) -> Result<Vec<String>, Field> {
    let list = match v {
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| string(&format!("{f}[{i}]"), x))
            .collect::<Result<Vec<_>, _>>()?,
        serde_json::Value::String(s) => vec![s.clone()],
        other => {
            return Err((
                f.to_owned(),
                format!("expected a list of device paths, found {}", found(other)),
            ))
        }
    };
    model::check_devices(&list).map_err(|(i, m)| (format!("{f}[{i}]"), m))?;
    Ok(list)
}
