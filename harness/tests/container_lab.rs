//! The container lab end to end, as a CI runner without libvirt would use it: `up
//! --substrate containers` (three node containers from the offline image, on a Docker network
//! of their own), the bare profile provisioned and validated, a real fault drilled and judged
//! (kill-vip-holder: the holder's container killed and started again), a fault this lab cannot
//! apply refused before anything runs, a `kill -9` of hadrill in the middle of `up` that
//! `status` names and `down` still cleans up, and `down`, after which nothing carrying the lab's label may remain.
//!
//! Needs dockerd and debootstrap (.ci/setup); built only with `--features real`.

// Tests on real daemons wait on the wall clock; only the simulation must not.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use testcontainers::bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
use testcontainers::bollard::Docker;

fn hadrill(home: &Path, args: &[&str]) -> (i32, String, String) {
    let started = std::time::Instant::now();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(args)
        .output()
        .expect("run hadrill");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    eprintln!(
        "$ hadrill {} ({:.0} s)\n{o}{e}",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    (out.status.code().unwrap_or(-1), o, e)
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
        .display()
        .to_string()
}

/// Removes the labs however the test ends.
struct Labs {
    home: PathBuf,
    names: Vec<String>,
}

impl Drop for Labs {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = hadrill(&self.home, &["down", "--lab", name]);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.home);
        }
    }
}

/// The containers and networks (names) that carry lab `name`'s label, whatever their state.
async fn labelled(docker: &Docker, name: &str) -> (Vec<String>, Vec<String>) {
    let filters: HashMap<String, Vec<String>> =
        [("label".to_owned(), vec![format!("org.hadrill.lab={name}")])].into();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .expect("list containers");
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .expect("list networks");
    (
        containers
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .collect(),
        networks.into_iter().filter_map(|n| n.name).collect(),
    )
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

/// `hadrill ARGS` off the async runtime's threads.
async fn run(home: &Path, args: &[&str]) -> (i32, String, String) {
    let home = home.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hadrill(&home, &args)
    })
    .await
    .expect("hadrill ran")
}

/// A fault the lab cannot apply is refused before the drill starts; a fault it can is
/// drilled and judged against the scenario's expectations, as on any lab, and undone.
async fn drills_and_refuses(home: &Path, name: &str) {
    // Exit 2, the scenario's first step (the netem) named with the reason.
    let netem = scenario("netem-vip-holder.yaml");
    let (code, _, err) = run(home, &["drill", "--lab", name, &netem]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sch_netem"), "{err}");

    // The holder's container killed: the VIP moves; started again at the undo. The catalogue's
    // kill-vip-holder with shorter observations (its 330 s were two thirds of this test's time,
    // and CI must stay under 45 minutes): 40 s cover Ceph's mark-down (about 30 s), and the
    // post-conditions wait for the returned node's units.
    let out_dir = home.join("kill").display().to_string();
    let kill = home.join("kill-vip-holder-short.yaml");
    let text = std::fs::read_to_string(scenario("kill-vip-holder.yaml"))
        .expect("catalogue")
        .replace("settle: 30s", "settle: 10s")
        .replace("observe: 120s", "observe: 40s")
        .replace("observe: 180s", "observe: 30s");
    for step in ["settle: 10s", "observe: 40s", "observe: 30s"] {
        assert!(
            text.contains(step),
            "the catalogue's kill-vip-holder changed: {text}"
        );
    }
    std::fs::write(&kill, text).expect("scenario");
    let kill = kill.display().to_string();
    let (code, out, err) = run(home, &["drill", "--lab", name, &kill, "--out", &out_dir]).await;
    assert_eq!(code, 0, "kill-vip-holder: {out}");
    // Its progress, a line as it starts and one as it ends.
    assert!(
        err.contains("hadrill: kill-vip-holder: waiting for a healthy cluster"),
        "{err}"
    );
    assert!(
        err.contains("hadrill: kill-vip-holder: passed after "),
        "{err}"
    );
    let report = json(&home.join("kill").join("report.json"));
    assert_eq!(report["substrate"], "containers", "{report}");
    let s = &report["scenarios"][0];
    for svc in ["api", "ingress", "ceph"] {
        assert_eq!(s["services"][svc]["outcome"], "passed", "{svc}: {s}");
    }
    let (_, out, _) = run(home, &["status"]).await;
    assert_eq!(out.matches(" running").count(), 3, "{out}");
}

/// A daemon the plan restarts fails to start (another listener holds HAProxy's API port on
/// node-3): `provision` stops there and shows the unit's own journal, HAProxy's reason; with
/// the port free again, `provision` finishes.
async fn a_daemon_that_cannot_start_shows_its_journal(docker: &Docker, home: &Path, name: &str) {
    let squat = "systemctl stop haproxy && systemd-run --unit hadrill-squat socat TCP-LISTEN:6443,fork /dev/null";
    assert_eq!(exec(docker, name, "node-3", squat).await, 0, "{squat}");
    let (code, out, err) = run(home, &["provision", "--lab", name, "--profile", "bare"]).await;
    assert_ne!(code, 0, "provision with the port taken: {out}");
    assert!(err.contains("node-3: start haproxy"), "{err}");
    assert!(err.contains("its log:"), "{err}");
    assert!(
        err.contains("cannot bind socket"),
        "HAProxy's own reason: {err}"
    );
    assert_eq!(
        exec(docker, name, "node-3", "systemctl stop hadrill-squat").await,
        0
    );
    let (code, out, err) = run(home, &["provision", "--lab", name, "--profile", "bare"]).await;
    assert_eq!(code, 0, "provision with the port free: {out} {err}");
}

/// Runs `script` in a node container (through dockerd, so a network fault does not stop it);
/// its exit code.
async fn exec(docker: &Docker, lab: &str, node: &str, script: &str) -> i64 {
    use testcontainers::bollard::exec::{CreateExecOptions, StartExecResults};
    let name = format!("hadrill-{lab}-{node}");
    let exec = docker
        .create_exec(
            &name,
            CreateExecOptions {
                cmd: Some(vec!["sh", "-c", script]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("create exec");
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, None).await.expect("start exec")
    {
        use futures_util::StreamExt;
        while output.next().await.is_some() {}
    }
    docker
        .inspect_exec(&exec.id)
        .await
        .expect("inspect exec")
        .exit_code
        .expect("exited")
}

/// `hadrill drill --inventory INV --profile bare EXTRA...`: the lab's nodes as one's own.
async fn own(home: &Path, inv: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["drill", "--inventory", inv, "--profile", "bare"];
    args.extend_from_slice(extra);
    run(home, &args).await
}

/// The lab's nodes drilled as the user's own cluster, through the inventory `hadrill
/// inventory` prints: power-off refused, a disruptive step refused without
/// `--allow-disruption`, a service fault drilled and undone, and a one-way cut that heals by
/// its node's revert timer after hadrill (and its SSH session) is killed.
async fn as_an_existing_cluster(docker: &Docker, home: &Path, name: &str) {
    let (code, inventory, _) = run(home, &["inventory", "--lab", name]).await;
    assert_eq!(code, 0);
    let inv = home.join("own.yml");
    std::fs::write(&inv, inventory).expect("inventory");
    let inv = inv.display().to_string();
    let clusters = home.join("clusters");
    let kill = scenario("kill-vip-holder.yaml");
    let (code, _, err) = own(home, &inv, &["--allow-disruption", "--yes", &kill]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no power switch"), "{err}");
    assert!(!clusters.exists(), "a refused drill leaves nothing");

    let stop = home.join("stop.yaml");
    std::fs::write(
        &stop,
        "name: stop-keepalived\nsteps:\n  - settle: 5s\n  - fault: {stop-service: {service: keepalived, node: vip-holder}}\n  - observe: 15s\n  - fault: {start-service: {service: keepalived, node: vip-holder}}\n  - observe: 10s\nexpect:\n  api: {available: {max_gap: 10s}}\n  ingress: {available: {max_gap: 10s}}\n  ceph: {available: {max_gap: 10s}}\n",
    )
    .expect("scenario");
    let stop = stop.display().to_string();
    let (code, _, err) = own(home, &inv, &[&stop]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pass --allow-disruption"), "{err}");

    // A dry run prints each command, on which host, and runs none.
    let cut_holder = scenario("cut-vip-holder-inbound.yaml");
    let (code, out, err) = own(home, &inv, &["--dry-run", &cut_holder]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("vip-holder is node-"), "{out}");
    assert!(out.contains("arm revert timer on node-"), "{out}");
    assert!(out.contains("policy drop; iif lo accept;"), "{out}");
    for node in ["node-1", "node-2", "node-3"] {
        assert_ne!(
            exec(docker, name, node, "nft list table inet hadrill_fault").await,
            0
        );
    }
    assert!(!clusters.exists(), "a dry run leaves nothing");

    let out_dir = home.join("own").display().to_string();
    let drill = ["--allow-disruption", "--yes", &stop, "--out", &out_dir];
    let (code, out, err) = own(home, &inv, &drill).await;
    // A clean stop: keepalived sends priority 0 and a backup takes the VIP at once.
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&home.join("own").join("report.json"));
    assert_eq!(report["substrate"], "existing", "{report}");
    let s = &report["scenarios"][0];
    // The start was checked at once: no restart drop-in left on the node it acted on.
    let after = "no restart drop-in of a fault, after start-service";
    let checked = s["post_checks"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["check"] == after && c["ok"] == true));
    assert!(checked, "{s}");
    for svc in ["api", "ingress", "ceph"] {
        assert_eq!(s["services"][svc]["outcome"], "passed", "{svc}: {s}");
    }
    for node in ["node-1", "node-2", "node-3"] {
        assert_eq!(
            exec(docker, name, node, "systemctl is-active -q keepalived").await,
            0,
            "{node}"
        );
        // No revert timer is left once the drill undid its fault.
        let left = "systemctl list-units --all --plain --no-legend 'hadrill-revert-*' | grep -q .";
        assert_ne!(
            exec(docker, name, node, left).await,
            0,
            "{node}: a timer is left"
        );
    }
    assert!(
        !clusters.exists(),
        "a drill that ended clean leaves nothing"
    );
    validates_as_ones_own(home, &inv).await;
    a_killed_drill_heals_by_the_nodes_timer(docker, home, name, &inv).await;
}

/// validate reads one's own cluster through the same inventory.
async fn validates_as_ones_own(home: &Path, inv: &str) {
    let args = ["validate", "--inventory", inv, "--profile", "bare"];
    let (code, out, _) = run(home, &args).await;
    assert_eq!(
        (code, out.lines().filter(|l| l.starts_with("ok ")).count()),
        (0, 11),
        "validate --inventory: {out}"
    );
}

/// A one-way cut on node-2, then hadrill killed (its SSH session with it): the node heals
/// itself when its revert timer fires; `status` names the drill and the fault meanwhile, and
/// `heal --inventory` ends it.
async fn a_killed_drill_heals_by_the_nodes_timer(
    docker: &Docker,
    home: &Path,
    name: &str,
    inv: &str,
) {
    let clusters = home.join("clusters");
    let cut = home.join("cut.yaml");
    std::fs::write(
        &cut,
        "name: cut-node-2\nsteps:\n  - settle: 2s\n  - fault: {isolate: {node: node-2, direction: inbound}}\n  - observe: 20s\n  - fault: {heal: node-2}\n  - observe: 2s\n",
    )
    .expect("scenario");
    let args = [
        "drill",
        "--inventory",
        inv,
        "--profile",
        "bare",
        "--allow-disruption",
        "--yes",
        "--revert-after",
        "25",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(args)
        .arg(&cut)
        .arg("--out")
        .arg(home.join("cut"))
        .spawn()
        .expect("drill");
    let table = "nft list table inet hadrill_fault >/dev/null";
    let mut cut_in_force = false;
    for _ in 0..300 {
        if exec(docker, name, "node-2", table).await == 0 {
            cut_in_force = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cut_in_force, "the cut was never applied");
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let killed_at = std::time::Instant::now();
    let (_, out, _) = run(home, &["status"]).await;
    assert!(out.contains("owner gone: `hadrill drill`"), "{out}");
    assert!(out.contains("faults in force: isolate on node 2"), "{out}");
    assert_eq!(
        exec(docker, name, "node-2", table).await,
        0,
        "the cut outlives hadrill"
    );
    let mut healed = None;
    while killed_at.elapsed() < Duration::from_secs(90) {
        if exec(docker, name, "node-2", table).await != 0 {
            healed = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The timer was armed before the cut, for 25 s: it fires at most 25 s after the kill.
    let healed = healed.expect("the node did not heal itself within 90 s");
    assert!(healed <= Duration::from_secs(27), "healed after {healed:?}");
    let (code, out, _) = run(home, &["heal", "--inventory", inv, "--profile", "bare"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("heal node-2: undone"), "{out}");
    assert!(!clusters.exists(), "heal leaves nothing");
}

/// Starts a drill that partitions node-3 and waits; returns once the partition is in force.
async fn partition_drill(docker: &Docker, home: &Path, name: &str) -> std::process::Child {
    let file = home.join("partition-then-wait.yaml");
    std::fs::write(
        &file,
        "name: partition-then-wait\nsteps:\n  - settle: 5s\n  - fault: {isolate: node-3}\n  - observe: 300s\n  - fault: {heal: node-3}\n",
    )
    .expect("scenario");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(["drill", "--lab", name, "--out"])
        .arg(home.join("partition"))
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("drill");
    for _ in 0..600 {
        if exec(docker, name, "node-3", PARTITION).await == 0 {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the partition never came");
}

/// The partition's tables in a node (their listing fails when they are gone).
const PARTITION: &str =
    "nft list table inet hadrill_fault >/dev/null && nft list table arp hadrill_fault >/dev/null";

/// Ctrl-C in the middle of a drill: the partition is undone, said and checked, and the drill
/// exits 130; then a drill killed outright (SIGKILL) with its partition in force, which
/// `status` names and the final `down` must still clean up.
async fn interrupted_and_killed_drills(docker: &Docker, home: &Path, name: &str) {
    let child = partition_drill(docker, home, name).await;
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("joined")
        .expect("drill");
    assert_eq!(out.status.code(), Some(130));
    assert_ne!(
        exec(docker, name, "node-3", PARTITION).await,
        0,
        "healed at Ctrl-C"
    );
    // It says what it undid, and checked the nodes once after.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("interrupted: heal node-3 (undoing a fault in force)"),
        "{said}"
    );
    assert!(said.contains("checks of the nodes hold"), "{said}");
    let ledger = home.join("labs").join(name).join("faults.json");
    let left = std::fs::read_to_string(&ledger).unwrap_or_default();
    assert!(!left.contains("isolate"), "ledger: {left}");

    let mut child = partition_drill(docker, home, name).await;
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    assert_eq!(
        exec(docker, name, "node-3", PARTITION).await,
        0,
        "a killed drill cannot heal"
    );
    let (_, out, _) = run(home, &["status"]).await;
    assert!(out.contains("owner gone: `hadrill drill`"), "{out}");
    assert!(out.contains("faults in force: isolate node-3"), "{out}");
}

/// `bench etcd --inventory` on the lab's nodes as one's own cluster: refused without
/// --allow-disruption (nothing run, nothing written); with it, node-2 measured and predicted
/// as the profile given, nothing left on the node or in hadrill's folders.
async fn bench_own(docker: &Docker, home: &Path, lab: &str) {
    let inv = home.join("own.yml");
    let inv = inv.to_str().expect("a UTF-8 path");
    let out = home.join("bench-own");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "bench",
            "etcd",
            "--inventory",
            inv,
            "--node",
            "node-2",
            "--out",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        v.push(out.display().to_string());
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let refused = args(&[]);
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    let (code, _, err) = run(home, &refused).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pass --allow-disruption"), "{err}");
    assert!(!out.exists() && !home.join("clusters").exists());
    let go = args(&["--allow-disruption", "--yes", "--disk-profile", "ssd"]);
    let go: Vec<&str> = go.iter().map(String::as_str).collect();
    let (code, stdout, err) = run(home, &go).await;
    assert!(code == 0 || code == 1, "{stdout}{err}");
    let b = json(&out.join("bench.json"));
    assert_eq!(b["disk_profile"], "ssd");
    let on = b["measured_on"].as_str().unwrap_or("");
    assert!(
        on.contains(": node-2: ") && on.contains("predicted as ssd"),
        "{b}"
    );
    assert!(
        b["measured"]["fdatasync_p99_ms"].as_f64() > Some(0.0),
        "{b}"
    );
    assert!(
        !home.join("clusters").exists(),
        "the cluster's claim folder is left"
    );
    assert_ne!(
        exec(docker, lab, "node-2", BENCH_LEFT).await,
        0,
        "left on node-2"
    );
}

/// What a bench may leave on a node: its scratch member's unit and its folder.
const BENCH_LEFT: &str =
    "systemctl is-active --quiet hadrill-bench-etcd || test -e /var/lib/etcd/hadrill-bench";

/// `bench etcd --lab` on the lab's node-1, for real: fio, a scratch etcd member, `etcdctl
/// check perf`, etcd's histograms; figures in bench.json beside the prediction, nothing left
/// on the node, the cluster's etcd untouched. Then Ctrl-C in the middle.
async fn bench_etcd(docker: &Docker, home: &Path, name: &str) {
    let out = home.join("bench");
    let (code, stdout, err) = run(
        home,
        &[
            "bench",
            "etcd",
            "--lab",
            name,
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    // The verdict is the host disk's: either, but judged.
    assert!(code == 0 || code == 1, "bench: {stdout}{err}");
    assert!(err.contains("node-1: etcdctl check perf --load=s"), "{err}");
    assert!(err.contains("etcd on this disk: "), "{err}");
    let b = json(&out.join("bench.json"));
    assert_eq!(b["kind"], "etcd");
    assert_eq!(b["disk_profile"], "unthrottled");
    let m = &b["measured"];
    for k in [
        "fdatasync_p50_ms",
        "fdatasync_p99_ms",
        "wal_fsync_p99_ms",
        "backend_commit_p99_ms",
    ] {
        let v = m[k].as_f64().unwrap_or(-1.0);
        assert!(v > 0.0, "{k}: {m}");
    }
    // etcdctl's own throughput: the limiter's 150 a second, or fewer on a slow disk.
    let w = m["check_perf_writes_per_s"].as_f64().unwrap_or(0.0);
    assert!(w > 10.0 && w < 160.0, "{m}");
    assert!(
        m["check_perf"] == "PASS" || m["check_perf"] == "FAIL",
        "{m}"
    );
    // Exit 0 exactly when etcd's bars hold: p99 of fio's fdatasync and of the WAL fsync at
    // most 10 ms, of the backend commit at most 25 ms, check perf passing.
    let at_most = |k: &str, bar: f64| m[k].as_f64().is_some_and(|v| v <= bar);
    let ok = at_most("fdatasync_p99_ms", 10.0)
        && at_most("wal_fsync_p99_ms", 10.0)
        && at_most("backend_commit_p99_ms", 25.0)
        && m["check_perf"] == "PASS";
    assert_eq!(code == 0, ok, "{b}");
    assert_ne!(
        exec(docker, name, "node-1", BENCH_LEFT).await,
        0,
        "left on node-1"
    );
    let (code, out, _) = run(home, &["validate", "--lab", name]).await;
    assert_eq!(code, 0, "the cluster's etcd after the bench: {out}");
    bench_interrupted(docker, home, name).await;
}

/// Ctrl-C once the bench's scratch member runs: the stage ends, the member and folder go,
/// exit 130.
async fn bench_interrupted(docker: &Docker, home: &Path, name: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(["bench", "etcd", "--lab", name, "--out"])
        .arg(home.join("bench-int"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bench");
    // Its own stage lines say when the scratch member runs (no dockerd call while fio
    // loads the disk): Ctrl-C at the check perf line, then the rest of what it says.
    let stderr = child.stderr.take().expect("piped");
    let pid = child.id().to_string();
    let said = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut said = String::new();
        let mut sent = false;
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if !sent && line.contains("etcdctl check perf") {
                sent = Command::new("kill")
                    .args(["-INT", &pid])
                    .status()
                    .is_ok_and(|s| s.success());
            }
            said += &line;
            said.push('\n');
        }
        (sent, said)
    })
    .await
    .expect("joined");
    let done = child.wait().expect("bench");
    let (sent, said) = said;
    assert!(sent, "no check perf stage, or Ctrl-C not sent: {said}");
    assert_eq!(done.code(), Some(130), "{said}");
    assert!(
        said.contains("interrupted; the bench's member and files are removed"),
        "{said}"
    );
    assert_ne!(
        exec(docker, name, "node-1", BENCH_LEFT).await,
        0,
        "left after Ctrl-C"
    );
}

/// hadrill killed (SIGKILL) in the middle of `up`: what it recorded, `down` removes.
async fn killed_up_is_removed_by_down(docker: &Docker, home: &Path, name: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(["up", "--substrate", "containers", "--lab", name])
        .spawn()
        .expect("up");
    let lab_json = home.join("labs").join(name).join("lab.json");
    // Until two of the three containers are recorded (each is recorded before it is made).
    for _ in 0..1500 {
        let recorded = std::fs::read_to_string(&lab_json).unwrap_or_default();
        if recorded.matches("\"kind\": \"container\"").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    // `status` names the killed command and what cleans up after it.
    let (_, out, _) = run(home, &["status"]).await;
    assert!(
        out.contains(&format!("owner gone: `hadrill up` (pid {})", child.id())),
        "{out}"
    );
    assert!(
        out.contains(&format!("`hadrill down --lab {name}`")),
        "{out}"
    );
    let (code, out, _) = run(home, &["down", "--lab", name]).await;
    assert_eq!(code, 0, "down after kill -9: {out}");
    assert_eq!(labelled(docker, name).await, (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_containers_provisioned_broken_measured_and_removed() {
    let docker = Docker::connect_with_local_defaults().expect("dockerd (started by .ci/setup)");
    let home = tempfile::Builder::new()
        .prefix("hadrill-ctr-")
        .tempdir()
        .expect("home")
        .keep();
    let pid = std::process::id() % 100_000;
    let (name, killed) = (format!("ct{pid}"), format!("ck{pid}"));
    let labs = Labs {
        home: home.clone(),
        names: vec![name.clone(), killed.clone()],
    };

    let (code, out, _) = run(&home, &["up", "--substrate", "containers", "--lab", &name]).await;
    assert_eq!(code, 0, "up");
    assert!(out.contains("3 node containers up"), "{out}");
    let (made, nets) = labelled(&docker, &name).await;
    assert_eq!((made.len(), nets.len()), (3, 1), "{made:?} {nets:?}");
    let (code, out, _) = run(&home, &["status"]).await;
    assert_eq!(code, 0);
    assert_eq!(out.matches(" running").count(), 3, "{out}");

    let (code, _, _) = run(&home, &["provision", "--lab", &name, "--profile", "bare"]).await;
    assert_eq!(code, 0, "provision");
    let (code, out, _) = run(&home, &["validate", "--lab", &name]).await;
    assert_eq!(
        (code, out.lines().filter(|l| l.starts_with("ok ")).count()),
        (0, 11),
        "validate: {out}"
    );

    a_daemon_that_cannot_start_shows_its_journal(&docker, &home, &name).await;
    bench_etcd(&docker, &home, &name).await;
    drills_and_refuses(&home, &name).await;
    as_an_existing_cluster(&docker, &home, &name).await;
    bench_own(&docker, &home, &name).await;
    killed_up_is_removed_by_down(&docker, &home, &killed).await;
    interrupted_and_killed_drills(&docker, &home, &name).await;

    let (code, out, _) = run(&home, &["down", "--lab", &name]).await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("lab {name}: removed").as_str())
    );
    assert_eq!(labelled(&docker, &name).await, (vec![], vec![]));
    assert!(!home.join("labs").join(&name).exists());
    drop(labs);
}
