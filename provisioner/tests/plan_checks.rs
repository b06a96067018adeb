//! Plan checks that judge a daemon's JSON, run by the shell and python3 they run under on a
//! node, on output the daemon prints. The daemon's own command is replaced by `printf`.

use provisioner::model::{ClusterModel, Profile};
use provisioner::plan;

/// The verify of the seed plan's step `name`, with `daemon_cmd` replaced by a printf of `$0`.
fn judge_of(name: &str, daemon_cmd: &str) -> String {
    let plan = plan::plan(&ClusterModel::seed(Profile::Bare));
    let steps: Vec<_> = plan.steps.iter().filter(|s| s.name == name).collect();
    assert_eq!(steps.len(), 1, "one step named {name}");
    let verify = steps[0].verify.clone().expect("the step verifies");
    assert!(verify.contains(daemon_cmd), "{verify}");
    verify.replace(daemon_cmd, "printf '%s' \"$0\"")
}

fn passes(cmd: &str, stdin_json: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", cmd, stdin_json])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("sh runs")
        .success()
}

/// The plan ends when every placement group is active+clean: CI once met a `validate` that
/// found one group still peering after the pool had taken its first write.
#[test]
fn the_last_ceph_step_waits_for_every_placement_group() {
    let judge = judge_of("ceph pgs active+clean", "timeout 60 ceph status -f json");
    let status = |pgs: &str, total: u32| {
        format!(r#"{{"pgmap": {{"num_pgs": {total}, "pgs_by_state": [{pgs}]}}}}"#)
    };
    let clean = r#"{"state_name": "active+clean", "count": 32}"#;
    let peering = r#"{"state_name": "creating+peering", "count": 1}"#;
    let scrub = r#"{"state_name": "active+clean+scrubbing", "count": 1}"#;
    assert!(passes(&judge, &status(clean, 32)));
    assert!(passes(&judge, &status(&format!("{clean}, {scrub}"), 33)));
    assert!(!passes(&judge, &status(&format!("{clean}, {peering}"), 33)));
    assert!(!passes(&judge, &status(clean, 33)), "groups missing");
    assert!(!passes(&judge, &status("", 0)), "no groups yet");
    assert!(!passes(&judge, "not json"));
}

/// The quorum step passes with every monitor in quorum and not before.
#[test]
fn the_quorum_step_waits_for_every_monitor() {
    let judge = judge_of(
        "ceph monitor quorum",
        "timeout 60 ceph quorum_status -f json",
    );
    assert!(passes(&judge, r#"{"quorum": [0, 1, 2]}"#));
    assert!(!passes(&judge, r#"{"quorum": [0, 1]}"#));
}

/// The plan ends when every etcd member is listed with its client URL and healthy: CI once met
/// a `validate` right after `provision` that found only two of three members listed.
#[test]
fn the_last_step_waits_for_every_etcd_member() {
    let port = ClusterModel::seed(Profile::Bare).etcd.client_port;
    let judge = judge_of(
        "etcd members healthy",
        &format!(
            "ETCDCTL_API=3 timeout 20 etcdctl --endpoints=http://127.0.0.1:{port} endpoint \
             health --cluster -w json"
        ),
    );
    let ep = |n: u8, ok: bool| {
        format!(r#"{{"endpoint": "http://10.0.0.{n}:{port}", "health": {ok}, "took": "2ms"}}"#)
    };
    let all = format!("[{}, {}, {}]", ep(1, true), ep(2, true), ep(3, true));
    assert!(passes(&judge, &all));
    let two = format!("[{}, {}]", ep(1, true), ep(2, true));
    assert!(!passes(&judge, &two), "a member without a client URL");
    let sick = format!("[{}, {}, {}]", ep(1, true), ep(2, false), ep(3, true));
    assert!(!passes(&judge, &sick));
    assert!(!passes(&judge, ""), "etcdctl printed nothing");
}

/// A daemon counts as started after its file only when its unit left `inactive` after the
/// file was written, to the microsecond: CI met an etcd that was starting with Debian's
/// defaults when its file arrived, became active in the same second, was judged fresh by
/// whole seconds and never restarted. `systemctl` is replaced by a script that reports the
/// unit enabled, active, and left inactive at `$LEFT`.
#[test]
fn a_file_written_while_its_daemon_was_starting_restarts_it() {
    let scratch = tempfile::Builder::new()
        .prefix("hadrill-svc-check-")
        .tempdir()
        .expect("scratch");
    let dir = scratch.path();
    let fake = dir.join("systemctl");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$1\" in show) echo \"$LEFT\";; *) exit 0;; esac\n",
    )
    .expect("fake systemctl");
    std::process::Command::new("chmod")
        .args(["+x", &fake.display().to_string()])
        .status()
        .expect("chmod");
    let conf = dir.join("etcd.conf");
    std::fs::write(&conf, "x").expect("conf");
    let conf_s = conf.display().to_string();
    let check = plan::service_after_config("h", "etcd", &[conf_s.as_str()], true)
        .check
        .expect("a check");
    let fresh = |written: &str, left: &str| {
        let touched = std::process::Command::new("touch")
            .args(["-d", written, &conf_s])
            .status()
            .expect("touch");
        assert!(touched.success());
        std::process::Command::new("sh")
            .args(["-c", &check])
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .env("LEFT", left)
            .status()
            .expect("sh runs")
            .success()
    };
    let at = |frac: &str| format!("Sat 2026-12-05 20:27:03.{frac} UTC");
    assert!(fresh("2026-12-05 20:27:03.200 UTC", &at("400000")));
    assert!(
        !fresh("2026-12-05 20:27:03.700 UTC", &at("200000")),
        "written after the start began, in the same second"
    );
    assert!(!fresh("2026-12-05 20:27:04.500 UTC", &at("200000")));
}

/// Every step that starts a daemon shows the daemon's last journal lines when it fails (CI once
/// met "start ceph-mon@node-2: not done" with nothing to say why: the disk was full). Run under
/// sh with `journalctl` and `cat` as functions: the OSD's unit is found from its stage file.
#[test]
fn a_step_that_starts_a_daemon_shows_its_journal_when_it_fails() {
    let run = |cmd: &str| {
        let script = format!("journalctl() {{ echo \"$@\"; }}; cat() {{ echo 7; }}; {cmd}");
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{cmd}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let plan = plan::plan(&ClusterModel::seed(Profile::Bare));
    let mut starts = 0;
    for s in &plan.steps {
        let apply = match &s.apply {
            plan::Action::Shell(c) => c.as_str(),
            _ => "",
        };
        if !apply.contains("systemctl restart") {
            continue;
        }
        starts += 1;
        let logs = s
            .logs
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no logs", s.name));
        let unit = match s.name.strip_prefix("start ") {
            Some(unit) => unit.to_owned(),
            None if s.name == "ceph-mgr" => format!("ceph-mgr@{}", s.host),
            None if s.name.starts_with("ceph-osd on ") => "ceph-osd@7".to_owned(),
            None => panic!("{}: which unit does it start?", s.name),
        };
        assert_eq!(
            run(logs),
            format!("-u {unit} -n 20 --no-pager -o cat\n"),
            "{}",
            s.name
        );
    }
    // keepalived, haproxy, etcd, nginx, ceph-mon and ceph-osd on three hosts, one ceph-mgr.
    assert_eq!(starts, 19, "steps that start a daemon");
    let kube = plan::plan(&ClusterModel::seed(Profile::Kubernetes));
    let kubeadm: Vec<_> = kube
        .steps
        .iter()
        .filter(|s| s.name.starts_with("kubeadm"))
        .collect();
    assert_eq!(kubeadm.len(), 3, "init and two joins");
    for s in kubeadm {
        let logs = s
            .logs
            .as_deref()
            .expect("kubeadm steps show the kubelet's journal");
        assert_eq!(
            run(logs),
            "-u kubelet -n 20 --no-pager -o cat\n",
            "{}",
            s.name
        );
    }
    // A step that starts nothing shows nothing more than its own output.
    assert!(plan
        .steps
        .iter()
        .filter(|s| s.name.starts_with("write "))
        .all(|s| s.logs.is_none()));
}
