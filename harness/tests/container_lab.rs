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
    let out: Output = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(args)
        .output()
        .expect("run hadrill");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    eprintln!("$ hadrill {}\n{o}{e}", args.join(" "));
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

    // The holder's container killed: the VIP moves; started again at the undo.
    let out_dir = home.join("kill").display().to_string();
    let kill = scenario("kill-vip-holder.yaml");
    let (code, out, _) = run(home, &["drill", "--lab", name, &kill, "--out", &out_dir]).await;
    assert_eq!(code, 0, "kill-vip-holder: {out}");
    let report = json(&home.join("kill").join("report.json"));
    assert_eq!(report["substrate"], "containers", "{report}");
    let s = &report["scenarios"][0];
    for svc in ["api", "ingress", "ceph"] {
        assert_eq!(s["services"][svc]["outcome"], "passed", "{svc}: {s}");
    }
    let (_, out, _) = run(home, &["status"]).await;
    assert_eq!(out.matches(" running").count(), 3, "{out}");
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

    drills_and_refuses(&home, &name).await;
    killed_up_is_removed_by_down(&docker, &home, &killed).await;

    let (code, out, _) = run(&home, &["down", "--lab", &name]).await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("lab {name}: removed").as_str())
    );
    assert_eq!(labelled(&docker, &name).await, (vec![], vec![]));
    assert!(!home.join("labs").join(&name).exists());
    drop(labs);
}
