//! What every lab of real machines shares, whatever runs them (VMs, containers): the cluster
//! reached over SSH, roles resolved on the live cluster, the faults a node's own commands
//! make (services, VIP moves, drains, netem, clean reboots), the real probes through the VIP,
//! and the wait for a healthy cluster. A lab kind adds what only its substrate can do (power,
//! pause, links, partitions, disks) and says which faults it supports.
//!
//! Service faults: SIGKILL with restarts off for the moment (a runtime drop-in), undone by
//! removing it and starting the unit. move-vip: the target's keepalived track file (weight
//! added to its priority); release-vip: 0 written there. drain: the node's servers put in
//! maintenance on every HAProxy (runtime API).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use provisioner::exec::ssh::Ssh;
use provisioner::exec::Transport;
use provisioner::model::{ClusterModel, NodeId, Profile};
use provisioner::plan::quote;

use crate::lab::state::{Claim, LabDir};
use crate::lab::Error;
use crate::probe::Probes;
use crate::record::Record;
use crate::report::PostCheck;
use crate::scenario::{Daemon, FaultKind, Signal, Target};

/// Longest a command on a node may take during a drill.
const SSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a drill waits for the cluster to be healthy before it starts (a node that was
/// powered off by the last drill boots and rejoins; Ceph re-peers).
pub const HEALTHY_WAIT_MAX: Duration = Duration::from_secs(420);

/// Longest a lab waits after a drill for its nodes to show nothing left of its faults (a
/// node powered on again boots; keepalived settles on one VIP holder).
pub const POST_WAIT_MAX: Duration = Duration::from_secs(120);

/// The command this process runs (`drill`, `matrix`, …), for a lab's claim.
fn command_words() -> String {
    std::env::args().nth(1).unwrap_or_default()
}

/// A lab error from anything printable.
pub fn lab_err(e: impl std::fmt::Display) -> Error {
    Error::Lab(e.to_string())
}

/// The checks of [`post_checks_of`] that hold right after `undo`, whatever else is in force: a
/// heal removes every network fault of its node (netem, the nftables rules of a cut or a
/// partition), a release the track file's bonus, a start every restart drop-in of its node.
fn undone_checks(undo: &FaultKind) -> &'static [&'static str] {
    match undo {
        FaultKind::Heal => &[NO_QDISC, NO_FAULT_TABLE],
        FaultKind::ReleaseVip => &[TRACK_AT_ZERO],
        FaultKind::StartService(_) => &[NO_DROPIN],
        _ => &[],
    }
}

/// The names of [`post_checks_of`]'s checks that [`undone_checks`] picks.
const NO_QDISC: &str = "no netem qdisc";
const NO_FAULT_TABLE: &str = "no nftables table of a fault";
const NO_DROPIN: &str = "no restart drop-in of a fault";
const TRACK_AT_ZERO: &str = "move-vip track file at 0";

/// The checks one node's answer to [`Nodes::leftovers`]'s script makes (lines `key value`).
fn post_checks_of(node: &str, out: &str) -> Vec<PostCheck> {
    let value = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .map_or("", str::trim)
    };
    let zero = |key: &str, check: &str, found: &dyn Fn(&str) -> String| {
        let v = value(key);
        let ok = v == "0" || v.is_empty() && key == "track";
        PostCheck {
            node: node.to_owned(),
            check: check.to_owned(),
            ok,
            detail: if ok { String::new() } else { found(v) },
        }
    };
    let stopped: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("unit "))
        .collect();
    vec![
        zero("qdisc", NO_QDISC, &|n| format!("{n} netem qdisc(s)")),
        zero("nft", NO_FAULT_TABLE, &|n| {
            format!("{n} hadrill_fault table(s)")
        }),
        zero("dropin", NO_DROPIN, &|n| {
            format!("{n} hadrill-fault.conf drop-in(s)")
        }),
        zero("track", TRACK_AT_ZERO, &|v| format!("it holds {v}")),
        zero("timers", "no revert timer armed", &|n| format!("{n} armed")),
        PostCheck {
            node: node.to_owned(),
            check: "every service unit active".into(),
            ok: stopped.is_empty(),
            detail: stopped.join(", "),
        },
    ]
}

/// A shell command for one host of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Where it runs.
    pub host: NodeId,
    /// What runs (`sh -c`, as root).
    pub script: String,
    /// Whether its failure fails the step.
    pub required: bool,
}

impl Command {
    /// A command whose failure fails the step.
    pub fn required(host: NodeId, script: String) -> Command {
        Command {
            host,
            script,
            required: true,
        }
    }

    /// A command whose failure is passed over.
    pub fn optional(host: NodeId, script: String) -> Command {
        Command {
            host,
            script,
            required: false,
        }
    }
}

/// A lab of real nodes, opened for a drill: its folder and state, the model it runs, SSH to
/// each node, the probes once they start.
pub struct Nodes {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) lab: LabDir,
    pub(crate) model: ClusterModel,
    hosts: BTreeMap<String, Arc<Ssh>>,
    probes: Option<Probes>,
    start: Instant,
    interrupted: Arc<AtomicBool>,
    rng: u64,
    kube: Option<kube::Client>,
    kubeconfig: Option<std::path::PathBuf>,
    /// This drill's claim on the lab (`status` shows a killed one's owner gone).
    _claim: Claim,
}

impl Nodes {
    /// Opens the nodes of `model` (its inventory, with its profile) for a drill, with `lab`
    /// as the folder of its claim and fault ledger and `known_hosts` as its host-key pins.
    /// Ctrl-C and SIGTERM set the flag the drill checks at each step.
    pub fn open(
        lab: LabDir,
        known_hosts: &std::path::Path,
        model: ClusterModel,
        seed: u64,
        kubeconfig: Option<&std::path::Path>,
    ) -> Result<Nodes, String> {
        let claim = lab.claim(&format!("hadrill {}", command_words()))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("async runtime: {e}"))?;
        let hosts = crate::provision::transports(&model, known_hosts);
        let interrupted = Arc::new(AtomicBool::new(false));
        // Ctrl-C, or a CI runner cancelling the job (SIGTERM): the drill stops at its next
        // check, undoes its faults and reports.
        for kind in [
            tokio::signal::unix::SignalKind::interrupt(),
            tokio::signal::unix::SignalKind::terminate(),
        ] {
            let flag = Arc::clone(&interrupted);
            let mut sig = rt
                .block_on(async { tokio::signal::unix::signal(kind) })
                .map_err(|e| format!("signal handler: {e}"))?;
            rt.spawn(async move {
                if sig.recv().await.is_some() {
                    flag.store(true, Ordering::SeqCst);
                }
            });
        }
        let kube = match (model.profile, kubeconfig) {
            (Profile::Kubernetes, Some(path)) => Some(
                rt.block_on(crate::validate::kube_client(path))
                    .map_err(|e| format!("kubeconfig: {e}"))?,
            ),
            _ => None,
        };
        Ok(Nodes {
            rt,
            lab,
            model,
            hosts,
            probes: None,
            start: crate::wall::now(),
            interrupted,
            rng: seed.max(1),
            kube,
            kubeconfig: kubeconfig.map(std::path::Path::to_path_buf),
            _claim: claim,
        })
    }

    /// Whether Ctrl-C or SIGTERM came (the flag a drill or a bench checks between steps).
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// The node's name.
    pub fn node(&self, id: NodeId) -> &str {
        &self.model.node(id).name
    }

    /// Runs a command on a node; Ok(stdout) when it exits 0.
    pub fn ssh(&self, id: NodeId, cmd: &str) -> Result<String, Error> {
        self.ssh_for(id, cmd, SSH_TIMEOUT)
    }

    /// Runs a command on a node that may take up to `max` (a benchmark); Ok(stdout) when it
    /// exits 0.
    pub fn ssh_for(&self, id: NodeId, cmd: &str, max: Duration) -> Result<String, Error> {
        let t = &self.hosts[self.node(id)];
        let out = self.rt.block_on(t.run(cmd, b"", max)).map_err(lab_err)?;
        if out.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(lab_err(format!(
                "{}: `{cmd}`: {}",
                self.node(id),
                out.tail()
            )))
        }
    }

    /// The first node that has the VIP on its interface (asked over SSH).
    pub fn vip_on_interface(&self) -> Option<NodeId> {
        let cmd = format!(
            "ip -4 -o addr show dev {}",
            quote(&self.model.vip_interface)
        );
        let want = format!(" {}/", self.model.vip);
        self.model
            .node_ids()
            .find(|&i| self.ssh(i, &cmd).is_ok_and(|out| out.contains(&want)))
    }

    /// etcd's leader, asked of any member that answers.
    pub fn etcd_leader(&self) -> Result<Option<NodeId>, Error> {
        let cmd = format!(
            "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:{} endpoint status --cluster -w json",
            self.model.etcd.client_port
        );
        for i in self
            .model
            .node_ids()
            .filter(|&i| self.model.node(i).control_plane)
        {
            let Ok(out) = self.ssh(i, &cmd) else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&out) else {
                continue;
            };
            for m in v.as_array().into_iter().flatten() {
                let leader = m["Status"]["leader"].as_u64();
                let me = m["Status"]["header"]["member_id"].as_u64();
                if leader.is_some() && leader == me {
                    let ep = m["Endpoint"].as_str().unwrap_or("");
                    return Ok(self
                        .model
                        .node_ids()
                        .find(|&j| ep.contains(&format!("//{}:", self.model.node(j).address))));
                }
            }
        }
        Ok(None)
    }

    fn pick(&mut self) -> NodeId {
        // xorshift: the seed picks `any` targets, as in the simulation.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let n = self.model.nodes.len() as u64;
        NodeId(u8::try_from(self.rng % n).expect("few nodes"))
    }

    /// A target's node on the live cluster; `vip_holder` is the lab's own answer (its host
    /// sees whom clients reach).
    pub fn resolve(
        &mut self,
        target: &Target,
        vip_holder: &dyn Fn(&Nodes) -> Result<Option<NodeId>, Error>,
    ) -> Result<Option<NodeId>, Error> {
        Ok(match target {
            Target::Node(name) => self.model.node_by_name(name),
            Target::VipHolder => vip_holder(self)?,
            Target::EtcdLeader => self.etcd_leader()?,
            Target::ZeroMaster => self.model.zero_master(),
            Target::Any => Some(self.pick()),
            Target::Other => {
                let (v, l) = (vip_holder(self)?, self.etcd_leader()?);
                let ids: Vec<NodeId> = self.model.node_ids().collect();
                ids.iter()
                    .copied()
                    .find(|&i| Some(i) != v && Some(i) != l)
                    .or_else(|| ids.into_iter().find(|&i| Some(i) != v))
            }
            Target::All => None,
        })
    }

    /// The service faults a lab of real nodes supports in this profile: host units only.
    pub fn supports_service(&self, kind: &FaultKind) -> Result<(), String> {
        match kind {
            // Service faults act on host units: in the kubernetes profile etcd, the API server,
            // Ceph and traefik run in pods, which this lab does not kill.
            FaultKind::StopService(d)
            | FaultKind::KillService(d, _)
            | FaultKind::StartService(d) => match self.model.profile {
                Profile::Bare if matches!(d, Daemon::KubeApiserver | Daemon::Kubelet) => {
                    Err(format!("the bare profile runs no {}", d.as_str()))
                }
                Profile::Kubernetes
                    if !matches!(d, Daemon::Keepalived | Daemon::Haproxy | Daemon::Kubelet) =>
                {
                    Err(format!(
                        "in the kubernetes profile {} runs in a pod, and this lab stops only \
                         host services (keepalived, haproxy, kubelet)",
                        d.as_str()
                    ))
                }
                _ => Ok(()),
            },
            FaultKind::Drain | FaultKind::Uncordon if self.model.profile != Profile::Bare => {
                Err("this lab drains only in the bare profile (HAProxy maintenance)".into())
            }
            _ => Ok(()),
        }
    }

    /// The faults a node's own commands make, whatever runs the node; None for the others
    /// (the lab's own).
    pub fn inject_on_node(&mut self, kind: &FaultKind, id: NodeId) -> Option<Result<(), Error>> {
        let cmds = match self.commands(kind, id)? {
            Ok(cmds) => cmds,
            Err(e) => return Some(Err(e)),
        };
        Some(self.run_all(&cmds))
    }

    /// Runs commands in order: the first required one that fails stops them with its error; a
    /// failed optional one is passed over (a proxy node that is down has no HAProxy to tell).
    pub fn run_all(&self, cmds: &[Command]) -> Result<(), Error> {
        for c in cmds {
            match self.ssh(c.host, &c.script) {
                Ok(_) => {}
                Err(e) if c.required => return Err(e),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// The commands that make a fault of a node's own at node `id`, on which hosts; None for
    /// the faults a lab makes itself (power, links, partitions, disks).
    pub fn commands(&self, kind: &FaultKind, id: NodeId) -> Option<Result<Vec<Command>, Error>> {
        let on = |script: String| Ok(vec![Command::required(id, script)]);
        Some(match kind {
            FaultKind::Netem { delay, loss } => on(format!(
                "tc qdisc replace dev {} root netem delay {}ms loss {:.3}%",
                quote(&self.model.vip_interface),
                delay.as_millis(),
                loss * 100.0
            )),
            FaultKind::StopService(d) => self.stop_service(*d, None).and_then(on),
            FaultKind::KillService(d, sig) => self.stop_service(*d, Some(*sig)).and_then(on),
            FaultKind::StartService(d) => self.start_service(*d).and_then(on),
            FaultKind::MoveVip => Ok(self.move_vip(id)),
            FaultKind::ReleaseVip => on(format!(
                "echo 0 > {}",
                provisioner::render::front::VIP_TRACK_FILE
            )),
            FaultKind::Drain => Ok(self.drain(id, "maint")),
            FaultKind::Uncordon => Ok(self.drain(id, "ready")),
            _ => return None,
        })
    }

    /// netem inside the node undone; none there is fine.
    pub fn clear_netem(&self, id: NodeId) {
        let _ = self.ssh(
            id,
            &format!(
                "tc qdisc del dev {} root 2>/dev/null; true",
                quote(&self.model.vip_interface)
            ),
        );
    }

    /// The daemon's systemd unit, in full: `systemctl list-units` matches a pattern against
    /// whole names, so `keepalived` alone matched nothing (lab kk3: the kill found no unit;
    /// before it, the restart drop-in was never written for etcd).
    fn unit(&self, d: Daemon) -> Result<&'static str, Error> {
        Ok(match d {
            Daemon::Keepalived => "keepalived.service",
            Daemon::Haproxy => "haproxy.service",
            Daemon::Etcd => "etcd.service",
            Daemon::CephMon => "ceph-mon@*.service",
            Daemon::CephOsd => "ceph-osd@*.service",
            Daemon::Ingress => "nginx.service",
            Daemon::Kubelet => "kubelet.service",
            Daemon::KubeApiserver => {
                return Err(lab_err("kube-apiserver is a static pod: not a unit"))
            }
        })
    }

    /// `signal` None: `systemctl stop` (the daemon's clean shutdown, and systemd does not
    /// restart a unit it stopped); Some: that signal, with systemd told not to restart the unit
    /// for now. Either way the fault lasts until undone.
    ///
    /// The drop-in that stops a restart needs `systemctl daemon-reload`, which keeps a
    /// one-vCPU TCG guest's systemd busy for about 5 s (measured: 5.4 s on lab kk, with the
    /// etcd leader on that node logging "server is likely overloaded"), so it is written only
    /// for a unit that would restart (Debian's keepalived and nginx have `Restart=no`):
    /// otherwise the fault would bring its own outage.
    ///
    /// SIGKILL goes to every process of the unit at once (the cgroup's `cgroup.kill`), not one
    /// after another as `systemctl kill` sends it: keepalived's VRRP child asks for SIGTERM
    /// when its parent dies (PR_SET_PDEATHSIG), and killed after its parent it had the time to
    /// shut down cleanly (priority 0, VIP removed) in three drills of four (docs/fidelity.md).
    /// A kill is the crash the simulation models: nothing of the daemon runs again. A kernel
    /// without `cgroup.kill` (before 5.14, or cgroup v1) gets `systemctl kill` as before.
    fn stop_service(&self, d: Daemon, signal: Option<Signal>) -> Result<String, Error> {
        let unit = self.unit(d)?;
        let cmd = match signal {
            None => format!("systemctl stop {}", quote(unit)),
            Some(sig) => format!(
                "r=0; for u in $(systemctl list-units --plain --no-legend {u} | awk '{{print $1}}'); do \
                 [ \"$(systemctl show -p Restart --value \"$u\")\" = no ] && continue; \
                 mkdir -p /run/systemd/system/$u.d && \
                 printf '[Service]\\nRestart=no\\n' > /run/systemd/system/$u.d/hadrill-fault.conf && r=1; done; \
                 if [ $r = 1 ]; then systemctl daemon-reload; fi && {s}",
                u = quote(unit),
                s = match sig {
                    Signal::Kill => format!(
                        "k=0; for u in $(systemctl list-units --plain --no-legend {u} | awk '{{print $1}}'); do \
                         cg=$(systemctl show -p ControlGroup --value \"$u\"); [ -n \"$cg\" ] || continue; \
                         f=\"/sys/fs/cgroup$cg/cgroup.kill\"; \
                         if [ -e \"$f\" ]; then echo 1 > \"$f\"; else systemctl kill -s KILL \"$u\"; fi || exit 1; \
                         k=1; done; \
                         [ $k = 1 ] || {{ echo no running unit of that name to kill >&2; exit 1; }}",
                        u = quote(unit)
                    ),
                    Signal::Term => format!("systemctl kill -s TERM {}", quote(unit)),
                }
            ),
        };
        Ok(cmd)
    }

    fn start_service(&self, d: Daemon) -> Result<String, Error> {
        let unit = self.unit(d)?;
        let cmd = format!(
            "if ls /run/systemd/system/*/hadrill-fault.conf >/dev/null 2>&1; then \
             rm -f /run/systemd/system/*/hadrill-fault.conf; systemctl daemon-reload; fi; \
             systemctl reset-failed {u}; systemctl start {start}",
            u = quote(unit),
            start = match d {
                Daemon::CephMon => "ceph-mon.target".to_owned(),
                Daemon::CephOsd => "ceph-osd.target".to_owned(),
                _ => quote(unit),
            }
        );
        Ok(cmd)
    }

    /// HAProxy's runtime API on every proxy node: the node's servers out of (or back into)
    /// rotation.
    fn drain(&self, id: NodeId, state: &str) -> Vec<Command> {
        let node = self.node(id).to_owned();
        let script = ["api", "ingress"]
            .iter()
            .map(|be| {
                let c = format!("set server {be}/{node} state {state}");
                format!("echo {} | socat stdio /run/haproxy/admin.sock", quote(&c))
            })
            .collect::<Vec<_>>()
            .join(" && ");
        self.model
            .node_ids()
            .filter(|&i| self.model.node(i).proxy)
            .map(|p| Command::optional(p, script.clone()))
            .collect()
    }

    /// The track file of every proxy node: the bonus at `to`, 0 elsewhere (where it is
    /// optional: a node that is down needs no telling).
    fn move_vip(&self, to: NodeId) -> Vec<Command> {
        self.model
            .node_ids()
            .filter(|&i| self.model.node(i).proxy)
            .map(|i| {
                let weight = if i == to {
                    self.model.keepalived.move_vip_bonus
                } else {
                    0
                };
                let script = format!(
                    "echo {weight} > {}",
                    provisioner::render::front::VIP_TRACK_FILE
                );
                if i == to {
                    Command::required(i, script)
                } else {
                    Command::optional(i, script)
                }
            })
            .collect()
    }

    /// Waits until every `validate` check passes: each scenario starts from a verified healthy
    /// cluster (a Ceph OSD marked down too often in ten minutes stops itself for good; a node
    /// the last drill powered off needs to boot). Err names the checks that kept failing.
    pub fn wait_healthy(&mut self) -> Result<(), String> {
        let (model, hosts, interrupted) = (&self.model, &self.hosts, &self.interrupted);
        let kubeconfig = self.kubeconfig.as_deref();
        let (checks, _) = self.rt.block_on(crate::validate::until_settled(
            HEALTHY_WAIT_MAX,
            || interrupted.load(Ordering::SeqCst),
            || async move {
                match (kubeconfig, model.profile) {
                    (Some(kc), Profile::Kubernetes) => crate::validate::kubernetes(model, kc).await,
                    _ => crate::validate::bare(model, hosts).await,
                }
            },
        ));
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// The script whose answer [`post_checks_of`] reads (and `vip N`, the VIP's addresses on
    /// the node).
    fn leftover_script(&self) -> String {
        let units = match self.model.profile {
            Profile::Bare => {
                "keepalived.service haproxy.service etcd.service nginx.service 'ceph-mon@*' 'ceph-osd@*'"
            }
            Profile::Kubernetes => "keepalived.service haproxy.service kubelet.service",
        };
        format!(
            "i={i}; echo \"qdisc $(tc qdisc show dev $i 2>/dev/null | grep -c netem)\"; \
             echo \"nft $(nft list tables 2>/dev/null | grep -c hadrill_fault)\"; \
             echo \"dropin $(ls /run/systemd/system/*/hadrill-fault.conf 2>/dev/null | wc -l)\"; \
             echo \"track $(cat {track} 2>/dev/null || echo 0)\"; \
             echo \"timers $(systemctl list-units --plain --no-legend --state=active 'hadrill-revert-*.timer' 2>/dev/null | grep -c .)\"; \
             echo \"vip $(ip -4 -o addr show dev $i 2>/dev/null | grep -c ' {vip}/')\"; \
             systemctl list-units --all --plain --no-legend {units} 2>/dev/null | awk '$3 != \"active\" {{print \"unit \" $1 \" \" $3 \"/\" $4}}'",
            i = quote(&self.model.vip_interface),
            track = provisioner::render::front::VIP_TRACK_FILE,
            vip = self.model.vip,
        )
    }

    /// Right after `undo` on node `id`, the checks of what it removes, which hold at once
    /// whatever else is in force ([`undone_checks`]); nothing for an undo that brings a node
    /// back (a power-on, a resume: it is still booting), for a node that does not answer, or
    /// once the drill is interrupted.
    pub fn check_undone(&self, undo: &FaultKind, id: NodeId) -> Vec<PostCheck> {
        let names = undone_checks(undo);
        if names.is_empty() || self.interrupted.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let node = self.node(id).to_owned();
        match self.ssh(id, &self.leftover_script()) {
            Ok(out) => post_checks_of(&node, &out)
                .into_iter()
                .filter(|c| names.contains(&c.check.as_str()))
                .collect(),
            // A node that does not answer now (another fault on it, a session to rebuild) is
            // looked at by the checks at the scenario's end, which wait for it.
            Err(e) => {
                eprintln!("hadrill: {node}: not checked after {}: {e}", undo.key());
                Vec::new()
            }
        }
    }

    /// What each node shows of a drill's faults once they are undone, and the VIP held by
    /// exactly one node: every check, whether it held and what was found.
    pub fn leftovers(&self) -> Vec<PostCheck> {
        let script = self.leftover_script();
        let mut checks = Vec::new();
        let mut holders = Vec::new();
        for id in self.model.node_ids() {
            let node = self.node(id).to_owned();
            match self.ssh(id, &script) {
                Ok(out) => {
                    let found = post_checks_of(&node, &out);
                    let vip = out.lines().find_map(|l| l.strip_prefix("vip "));
                    if vip.is_some_and(|n| n.trim() != "0") {
                        holders.push(node.clone());
                    }
                    checks.extend(found);
                }
                Err(e) => checks.push(PostCheck {
                    node,
                    check: "reachable over SSH".into(),
                    ok: false,
                    detail: e.to_string(),
                }),
            }
        }
        checks.push(PostCheck {
            node: "cluster".into(),
            check: "one VIP holder".into(),
            ok: holders.len() == 1,
            detail: if holders.is_empty() {
                "nobody holds the VIP".into()
            } else {
                format!("held by {}", holders.join(", "))
            },
        });
        checks
    }

    /// [`Nodes::leftovers`] until every check holds, for at most [`POST_WAIT_MAX`] (or until
    /// Ctrl-C): the last round's checks.
    pub fn verify_healed(&self) -> Vec<PostCheck> {
        let start = crate::wall::now();
        loop {
            let checks = self.leftovers();
            if checks.iter().all(|c| c.ok)
                || start.elapsed() >= POST_WAIT_MAX
                || self.interrupted.load(Ordering::SeqCst)
            {
                return checks;
            }
            std::thread::sleep(Duration::from_secs(3));
        }
    }

    /// The drill's clock: from its first probe.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Probes for `span` (starting them at the first call), their samples into `rec`.
    pub fn observe(&mut self, span: Duration, rec: &mut Record) -> Result<(), Error> {
        if self.probes.is_none() {
            // The drill's clock starts with its first probe.
            let handle = self.rt.handle().clone();
            let probes = Probes::start(&handle, &self.model, &self.hosts, self.kube.clone());
            self.start = probes.started();
            self.probes = Some(probes);
        }
        let until = self.now() + span;
        while self.now() < until {
            if self.interrupted.load(Ordering::SeqCst) {
                return Err(Error::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(100).min(until.saturating_sub(self.now())));
            if let Some(p) = &self.probes {
                for (service, sample) in p.drain(self.now()) {
                    rec.try_push(service, sample)?;
                }
            }
        }
        rec.end = rec.end.max(until);
        Ok(())
    }

    /// Stops the probes (their last samples into `rec`) and closes the SSH sessions.
    pub fn finish(&mut self, rec: &mut Record) -> Result<(), Error> {
        let mut kept = Ok(());
        if let Some(p) = self.probes.take() {
            for (service, sample) in self.rt.block_on(p.stop()) {
                // Probes sent after the last step's end are not part of the drill.
                if sample.at <= rec.end && rec.of(service).last().is_none_or(|l| l.at <= sample.at)
                {
                    kept = kept.and(rec.try_push(service, sample).map_err(Error::from));
                }
            }
        }
        for t in self.hosts.values() {
            self.rt.block_on(t.close());
        }
        // The next drill starts its clock at its own first observation.
        self.start = crate::wall::now();
        kept
    }
}

/// The probes and node names of a lab of real nodes, from its [`Nodes`] (its field `nodes`):
/// inside `impl Lab for …`.
macro_rules! lab_nodes_of_nodes {
    () => {
        fn set_probes(
            &mut self,
            probes: &provisioner::model::Probes,
        ) -> Result<(), crate::lab::Error> {
            // Read when the probes start, at the drill's first observation.
            self.nodes.model.probes = probes.clone();
            Ok(())
        }

        fn node_names(&self) -> Vec<String> {
            self.nodes
                .model
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .collect()
        }
    };
}
pub(crate) use lab_nodes_of_nodes;

/// The [`Lab`](crate::lab::Lab) methods a lab of real nodes hands to its [`Nodes`] (its field
/// `nodes`), written once: inside `impl Lab for …`.
macro_rules! lab_methods_of_nodes {
    () => {
        crate::lab::nodes::lab_nodes_of_nodes!();

        fn now(&self) -> std::time::Duration {
            self.nodes.now()
        }

        fn observe(
            &mut self,
            span: std::time::Duration,
            rec: &mut crate::record::Record,
        ) -> Result<(), crate::lab::Error> {
            self.nodes.observe(span, rec)
        }

        fn finish(&mut self, rec: &mut crate::record::Record) -> Result<(), crate::lab::Error> {
            self.nodes.finish(rec)
        }

        fn check_undone(
            &mut self,
            undo: &crate::scenario::FaultKind,
            node: provisioner::model::NodeId,
        ) -> Vec<crate::report::PostCheck> {
            let mut checks = self.nodes.check_undone(undo, node);
            if matches!(undo, crate::scenario::FaultKind::Heal) {
                checks.extend(self.host_checks(Some(node)));
            }
            checks
        }
    };
}
pub(crate) use lab_methods_of_nodes;

/// `impl RealLab for $lab` through its [`Nodes`] (its field `nodes`).
macro_rules! real_lab_of_nodes {
    ($lab:ty) => {
        impl crate::lab::RealLab for $lab {
            fn wait_healthy(&mut self) -> Result<(), String> {
                self.nodes.wait_healthy()
            }

            fn ledger_file(&self) -> std::path::PathBuf {
                self.nodes.lab.faults()
            }

            fn verify_healed(&mut self) -> Vec<crate::report::PostCheck> {
                let mut checks = self.nodes.verify_healed();
                checks.extend(self.host_checks(None));
                checks
            }
        }
    };
}
pub(crate) use real_lab_of_nodes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_answer_makes_one_check_per_leftover_kind() {
        let clean = "qdisc 0\nnft 0\ndropin 0\ntrack 0\ntimers 0\nvip 1\n";
        let checks = post_checks_of("node-1", clean);
        assert_eq!(checks.len(), 6);
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        // An empty track file (never written) is as good as 0.
        let empty_track = "qdisc 0\nnft 0\ndropin 0\ntrack \ntimers 0\nvip 0\n";
        assert!(post_checks_of("node-1", empty_track).iter().all(|c| c.ok));
        let dirty = "qdisc 1\nnft 2\ndropin 1\ntrack 50\ntimers 1\nvip 0\nunit etcd.service inactive/dead\nunit ceph-osd@0.service failed/failed\n";
        let checks = post_checks_of("node-2", dirty);
        assert!(checks.iter().all(|c| !c.ok), "{checks:?}");
        let detail = |check: &str| {
            checks
                .iter()
                .find(|c| c.check == check)
                .map(|c| c.detail.clone())
                .unwrap_or_default()
        };
        assert_eq!(detail("no netem qdisc"), "1 netem qdisc(s)");
        assert_eq!(detail("move-vip track file at 0"), "it holds 50");
        assert_eq!(
            detail("every service unit active"),
            "etcd.service inactive/dead, ceph-osd@0.service failed/failed"
        );
        // No answer at all (a script that printed nothing) holds nothing.
        assert!(post_checks_of("node-3", "")
            .iter()
            .filter(
                |c| c.check != "move-vip track file at 0" && c.check != "every service unit active"
            )
            .all(|c| !c.ok));
    }
}
