//! `validate`'s checks judged on answers recorded from real daemons (tests/data/validate: how
//! each was made is in its README): every check holds on the healthy cluster, each broken
//! cluster fails exactly the checks it should, with a detail that says why, and every check
//! is seen failing in at least one of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use harness::validate::{judge_bare, Answers, Http, Reply};
use provisioner::model::{ClusterModel, Profile};

/// The model the answers were recorded from: node-1..3 on 10.77.0.11-13, VIP 10.77.0.100.
fn model() -> ClusterModel {
    ClusterModel::seed(Profile::Bare)
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/validate")
}

/// A case's files by stem (`addr-node-1`), with their ending and content.
fn files(case: &str) -> BTreeMap<String, (String, String)> {
    let dir = data().join(case);
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let (stem, ending) = name.rsplit_once('.').expect("NAME.txt, .err or .http");
        let content = std::fs::read_to_string(&path).unwrap();
        let old = out.insert(stem.to_owned(), (ending.to_owned(), content));
        assert!(old.is_none(), "{case}: two answers to {stem}");
    }
    out
}

/// Questions `validate::ask` puts to the seed cluster: three per node (address, VRRP) plus
/// etcd's three, the ingress and Ceph's three.
const N_ANSWERS: usize = 13;

/// The healthy answers with `case`'s laid over them.
fn answers(case: &str) -> Answers {
    let mut all = files("healthy");
    assert_eq!(all.len(), N_ANSWERS, "healthy answers every question");
    for (stem, file) in files(case) {
        assert!(
            all.contains_key(&stem),
            "{case}: {stem} answers no question"
        );
        all.insert(stem, file);
    }
    let reply = |stem: &str| -> Reply {
        match &all[stem] {
            (e, text) if e == "txt" => Ok(text.clone()),
            (e, text) if e == "err" => Err(text.trim().to_owned()),
            (e, _) => panic!("{stem}.{e}: a command's answer is .txt or .err"),
        }
    };
    let http = |stem: &str| -> Result<Http, String> {
        let (ending, text) = &all[stem];
        assert_eq!(ending, "http", "{stem}");
        if let Some(e) = text.strip_prefix("error: ") {
            return Err(e.trim().to_owned());
        }
        let (status, body) = text.split_once('\n').expect("status line, then body");
        let status = status.parse().expect("a status code");
        Ok(Http {
            status,
            body: body.to_owned(),
        })
    };
    let per_node = |what: &str| -> BTreeMap<String, Reply> {
        (1..=3)
            .map(|i| (format!("node-{i}"), reply(&format!("{what}-node-{i}"))))
            .collect()
    };
    Answers {
        addresses: per_node("addr"),
        vrrp: per_node("vrrp"),
        etcd_health: http("etcd-health"),
        etcd_put: http("etcd-put"),
        etcd_endpoints: reply("etcd-endpoints"),
        ingress: http("ingress"),
        ceph_status: reply("ceph-status"),
        ceph_pool: reply("ceph-pool"),
        ceph_write: reply("ceph-write"),
    }
}

const CHECKS: [&str; 11] = [
    "vip held by one node",
    "vrrp priorities as modelled",
    "etcd /health through the vip",
    "etcd write through the vip",
    "etcd members healthy",
    "ingress through the vip",
    "ceph monitors in quorum",
    "ceph osds up and in",
    "ceph pgs active+clean",
    "ceph pool size",
    "ceph write",
];

/// Judges `case`: exactly the checks named in `failing` fail, each with a detail containing
/// the text given; every other check holds.
fn check(case: &str, failing: &[(&str, &str)]) {
    let checks = judge_bare(&model(), &answers(case));
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, CHECKS, "one check per question, in order");
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    let want: Vec<&str> = failing.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        failed,
        want,
        "{case}:\n{}",
        harness::validate::table(&checks)
    );
    for (name, detail) in failing {
        let c = checks.iter().find(|c| c.name == *name).unwrap();
        assert!(
            c.detail.contains(detail),
            "{case}: {name}: {:?} lacks {detail:?}",
            c.detail
        );
    }
}

/// The details of a check that holds, by name.
fn details(case: &str) -> BTreeMap<String, String> {
    judge_bare(&model(), &answers(case))
        .into_iter()
        .map(|c| {
            assert!(c.ok, "{case}: {} failed: {}", c.name, c.detail);
            (c.name, c.detail)
        })
        .collect()
}

#[test]
fn a_healthy_cluster_passes_every_check() {
    check("healthy", &[]);
    let d = details("healthy");
    assert_eq!(d["vip held by one node"], "10.77.0.100 on node-1");
    // 101 + the check's weight 2 on the first node, 100 + 2 on the others.
    assert_eq!(
        d["vrrp priorities as modelled"],
        "node-1 103, node-2 102, node-3 102"
    );
    assert_eq!(d["etcd members healthy"], "3 of 3 healthy");
    assert_eq!(d["ingress through the vip"], "200, answered by node-1");
    assert_eq!(d["ceph monitors in quorum"], "node-1, node-2, node-3");
    assert_eq!(d["ceph osds up and in"], "3 up, 3 in");
    assert_eq!(d["ceph pgs active+clean"], "33 pgs active+clean");
    assert_eq!(d["ceph pool size"], "replica-pool size 3 min_size 2");
}

#[test]
fn an_etcd_member_down_is_seen_although_health_and_writes_pass() {
    check(
        "etcd-member-down",
        &[(
            "etcd members healthy",
            "node-3: context deadline exceeded; 2 of 3 healthy",
        )],
    );
}

#[test]
fn etcd_without_quorum_fails_health_writes_and_members() {
    check(
        "etcd-no-quorum",
        &[
            (
                "etcd /health through the vip",
                "503: {\"health\":\"false\"}",
            ),
            ("etcd write through the vip", "timed out"),
            ("etcd members healthy", "0 of 3 healthy"),
        ],
    );
}

#[test]
fn a_dead_haproxy_shows_as_a_priority_off_the_model() {
    check(
        "haproxy-down",
        &[("vrrp priorities as modelled", "node-1 101 (model 103)")],
    );
}

#[test]
fn two_vip_holders_fail_the_holder_check() {
    check(
        "two-holders",
        &[
            (
                "vip held by one node",
                "10.77.0.100 held by node-1 and node-3",
            ),
            ("vrrp priorities as modelled", "node-1: exited 1"),
        ],
    );
}

#[test]
fn no_vip_holder_fails_everything_through_the_vip() {
    check(
        "no-holder",
        &[
            ("vip held by one node", "no node holds 10.77.0.100"),
            ("vrrp priorities as modelled", "node-1: exited 1"),
            ("etcd /health through the vip", "Couldn't connect"),
            ("etcd write through the vip", "Couldn't connect"),
            (
                "ingress through the vip",
                "port 80 after 3059 ms: Couldn't connect",
            ),
        ],
    );
}

#[test]
fn ingress_without_backends_fails_only_ingress() {
    check(
        "ingress-down",
        &[("ingress through the vip", "Empty reply")],
    );
}

/// `move-vip` raises a node through its track file: the check adds the file's value.
#[test]
fn a_vip_moved_on_purpose_passes() {
    check("moved-vip", &[]);
    let d = details("moved-vip");
    assert_eq!(d["vip held by one node"], "10.77.0.100 on node-2");
    assert_eq!(
        d["vrrp priorities as modelled"],
        "node-1 103, node-2 162, node-3 102"
    );
}

#[test]
fn a_pool_of_the_wrong_size_fails_the_pool_check() {
    check(
        "ceph-pool-size",
        &[("ceph pool size", "size 2 min_size 2, want 3 / 2")],
    );
}

#[test]
fn a_monitor_down_fails_the_quorum_check() {
    check(
        "ceph-mon-down",
        &[(
            "ceph monitors in quorum",
            "[\"node-1\", \"node-2\"] of 3 monitors",
        )],
    );
}

#[test]
fn an_osd_down_fails_osds_and_pgs() {
    check(
        "ceph-osd-down",
        &[
            ("ceph osds up and in", "3 osds, 2 up, 3 in; want 3"),
            (
                "ceph pgs active+clean",
                "0 of 33 pgs active+clean, 32 active+undersized",
            ),
        ],
    );
}

#[test]
fn inactive_pgs_fail_osds_pgs_and_the_write() {
    check(
        "ceph-pgs-inactive",
        &[
            ("ceph osds up and in", "1 up"),
            ("ceph pgs active+clean", "32 undersized+peered"),
            ("ceph write", "exited 124"),
        ],
    );
}

#[test]
fn a_scrub_in_progress_is_clean() {
    check("ceph-scrubbing", &[]);
    assert_eq!(
        details("ceph-scrubbing")["ceph pgs active+clean"],
        "33 pgs active+clean"
    );
}

/// Each check fails in at least one recorded case: none is only ever shown to pass.
#[test]
fn every_check_fails_somewhere() {
    let cases: Vec<String> = std::fs::read_dir(data())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir() && e.file_name() != "record")
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cases.len(), 13, "healthy and 12 cases: {cases:?}");
    let mut failed = BTreeSet::new();
    for case in &cases {
        let checks = judge_bare(&model(), &answers(case));
        failed.extend(checks.into_iter().filter(|c| !c.ok).map(|c| c.name));
    }
    let all: BTreeSet<String> = CHECKS.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(failed, all);
}

/// A question a node did not answer fails its check, naming the node.
#[test]
fn a_missing_answer_fails_naming_the_node() {
    let mut a = answers("healthy");
    a.vrrp.remove("node-2");
    a.addresses.remove("node-3");
    let checks = judge_bare(&model(), &a);
    assert_eq!(checks[0].detail, "node-3: no answer");
    assert_eq!(checks[1].detail, "node-2: no answer");
    assert!(!checks[0].ok && !checks[1].ok);
}
