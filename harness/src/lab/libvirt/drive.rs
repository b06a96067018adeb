//! A running libvirt lab as a [`Lab`]: roles resolved on the live cluster, faults through
//! libvirt (virt crate), nftables and SSH, and the real probes.
//!
//! Machine faults: power-off = destroy, power-on = start, pause/resume = suspend/resume,
//! link-down/up = the NIC's link state, slow-disk = the OSD disk's iotune (virsh: virt 0.5
//! has no safe wrapper for it), fail-disk = detach the OSD disk, restore-disk = attach it and
//! the disk profile's caps again. Network faults: isolate = the node's tap into the lab's
//! nftables set (frames dropped, carrier kept: a partition, not a pulled cable); netem = `tc
//! netem` inside the guest over SSH (this host's kernel has no netem; the guest's has).
//! Reboot and shutdown are the guest's own (`systemctl` over SSH). Service faults: SIGKILL
//! with restarts off for the moment (a runtime drop-in), undone by removing it and starting
//! the unit. move-vip: the target's keepalived track file (weight added to its priority);
//! release-vip: 0 written there.
//! drain: the node's servers put in maintenance on every HAProxy (runtime API).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use provisioner::exec::ssh::Ssh;
use provisioner::exec::Transport;
use provisioner::model::{ClusterModel, NodeId, Profile};
use provisioner::plan::quote;
use virt::connect::Connect;
use virt::sys;

use super::{connect, dom_of, run, xml, Names};
use crate::lab::state::{LabDir, State};
use crate::lab::{Error, Lab, Substrate};
use crate::probe::Probes;
use crate::record::Record;
use crate::scenario::{Daemon, Direction, FaultKind, Signal, Target};

/// Longest a command on a node may take during a drill.
const SSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a clean shutdown may take before the machine is powered off.
const SHUTDOWN_WAIT_MAX: Duration = Duration::from_secs(60);
/// Longest a drill waits for the cluster to be healthy before it starts (a node that was
/// powered off by the last drill boots and rejoins; Ceph re-peers).
pub const HEALTHY_WAIT_MAX: Duration = Duration::from_secs(420);

/// A libvirt lab, ready to drill.
pub struct LibvirtLab {
    rt: tokio::runtime::Runtime,
    conn: Connect,
    lab: LabDir,
    state: State,
    model: ClusterModel,
    hosts: BTreeMap<String, Arc<Ssh>>,
    probes: Option<Probes>,
    start: Instant,
    interrupted: Arc<AtomicBool>,
    rng: u64,
    kube: Option<kube::Client>,
    kubeconfig: Option<std::path::PathBuf>,
}

fn lab_err(e: impl std::fmt::Display) -> Error {
    Error::Lab(e.to_string())
}

impl LibvirtLab {
    /// Opens lab `name` for a drill on the model `model` (its inventory, with its profile).
    pub fn open(
        home: &std::path::Path,
        name: &str,
        model: ClusterModel,
        seed: u64,
        kubeconfig: Option<&std::path::Path>,
    ) -> Result<LibvirtLab, String> {
        let lab = LabDir::new(home, name);
        let state = lab.load()?.ok_or_else(|| {
            format!("lab `{name}`: no such lab (labs are made with `hadrill up`)")
        })?;
        let conn = connect(&state.uri)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("async runtime: {e}"))?;
        let hosts = crate::provision::transports(&model, &lab.known_hosts());
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
        Ok(LibvirtLab {
            rt,
            conn,
            lab,
            state,
            model,
            hosts,
            probes: None,
            start: crate::wall::now(),
            interrupted,
            rng: seed.max(1),
            kube,
            kubeconfig: kubeconfig.map(std::path::Path::to_path_buf),
        })
    }

    fn node(&self, id: NodeId) -> &str {
        &self.model.node(id).name
    }

    fn dom(&self, id: NodeId) -> xml::Dom {
        dom_of(&self.state, &self.lab, id.index(), None)
    }

    fn domain(&self, id: NodeId) -> Result<virt::domain::Domain, Error> {
        let name = Names::domain(&self.state.name, self.node(id));
        self.conn
            .lookup_domain_by_name(&name)
            .map_err(|e| lab_err(format!("{name}: {}", e.message())))
    }

    /// Runs a command on a node; Ok(stdout) when it exits 0.
    fn ssh(&self, id: NodeId, cmd: &str) -> Result<String, Error> {
        let t = &self.hosts[self.node(id)];
        let out = self
            .rt
            .block_on(t.run(cmd, b"", SSH_TIMEOUT))
            .map_err(lab_err)?;
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

    /// The node clients reach for the VIP: the one whose MAC the host's neighbour entry for
    /// the VIP holds; without an entry, the first node that has the VIP on its interface.
    fn vip_holder(&self) -> Result<Option<NodeId>, Error> {
        let bridge = Names::of(&self.state.name).bridge;
        let neigh = run(
            "ip neigh",
            Command::new("ip").args(["neigh", "show", &self.model.vip.to_string(), "dev", &bridge]),
        )
        .unwrap_or_default();
        let ids: Vec<NodeId> = self.model.node_ids().collect();
        if let Some(id) = ids.iter().copied().find(|&i| {
            neigh.contains(&Names::mac(&self.state.name, i.index())) && !neigh.contains("FAILED")
        }) {
            return Ok(Some(id));
        }
        let cmd = format!(
            "ip -4 -o addr show dev {}",
            quote(&self.model.vip_interface)
        );
        let want = format!(" {}/", self.model.vip);
        for &i in &ids {
            if self.ssh(i, &cmd).is_ok_and(|out| out.contains(&want)) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// etcd's leader, asked of any member that answers.
    fn etcd_leader(&self) -> Result<Option<NodeId>, Error> {
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

    fn nft(&self, verb: &str, id: NodeId) -> Result<(), Error> {
        self.nft_set(verb, "isolated", id)
    }

    /// Whether the lab's nftables table has the one-way cut sets (a lab made before they
    /// existed does not: it refuses one-way cuts before the drill starts).
    fn has_cut_sets(&self) -> bool {
        let table = Names::of(&self.state.name).nft_table;
        Command::new("nft")
            .args(["list", "set", "bridge", &table, "cut_in"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn nft_set(&self, verb: &str, set: &str, id: NodeId) -> Result<(), Error> {
        let table = Names::of(&self.state.name).nft_table;
        let tap = Names::tap(&self.state.name, id.index());
        let out = Command::new("nft")
            .args([
                verb,
                "element",
                "bridge",
                &table,
                set,
                &format!("{{ \"{tap}\" }}"),
            ])
            .output()
            .map_err(lab_err)?;
        // Deleting an element that is not there (a heal without a partition) is fine.
        if out.status.success() || verb == "delete" {
            Ok(())
        } else {
            Err(lab_err(format!(
                "nft {verb} {set} {tap}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    fn link(&self, id: NodeId, up: bool) -> Result<(), Error> {
        let dom = self.domain(id)?;
        if up && !dom.is_active().unwrap_or(false) {
            // A machine that is off gets its link back with its next start (the change was
            // live only).
            return Ok(());
        }
        dom.update_device_flags(
            &xml::interface(&self.dom(id), up),
            sys::VIR_DOMAIN_AFFECT_LIVE,
        )
        .map_err(|e| lab_err(format!("{}: link: {}", self.node(id), e.message())))
    }

    fn iotune(&self, id: NodeId, iops: u64, bytes: u64) -> Result<(), Error> {
        let dom = Names::domain(&self.state.name, self.node(id));
        run(
            "virsh blkdeviotune",
            Command::new("virsh").args([
                "-c",
                &self.state.uri,
                "blkdeviotune",
                &dom,
                "vdb",
                "--live",
                "--total-iops-sec",
                &iops.to_string(),
                "--total-bytes-sec",
                &bytes.to_string(),
            ]),
        )
        .map(|_| ())
        .map_err(lab_err)
    }

    fn has_disk(&self, id: NodeId) -> Result<bool, Error> {
        let x = self
            .domain(id)?
            .xml_desc(0)
            .map_err(|e| lab_err(e.message()))?;
        Ok(x.contains("dev='vdb'"))
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
    fn stop_service(&self, id: NodeId, d: Daemon, signal: Option<Signal>) -> Result<(), Error> {
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
        self.ssh(id, &cmd).map(|_| ())
    }

    fn start_service(&self, id: NodeId, d: Daemon) -> Result<(), Error> {
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
        self.ssh(id, &cmd).map(|_| ())
    }

    /// HAProxy's runtime API on every proxy node: the node's servers out of (or back into)
    /// rotation.
    fn drain(&self, id: NodeId, state: &str) -> Result<(), Error> {
        let node = self.node(id).to_owned();
        let cmds: Vec<String> = ["api", "ingress"]
            .iter()
            .map(|be| format!("set server {be}/{node} state {state}"))
            .collect();
        let script = cmds
            .iter()
            .map(|c| format!("echo {} | socat stdio /run/haproxy/admin.sock", quote(c)))
            .collect::<Vec<_>>()
            .join(" && ");
        for p in self.model.node_ids().filter(|&i| self.model.node(i).proxy) {
            // A proxy node that is down has no HAProxy to tell.
            let _ = self.ssh(p, &script);
        }
        Ok(())
    }

    fn move_vip(&self, to: NodeId) -> Result<(), Error> {
        for i in self.model.node_ids().filter(|&i| self.model.node(i).proxy) {
            let weight = if i == to {
                self.model.keepalived.move_vip_bonus
            } else {
                0
            };
            let cmd = format!(
                "echo {weight} > {}",
                provisioner::render::front::VIP_TRACK_FILE
            );
            if i == to {
                self.ssh(i, &cmd)?;
            } else {
                let _ = self.ssh(i, &cmd);
            }
        }
        Ok(())
    }

    fn power_off_clean(&self, id: NodeId, reboot: bool) -> Result<(), Error> {
        let verb = if reboot { "reboot" } else { "poweroff" };
        // The command returns before the machine goes; the session breaks, which is fine.
        let _ = self.ssh(
            id,
            &format!("nohup sh -c 'sleep 0.2; systemctl {verb}' >/dev/null 2>&1 &"),
        );
        if reboot {
            return Ok(());
        }
        let dom = self.domain(id)?;
        let start = crate::wall::now();
        while dom.is_active().unwrap_or(false) {
            if start.elapsed() > SHUTDOWN_WAIT_MAX {
                dom.destroy().map_err(|e| lab_err(e.message()))?;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    fn heal(&self, id: NodeId) -> Result<(), Error> {
        self.nft("delete", id)?;
        if self.has_cut_sets() {
            self.nft_set("delete", "cut_in", id)?;
            self.nft_set("delete", "cut_out", id)?;
        }
        self.link(id, true)?;
        // netem inside the guest; none there is fine.
        let _ = self.ssh(
            id,
            &format!(
                "tc qdisc del dev {} root 2>/dev/null; true",
                quote(&self.model.vip_interface)
            ),
        );
        Ok(())
    }

    fn restore_disk(&self, id: NodeId) -> Result<(), Error> {
        if !self.domain(id)?.is_active().unwrap_or(false) {
            // Detach and iotune were live changes: the machine starts with its disk and caps.
            return Ok(());
        }
        let dom = self.dom(id);
        if !self.has_disk(id)? {
            self.domain(id)?
                .attach_device_flags(&xml::data_disk(&dom.data), sys::VIR_DOMAIN_AFFECT_LIVE)
                .map_err(|e| lab_err(format!("{}: attach vdb: {}", self.node(id), e.message())))?;
            // The OSD died on its I/O errors: start it again on the disk that is back.
            let _ = self.ssh(
                id,
                "sleep 1; systemctl reset-failed 'ceph-osd@*'; systemctl restart ceph-osd.target",
            );
        }
        self.iotune(id, dom.data.iops, dom.data.bytes)
    }
}

impl crate::lab::RealLab for LibvirtLab {
    /// Waits until every `validate` check passes: each scenario starts from a verified healthy
    /// cluster (a Ceph OSD marked down too often in ten minutes stops itself for good; a node
    /// the last drill powered off needs to boot). Err names the checks that kept failing.
    fn wait_healthy(&mut self) -> Result<(), String> {
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

    /// The fault ledger's file.
    fn ledger_file(&self) -> std::path::PathBuf {
        self.lab.faults()
    }
}

impl Lab for LibvirtLab {
    fn substrate(&self) -> Substrate {
        Substrate::Libvirt
    }

    fn supports(&self, kind: &FaultKind) -> Result<(), String> {
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
            FaultKind::Cut(_) if !self.has_cut_sets() => Err(format!(
                "the lab's nftables table has no one-way cut sets (made by an older hadrill): \
                 `hadrill down --lab {0}` and `hadrill up --lab {0}` make them",
                self.state.name
            )),
            _ => Ok(()),
        }
    }

    fn set_probes(&mut self, probes: &provisioner::model::Probes) -> Result<(), Error> {
        // Read when the probes start, at the drill's first observation.
        self.model.probes = probes.clone();
        Ok(())
    }

    fn node_names(&self) -> Vec<String> {
        self.model.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn resolve(&mut self, target: &Target) -> Result<Option<NodeId>, Error> {
        Ok(match target {
            Target::Node(name) => self.model.node_by_name(name),
            Target::VipHolder => self.vip_holder()?,
            Target::EtcdLeader => self.etcd_leader()?,
            Target::ZeroMaster => self.model.zero_master(),
            Target::Any => Some(self.pick()),
            Target::Other => {
                let (v, l) = (self.vip_holder()?, self.etcd_leader()?);
                let ids: Vec<NodeId> = self.model.node_ids().collect();
                ids.iter()
                    .copied()
                    .find(|&i| Some(i) != v && Some(i) != l)
                    .or_else(|| ids.into_iter().find(|&i| Some(i) != v))
            }
            Target::All => None,
        })
    }

    fn inject(&mut self, kind: &FaultKind, id: NodeId) -> Result<(), Error> {
        let vm = |r: Result<(), virt::error::Error>, what: &str| {
            r.map_err(|e| lab_err(format!("{}: {what}: {}", self.node(id), e.message())))
        };
        match kind {
            FaultKind::PowerOff => {
                let d = self.domain(id)?;
                if d.is_active().unwrap_or(false) {
                    vm(d.destroy(), "destroy")?;
                }
                Ok(())
            }
            FaultKind::PowerOn => {
                let d = self.domain(id)?;
                if !d.is_active().unwrap_or(false) {
                    vm(d.create(), "start")?;
                }
                Ok(())
            }
            FaultKind::Reboot => self.power_off_clean(id, true),
            FaultKind::Shutdown => self.power_off_clean(id, false),
            FaultKind::Pause => vm(self.domain(id)?.suspend(), "suspend"),
            FaultKind::Resume => vm(self.domain(id)?.resume(), "resume"),
            FaultKind::Isolate => self.nft("add", id),
            FaultKind::Cut(Direction::Inbound) => self.nft_set("add", "cut_in", id),
            FaultKind::Cut(Direction::Outbound) => self.nft_set("add", "cut_out", id),
            FaultKind::LinkDown => self.link(id, false),
            FaultKind::LinkUp => self.link(id, true),
            FaultKind::Heal => self.heal(id),
            FaultKind::Netem { delay, loss } => self
                .ssh(
                    id,
                    &format!(
                        "tc qdisc replace dev {} root netem delay {}ms loss {:.3}%",
                        quote(&self.model.vip_interface),
                        delay.as_millis(),
                        loss * 100.0
                    ),
                )
                .map(|_| ()),
            FaultKind::StopService(d) => self.stop_service(id, *d, None),
            FaultKind::KillService(d, sig) => self.stop_service(id, *d, Some(*sig)),
            FaultKind::StartService(d) => self.start_service(id, *d),
            FaultKind::MoveVip => self.move_vip(id),
            FaultKind::ReleaseVip => self
                .ssh(
                    id,
                    &format!("echo 0 > {}", provisioner::render::front::VIP_TRACK_FILE),
                )
                .map(|_| ()),
            FaultKind::Drain => self.drain(id, "maint"),
            FaultKind::Uncordon => self.drain(id, "ready"),
            FaultKind::SlowDisk(p) => {
                let p = crate::disk::profile(p)
                    .ok_or_else(|| lab_err(format!("no disk profile {p}")))?;
                self.iotune(id, p.iops, p.bytes_per_sec)
            }
            FaultKind::FailDisk => {
                let data = self.dom(id).data;
                self.domain(id)?
                    .detach_device_flags(&xml::data_disk(&data), sys::VIR_DOMAIN_AFFECT_LIVE)
                    .map_err(|e| lab_err(format!("{}: detach vdb: {}", self.node(id), e.message())))
            }
            FaultKind::RestoreDisk => self.restore_disk(id),
        }
    }

    fn observe(&mut self, span: Duration, rec: &mut Record) -> Result<(), Error> {
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

    fn finish(&mut self, rec: &mut Record) -> Result<(), Error> {
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
