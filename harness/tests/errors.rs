//! Every error path the command line can reach with bad input: exit 2, exactly one printable
//! line on stderr (no raw newline or control character, whatever a value held), no Rust type
//! name or library advice, no `line 0`, and nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("hadrill-errors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What every error line must be.
fn check_line(args: &[String], code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
    let line = stderr.trim_end_matches('\n');
    assert!(
        !line.chars().any(char::is_control),
        "{args:?}: printable: {line:?}"
    );
    assert!(line.starts_with("hadrill: "), "{args:?}: {line}");
    for bad in [
        "struct ",
        "enum ",
        "Raw",
        "DuplicateKeyPolicy",
        ":0:",
        "panicked",
    ] {
        assert!(!line.contains(bad), "{args:?}: shows `{bad}`: {line}");
    }
}

fn run(home: &Path, args: &[String]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Bad scenarios: each a different error path of the scenario reader.
fn bad_scenarios(dir: &Path) -> Vec<String> {
    let texts = [
        "",
        "steps: []\n",
        "- a\n- b\n",
        "name: \"a\\nb\"\nsteps: [{settle: 1s}]\n",
        "name: \"\\e[31mred\"\nsteps: [{settle: 1s}]\n",
        "steps: [{settle: \"\\e[2J\"}]\n",
        "steps: [{fault: {power-off: \"node-1\\nnode-2\"}}]\n",
        "steps: [{fault: {stop-service: {node: any, service: \"ka\\u0007fka\"}}}]\n",
        "steps: [{settle: 1s}]\nexpect: {\"api\\n\": unavailable}\n",
        "steps: [{settle: 1s}]\nexpect: {api: {available: {}}}\n",
        "steps: [{settle: 1s}]\nexpect: {api: 7}\n",
        "steps: [{observe: 30h}]\n",
        "steps: [{fault: {netem: {node: any, loss: 300%}}}]\n",
        "steps: [{fault: {slow-disk: {node: any, profile: \"\\r\"}}}]\n",
        "steps:\n  - settle: 1s\n  - settle: 1s\nsteps: []\n",
        "a: &x [*x]\n",
        "steps: [{fault: 12}]\n",
        "steps: [{fault: {power-off: [1]}}]\n",
        "{{{{",
        "\u{0}\u{1}",
    ];
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| scenario_file(dir, &format!("bad{i}.yaml"), t))
        .collect()
}

/// Bad inventories: each a different error path of the inventory reader.
fn bad_inventories(dir: &Path) -> Vec<String> {
    let node = |name: &str, addr: &str| format!("  - name: \"{name}\"\n    address: \"{addr}\"\n");
    let native = |cluster: &str, nodes: &str| format!("cluster:\n{cluster}nodes:\n{nodes}");
    let ok_nodes = node("a", "10.0.0.1") + &node("b", "10.0.0.2") + &node("c", "10.0.0.3");
    let texts = [
        String::new(),
        "all: 1\n".into(),
        "all:\n  children:\n    \"kube\\nmaster\": {}\n".into(),
        native("  vip: 10.0.0.100\n", &node("a\nb", "10.0.0.1")),
        native("  vip: 10.0.0.100\n", &node("a", "10.0.0.1\u{1b}[2J")),
        native("  vip: 10.0.0.100\n  name: \"x\\ny\"\n", &ok_nodes),
        native(
            "  vip: 10.0.0.100\n  vip_interface: \"eth0\\n}\"\n",
            &ok_nodes,
        ),
        native(
            "  vip: 10.0.0.100\n  kubernetes_version: \"'1; touch x'\"\n",
            &ok_nodes,
        ),
        native("  vip: 10.0.0.100\n  \"col\\u001bour\": blue\n", &ok_nodes),
        native("  vip: nope\n", &ok_nodes),
        native("  vip: 10.0.0.100\n", ""),
        "nodes: 3\n".into(),
        "cluster: {vip: 10.0.0.100}\ncluster: {}\nnodes: []\n".into(),
        "\u{0}".into(),
    ];
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| scenario_file(dir, &format!("inv{i}.yml"), t))
        .collect()
}

#[test]
fn every_bad_input_is_one_printable_line_and_exit_2() {
    let dir = scratch();
    let home = dir.join("home");
    let out = dir.join("out").display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    let mut cases: Vec<Vec<String>> = Vec::new();
    for f in bad_scenarios(&dir) {
        cases.push(s(&["drill", "--sim", "--out", &out, &f]));
    }
    for f in bad_inventories(&dir) {
        cases.push(s(&["plan", "--inventory", &f, "--out", &out]));
    }
    let good = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/move-vip.yaml")
        .display()
        .to_string();
    let newline_name = scenario_file(&dir, "a\nb.yaml", "steps: [{fault: {power-of: x}}]\n");
    cases.extend([
        s(&["drill", "--sim", "--out", &out, "/dev/zero"]),
        s(&["drill", "--sim", "--out", &out, "/nonexistent/x.yaml"]),
        s(&["drill", "--sim", "--out", &out, &dir.display().to_string()]),
        s(&["drill", "--sim", "--out", &out, &newline_name]),
        s(&["plan", "--inventory", "/dev/zero", "--out", &out]),
        s(&["drill", "--sim", "--out", "/dev/null", &good]),
        s(&["drill", "--sim", "--profile", "k3s\u{1b}[31m", &good]),
        s(&["drill", "--sim", "--seed", "-1", &good]),
        s(&["drill", "--sim", "--bogus", &good]),
        s(&["drill", "--sim"]),
        s(&["drill", "--lab", "x\ny", &good]),
        s(&["drill", "--lab", "nolab", &good]),
        s(&["compare", "--lab", "nolab", "--runs", "0", &good]),
        s(&["sim", "explore", "--runs", "4294967295"]),
        s(&["up", "--lab", "bad\u{1b}[2Jname"]),
        s(&["up", "--lab", "ok", "--disk-profile", "flo\nppy"]),
        s(&["up", "--lab", "ok", "--memory", "1"]),
        s(&["up", "--lab", "ok", "--image", "/no\nsuch.qcow2"]),
        s(&["validate", "--wait", "99999", "--lab", "x"]),
        s(&["ssh", "nolab", "node-1"]),
        s(&["heal", "--lab", "../etc"]),
        s(&["down", "--lab", "a b"]),
        s(&["frobnicate"]),
    ]);
    for args in &cases {
        let (code, stderr) = run(&home, args);
        check_line(args, code, &stderr);
    }
    assert!(!Path::new(&out).exists(), "bad input writes nothing");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_fault_the_lab_cannot_do_is_refused_before_the_drill_naming_the_step_and_why() {
    // Not scratch(): the other test of this process removes that folder as it starts.
    let dir = std::env::temp_dir().join(format!("hadrill-unsupported-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out").display().to_string();
    let f = scenario_file(
        &dir,
        "kubelet.yaml",
        "steps:\n  - observe: 5s\n  - fault: {stop-service: {node: node-1, service: kubelet}}\n",
    );
    let args: Vec<String> = ["drill", "--sim", "--profile", "bare", "--out", &out, &f]
        .iter()
        .map(|x| (*x).to_owned())
        .collect();
    let (code, stderr) = run(&dir.join("home"), &args);
    check_line(&args, code, &stderr);
    assert!(stderr.contains("step 1: this lab cannot"), "{stderr}");
    assert!(
        stderr.contains("the bare profile runs no kubelet"),
        "{stderr}"
    );
    assert!(!Path::new(&out).exists(), "a refused drill writes nothing");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The user's own cluster (the seed's inventory, as it is): everything beyond what a node
/// undoes by itself, and every disruption not asked for, is refused before anything runs:
/// exit 2, one line, nothing written and no SSH connection made (no step got that far).
#[test]
fn your_own_cluster_refuses_before_anything_runs() {
    let dir = std::env::temp_dir().join(format!("hadrill-own-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let home = dir.join("home");
    let out = dir.join("out").display().to_string();
    let inv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../provisioner/examples/seed-inventory.yml")
        .display()
        .to_string();
    let stop = scenario_file(
        &dir,
        "stop.yaml",
        "name: stop-haproxy\nsteps:\n  - observe: 5s\n  - fault: {stop-service: {node: opti, service: haproxy}}\n  - observe: 5s\n",
    );
    let off = scenario_file(
        &dir,
        "off.yaml",
        "name: off\nsteps:\n  - observe: 5s\n  - fault: {power-off: opti}\n  - observe: 5s\n",
    );
    let own = [
        "drill",
        "--inventory",
        &inv,
        "--profile",
        "bare",
        "--out",
        &out,
    ];
    let cases: [(&[&str], &str); 5] = [
        (&["--allow-disruption", "--yes", &off], "no power switch"),
        (&[&stop], "pass --allow-disruption"),
        (&["--yes", &stop], "--allow-disruption"),
        (
            &["--allow-disruption", "--yes", "--revert-after", "5", &stop],
            "shorter than the longest scenario (10 s)",
        ),
        // stdin is empty: the cluster's name was not typed.
        (&["--allow-disruption", &stop], "not confirmed"),
    ];
    for (extra, says) in cases {
        let args: Vec<String> = own.iter().chain(extra).map(|x| (*x).to_owned()).collect();
        let (code, stderr) = run(&home, &args);
        // The seed's inventory names no storage device per host: a warning each, then the error.
        let stderr: String = stderr
            .lines()
            .filter(|l| !l.starts_with("hadrill: warning: "))
            .map(|l| format!("{l}\n"))
            .collect();
        check_line(&args, code, &stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!Path::new(&out).exists(), "a refused drill writes nothing");
        assert!(!home.join("clusters").exists(), "{args:?}: nothing left");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
