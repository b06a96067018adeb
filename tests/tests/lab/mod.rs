//! What the real-daemon tests share: scratch folders, checked commands, the seed's rendered
//! files by path (three, one per node, or the test fails), and three network namespaces on a
//! bridge of their own that a killed run cannot leave in the way of the next one.

// Each test file uses part of this module.
#![allow(dead_code, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use provisioner::model::{ClusterModel, Profile};
use provisioner::render::File;

/// The seed's nodes (and those of `ClusterModel::three_nodes`): each a proxy, a control-plane
/// and a storage node, so every per-node file is rendered three times.
pub const N_SEED_NODES: usize = 3;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh folder of this test process.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hadrill-check-{}-{name}", std::process::id()));
    if d.exists() {
        std::fs::remove_dir_all(&d).unwrap();
    }
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Runs a command; panics with its output unless it exits 0. Returns stdout then stderr.
pub fn check(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}): is it installed?"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

/// The rendered files at `path`: one per seed node, on three different hosts.
pub fn files_at(files: &[File], path: &str) -> Vec<File> {
    let at: Vec<File> = files.iter().filter(|f| f.path == path).cloned().collect();
    let hosts: std::collections::BTreeSet<&str> = at.iter().map(|f| f.host.as_str()).collect();
    assert_eq!(
        (at.len(), hosts.len()),
        (N_SEED_NODES, N_SEED_NODES),
        "{path}: one per node"
    );
    at
}

/// KEY=value lines of an environment file.
pub fn env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// A folder under /run (root's only: keepalived's script security accepts scripts there),
/// removed on drop.
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn new(name: &str) -> RunDir {
        let d = Path::new("/run").join(format!("hadrill-check-{}-{name}", std::process::id()));
        if d.exists() {
            std::fs::remove_dir_all(&d).unwrap();
        }
        std::fs::create_dir_all(&d).unwrap();
        RunDir(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A file in it with this mode.
    pub fn file(&self, name: &str, content: &str, mode: u32) -> PathBuf {
        let p = write(&self.0, name, content);
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("{}: {e}", self.0.display());
        }
    }
}

/// A tag, a /24 and a three-node model on it for one test of this process: `kind` tells the
/// tests of one process apart, `octet` their subnets; the pid, the processes.
pub fn three_nodes(kind: char, octet: u8) -> (String, String, ClusterModel) {
    let pid = std::process::id();
    let third = u8::try_from(pid % 250).unwrap();
    let mut m = ClusterModel::three_nodes(Profile::Bare, [10, octet, third]);
    m.name = format!("check-{pid}");
    (
        format!("h{kind}{}", pid % 100_000),
        format!("10.{octet}.{third}"),
        m,
    )
}

/// Three network namespaces `TAG1..3` on bridge `TAGbr`, eth0 at SUBNET.11-13/24, and the
/// processes started in them; [`Netns::remove`] ends them and checks every step.
pub struct Netns {
    tag: String,
    pub procs: Vec<Child>,
    removed: bool,
}

/// Where the pid of the process that made a tag's namespaces is written: a later run with the
/// same tag removes them if that process is gone, and refuses if it still runs.
fn owner_file(tag: &str) -> PathBuf {
    Path::new("/run").join(format!("hadrill-netns-{tag}.owner"))
}

fn ip(args: &[&str]) {
    check("ip", Command::new("ip").args(args));
}

pub fn netns(tag: &str, subnet: &str) -> Netns {
    clear_stale(tag);
    std::fs::write(owner_file(tag), std::process::id().to_string()).unwrap();
    let ns = Netns {
        tag: tag.to_owned(),
        procs: Vec::new(),
        removed: false,
    };
    let br = format!("{tag}br");
    ip(&["link", "add", &br, "type", "bridge"]);
    ip(&["link", "set", &br, "up"]);
    // Where dockerd runs, bridged frames pass iptables' FORWARD (br_netfilter), whose policy
    // it sets to DROP: let the test's own bridge through (removed with the bridge).
    check(
        "iptables",
        Command::new("iptables").args(["-I", "FORWARD", "-i", &br, "-o", &br, "-j", "ACCEPT"]),
    );
    for i in 1..=N_SEED_NODES {
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
        let addr = format!("{subnet}.1{i}/24");
        ip(&["-n", &n, "addr", "add", &addr, "dev", "eth0"]);
        ip(&["-n", &n, "link", "set", "eth0", "up"]);
        ip(&["-n", &n, "link", "set", "lo", "up"]);
    }
    ns
}

/// Clears what killed runs left (namespaces whose owner is gone: their processes are ours,
/// started by this test, so they are killed, and the namespaces, bridge and rule removed), and
/// refuses a `tag` whose owner still runs (another live run's: never touched).
fn clear_stale(tag: &str) {
    let me = std::process::id();
    for entry in std::fs::read_dir("/run").unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(other) = name
            .strip_prefix("hadrill-netns-")
            .and_then(|n| n.strip_suffix(".owner"))
        else {
            continue;
        };
        let owner = std::fs::read_to_string(owner_file(other)).unwrap_or_default();
        let pid: u32 = owner.trim().parse().unwrap_or(0);
        if pid != 0 && Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                other != tag || pid == me,
                "namespaces {tag}* belong to pid {pid}, which still runs"
            );
            continue;
        }
        eprintln!("namespaces {other}*: left by a killed run (pid {pid}): removing them");
        for failed in remove_tag(other) {
            eprintln!("{other}: {failed}");
        }
    }
    let left = remove_tag(tag);
    assert!(left.is_empty(), "{tag}: {left:?}");
}

/// Removes whatever of `tag` exists (processes, namespaces, rule, bridge, owner file);
/// returns the commands that failed.
fn remove_tag(tag: &str) -> Vec<String> {
    let mut failed = Vec::new();
    let mut run = |args: &[&str]| -> String {
        match Command::new(args[0]).args(&args[1..]).output() {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
            _ => {
                failed.push(args.join(" "));
                String::new()
            }
        }
    };
    for i in 1..=N_SEED_NODES {
        let n = format!("{tag}{i}");
        if Path::new("/run/netns").join(&n).exists() {
            for pid in run(&["ip", "netns", "pids", &n]).split_whitespace() {
                run(&["kill", "-9", pid]);
            }
            run(&["ip", "netns", "del", &n]);
        }
    }
    let br = format!("{tag}br");
    if Path::new("/sys/class/net").join(&br).exists() {
        run(&[
            "iptables", "-D", "FORWARD", "-i", &br, "-o", &br, "-j", "ACCEPT",
        ]);
        run(&["ip", "link", "del", &br]);
    }
    if owner_file(tag).exists() {
        if let Err(e) = std::fs::remove_file(owner_file(tag)) {
            failed.push(format!("owner file: {e}"));
        }
    }
    failed
}

impl Netns {
    /// Ends the processes and removes namespaces, rule and bridge; each step must succeed.
    pub fn remove(mut self) {
        let failed = self.teardown();
        assert!(failed.is_empty(), "cleanup: {failed:?}");
    }

    /// Returns what failed.
    fn teardown(&mut self) -> Vec<String> {
        self.removed = true;
        let mut failed = Vec::new();
        for p in &mut self.procs {
            if let Err(e) = p.kill().and_then(|()| p.wait().map(drop)) {
                failed.push(format!("pid {}: {e}", p.id()));
            }
        }
        failed.extend(remove_tag(&self.tag));
        failed
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.removed {
            // A failed test: clean what can be cleaned and say what could not.
            for f in self.teardown() {
                eprintln!("cleanup: {f}");
            }
        }
    }
}

/// `etcdctl --endpoints ENDPOINTS ARGS` (v3 API) in namespace `ns`: whether it exited 0, and
/// what it printed.
pub fn etcdctl(ns: &str, endpoints: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "etcdctl", "--endpoints", endpoints])
        .args(args)
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl (etcd-client) is installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// How long three fresh etcd members may take to elect a leader and answer: seconds on an idle
/// machine; the rest is room for a busy one (tests and builds of other checkouts beside it).
pub const ETCD_FORM_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// etcd on each node of `ns`, from its rendered environment file (`envs`, one per node in
/// order) with data under `dir`; returns once `etcdctl endpoint health --cluster` passes, with
/// what it printed.
pub fn start_etcd(ns: &mut Netns, subnet: &str, envs: &[File], dir: &Path) -> String {
    for (i, f) in envs.iter().enumerate() {
        let mut env = env_file(&f.content);
        // The one change: data under the test's folder, not /var/lib/etcd.
        env.insert(
            "ETCD_DATA_DIR".into(),
            dir.join(&f.host).display().to_string(),
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &format!("{}{}", ns.tag, i + 1), "etcd"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(&env)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("etcd (etcd-server) is installed");
        ns.procs.push(child);
    }
    let endpoint = format!("http://{subnet}.11:2379");
    let start = std::time::Instant::now();
    loop {
        let args = ["endpoint", "health", "--cluster"];
        let (ok, text) = etcdctl(&format!("{}1", ns.tag), &endpoint, &args);
        // `--cluster` checks the members that have published their client URLs: one still
        // joining is left out and the command passes, so wait for every member to answer.
        if ok && text.matches("is healthy").count() >= envs.len() {
            return text;
        }
        assert!(
            start.elapsed() < ETCD_FORM_MAX,
            "no healthy 3-member cluster: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
