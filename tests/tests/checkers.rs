//! Every rendered file, checked by the real program that reads it (from Debian's packages,
//! installed by .ci/setup): `haproxy -c`, `keepalived -t`, `nginx -t`, `ceph-conf`,
//! `containerd config dump`, and etcd itself, started as three
//! members from their rendered environment files in three network namespaces on a bridge.
//! The seed's own inventory is the input; a missing program fails the test.

// Tests on real daemons wait on the wall clock; only the simulation must not.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use provisioner::model::{ClusterModel, Profile};
use provisioner::render::{self, File};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn seed(profile: Profile) -> ClusterModel {
    let path = root().join("provisioner/examples/seed-inventory.yml");
    provisioner::inventory::load(&path, profile).unwrap().model
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hadrill-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a checker; panics with its output when it refuses the file.
fn check(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}): is it installed?"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} refused it:\n{text}");
    text
}

/// Every file of one path, by host.
fn files_at(files: &[File], path: &str) -> Vec<File> {
    files.iter().filter(|f| f.path == path).cloned().collect()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn haproxy_and_keepalived_accept_the_front_of_both_profiles() {
    for profile in [Profile::Bare, Profile::Kubernetes] {
        let files = render::render(&seed(profile));
        let dir = scratch(&format!("front-{}", profile.as_str()));
        for f in files_at(&files, render::HAPROXY_CFG) {
            let p = write(&dir, &format!("{}-haproxy.cfg", f.host), &f.content);
            check(
                "haproxy -c",
                Command::new("haproxy").args(["-c", "-f"]).arg(&p),
            );
        }
        let keepalived = files_at(&files, render::KEEPALIVED_CONF);
        assert_eq!(keepalived.len(), 3);
        // keepalived -t wants the check script to exist, in folders only root may write (its
        // script security): a copy under /run, named in the conf instead of the real path.
        let safe = Path::new("/run").join(format!("hadrill-check-{}", std::process::id()));
        std::fs::create_dir_all(&safe).unwrap();
        let script = safe.join("check-haproxy");
        std::fs::write(&script, render::front::haproxy_check_script()).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        for f in keepalived {
            let conf = f
                .content
                .replace(render::KEEPALIVED_CHECK, script.to_str().unwrap());
            let p = write(&dir, &format!("{}-keepalived.conf", f.host), &conf);
            check(
                "keepalived -t",
                Command::new("keepalived").args(["-t", "-f"]).arg(&p),
            );
        }
        let _ = std::fs::remove_dir_all(&safe);
        for f in files_at(&files, render::KEEPALIVED_CHECK) {
            let p = write(&dir, &format!("{}-check-haproxy", f.host), &f.content);
            check("sh -n", Command::new("sh").arg("-n").arg(&p));
        }
        for f in files_at(&files, render::SYSCTL_CONF) {
            for line in f
                .content
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
            {
                let key = line.split('=').next().unwrap().trim();
                let proc = Path::new("/proc/sys").join(key.replace('.', "/"));
                assert!(proc.exists(), "{key}: no such sysctl");
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// keepalived's HAProxy check, run as keepalived runs it, against a real HAProxy started with
/// the pid file of Debian's unit: it holds while HAProxy runs and fails once it is gone.
#[test]
fn the_haproxy_check_follows_a_real_haproxy() {
    let pidfile = Path::new("/run/haproxy.pid");
    if pidfile.exists() {
        // A HAProxy of the machine's own: not ours to start or stop.
        eprintln!("skipped: /run/haproxy.pid exists");
        return;
    }
    let dir = scratch("check-haproxy");
    let script = write(
        &dir,
        "check-haproxy",
        &render::front::haproxy_check_script(),
    );
    let run = || {
        Command::new("sh")
            .arg(&script)
            .status()
            .expect("sh runs")
            .success()
    };
    assert!(!run(), "no HAProxy, no pid file: the check fails");
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
    // Master-worker in the foreground, as Debian's unit runs it (-Ws): the master's pid is in
    // the file, and it is this test's child, so it is reaped when it ends.
    let mut haproxy = Command::new("haproxy")
        .args(["-W", "-p", "/run/haproxy.pid", "-f"])
        .arg(&cfg)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("haproxy starts");
    for _ in 0..100 {
        if std::fs::read_to_string(pidfile).is_ok_and(|p| !p.trim().is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ok = run();
    let _ = Command::new("kill").arg(haproxy.id().to_string()).status();
    let _ = haproxy.wait();
    let after = run();
    let _ = std::fs::remove_file(pidfile);
    let _ = std::fs::remove_dir_all(dir);
    assert!(ok, "HAProxy runs: the check holds");
    assert!(!after, "HAProxy gone, its pid file left: the check fails");
}

#[test]
fn nginx_and_ceph_read_the_bare_profile_files() {
    let m = seed(Profile::Bare);
    let files = render::render(&m);
    let dir = scratch("bare");
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
    let conf = files_at(&files, render::CEPH_CONF).remove(0);
    let p = write(&dir, "ceph.conf", &conf.content);
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
    assert_eq!(lookup("fsid"), render::ceph_fsid(&m.name));
    assert_eq!(lookup("osd_heartbeat_grace"), "20");
    // The report cadence and the propose interval the simulation's mark-down rests on.
    assert_eq!(lookup("osd_mon_report_interval"), "5");
    assert_eq!(lookup("paxos_propose_interval"), "1");
    assert_eq!(lookup("mon_osd_adjust_heartbeat_grace"), "false");
    let probe = files_at(&files, render::CEPH_PROBE).remove(0);
    let script = write(&dir, "ceph-probe.py", &probe.content);
    check(
        "python3 compile",
        Command::new("python3")
            .args(["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())"])
            .arg(&script),
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn containerd_reads_the_kubernetes_profile_config() {
    let files = render::render(&seed(Profile::Kubernetes));
    let dir = scratch("containerd");
    let f = files_at(&files, render::kube::CONTAINERD_CONF).remove(0);
    let p = write(&dir, "config.toml", &f.content);
    let dump = check(
        "containerd config dump",
        Command::new("containerd")
            .arg("--config")
            .arg(&p)
            .args(["config", "dump"]),
    );
    assert!(dump.contains("SystemdCgroup = true"), "{dump}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Three network namespaces on a bridge of their own, removed on drop.
struct Netns {
    tag: String,
    procs: Vec<Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for i in 1..=3 {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("{}{i}", self.tag)])
                .status();
        }
        let br = format!("{}br", self.tag);
        let _ = Command::new("iptables")
            .args(["-D", "FORWARD", "-i", &br, "-o", &br, "-j", "ACCEPT"])
            .status();
        let _ = Command::new("ip").args(["link", "del", &br]).status();
    }
}

fn ip(args: &[&str]) {
    check("ip", Command::new("ip").args(args));
}

fn netns(tag: &str, subnet: &str) -> Netns {
    let ns = Netns {
        tag: tag.to_owned(),
        procs: Vec::new(),
    };
    let br = format!("{tag}br");
    ip(&["link", "add", &br, "type", "bridge"]);
    ip(&["link", "set", &br, "up"]);
    // Where dockerd runs, bridged frames pass iptables' FORWARD (br_netfilter), whose policy
    // it sets to DROP: let the test's own bridge through (removed on drop).
    let _ = Command::new("iptables")
        .args(["-I", "FORWARD", "-i", &br, "-o", &br, "-j", "ACCEPT"])
        .status();
    for i in 1..=3 {
        let (n, a, b) = (
            format!("{tag}{i}"),
            format!("{tag}{i}a"),
            format!("{tag}{i}b"),
        );
        ip(&["netns", "add", &n]);
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["link", "set", &a, "master", &br, "up"]);
        ip(&["link", "set", &b, "netns", &n]);
        ip(&["-n", &n, "link", "set", &b, "name", "eth0"]);
        ip(&[
            "-n",
            &n,
            "addr",
            "add",
            &format!("{subnet}.1{i}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &n, "link", "set", "eth0", "up"]);
        ip(&["-n", &n, "link", "set", "lo", "up"]);
    }
    ns
}

/// KEY=value lines of an environment file.
fn env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn etcd_forms_a_cluster_from_its_rendered_flags() {
    let pid = std::process::id();
    let tag = format!("hc{}", pid % 100_000);
    let subnet = format!("10.232.{}", pid % 250);
    let mut m =
        ClusterModel::three_nodes(Profile::Bare, [10, 232, u8::try_from(pid % 250).unwrap()]);
    m.name = format!("check-{pid}");
    let mut ns = netns(&tag, &subnet);
    let dir = scratch("etcd");
    for (i, node) in m.nodes.iter().enumerate() {
        let mut env = env_file(&render::etcd_default(&m, node));
        // The one change: data under the test's folder, not /var/lib/etcd.
        env.insert(
            "ETCD_DATA_DIR".into(),
            dir.join(&node.name).display().to_string(),
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &format!("{tag}{}", i + 1), "etcd"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(&env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd (etcd-server) is installed");
        ns.procs.push(child);
    }
    let endpoints = format!("http://{subnet}.11:2379");
    let start = Instant::now();
    let health = loop {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{tag}1"),
                "etcdctl",
                "--endpoints",
                &endpoints,
            ])
            .args(["endpoint", "health", "--cluster"])
            .env("ETCDCTL_API", "3")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if out.status.success() && text.matches("is healthy").count() == 3 {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no healthy 3-member cluster: {text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");
    drop(ns);
    let _ = std::fs::remove_dir_all(dir);
}
