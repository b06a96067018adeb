//! The Ansible reader at its edges, each case from Ansible's own rules: names, host ranges at
//! their limits, group depth and precedence, groups hadrill does not read, the VIP's group,
//! values given twice, and the field an error names. Written for the mutants of
//! `inventory/ansible.rs` that no test noticed (docs/testing.md).

use std::path::Path;

use provisioner::inventory::{self, Inventory};
use provisioner::model::Profile;

const SEED: &str = include_str!("../examples/seed-inventory.yml");
const SEED_INI: &str = include_str!("../examples/seed-inventory.ini");

fn parse(name: &str, text: &str) -> Result<Inventory, String> {
    inventory::parse(Path::new(name), text, Profile::Bare).map_err(|e| e.to_string())
}

fn ok(text: &str) -> Inventory {
    parse("inv.yml", text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn refused(text: &str) -> String {
    parse("inv.yml", text).map(|_| ()).expect_err(text)
}

fn user(inv: &Inventory, name: &str) -> String {
    let m = &inv.model;
    m.node(m.node_by_name(name).unwrap()).ssh.user.clone()
}

/// The seed with one more group under `all` (its text, indented as the seed's groups are).
fn with_group(group: &str) -> String {
    SEED.replacen("    vip:\n", &format!("{group}    vip:\n"), 1)
}

/// A group name starts with a letter or `_` (Ansible's rule for names it reads without a
/// warning), then letters, digits, `_` and `-`.
#[test]
fn a_group_name_starts_with_a_letter_or_an_underscore() {
    let inv = ok(&with_group("    _extra:\n      hosts:\n        opti:\n"));
    assert!(
        inv.unused.iter().any(|u| u.contains("_extra")),
        "{:?}",
        inv.unused
    );
    let e = refused(&with_group("    1extra:\n      hosts:\n        opti:\n"));
    assert!(e.contains("`1extra` is not a group name"), "{e}");
}

/// Host ranges at their limits: up to 4 ranges in one name; a range of one host; up to
/// 1024 hosts, counted with the step; a letter range's end before its start is said so.
#[test]
fn host_ranges_at_their_limits() {
    let group = |pattern: &str| format!("    extra:\n      hosts:\n        {pattern}:\n");
    // Four ranges (2 × 2 × 2 × 2 = 16 hosts), each an unused host of a group hadrill does
    // not read: read. Five: refused.
    let inv = ok(&with_group(&group("n[1:2][1:2][1:2][1:2]")));
    assert!(
        inv.unused.iter().any(|u| u.contains("extra")),
        "{:?}",
        inv.unused
    );
    let e = refused(&with_group(&group("n[1:2][1:2][1:2][1:2][1:2]")));
    assert!(e.contains("more than 4 ranges in one name"), "{e}");
    // [3:3] is one host, n3; high numbers count from their start.
    ok(&with_group(&group("n[3:3]")));
    ok(&with_group(&group("n[1000:1002]")));
    // 1024 hosts with a step of 2 ([0:2046:2]); 1025 ([0:2048:2]) are too many.
    ok(&with_group(&group("n[0:2046:2]")));
    let e = refused(&with_group(&group("n[0:2048:2]")));
    assert!(e.contains("a range of more than 1024 hosts"), "{e}");
    let e = refused(&with_group(&group("n[0:1024]")));
    assert!(e.contains("a range of more than 1024 hosts"), "{e}");
    ok(&with_group(&group("n[1:1024]")));
    let e = refused(&with_group(&group("n[c:a]")));
    assert!(e.contains("a range's end comes before its start"), "{e}");
    ok(&with_group(&group("n[a:a]")));
}

/// The seed's INI with a new top-level group `top` (depth 1) and a chain of `len` groups
/// under it, each the only child of the one before: the last is at depth `len + 1`.
fn ini_chain(len: usize) -> String {
    let mut text = SEED_INI.to_owned();
    text += "\n[top:children]\nc1\n";
    for i in 1..len {
        text += &format!("\n[c{i}:children]\nc{}\n", i + 1);
    }
    text
}

/// Groups nest to 32 below `all` (hadrill's limit): a chain reaching depth 32 is read, one
/// reaching 33 is refused, naming the limit.
#[test]
fn groups_nest_32_deep_and_no_deeper() {
    parse("hosts", &ini_chain(31)).unwrap_or_else(|e| panic!("depth 32: {e}"));
    let e = parse("hosts", &ini_chain(32)).unwrap_err();
    assert!(e.contains("groups nested more than 32 deep"), "{e}");
}

/// Ansible's precedence: a child group's variables win over its parent's whatever their
/// names (depth first, then name), and any group's win over `all`'s, even one whose name
/// sorts before `all`.
#[test]
fn depth_not_name_orders_the_groups_variables() {
    // Parent `zzz` (depth 1) sets the user, its child `aaa` (depth 2) another: the child's
    // wins, though `aaa` sorts first.
    let inv = ok(&with_group(
        "    zzz:\n      vars: {ansible_user: parent}\n      children:\n        aaa:\n          vars: {ansible_user: child}\n          hosts:\n            opti:\n",
    ));
    assert_eq!(user(&inv, "opti"), "child");
    // `aaa` at depth 1 against `all`'s vars (depth 0): the group wins.
    let text =
        with_group("    aaa:\n      vars: {ansible_user: group}\n      hosts:\n        opti:\n")
            .replacen(
                "all:\n  vars:\n",
                "all:\n  vars:\n    ansible_user: everyone\n",
                1,
            );
    let inv = ok(&text);
    assert_eq!(user(&inv, "opti"), "group");
    assert_eq!(user(&inv, "rice"), "everyone");
}

/// A name three letters long is too short to be a typo of one of hadrill's groups: `vop`
/// is a group of its own (kept, listed), where `vipp` is refused as a typo of `vip`.
#[test]
fn only_names_longer_than_three_letters_are_typos() {
    let inv = ok(&with_group("    vop:\n      hosts:\n        opti:\n"));
    assert!(
        inv.unused.iter().any(|u| u.contains("vop")),
        "{:?}",
        inv.unused
    );
    let e = refused(&with_group("    vipp:\n      hosts:\n        opti:\n"));
    assert!(e.contains("unknown group `vipp`: did you mean vip?"), "{e}");
}

/// A group hadrill does not read is listed as unused whether or not it has variables; only
/// Ansible's own `ungrouped` without variables is not.
#[test]
fn every_group_hadrill_does_not_read_is_listed() {
    let inv = ok(&with_group(
        "    monitoring:\n      hosts:\n        opti:\n",
    ));
    assert!(
        inv.unused
            .iter()
            .any(|u| u.contains("monitoring") && u.ends_with("(group)")),
        "{:?}",
        inv.unused
    );
    let inv = ok(&with_group("    ungrouped:\n      hosts:\n        opti:\n"));
    assert!(
        !inv.unused.iter().any(|u| u.contains("ungrouped")),
        "{:?}",
        inv.unused
    );
}

/// The VIP's host is in the `vip` group alone: the same name in one of hadrill's other
/// groups is refused.
#[test]
fn the_vips_host_is_in_no_other_group() {
    let text = SEED.replacen(
        "    proxy:\n      hosts:\n",
        "    proxy:\n      hosts:\n        kube-cluster:\n",
        1,
    );
    let e = refused(&text);
    assert!(
        e.contains("the VIP's host is in the vip group alone"),
        "{e}"
    );
}

/// One host's own variable written again where it is listed in another group: the same
/// value is one value; another is an error naming the second place.
#[test]
fn a_hosts_value_written_twice_must_agree() {
    let twice = |addr: &str| {
        SEED.replacen(
            "    proxy:\n      hosts:\n        opti:\n",
            &format!("    proxy:\n      hosts:\n        opti:\n          ansible_host: {addr}\n"),
            1,
        )
    };
    ok(&twice("192.168.1.11"));
    let e = refused(&twice("192.168.1.12"));
    assert!(
        e.contains("differs from the value given in another group"),
        "{e}"
    );
    assert!(e.contains("proxy.hosts.opti.ansible_host"), "{e}");
}

/// An error in a value set for a group names the group's `vars`; one set on a host names
/// the host.
#[test]
fn an_error_names_where_the_value_was_written() {
    let text = SEED.replacen(
        "    proxy:\n      hosts:",
        "    proxy:\n      vars: {ansible_user: \"bad user\"}\n      hosts:",
        1,
    );
    let e = refused(&text);
    assert!(e.contains("all.children.proxy.vars.ansible_user"), "{e}");
    let text = SEED.replacen(
        "        opti:\n          ansible_host: 192.168.1.11\n",
        "        opti:\n          ansible_host: 192.168.1.11\n          ansible_user: \"bad user\"\n",
        1,
    );
    let e = refused(&text);
    assert!(
        e.contains("all.children.kube.hosts.opti.ansible_user"),
        "{e}"
    );
    // A value read whole, then found wrong when the node is built (a key file that is not
    // there): named where it was written, a group's block.
    let text = SEED.replacen(
        "    proxy:\n      hosts:",
        "    proxy:\n      vars: {ansible_ssh_private_key_file: /nonexistent/hadrill-key}\n      hosts:",
        1,
    );
    let e = refused(&text);
    assert!(
        e.contains("all.children.proxy.vars.ansible_ssh_private_key_file: cannot read the key"),
        "{e}"
    );
    // ... and a host's own.
    let text = SEED.replacen(
        "        opti:\n          ansible_host: 192.168.1.11\n",
        "        opti:\n          ansible_host: 192.168.1.11\n          ansible_ssh_private_key_file: /nonexistent/hadrill-key\n",
        1,
    );
    let e = refused(&text);
    assert!(
        e.contains("all.children.kube.hosts.opti.ansible_ssh_private_key_file: cannot read"),
        "{e}"
    );
    // ... and the whole cluster's (`all`'s vars).
    let text = SEED.replacen(
        "all:\n  vars:\n",
        "all:\n  vars:\n    ansible_ssh_private_key_file: /nonexistent/hadrill-key\n",
        1,
    );
    let e = refused(&text);
    assert!(
        e.contains("all.vars.ansible_ssh_private_key_file: cannot read"),
        "{e}"
    );
}

/// A variable name is a letter or `_`, then letters, digits and `_` (Ansible's rule): one
/// starting with a digit is refused, one with `_` read.
#[test]
fn a_variable_name_starts_with_a_letter_or_an_underscore() {
    let text = |k: &str| {
        SEED.replacen(
            "all:\n  vars:\n",
            &format!("all:\n  vars:\n    {k}: 1\n"),
            1,
        )
    };
    let inv = ok(&text("_private"));
    assert!(
        inv.unused.iter().any(|u| u.contains("_private")),
        "{:?}",
        inv.unused
    );
    let e = refused(&text("1st"));
    assert!(e.contains("1st"), "{e}");
}
