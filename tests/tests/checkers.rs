//! Every rendered file, checked by the real program that reads it (from Debian's packages,
//! installed by .ci/setup): `haproxy -c`, `keepalived -t`, `nginx -t`, `ceph-conf`,
//! `containerd config dump`, the keepalived check script against a real HAProxy, and etcd
//! itself, started as three members from their rendered environment files in three network
//! namespaces on a bridge. The seed's own inventory is the input; a missing program fails the
//! test. Expected values are the daemons' own (their defaults and formats), written out here,
//! never computed by the code under test. The daemons' timers are checked in `timers.rs`.

// Tests on real daemons wait on the wall clock; only the simulation must not.
#![allow(clippy::disallowed_methods)]

mod lab;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use lab::{check, files_at, netns, scratch, write, RunDir, N_SEED_NODES};
use provisioner::model::{ClusterModel, Profile};
use provisioner::render;

fn seed(profile: Profile) -> ClusterModel {
    let path = lab::root().join("provisioner/examples/seed-inventory.yml");
    provisioner::inventory::load(&path, profile).unwrap().model
}

#[test]
fn haproxy_and_keepalived_accept_the_front_of_both_profiles() {
    for profile in [Profile::Bare, Profile::Kubernetes] {
        let files = render::render(&seed(profile));
        let dir = scratch(&format!("front-{}", profile.as_str()));
        let haproxy = files_at(&files, render::HAPROXY_CFG);
        for f in haproxy {
            let p = write(&dir, &format!("{}-haproxy.cfg", f.host), &f.content);
            check(
                "haproxy -c",
                Command::new("haproxy").args(["-c", "-f"]).arg(&p),
            );
        }
        // keepalived -t wants the check script to exist, in folders only root may write (its
        // script security): a copy under /run, named in the conf instead of the real path.
        let safe = RunDir::new(&format!("front-{}", profile.as_str()));
        let script = safe.file(
            "check-haproxy",
            &render::front::haproxy_check_script(),
            0o755,
        );
        for f in files_at(&files, render::KEEPALIVED_CONF) {
            let conf = f
                .content
                .replace(render::KEEPALIVED_CHECK, script.to_str().unwrap());
            let p = write(&dir, &format!("{}-keepalived.conf", f.host), &conf);
            check(
                "keepalived -t",
                Command::new("keepalived").args(["-t", "-f"]).arg(&p),
            );
        }
        for f in files_at(&files, render::KEEPALIVED_CHECK) {
            let p = write(&dir, &format!("{}-check-haproxy", f.host), &f.content);
            check("sh -n", Command::new("sh").arg("-n").arg(&p));
        }
        for f in files_at(&files, render::SYSCTL_CONF) {
            sysctls_exist(&f.content);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// Every key of a sysctl file names a sysctl of this kernel (and there is one at least).
fn sysctls_exist(content: &str) {
    let keys: Vec<&str> = content
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('=').next().unwrap().trim())
        .collect();
    assert!(!keys.is_empty(), "a sysctl file sets something:\n{content}");
    for key in keys {
        let proc = Path::new("/proc/sys").join(key.replace('.', "/"));
        assert!(proc.exists(), "{key}: no such sysctl");
    }
}

/// The HAProxy of this test, then the check, in a mount namespace of their own whose /run is
/// a fresh tmpfs: the pid file is Debian's path, `/run/haproxy.pid`, yet neither a HAProxy of
/// the machine's nor another run of this test (killed, or running beside it) can touch it, and
/// nothing outlives the namespace.
const CHECK_STEPS: &str = r#"
mount -t tmpfs -o size=1m hadrill-check /run
verdict() { if sh "$check" 2>/dev/null; then echo "$1=holds"; else echo "$1=fails"; fi; }
check=$1; cfg=$2
verdict before
haproxy -W -p /run/haproxy.pid -f "$cfg" 2>/dev/null & hp=$!
n=0; until [ -s /run/haproxy.pid ]; do n=$((n+1)); [ $n -le 100 ] || exit 3; sleep 0.05; done
verdict running
{ kill $hp; wait $hp; } >/dev/null 2>&1 || true
test -s /run/haproxy.pid && echo "pid file left"
verdict after
"#;

/// keepalived's HAProxy check, run as keepalived runs it, against a real HAProxy started with
/// the pid file of Debian's unit (master-worker, as the unit's -Ws): it fails without HAProxy,
/// holds while HAProxy runs and fails once it is gone and its pid file left behind.
#[test]
fn the_haproxy_check_follows_a_real_haproxy() {
    let dir = scratch("check-haproxy");
    let script = write(
        &dir,
        "check-haproxy",
        &render::front::haproxy_check_script(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let cfg = write(
        &dir,
        "haproxy.cfg",
        &format!(
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    \
             timeout server 1s\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n\
             backend b\n    server s 127.0.0.1:9 disabled\n"
        ),
    );
    let steps = write(&dir, "steps.sh", CHECK_STEPS);
    let out = check(
        "unshare",
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-eu"])
            .arg(&steps)
            .arg(&script)
            .arg(&cfg),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "before=fails",
            "running=holds",
            "pid file left",
            "after=fails"
        ],
        "{out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn nginx_reads_the_bare_profile_sites() {
    let files = render::render(&seed(Profile::Bare));
    let dir = scratch("nginx");
    for f in files_at(&files, render::NGINX_SITE) {
        let site = write(&dir, &format!("{}-site", f.host), &f.content);
        let conf = write(
            &dir,
            &format!("{}-nginx.conf", f.host),
            &format!(
                "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{ access_log off; include {}; }}\n",
                site.display(),
                d = dir.display()
            ),
        );
        check(
            "nginx -t",
            Command::new("nginx")
                .arg("-t")
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf),
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The fsid of a cluster named `hadrill` (the seed's name), as Ceph 16's monmaptool accepted it
/// when the validate answers were recorded (harness/tests/data/validate): an fsid must never
/// change for a name, or a re-run of the plan would not match the monitors it made.
const SEED_FSID: &str = "9ca8ce06-2d57-86eb-a7cc-b98f82224298";

#[test]
fn ceph_conf_reads_the_bare_profile_settings() {
    let files = render::render(&seed(Profile::Bare));
    let dir = scratch("ceph");
    let confs = files_at(&files, render::CEPH_CONF);
    for (i, conf) in confs.iter().enumerate() {
        let p = write(&dir, &format!("ceph-{i}.conf"), &conf.content);
        let lookup = |key: &str| {
            check(
                "ceph-conf",
                Command::new("ceph-conf")
                    .arg("-c")
                    .arg(&p)
                    .args(["--lookup", key]),
            )
            .trim()
            .to_owned()
        };
        let fsid = lookup("fsid");
        assert!(is_uuid(&fsid), "{}: fsid {fsid:?} is not a UUID", conf.host);
        assert_eq!(fsid, SEED_FSID, "{}", conf.host);
        // Ceph's own defaults (osd_heartbeat_grace 20 s, osd_mon_report_interval 5 s,
        // paxos_propose_interval 1 s), which the simulation's mark-down rests on.
        assert_eq!(lookup("osd_heartbeat_grace"), "20");
        assert_eq!(lookup("osd_mon_report_interval"), "5");
        assert_eq!(lookup("paxos_propose_interval"), "1");
        assert_eq!(lookup("mon_osd_adjust_heartbeat_grace"), "false");
    }
    let probes = files_at(&files, render::CEPH_PROBE);
    for probe in probes {
        let script = write(
            &dir,
            &format!("{}-ceph-probe.py", probe.host),
            &probe.content,
        );
        check(
            "python3 compile",
            Command::new("python3")
                .args(["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())"])
                .arg(&script),
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// 8-4-4-4-12 hexadecimal digits, the shape `ceph-mon --mkfs` and monmaptool parse.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn containerd_reads_the_kubernetes_profile_config() {
    let files = render::render(&seed(Profile::Kubernetes));
    let dir = scratch("containerd");
    for f in files_at(&files, render::kube::CONTAINERD_CONF) {
        let p = write(&dir, &format!("{}-config.toml", f.host), &f.content);
        let dump = check(
            "containerd config dump",
            Command::new("containerd")
                .arg("--config")
                .arg(&p)
                .args(["config", "dump"]),
        );
        // kubeadm's default cgroup driver for the kubelet is systemd; runc must match it.
        assert!(dump.contains("SystemdCgroup = true"), "{}: {dump}", f.host);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn etcd_forms_a_cluster_from_its_rendered_flags() {
    let (tag, subnet, m) = lab::three_nodes('e', 232);
    let mut ns = netns(&tag, &subnet);
    let dir = scratch("etcd");
    let envs = files_at(&render::render(&m), render::ETCD_DEFAULT);
    let health = lab::start_etcd(&mut ns, &subnet, &envs, &dir);
    let healthy: BTreeSet<&str> = health
        .lines()
        .filter(|l| l.contains("is healthy"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let want: Vec<String> = (1..=N_SEED_NODES)
        .map(|i| format!("http://{subnet}.1{i}:2379"))
        .collect();
    assert_eq!(
        healthy,
        want.iter().map(String::as_str).collect(),
        "every member, by its advertised URL: {health}"
    );
    ns.remove();
    std::fs::remove_dir_all(dir).unwrap();
}
