//! The `hadrill` binary as a user runs it: exit codes, one-line errors, files written.

use std::path::{Path, PathBuf};
use std::process::Command;

fn hadrill(args: &[&str]) -> (i32, String, String) {
    hadrill_at(&std::env::temp_dir().join("hadrill-cli-no-home"), args)
}

/// `hadrill` with `HADRILL_HOME` at `home`: its exit code, stdout and stderr.
fn hadrill_at(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
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
        // Seed 2: the heal's race strands the clients (on seed 1 it goes their way).
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
        &scenario("isolate-vip-holder.yaml"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("replay with: hadrill drill --sim --profile kubernetes --seed 2"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(out);
}

/// Writes `NAME.yaml` with `text` into a fresh scratch folder and drills it on the simulation
/// into `out` there: (the folder, `out`, what hadrill returned).
fn drill_one(name: &str, text: &str) -> (PathBuf, PathBuf, (i32, String, String)) {
    let dir = tmp(name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let out = dir.join("out");
    let ran = hadrill(&[
        "drill",
        "--sim",
        "--out",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    (dir, out, ran)
}

#[test]
fn bad_scenario_is_one_line_and_exit_2_and_writes_nothing() {
    let (dir, out, (code, stdout, stderr)) = drill_one(
        "bad",
        "name: x\nsteps:\n  - settle: 10s\n  - fault: {power-of: node-1}\n",
    );
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
    let plan = std::fs::read_to_string(out.join("plan.txt")).unwrap();
    assert!(plan.contains("node-2"));
    assert!(
        !plan.contains("Not read by hadrill"),
        "the embedded cluster has nothing unused"
    );
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
        assert!(
            stdout.contains("\n1 entry of the inventory is not read by hadrill"),
            "{stdout}"
        );
        // The seed names no OSD device: the cluster default, with a warning per host.
        assert_eq!(
            stderr.matches("using the cluster default /dev/sdb").count(),
            3,
            "{stderr}"
        );
        let cfg = std::fs::read_to_string(out.join("hosts/rice/etc/haproxy/haproxy.cfg")).unwrap();
        assert!(cfg.contains("192.168.1.100"));
        let plan = std::fs::read_to_string(out.join("plan.txt")).unwrap();
        // What the inventory holds for Ansible alone is listed last, by name.
        assert!(
            plan.ends_with(
                "kept for Ansible and your playbooks):\n#   all.vars.ansible_python_interpreter\n"
            ),
            "{}",
            &plan[plan.len().saturating_sub(300)..]
        );
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
        "all:\n  children:\n    kube:\n      hosts:\n        a: {ansible_host: 10.1.1.1}\n    kube-mastr: {}\n",
    )
    .unwrap();
    let home = dir.join("home");
    let run = |args: &[&str]| {
        let (code, _, stderr) = hadrill_at(&home, args);
        (code, stderr)
    };
    let i = inv.to_str().unwrap();
    let mv = scenario("move-vip.yaml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["plan", "--inventory", i, "--out", "/nonexistent/x"],
            "all.children.kube-mastr: unknown group `kube-mastr`: did you mean kube-master?",
        ),
        (
            vec!["provision", "--inventory", "/nonexistent/inv.yml"],
            "/nonexistent/inv.yml: cannot read",
        ),
        (vec!["validate"], "--inventory"),
        (vec!["up", "--lab", "Bad_Name"], "a lab name is 1 to 20"),
        (
            vec!["up", "--lab", "ok", "--disk-profile", "floppy"],
            "--disk-profile `floppy`: unknown",
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

/// A native inventory of `n` nodes (every role), for plans of different sizes.
fn inventory_of(dir: &Path, n: u8) -> String {
    let nodes: String = (1..=n)
        .map(|i| format!("  - name: n{i}\n    address: 10.9.0.{}\n", 10 + i))
        .collect();
    let path = dir.join(format!("inv{n}.yml"));
    std::fs::write(
        &path,
        format!("cluster:\n  vip: 10.9.0.100\nnodes:\n{nodes}"),
    )
    .unwrap();
    path.display().to_string()
}

fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn reusing_out_leaves_no_file_of_the_earlier_plan() {
    let dir = tmp("replan");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("plan");
    let o = out.to_str().unwrap();
    let plan = |inv: &str, profile: &str| {
        let (code, _, stderr) =
            hadrill(&["plan", "--inventory", inv, "--profile", profile, "--out", o]);
        assert_eq!(code, 0, "{stderr}");
        files_under(&out)
    };
    let five = plan(&inventory_of(&dir, 5), "bare");
    assert!(five.iter().any(|f| f.starts_with("hosts/n5/")), "{five:?}");
    let two = plan(&inventory_of(&dir, 2), "bare");
    assert!(
        !two.iter().any(|f| f.starts_with("hosts/n3")),
        "stale hosts: {two:?}"
    );
    assert!(!out.join("hosts/n5").exists(), "emptied folders go too");
    // bare, then kubernetes: exactly the files a fresh kubernetes plan writes.
    let kube = plan(&inventory_of(&dir, 2), "kubernetes");
    let fresh_out = dir.join("fresh");
    let (code, _, _) = hadrill(&[
        "plan",
        "--inventory",
        &inventory_of(&dir, 2),
        "--profile",
        "kubernetes",
        "--out",
        fresh_out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(kube, files_under(&fresh_out));
    assert!(
        !kube.iter().any(|f| f.contains("ceph.conf")),
        "bare-only files left: {kube:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn out_is_written_safely() {
    let dir = tmp("safeout");
    let out = dir.join("out");
    let outside = dir.join("outside.txt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&outside, "keep me").unwrap();
    // Seed 2: isolate-vip-holder fails its expectation there (the heal's race).
    let drill = |sc: &str| {
        hadrill(&[
            "drill",
            "--sim",
            "--seed",
            "2",
            "--out",
            out.to_str().unwrap(),
            &scenario(sc),
        ])
    };
    let (code, _, stderr) = drill("move-vip.yaml");
    assert_eq!(code, 0, "{stderr}");
    assert!(!out.join("INCOMPLETE").exists());
    // A symlink where report.json goes is replaced, not written through.
    std::fs::remove_file(out.join("report.json")).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("report.json")).unwrap();
    let (code, _, stderr) = drill("move-vip.yaml");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
    assert!(!out.join("report.json").is_symlink());
    // A write that fails keeps a failed drill's exit code, says so, and marks the folder.
    std::fs::remove_file(out.join("report.html")).unwrap();
    std::fs::create_dir(out.join("report.html")).unwrap();
    std::fs::write(out.join("report.html/x"), "").unwrap();
    let (code, _, stderr) = drill("isolate-vip-holder.yaml");
    assert_eq!(code, 1, "the drill's own failure: {stderr}");
    assert!(stderr.contains("cannot write the reports"), "{stderr}");
    assert!(
        out.join("INCOMPLETE").exists(),
        "the folder says it is not whole"
    );
    let (code, _, stderr) = drill("move-vip.yaml");
    assert_eq!(
        code, 2,
        "a passing drill whose reports are missing: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // A folder that is not hadrill's is refused, and nothing in it touched.
    let theirs = dir.join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("notes"), "x").unwrap();
    let (code, _, stderr) = hadrill(&[
        "drill",
        "--sim",
        "--out",
        theirs.to_str().unwrap(),
        &scenario("move-vip.yaml"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a hadrill output folder"), "{stderr}");
    assert_eq!(files_under(&theirs), ["notes"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_replay_line_quotes_what_a_file_name_holds() {
    let dir = tmp("replay");
    std::fs::create_dir_all(&dir).unwrap();
    let evil = dir.join("x;touch pwned $(id).yaml");
    std::fs::copy(scenario("isolate-vip-holder.yaml"), &evil).unwrap();
    let out = dir.join("out");
    let (code, _, stderr) = hadrill(&[
        "drill",
        "--sim",
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
        evil.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    let line = stderr.lines().find(|l| l.contains("replay with:")).unwrap();
    let cmd = line.split_once("replay with: ").unwrap().1;
    let words = shell_words(cmd);
    assert_eq!(words.last().map(String::as_str), evil.to_str(), "{cmd}");
    assert_eq!(words.len(), 8, "{words:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Splits a command line as sh does: POSIX single quotes only (what the replay line uses).
fn shell_words(line: &str) -> Vec<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("for w in {line}; do printf '%s\\0' \"$w\"; done"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_scenario_that_judges_nothing_exits_3_and_says_why() {
    let (dir, out, (code, stdout, stderr)) = drill_one(
        "look",
        "steps:\n  - settle: 5s\n  - fault: {power-off: node-1}\n  - observe: 10s\n",
    );
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("look: not judged: the scenario names no expectation"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["outcome"], "unknown");
    assert_eq!(json["complete"], true, "it ran to its end");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<skipped") && !junit.contains("<failure"),
        "{junit}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_simulation_runs_the_inventorys_cluster_and_its_settings() {
    // The native example as it is (etcd pre-vote on, as kubeadm's etcd 3.5) and with
    // pre-vote off (Debian 12's etcd 3.4): after a cut-off member is healed, a member without
    // pre-vote disrupts the leader with its higher term, and the API is lost for the election.
    let dir = tmp("inventory");
    std::fs::create_dir_all(&dir).unwrap();
    let on = dir.join("on.yml");
    let off = dir.join("off.yml");
    let native = std::fs::read_to_string(example("native-inventory.yml")).unwrap();
    std::fs::write(&on, &native).unwrap();
    std::fs::write(
        &off,
        native.replacen(
            "  name: homelab\n",
            "  name: homelab\n  etcd_pre_vote: false\n",
            1,
        ),
    )
    .unwrap();
    let gap = |inv: &Path, out: &str| {
        let out = dir.join(out);
        let (code, stdout, stderr) = hadrill(&[
            "drill",
            "--sim",
            "--profile",
            "bare",
            "--inventory",
            inv.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            &scenario("isolate-node.yaml"),
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        json["scenarios"][0]["services"]["api"]["max_gap_s"]
            .as_f64()
            .unwrap()
    };
    let (with, without) = (gap(&on, "on"), gap(&off, "off"));
    // Pre-vote on: one probe at most (the cut-off member's requests); off: an election after
    // the heal, at least one election timeout (1 s) less a probe interval.
    assert!(with <= 0.2 + 1e-9, "pre-vote on: {with} s");
    assert!(without >= 0.8, "pre-vote off: {without} s");
    // An inventory that cannot be read is one line, exit 2.
    let (code, _, stderr) = hadrill(&[
        "drill",
        "--sim",
        "--inventory",
        dir.join("missing.yml").to_str().unwrap(),
        &scenario("isolate-node.yaml"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("missing.yml"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_scenarios_probe_settings_are_used_and_reported() {
    let text = |probe: &str| {
        format!("{probe}steps:\n  - settle: 10s\nexpect:\n  api: {{available: {{max_gap: 1s}}}}\n")
    };
    let report = |out: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
    };
    let (d1, out, (code, _, e)) = drill_one("probe-default", &text(""));
    assert_eq!(code, 0, "{e}");
    let default = report(&out);
    let (d2, out, (code, _, e)) = drill_one(
        "probe-fast",
        &text("probe: {interval: 100ms, timeout: 1s}\n"),
    );
    assert_eq!(code, 0, "{e}");
    let fast = report(&out);
    let s = |r: &serde_json::Value| r["scenarios"][0].clone();
    assert_eq!(s(&default)["probe"]["interval_ms"], 200);
    assert_eq!(s(&default)["probe"]["timeout_ms"], 2000);
    assert_eq!(s(&fast)["probe"]["interval_ms"], 100);
    assert_eq!(s(&fast)["probe"]["timeout_ms"], 1000);
    // Ten seconds: 50 probes every 200 ms, 100 every 100 ms.
    let n = |r: &serde_json::Value| s(r)["services"]["api"]["n_probes"].as_u64().unwrap();
    assert_eq!((n(&default), n(&fast)), (50, 100));
    for d in [d1, d2] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// `hadrill drill --sim --profile bare` of `files` at `seed` into `out`, with `extra` flags.
fn drill_bare(files: &[String], seed: &str, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["drill", "--sim", "--profile", "bare", "--seed", seed];
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    args.extend(files.iter().map(String::as_str));
    hadrill(&args)
}

/// Three runners' shards of one drill, joined, are that drill's reports byte for byte (on the
/// simulation a scenario's result does not depend on the ones before it), with its exit code.
#[test]
fn sharded_drills_merge_into_the_whole_drills_reports() {
    let root = tmp("shards");
    // Seed 2 has findings among these (isolate-vip-holder): the whole drill exits 1.
    let files: Vec<String> = [
        "kill-vip-holder.yaml",
        "isolate-vip-holder.yaml",
        "move-vip.yaml",
        "stop-etcd-leader.yaml",
        "isolate-node.yaml",
    ]
    .iter()
    .map(|f| scenario(f))
    .collect();
    let (whole, _, stderr) = drill_bare(&files, "2", &root.join("whole"), &[]);
    assert_eq!(whole, 1, "{stderr}");
    let mut ran = 0;
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let out = root.join(format!("s{i}"));
        let (code, _, stderr) = drill_bare(&files, "2", &out, &["--shard", &shard]);
        assert!(code <= 1, "{stderr}");
        // A shard's replay line runs that shard.
        assert!(
            code == 0 || stderr.contains(&format!("--shard {shard}")),
            "{stderr}"
        );
        let json = std::fs::read_to_string(out.join("report.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        ran += json["scenarios"].as_array().unwrap().len();
    }
    assert_eq!(ran, files.len(), "every scenario in exactly one shard");
    // The folders in any order.
    let dir = |d: &str| root.join(d).to_str().unwrap().to_owned();
    let merge = ["report", "merge", &dir("s3"), &dir("s1"), &dir("s2")];
    let (code, _, stderr) = hadrill(&[&merge[..], &["--out", &dir("merged")]].concat());
    assert_eq!(code, whole, "{stderr}");
    for f in ["report.json", "junit.xml", "report.html"] {
        let a = std::fs::read(root.join("whole").join(f)).unwrap();
        let b = std::fs::read(root.join("merged").join(f)).unwrap();
        assert!(a == b, "{f} differs from the whole drill's");
    }
    std::fs::remove_dir_all(root).unwrap();
}

/// A shard missing, given twice, of another drill, or a folder with no shard.json: refused
/// on one line, exit 2, nothing written; so is a shard that is not I/N.
#[test]
fn shards_that_do_not_make_one_drill_are_refused() {
    let root = tmp("bad-shards");
    let files = vec![scenario("move-vip.yaml"), scenario("isolate-node.yaml")];
    for (out, seed, shard) in [
        ("s1", "2", "1/2"),
        ("s2", "2", "2/2"),
        ("other", "3", "2/2"),
    ] {
        let (code, _, stderr) = drill_bare(&files, seed, &root.join(out), &["--shard", shard]);
        assert!(code <= 1, "{stderr}");
    }
    drill_bare(&files, "2", &root.join("whole"), &[]);
    let dir = |d: &str| root.join(d).to_str().unwrap().to_owned();
    for (dirs, want) in [
        (vec![dir("s1")], "shard 2/2 is missing"),
        (
            vec![dir("s1"), dir("s1"), dir("s2")],
            "shard 1/2 is given twice",
        ),
        (
            vec![dir("s1"), dir("other")],
            "a shard of another drill (seed: 3, not 2",
        ),
        (vec![dir("whole")], "shard.json"),
    ] {
        let mut args = vec!["report".to_owned(), "merge".to_owned()];
        args.extend(dirs);
        args.extend(["--out".to_owned(), dir("bad")]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = hadrill(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert!(!root.join("bad").exists(), "bad input writes nothing");
    let (code, _, stderr) = hadrill(&["drill", "--sim", "--shard", "4/3", &files[0]]);
    assert_eq!(code, 2);
    assert!(stderr.contains("a shard is I/N"), "{stderr}");
    std::fs::remove_dir_all(root).unwrap();
}

/// `hadrill inventory --lab NAME` prints the lab's cluster as an Ansible inventory that
/// `plan` reads as the same cluster (the same files, the same steps). The lab here is its
/// folder alone, as `hadrill up` leaves it (state and native inventory); no VM is needed to
/// read it.
#[test]
fn a_labs_inventory_prints_as_ansible_and_plans_the_same() {
    let root = tmp("lab-inventory");
    let home = root.join("home");
    let lab = home.join("labs/inv1");
    std::fs::create_dir_all(&lab).unwrap();
    let state = r#"{"name": "inv1", "substrate": "libvirt", "uri": "qemu:///system", "accel": "qemu",
        "profile": null, "disk_profile": "hdd-7200", "subnet": [10, 77, 5],
        "nodes": ["node-1", "node-2", "node-3"], "resources": []}"#;
    std::fs::write(lab.join("lab.json"), state).unwrap();
    let mut inv = "cluster:\n  name: inv1\n  vip: 10.77.5.100\n  vip_interface: eth0\nssh:\n  user: root\n  port: 2022\nnodes:\n".to_owned();
    for i in 1..=3 {
        inv += &format!(
            "  - name: node-{i}\n    address: 10.77.5.1{i}\n    storage_devices: [/dev/vdb]\n"
        );
    }
    std::fs::write(lab.join("inventory.yml"), inv).unwrap();
    let run = |args: &[&str]| hadrill_at(&home, args);
    let (code, yaml, stderr) = run(&["inventory", "--lab", "inv1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        yaml.contains("\nall:\n") && yaml.contains("ansible_port: 2022"),
        "{yaml}"
    );
    let ansible = root.join("inventory.yml");
    std::fs::write(&ansible, &yaml).unwrap();
    for (inventory, out) in [
        (lab.join("inventory.yml"), "from-lab"),
        (ansible, "from-ansible"),
    ] {
        let o = root.join(out);
        let (code, _, stderr) = run(&[
            "plan",
            "--inventory",
            inventory.to_str().unwrap(),
            "--out",
            o.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
    }
    assert_eq!(
        files_under(&root.join("from-lab")),
        files_under(&root.join("from-ansible"))
    );
    for f in files_under(&root.join("from-lab")) {
        let a = std::fs::read(root.join("from-lab").join(&f)).unwrap();
        let b = std::fs::read(root.join("from-ansible").join(&f)).unwrap();
        assert!(a == b, "{f} differs");
    }
    let (code, _, stderr) = run(&["inventory", "--lab", "nolab"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no such lab"), "{stderr}");
    std::fs::remove_dir_all(root).unwrap();
}

/// `bench etcd --sim`: the 7200 rpm model fails etcd's bars (exit 1, the verdict on stderr
/// with the figure); an SSD passes (exit 0); both write bench.json, bench.md and bench.svg.
#[test]
fn bench_etcd_on_the_simulation_gives_a_verdict_with_its_reason() {
    let out = tmp("bench-hdd");
    let (code, stdout, stderr) =
        hadrill(&["bench", "etcd", "--sim", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("etcd on this disk: no — WAL fsync p99 "),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap()).unwrap();
    assert_eq!(json["kind"], "etcd");
    assert_eq!(json["disk_profile"], "hdd-7200");
    assert!(json["measured"].is_null());
    // One turn of a 7200 rpm platter per synced append: 8.3 ms (60 000 / 7200).
    let fio = json["predicted"]["fdatasync_p99_ms"].as_f64().unwrap();
    assert!((8.3..8.5).contains(&fio), "{json}");
    assert!(out.join("bench.md").exists() && out.join("bench.svg").exists());

    let hdd = out;
    let out = tmp("bench-ssd");
    let (code, stdout, stderr) = hadrill(&[
        "bench",
        "etcd",
        "--sim",
        "--disk-profile",
        "ssd",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("etcd on this disk: yes"), "{stderr}");
    std::fs::remove_dir_all(out).unwrap();
    std::fs::remove_dir_all(hdd).unwrap();
}

/// A bench's bad input is one line and exit 2, with nothing written.
#[test]
fn bench_refuses_bad_input_in_one_line() {
    let out = tmp("bench-bad");
    for (args, says) in [
        (
            vec!["bench", "etcd", "--sim", "--disk-profile", "floppy"],
            "--disk-profile `floppy`: unknown",
        ),
        (vec!["bench", "etcd"], "--sim"),
        (
            vec!["bench", "etcd", "--lab", "nope"],
            "lab `nope`: no such lab",
        ),
        (vec!["bench", "etcd", "--sim", "--node", "node-1"], "--node"),
        (
            vec![
                "bench",
                "etcd",
                "--inventory",
                "/nonexistent/inv.yml",
                "--allow-disruption",
            ],
            "/nonexistent/inv.yml",
        ),
    ] {
        let mut args = args.clone();
        args.extend(["--out", out.to_str().unwrap()]);
        let (code, _, stderr) = hadrill(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
}
