//! The `hadrill` binary as a user runs it: exit codes, one-line errors, files written.

use std::path::{Path, PathBuf};
use std::process::Command;

fn hadrill(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
        .display()
        .to_string()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hadrill-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn drill_passes_and_writes_reports() {
    let out = tmp("pass");
    let (code, stdout, stderr) = hadrill(&[
        "drill",
        "--sim",
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
        &scenario("kill-vip-holder.yaml"),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["substrate"], "sim");
    assert_eq!(json["seed"], 7);
    assert_eq!(json["passed"], true);
    let api = &json["scenarios"][0]["services"]["api"];
    // The VIP moves 2.6 s or more after the power-off; a client's SYN sent again 1 s later
    // hides at most that second of it.
    assert!(api["max_gap_s"].as_f64().unwrap() > 1.5, "{api}");
    assert!(out.join("junit.xml").exists() && out.join("report.html").exists());
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn same_seed_same_bytes() {
    let (a, b) = (tmp("a"), tmp("b"));
    for d in [&a, &b] {
        hadrill(&[
            "drill",
            "--sim",
            "--seed",
            "3",
            "--out",
            d.to_str().unwrap(),
            &scenario("rolling-maintenance.yaml"),
            &scenario("isolate-node.yaml"),
        ]);
    }
    for f in ["report.json", "junit.xml", "report.html"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}

#[test]
fn failed_expectation_exits_1_with_a_replay_command() {
    let out = tmp("fail");
    let (code, _, stderr) = hadrill(&[
        "drill",
        "--sim",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        &scenario("isolate-vip-holder.yaml"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("replay with: hadrill drill --sim --profile kubernetes --seed 1"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn bad_scenario_is_one_line_and_exit_2_and_writes_nothing() {
    let dir = tmp("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "name: x\nsteps:\n  - settle: 10s\n  - fault: {power-of: node-1}\n",
    )
    .unwrap();
    let out = dir.join("out");
    let (code, stdout, stderr) = hadrill(&[
        "drill",
        "--sim",
        "--out",
        out.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bad.yaml:4: steps[1].fault: unknown variant `power-of`"),
        "{stderr}"
    );
    assert!(stdout.is_empty());
    assert!(!out.exists(), "nothing is left behind");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_node_and_flag_are_bad_input() {
    let dir = tmp("node");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("n.yaml");
    std::fs::write(&f, "steps:\n  - fault: {power-off: node-9}\n").unwrap();
    let (code, _, stderr) = hadrill(&[
        "drill",
        "--sim",
        "--out",
        dir.join("o").to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no node `node-9`"), "{stderr}");
    let (code, _, stderr) = hadrill(&["drill", "--sim", "--bogus", f.to_str().unwrap()]);
    assert_eq!((code, stderr.lines().count()), (2, 1), "{stderr}");
    let (code, _, stderr) = hadrill(&["drill", "--sim", "--profile", "k3s", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn matrix_and_explore_write_their_files() {
    let out = tmp("matrix");
    let (code, stdout, _) = hadrill(&["matrix", "--sim", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("power-off node-1 node-2"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("matrix.json")).unwrap()).unwrap();
    let rows = m["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 9);
    assert_eq!(rows[6]["services"]["api"]["verdict"], "unavailable");
    assert_ne!(rows[0]["services"]["api"]["verdict"], "unavailable");
    let (code, _, stderr) = hadrill(&[
        "sim",
        "explore",
        "--runs",
        "30",
        "--seed",
        "5",
        "--profile",
        "bare",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explore.json")).unwrap()).unwrap();
    assert_eq!(
        (e["runs"].as_u64(), e["violations"].as_u64()),
        (Some(30), Some(0))
    );
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn plan_writes_every_file_and_the_plan() {
    let out = tmp("plan");
    let (code, stdout, stderr) =
        hadrill(&["plan", "--profile", "bare", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("planned "), "{stdout}");
    let cfg = std::fs::read_to_string(out.join("hosts/node-1/etc/haproxy/haproxy.cfg")).unwrap();
    // The seed's own file listed only two of the three API servers: ours lists all three.
    for addr in ["10.77.0.11", "10.77.0.12", "10.77.0.13"] {
        assert!(cfg.contains(addr), "{addr} missing from haproxy.cfg");
    }
    assert!(out
        .join("hosts/node-3/etc/keepalived/keepalived.conf")
        .exists());
    assert!(std::fs::read_to_string(out.join("plan.txt"))
        .unwrap()
        .contains("node-2"));
    std::fs::remove_dir_all(out).unwrap();
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../provisioner/examples")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn plan_reads_the_seed_inventory_for_both_profiles() {
    for profile in ["bare", "kubernetes"] {
        let out = tmp(&format!("seedplan-{profile}"));
        let o = out.to_str().unwrap();
        let (code, stdout, stderr) = hadrill(&[
            "plan",
            "--inventory",
            &example("seed-inventory.yml"),
            "--profile",
            profile,
            "--out",
            o,
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("for 3 hosts"), "{stdout}");
        // The seed names no OSD device: the cluster default, with a warning per host.
        assert_eq!(
            stderr.matches("using the cluster default /dev/sdb").count(),
            3,
            "{stderr}"
        );
        let cfg = std::fs::read_to_string(out.join("hosts/rice/etc/haproxy/haproxy.cfg")).unwrap();
        assert!(cfg.contains("192.168.1.100"));
        let plan = std::fs::read_to_string(out.join("plan.txt")).unwrap();
        if profile == "kubernetes" {
            assert!(out
                .join("hosts/opti/etc/kubernetes/hadrill/kubeadm-init.yaml")
                .exists());
            assert!(plan.contains("kubeadm join (control plane)"));
        } else {
            assert!(out.join("hosts/opti/etc/ceph/ceph.conf").exists());
            assert!(plan.contains("ceph-osd on /dev/sdb"));
        }
        std::fs::remove_dir_all(out).unwrap();
    }
}

#[test]
fn bad_cluster_and_lab_input_is_one_line_and_exit_2() {
    let dir = tmp("badinv");
    std::fs::create_dir_all(&dir).unwrap();
    let inv = dir.join("inv.yml");
    std::fs::write(
        &inv,
        "all:\n  children:\n    kube:\n      hosts:\n        a: {ansible_host: 10.1.1.1}\n    mastres: {}\n",
    )
    .unwrap();
    let home = dir.join("home");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hadrill"))
            .env("HADRILL_HOME", &home)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let i = inv.to_str().unwrap();
    let mv = scenario("move-vip.yaml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["plan", "--inventory", i, "--out", "/nonexistent/x"],
            "all.children.mastres: unknown group",
        ),
        (
            vec!["provision", "--inventory", "/nonexistent/inv.yml"],
            "/nonexistent/inv.yml: cannot read",
        ),
        (vec!["validate"], "--inventory"),
        (vec!["up", "--lab", "Bad_Name"], "a lab name is 1 to 20"),
        (
            vec!["up", "--lab", "ok", "--disk-profile", "floppy"],
            "--disk-profile floppy: unknown",
        ),
        (vec!["up", "--lab", "ok", "--nodes", "0"], "--nodes 0"),
        (
            vec!["up", "--lab", "ok", "--image", "/nonexistent.qcow2"],
            "no such file",
        ),
        (
            vec!["drill", "--lab", "nolab", &mv],
            "lab `nolab`: no such lab",
        ),
        (
            vec!["provision", "--lab", "nolab"],
            "lab `nolab`: no such lab",
        ),
        (vec!["ssh", "nolab", "node-1"], "lab `nolab`: no such lab"),
    ];
    for (args, want) in cases {
        let (code, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // A lab that is not there: down succeeds, and leaves nothing (not even the home folder's labs).
    let out = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", &home)
        .args(["down", "--lab", "nolab"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to remove"));
    assert!(!home.join("labs/nolab").exists());
    std::fs::remove_dir_all(dir).unwrap();
}
