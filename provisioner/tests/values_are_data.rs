//! An inventory value is data: every string of an inventory (and every key), in turn holding
//! shell and configuration syntax, is either refused with one printable line naming its field,
//! or changes no rendered file's shape and no command's words.
//!
//! For each form (Ansible, native) and profile, a baseline inventory that sets every string
//! field is read into an ordered tree; each string and key in turn is given each payload (alone,
//! and after its own value), written back as YAML, and read by the inventory. A refusal must name
//! the field; an accepted inventory must render the baseline's files with as many line breaks
//! each, and plan commands with as many shell words each (shlex).

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use provisioner::inventory::{self, Error};
use provisioner::model::{ClusterModel, Profile};
use provisioner::plan;
use provisioner::render;
use provisioner::text;
use serde::{Deserialize, Serialize};

const SEED: &str = include_str!("../examples/seed-inventory.yml");
const NATIVE: &str = include_str!("../examples/native-inventory.yml");

/// Shell and configuration syntax: command separators and substitutions, quotes, braces that
/// open or close a keepalived/nginx block, comments, spaces, line breaks and an escape sequence.
const PAYLOADS: [&str; 13] = [
    "; touch /tmp/hadrill-x; ",
    "$(touch /tmp/hadrill-x)",
    "`touch /tmp/hadrill-x`",
    "'; touch /tmp/hadrill-x; echo '",
    "\" touch \"",
    "\nnotify_master \"/bin/sh -c id\"",
    "\n}\nvrrp_script x {\n",
    "{ x",
    "} x",
    "# x",
    " x",
    "\r\nx",
    "\u{1b}[31m x",
];

/// A YAML document as an ordered tree (the reader's order matters: hosts, groups).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Y {
    Bool(bool),
    Int(i64),
    Str(String),
    Seq(Vec<Option<Y>>),
    Map(IndexMap<String, Option<Y>>),
}

/// One step of a path into the tree.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// A path as the inventory names fields: `all.children.kube.hosts.opti`, `nodes[0].name`.
fn field(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Every string value and every key of the tree, by path (`true` for a key).
fn places(y: &Y, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, bool)>) {
    match y {
        Y::Str(_) => out.push((path.clone(), false)),
        Y::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                if let Some(item) = item {
                    places(item, path, out);
                }
                path.pop();
            }
        }
        Y::Map(map) => {
            for (k, v) in map {
                path.push(Step::Key(k.clone()));
                out.push((path.clone(), true));
                if let Some(v) = v {
                    places(v, path, out);
                }
                path.pop();
            }
        }
        Y::Bool(_) | Y::Int(_) => {}
    }
}

/// The tree with the value (or the key) at `path` replaced by `f` of it.
fn replaced(y: &Y, path: &[Step], key: bool, f: &dyn Fn(&str) -> String) -> Y {
    let mut y = y.clone();
    let mut at = &mut y;
    for (n, step) in path.iter().enumerate() {
        let last = n + 1 == path.len();
        match (at, step) {
            (Y::Map(map), Step::Key(k)) if last && key => {
                let i = map.get_index_of(k).expect("key");
                let (_, v) = map.swap_remove_index(i).expect("entry");
                let (j, _) = map.insert_full(f(k), v);
                map.move_index(j, i);
                return y;
            }
            (Y::Map(map), Step::Key(k)) => {
                at = map.get_mut(k).and_then(Option::as_mut).expect("path")
            }
            (Y::Seq(items), Step::Index(i)) => at = items[*i].as_mut().expect("path"),
            _ => panic!("path"),
        }
    }
    match at {
        Y::Str(s) => *s = f(s),
        other => panic!("not a string: {other:?}"),
    }
    y
}

/// What an inventory gives: its files by (host, path) with their line breaks, and the words
/// of every command of its plan.
struct Shape {
    files: BTreeMap<(String, String), usize>,
    words: Vec<(String, Option<usize>)>,
}

fn shape(model: &ClusterModel) -> Shape {
    let breaks = |s: &str| s.matches(['\n', '\r', '\u{2028}', '\u{2029}']).count();
    let files = render::render(model)
        .into_iter()
        .map(|f| ((f.host, f.path), breaks(&f.content)))
        .collect();
    let mut words = Vec::new();
    for (i, s) in plan::plan(model).steps.iter().enumerate() {
        for c in s.commands() {
            words.push((format!("step {}", i + 1), shlex::split(c).map(|w| w.len())));
        }
    }
    Shape { files, words }
}

/// The accepted mutation `what` keeps the baseline's shape.
fn check_same_shape(base: &Shape, model: &ClusterModel, what: &str) {
    let got = shape(model);
    let files = |s: &Shape| s.files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(files(&got), files(base), "{what}: other files");
    for (file, n) in &got.files {
        assert_eq!(*n, base.files[file], "{what}: {file:?} gained a line");
    }
    assert_eq!(got.words.len(), base.words.len(), "{what}: other commands");
    for ((_, n), (step, want)) in got.words.iter().zip(&base.words) {
        assert_eq!(n, want, "{what}: words of a command of {step}");
    }
}

/// The refusal of mutation `what` is one printable line naming the field at `path`; for a key
/// made `key`, the field under its new name.
fn check_refusal(e: &Error, path: &[Step], key: Option<&str>, what: &str) {
    let line = e.to_string();
    assert!(!line.chars().any(char::is_control), "{what}: {line:?}");
    let Error::Invalid { field: f, .. } = e else {
        panic!("{what}: {line}");
    };
    let mut path = path.to_vec();
    if let Some(k) = key {
        *path.last_mut().expect("a key") = Step::Key(k.to_owned());
    }
    let named = text::printable(&field(&path));
    assert_eq!(*f, named, "{what}: refused elsewhere: {line}");
}

/// Reads every mutation of `baseline` (a YAML document); returns how many were accepted. A
/// refusal does not depend on the profile (it is checked for `bare`); an accepted mutation is
/// rendered and planned for both profiles.
fn check_every_place(name: &str, baseline: &str, dir: &Path) -> usize {
    let inv = dir.join(format!("{name}.yml"));
    let tree: Y = serde_saphyr::from_str(baseline).expect("baseline tree");
    let mut all = Vec::new();
    places(&tree, &mut Vec::new(), &mut all);
    assert!(all.len() > 40, "{name}: {} places", all.len());
    let profiles = [Profile::Bare, Profile::Kubernetes];
    let base: Vec<(ClusterModel, Shape)> = profiles
        .iter()
        .map(|&p| {
            let m = inventory::parse(&inv, baseline, p).unwrap_or_else(|e| panic!("{e}"));
            let s = shape(&m.model);
            (m.model, s)
        })
        .collect();
    let mut n_accepted = 0;
    for (path, key) in &all {
        for payload in PAYLOADS {
            // A value alone and after its own value; a key after itself (alone, the payload
            // would only be one more unknown key).
            for whole in [false, true].into_iter().filter(|&w| !(w && *key)) {
                let f = |v: &str| {
                    if whole {
                        payload.to_owned()
                    } else {
                        format!("{v}{payload}")
                    }
                };
                let text = serde_saphyr::to_string(&replaced(&tree, path, *key, &f)).expect("yaml");
                let what = format!("{name} {} := {payload:?}", field(path));
                if let Err(e) = inventory::parse(&inv, &text, profiles[0]) {
                    let new_key = key.then(|| match path.last() {
                        Some(Step::Key(k)) => f(k),
                        _ => unreachable!("a key's path ends in a key"),
                    });
                    check_refusal(&e, path, new_key.as_deref(), &what);
                    continue;
                }
                n_accepted += 1;
                for (&profile, (base_model, base_shape)) in profiles.iter().zip(&base) {
                    let model = inventory::parse(&inv, &text, profile)
                        .unwrap_or_else(|e| panic!("{what}: {profile:?} only: {e}"))
                        .model;
                    // Files and plan are pure functions of the model: the same model (an
                    // ignored variable) has the same shape, and rendering it again only
                    // takes time.
                    if model != *base_model {
                        check_same_shape(base_shape, &model, &format!("{what} {profile:?}"));
                    }
                }
            }
        }
    }
    n_accepted
}

/// A folder holding an SSH key file the baselines name (relative to the inventory), one per
/// test, removed when the guard drops (a panic included).
fn key_dir(test: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("hadrill-values-{test}-"))
        .tempdir()
        .unwrap();
    std::fs::write(dir.path().join("id_lab"), "not a key: only opened").unwrap();
    dir
}

/// The native example with every string option and SSH setting set.
fn native_baseline() -> String {
    let text = NATIVE.replace(
        "  ceph_pool_min_size: 2\nssh:\n  user: root\n  port: 22\n",
        "  ceph_pool_min_size: 2\n  storage_device: /dev/sdb\nssh:\n  user: root\n  port: 22\n  key: id_lab\n",
    );
    text.replace(
        "  - name: rice\n    address: 192.168.1.10\n",
        "  - name: rice\n    address: 192.168.1.10\n    ssh: {user: hadrill, key: id_lab}\n",
    )
}

/// The seed with every string option, SSH setting and device set at each level.
fn ansible_baseline() -> String {
    let vars = "    ansible_python_interpreter: python3\n    ansible_user: root\n    \
        ansible_ssh_private_key_file: id_lab\n    name: homelab\n    kubernetes_version: 1.33.5\n    \
        pod_cidr: 10.244.0.0/16\n    service_cidr: 10.96.0.0/12\n    vip_interface: eth0\n    \
        storage_device: /dev/sdb\n    vip: 192.168.1.100\n    vip_name: kube-cluster\n";
    SEED.replace("    ansible_python_interpreter: python3\n", vars)
        .replace(
            "    storage:\n      hosts:",
            "    storage:\n      vars:\n        storage_devices: [/dev/sdb]\n        ansible_user: root\n      hosts:",
        )
        .replace(
            "          ansible_host: 192.168.1.10\n",
            "          ansible_host: 192.168.1.10\n          ansible_user: hadrill\n          storage_devices: [/dev/sdc]\n",
        )
}

#[test]
fn payloads_reach_the_reader_as_written() {
    let tree: Y = serde_saphyr::from_str(&native_baseline()).expect("baseline tree");
    let mut all = Vec::new();
    places(&tree, &mut Vec::new(), &mut all);
    let value = all.iter().find(|(_, key)| !key).expect("a value");
    let key = all.iter().find(|(_, key)| *key).expect("a key");
    for (path, is_key) in [value, key] {
        for payload in PAYLOADS {
            let mutated = replaced(&tree, path, *is_key, &|v| format!("{v}{payload}"));
            let text = serde_saphyr::to_string(&mutated).expect("yaml");
            let back: Y = serde_saphyr::from_str(&text).expect("the mutation reads back");
            assert_eq!(back, mutated, "{payload:?}");
        }
    }
}

#[test]
fn native_values_are_data() {
    // The native form checks every value it reads: none of these is accepted.
    check_every_place("native", &native_baseline(), key_dir("native").path());
}

#[test]
fn ansible_values_are_data() {
    // Values of Ansible's own variables, and unknown variables (warned about), are accepted.
    let n = check_every_place("ansible", &ansible_baseline(), key_dir("ansible").path());
    assert!(n > 0, "the accepted branch was never taken");
}
