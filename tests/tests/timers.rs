//! The daemons' failure timers, measured on real daemons run from the rendered files in three
//! network namespaces, against each daemon's documented formula written out here (FACTS.md
//! has the sources): keepalived's master-down interval after the VIP holder dies, HAProxy's
//! fall × inter before a refusing backend is DOWN, and etcd's randomized election timeout
//! before a new leader. The inputs of each formula are read from the rendered file the daemon
//! reads, never from the code that wrote it. Every bound says why it is where it is.
//!
//! The tests run one at a time (a lock): their bounds leave room for a loaded machine, not for
//! each other.

// Tests on real daemons wait on the wall clock; only the simulation must not.
#![allow(clippy::disallowed_methods)]

mod lab;

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lab::{check, files_at, netns, scratch, write, Netns, RunDir};
use provisioner::render;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The number after `key` on the first line of `text` that starts with it (a setting of a
/// keepalived or HAProxy file, or of an etcd environment file with `key=`).
fn setting(text: &str, key: &str) -> f64 {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"));
    let value = line[key.len()..].trim_start_matches([' ', '=']);
    let number: String = value
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number
        .parse()
        .unwrap_or_else(|_| panic!("`{line}`: no number"))
}

/// Polls `done` every 20 ms until it holds; the time it took, or a panic naming `what`.
fn wait_for(what: &str, max: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < max, "{what}: not within {max:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn spawn_in(ns: &str, args: &[&str], log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]))
}

/// Which nodes (1-3) have `vip` on eth0.
fn holders(tag: &str, vip: &str) -> Vec<usize> {
    (1..=3)
        .filter(|i| {
            let ns = format!("{tag}{i}");
            let out = check(
                "ip addr",
                Command::new("ip").args(["-n", &ns, "-4", "-o", "addr", "show", "dev", "eth0"]),
            );
            out.contains(&format!(" {vip}/"))
        })
        .collect()
}

/// keepalived from the rendered files, the check script passing on every node (HAProxy up
/// everywhere, the normal state); returns each node's conf as keepalived read it.
fn start_keepalived(
    ns: &mut Netns,
    tag: &str,
    m: &provisioner::model::ClusterModel,
    dir: &std::path::Path,
    run: &RunDir,
) -> Vec<String> {
    let passing = run.file("check-passes", "#!/bin/sh\nexit 0\n", 0o755);
    let mut confs = Vec::new();
    for (i, f) in files_at(&render::render(m), render::KEEPALIVED_CONF)
        .iter()
        .enumerate()
    {
        // Per-node paths: the three share this host's /run.
        let weight = run.path().join(format!("vip-weight-{i}"));
        let conf = f
            .content
            .replace(render::KEEPALIVED_CHECK, passing.to_str().unwrap())
            .replace(render::front::VIP_TRACK_FILE, weight.to_str().unwrap());
        let p = write(dir, &format!("keepalived-{i}.conf"), &conf);
        let pid = |k: &str| dir.join(format!("{k}-{i}.pid")).display().to_string();
        let args = [
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-f",
            p.to_str().unwrap(),
            "-p",
            &pid("main"),
            "-r",
            &pid("vrrp"),
            "-c",
            &pid("checker"),
        ];
        ns.procs.push(spawn_in(
            &format!("{tag}{}", i + 1),
            &args,
            &dir.join(format!("keepalived-{i}.log")),
        ));
        confs.push(conf);
    }
    confs
}

/// The VIP holder's keepalived is killed (SIGKILL: no goodbye advert); a backup takes the VIP
/// when its master-down timer runs out, counted from the last advert it heard.
#[test]
fn keepalived_moves_the_vip_within_the_master_down_interval() {
    let _one = serial();
    let (tag, subnet, m) = lab::three_nodes('k', 233);
    let mut ns = netns(&tag, &subnet);
    let dir = scratch("failover");
    let run = RunDir::new("failover");
    let confs = start_keepalived(&mut ns, &tag, &m, &dir, &run);
    let vip = m.vip.to_string();
    // node-1 is rendered `state MASTER` with the highest priority: it claims the VIP after one
    // advert interval; 10 s is that plus room for three daemons starting on a busy machine.
    wait_for("node-1 holds the VIP", Duration::from_secs(10), || {
        holders(&tag, &vip) == [1]
    });
    // Let the backups hear a few adverts, so their master-down timers run from an advert;
    // the half second puts the kill between two adverts (node-1 sends one a second from the
    // moment it took the VIP), away from either end of the window.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(holders(&tag, &vip), [1], "one holder before the fault");

    let read = |k: &str| std::fs::read_to_string(dir.join(format!("{k}-0.pid"))).unwrap();
    let (main, vrrp) = (read("main"), read("vrrp"));
    check(
        "kill",
        Command::new("kill").args(["-9", main.trim(), vrrp.trim()]),
    );
    let took = wait_for("a backup takes the VIP", Duration::from_secs(10), || {
        holders(&tag, &vip).len() > 1
    });

    // keepalived (vrrp.h), VRRPv2: master-down = 3 × advert_int + (256 − priority)/256 s, the
    // priority being the effective one: the rendered `priority` plus the check's `weight`
    // while the check passes. Both backups are rendered alike here.
    let advert = setting(&confs[1], "advert_int");
    let effective = setting(&confs[1], "priority") + setting(&confs[1], "weight");
    // The seed's (FACTS.md): advert_int 1 s, backups at priority 100 with the check's weight 2.
    assert_eq!(
        (advert, effective),
        (1.0, 102.0),
        "rendered keepalived timers"
    );
    let master_down = 3.0 * advert + (256.0 - effective) / 256.0;
    // The last advert left node-1 between 0 and one advert interval before the kill.
    let (low, high) = (master_down - advert, master_down);
    // Below: 50 ms for when the kill lands within a tick of an advert. Above: this test's
    // 20 ms polls, each `ip addr` in three namespaces, and a loaded machine: 300 ms.
    let took = took.as_secs_f64();
    eprintln!("keepalived: VIP moved after {took:.2} s ({low:.2}-{high:.2} s by the formula)");
    assert!(
        (low - 0.05..=high + 0.3).contains(&took),
        "VIP moved {took:.2} s after the kill; keepalived's formula: {low:.2}-{high:.2} s"
    );
    // SIGKILL cleans nothing: node-1 still has the address (two holders, FACTS.md).
    assert!(holders(&tag, &vip).contains(&1), "node-1 kept the VIP");
    ns.remove();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Accepts and closes TCP connections on ADDR:PORT until killed (a backend for HAProxy's
/// TCP check).
const LISTENER: &str = "import socket,sys\n\
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)\n\
while True:\n    c, _ = s.accept(); c.close()\n";

/// A listener on every node's etcd client port, then HAProxy from node-1's rendered file in
/// node-1's namespace; returns that file and HAProxy's stderr lines. The listeners are
/// `ns.procs[0..3]`, in node order.
fn start_haproxy(
    ns: &mut Netns,
    tag: &str,
    subnet: &str,
    m: &provisioner::model::ClusterModel,
    dir: &std::path::Path,
) -> (String, mpsc::Receiver<(Instant, String)>) {
    let port = m.etcd.client_port.to_string();
    let listener = write(dir, "listener.py", LISTENER);
    for i in 1..=3 {
        let addr = format!("{subnet}.1{i}");
        let args = ["python3", listener.to_str().unwrap(), &addr, &port];
        let log = dir.join(format!("listener-{i}.log"));
        ns.procs.push(spawn_in(&format!("{tag}{i}"), &args, &log));
    }
    // The listeners bind before HAProxy's first checks (else they start DOWN).
    std::thread::sleep(Duration::from_secs(1));
    let rendered = files_at(&render::render(m), render::HAPROXY_CFG).remove(0);
    // The stats socket path is shared by every HAProxy of this host: one of the test's own.
    let socket = dir.join("admin.sock");
    let cfg = rendered
        .content
        .replace(render::front::HAPROXY_SOCKET, socket.to_str().unwrap());
    let cfg_path = write(dir, "haproxy.cfg", &cfg);
    let node1 = format!("{tag}1");
    check(
        "sysctl",
        Command::new("ip").args([
            "netns",
            "exec",
            &node1,
            "sysctl",
            "-q",
            "net.ipv4.ip_nonlocal_bind=1",
        ]),
    );
    // In the foreground (-db), HAProxy says on stderr when a server changes state.
    let mut haproxy = Command::new("ip")
        .args(["netns", "exec", &node1, "haproxy", "-db", "-f"])
        .arg(&cfg_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("haproxy is installed");
    let lines = timestamped(haproxy.stderr.take().unwrap());
    ns.procs.push(haproxy);
    (rendered.content, lines)
}

/// HAProxy with its etcd backends answering; node-2's backend then refuses connections (its
/// listener killed: RST), and HAProxy must mark it DOWN after `fall` failed checks `inter`
/// apart.
#[test]
fn haproxy_marks_a_refusing_backend_down_after_fall_checks() {
    let _one = serial();
    let (tag, subnet, m) = lab::three_nodes('h', 234);
    let mut ns = netns(&tag, &subnet);
    let dir = scratch("haproxy-down");
    let (rendered, lines) = start_haproxy(&mut ns, &tag, &subnet, &m, &dir);
    // Every check passes for a few rounds first (servers start UP; no DOWN may show).
    std::thread::sleep(Duration::from_secs(5));
    let early: Vec<String> = lines
        .try_iter()
        .map(|(_, l)| l)
        .filter(|l| l.contains("api/"))
        .collect();
    assert!(early.is_empty(), "before the fault: {early:?}");

    ns.procs[1].kill().unwrap(); // node-2's listener: its port now refuses
    ns.procs[1].wait().unwrap();
    let t0 = Instant::now();
    let down = loop {
        let (at, line) = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("HAProxy reports node-2 DOWN within 20 s");
        if line.contains("Server api/node-2 is DOWN") {
            break at;
        }
    };
    let took = down.duration_since(t0).as_secs_f64();

    // HAProxy's manual: a server is DOWN after `fall` consecutive failed checks, `inter`
    // apart (the next check starts `inter` after the previous one); a refused connection
    // fails a check at once. The first check after the kill comes within one `inter`.
    let defaults = default_server(&rendered);
    let inter = defaults["inter"]
        .trim_end_matches("ms")
        .parse::<f64>()
        .unwrap()
        / 1000.0;
    let fall: f64 = defaults["fall"].parse().unwrap();
    // The seed's (FACTS.md): check inter 2000 ms, fall 3.
    assert_eq!((inter, fall), (2.0, 3.0), "rendered HAProxy check timers");
    let (low, high) = ((fall - 1.0) * inter, fall * inter);
    eprintln!("haproxy: DOWN after {took:.2} s ({low:.2}-{high:.2} s by the formula)");
    // Above: stderr read through a pipe and a busy machine, 300 ms; below: none, the checks
    // cannot come closer than `inter`.
    assert!(
        (low..=high + 0.3).contains(&took),
        "DOWN {took:.2} s after the port refused; HAProxy's formula: {low:.2}-{high:.2} s"
    );
    ns.remove();
    std::fs::remove_dir_all(dir).unwrap();
}

/// The `default-server` line of a HAProxy file, as key → value (`inter` → `2000ms`).
fn default_server(cfg: &str) -> std::collections::BTreeMap<&str, &str> {
    let line = cfg
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("default-server "))
        .expect("a default-server line");
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    words.chunks(2).map(|kv| (kv[0], kv[1])).collect()
}

/// Each line of `from` with the moment it was read, through a channel.
fn timestamped(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// The leader's etcd is killed (SIGKILL: no leadership handed over); the other two elect a
/// leader when a follower's randomized election timeout runs out.
#[test]
fn etcd_elects_a_new_leader_within_its_election_timeout() {
    let _one = serial();
    let (tag, subnet, m) = lab::three_nodes('t', 235);
    let mut ns = netns(&tag, &subnet);
    let dir = scratch("election");
    let envs = files_at(&render::render(&m), render::ETCD_DEFAULT);
    lab::start_etcd(&mut ns, &subnet, &envs, &dir);
    let all: Vec<String> = (1..=3)
        .map(|i| format!("http://{subnet}.1{i}:2379"))
        .collect();
    let old = wait_leader(&format!("{tag}1"), &all, None, Duration::from_secs(10));
    let dead = all
        .iter()
        .position(|e| *e == old.1)
        .expect("the leader is a member");
    // The clock starts before the kill: started after `wait` returned, a loaded host's delay
    // in reaping the process was taken off the election (0.89 s once, under T − H).
    let t0 = Instant::now();
    ns.procs[dead].kill().unwrap();
    ns.procs[dead].wait().unwrap();
    let left: Vec<String> = all.iter().filter(|e| **e != old.1).cloned().collect();
    let alive = format!("{tag}{}", if dead == 0 { 2 } else { 1 });
    let new = wait_leader(&alive, &left, Some(old.0), Duration::from_secs(15));
    let took = t0.elapsed().as_secs_f64();
    assert!(left.contains(&new.1), "a survivor leads");

    // etcd's raft: a follower campaigns after a randomized election timeout of [T, 2T) since
    // the last heartbeat it heard, which came at most one heartbeat interval H before the
    // kill. With pre-vote and CheckQuorum (on in the rendered flags), the other follower
    // refuses while it heard the leader within T: a tick apart, the first campaign can lose,
    // and the next comes one more randomized timeout later. The timeout counts ticks of H
    // (raft's electionElapsed), and the tick after the last heartbeat comes up to H after it,
    // so a campaign can start T − H after that heartbeat. So: T − 2H to 4T.
    let env = &envs[0].content;
    let t = setting(env, "ETCD_ELECTION_TIMEOUT") / 1000.0;
    let h = setting(env, "ETCD_HEARTBEAT_INTERVAL") / 1000.0;
    // etcd's defaults, which the seed keeps (FACTS.md): election timeout 1000 ms, heartbeat 100.
    assert_eq!((t, h), (1.0, 0.1), "rendered etcd timers");
    let (low, high) = (t - 2.0 * h, 4.0 * t);
    eprintln!("etcd: new leader after {took:.2} s ({low:.2}-{high:.2} s by raft's bounds)");
    // Above: each poll is an etcdctl process asking two members, on a busy machine: 500 ms.
    assert!(
        (low..=high + 0.5).contains(&took),
        "new leader {took:.2} s after the kill; raft's bounds: {low:.2}-{high:.2} s"
    );
    ns.remove();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Polls `endpoint status` of `endpoints` from namespace `ns` until they agree on a leader
/// other than `not`: its member id and client URL.
fn wait_leader(ns: &str, endpoints: &[String], not: Option<u64>, max: Duration) -> (u64, String) {
    let list = endpoints.join(",");
    let args = [
        "endpoint",
        "status",
        "-w",
        "json",
        "--dial-timeout=300ms",
        "--command-timeout=500ms",
    ];
    let mut found = None;
    wait_for("a leader", max, || {
        let (_, text) = lab::etcdctl(ns, &list, &args);
        found = leader_of(&text).filter(|(id, _)| Some(*id) != not);
        found.is_some()
    });
    found.unwrap()
}

/// The leader that every answering member of `endpoint status -w json` names, with its URL.
fn leader_of(text: &str) -> Option<(u64, String)> {
    let json = text.lines().find(|l| l.starts_with('['))?;
    let statuses: Vec<serde_json::Value> = serde_json::from_str(json).ok()?;
    let leaders: std::collections::BTreeSet<u64> = statuses
        .iter()
        .filter_map(|s| s["Status"]["leader"].as_u64())
        .collect();
    let [leader] = leaders.into_iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let url = statuses
        .iter()
        .find(|s| s["Status"]["header"]["member_id"].as_u64() == Some(leader))
        .and_then(|s| s["Endpoint"].as_str())?;
    (leader != 0).then(|| (leader, url.to_owned()))
}
