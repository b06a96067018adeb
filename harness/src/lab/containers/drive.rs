//! A running container lab as a [`Lab`]: what every lab of real nodes does ([`Nodes`]: SSH,
//! roles, service faults, probes) and what dockerd does to a node container.
//!
//! Machine faults: power-off = SIGKILL to the container (every process of the node at once),
//! power-on = start it (systemd boots again; its address, disk and host keys are kept),
//! pause/resume = the cgroup freezer (`docker pause`), link-down/up = the host end of the
//! node's veth pair set down and up (its `eth0` loses the carrier, as with a pulled cable:
//! keepalived goes FAULT; name and address stay). Network faults are nftables tables inside the node's own
//! network namespace, written through dockerd's exec (not SSH, which the fault cuts):
//! isolate drops IP and ARP both ways (a partition: the carrier stays, the node keeps its
//! VIP); a one-way cut drops IP only, one way, as a host firewall does (ARP still flows).
//!
//! Reboot and shutdown are the node's own (`systemctl`); systemd as a container's PID 1 ends
//! the container when it is done, and the lab starts it again for a reboot.
//!
//! Refused before the drill: netem where the host's kernel has no `sch_netem` (a container
//! has the host's kernel) and the disk faults (an OSD here is a file on the host's disk).

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::StartContainerOptions;
use bollard::Docker;
use provisioner::model::{ClusterModel, NodeId};

use super::{connect, Names};
use crate::lab::nodes::{lab_err, Nodes};
use crate::lab::{Error, Lab, Substrate};
use crate::scenario::{Direction, FaultKind, Target};

/// Longest a clean shutdown may take before the container is killed.
const SHUTDOWN_WAIT_MAX: Duration = Duration::from_secs(60);

/// The nftables tables a network fault writes in a node (removed by `heal`).
const FAULT_TABLES: [(&str, &str); 2] = [("inet", "hadrill_fault"), ("arp", "hadrill_fault")];

/// A container lab, ready to drill.
pub struct ContainerLab {
    nodes: Nodes,
    docker: Docker,
}

impl ContainerLab {
    /// Opens lab `name` for a drill on the model `model` (its inventory, with its profile).
    pub fn open(
        home: &std::path::Path,
        name: &str,
        model: ClusterModel,
        seed: u64,
        kubeconfig: Option<&std::path::Path>,
    ) -> Result<ContainerLab, String> {
        let lab = crate::lab::state::LabDir::new(home, name);
        lab.load()?.ok_or_else(|| {
            format!("lab `{name}`: no such lab (labs are made with `hadrill up`)")
        })?;
        let known_hosts = lab.known_hosts();
        let nodes = Nodes::open(lab, &known_hosts, model, seed, kubeconfig)?;
        Ok(ContainerLab {
            nodes,
            docker: connect()?,
        })
    }

    fn container(&self, id: NodeId) -> String {
        Names::container(&self.nodes.lab.name, self.nodes.node(id))
    }

    fn docker_err(&self, id: NodeId, what: &str) -> impl Fn(bollard::errors::Error) -> Error {
        let node = self.nodes.node(id).to_owned();
        let what = what.to_owned();
        move |e| lab_err(format!("{node}: {what}: {e}"))
    }

    /// Runs `script` in the node through dockerd (not SSH: a network fault may have cut it).
    fn exec(&self, id: NodeId, script: &str) -> Result<(), Error> {
        self.exec_out(id, script).map(|_| ())
    }

    /// [`ContainerLab::exec`], and what it printed.
    fn exec_out(&self, id: NodeId, script: &str) -> Result<String, Error> {
        let name = self.container(id);
        let docker = &self.docker;
        let out = self.nodes.rt.block_on(async {
            let options = CreateExecOptions {
                cmd: Some(vec!["sh", "-c", script]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            };
            let exec = docker.create_exec(&name, options).await?;
            let mut text = String::new();
            if let StartExecResults::Attached { mut output, .. } =
                docker.start_exec(&exec.id, None).await?
            {
                use futures_util::StreamExt;
                while let Some(Ok(chunk)) = output.next().await {
                    text += &chunk.to_string();
                }
            }
            let code = docker.inspect_exec(&exec.id).await?.exit_code;
            Ok::<_, bollard::errors::Error>((code, text))
        });
        match out.map_err(self.docker_err(id, "exec"))? {
            (Some(0), text) => Ok(text),
            (code, text) => Err(lab_err(format!(
                "{}: `{script}`: exit {code:?}: {}",
                self.nodes.node(id),
                text.trim()
            ))),
        }
    }

    /// Drops IP (and ARP, for a partition) in `dirs` at the node.
    fn cut(&self, id: NodeId, dirs: &[Direction], arp: bool) -> Result<(), Error> {
        let mut script = String::from("nft add table inet hadrill_fault");
        for d in dirs {
            let hook = match d {
                Direction::Inbound => "input",
                Direction::Outbound => "output",
            };
            script += &format!(
                " && nft add chain inet hadrill_fault {hook} \
                 '{{ type filter hook {hook} priority -300; policy drop; }}'"
            );
            if arp {
                script += &format!(
                    " && nft add table arp hadrill_fault && nft add chain arp hadrill_fault {hook} \
                     '{{ type filter hook {hook} priority -300; policy drop; }}'"
                );
            }
        }
        self.exec(id, &script)
    }

    fn heal(&self, id: NodeId) -> Result<(), Error> {
        self.link(id, true)?;
        if !self.running(id)? {
            // A stopped node's tables went with its network namespace.
            return Ok(());
        }
        let script = FAULT_TABLES
            .iter()
            .map(|(family, table)| format!("nft delete table {family} {table} 2>/dev/null"))
            .collect::<Vec<_>>()
            .join("; ");
        self.exec(id, &format!("{script}; true"))?;
        self.nodes.clear_netem(id);
        Ok(())
    }

    fn running(&self, id: NodeId) -> Result<bool, Error> {
        let state = self.nodes.rt.block_on(super::node_state(
            &self.docker,
            &self.nodes.lab.name,
            self.nodes.node(id),
        ));
        Ok(matches!(state, "running" | "paused"))
    }

    /// The node's carrier: the host end of its veth pair set down or up, so its `eth0` sees
    /// NO-CARRIER as with a pulled cable (keepalived goes FAULT) and keeps its name and
    /// address. (Taking the container off the network and back, as `docker network
    /// disconnect` does, would give it back a new interface, `eth1`, that no config names.)
    fn link(&self, id: NodeId, up: bool) -> Result<(), Error> {
        if !self.running(id)? {
            // A stopped node gets a new veth, up, when it starts.
            return Ok(());
        }
        let peer = self.exec_out(
            id,
            &format!(
                "cat /sys/class/net/{}/iflink",
                provisioner::plan::quote(&self.nodes.model.vip_interface)
            ),
        )?;
        let index = peer.trim();
        let host_end = std::fs::read_dir("/sys/class/net")
            .map_err(lab_err)?
            .filter_map(Result::ok)
            .find(|e| {
                std::fs::read_to_string(e.path().join("ifindex")).is_ok_and(|i| i.trim() == index)
            })
            .and_then(|e| e.file_name().into_string().ok())
            .ok_or_else(|| {
                lab_err(format!(
                    "{}: no host interface of index {index} (its veth's host end)",
                    self.nodes.node(id)
                ))
            })?;
        let state = if up { "up" } else { "down" };
        crate::lab::libvirt::run(
            "ip link",
            std::process::Command::new("ip").args(["link", "set", "dev", &host_end, state]),
        )
        .map(|_| ())
        .map_err(lab_err)
    }

    /// A clean reboot or poweroff, the node's own (`systemctl`): systemd as a container's
    /// PID 1 ends the container when it is done, so the lab waits for that (killing it after
    /// `SHUTDOWN_WAIT_MAX`) and, for a reboot, starts it again.
    fn power_off_clean(&self, id: NodeId, reboot: bool) -> Result<(), Error> {
        let verb = if reboot { "reboot" } else { "poweroff" };
        // The command returns before the node goes; the session breaks, which is fine.
        let _ = self.nodes.ssh(
            id,
            &format!("nohup sh -c 'sleep 0.2; systemctl {verb}' >/dev/null 2>&1 &"),
        );
        let name = self.container(id);
        let start = crate::wall::now();
        while self.running(id)? {
            if start.elapsed() > SHUTDOWN_WAIT_MAX {
                self.nodes
                    .rt
                    .block_on(super::kill(&self.docker, &name))
                    .map_err(lab_err)?;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if !reboot {
            return Ok(());
        }
        self.nodes
            .rt
            .block_on(
                self.docker
                    .start_container(&name, None::<StartContainerOptions>),
            )
            .map_err(self.docker_err(id, "start"))
    }

    /// The node clients reach for the VIP: the first that has it on its interface.
    fn vip_holder(nodes: &Nodes) -> Result<Option<NodeId>, Error> {
        Ok(nodes.vip_on_interface())
    }
}

/// Whether this host's kernel can run `tc netem` (a container has no kernel of its own).
fn host_has_netem() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = std::path::Path::new("/lib/modules").join(release.trim());
    let built_in =
        std::fs::read_to_string(dir.join("modules.builtin")).is_ok_and(|t| t.contains("sch_netem"));
    let module =
        std::fs::read_to_string(dir.join("modules.dep")).is_ok_and(|t| t.contains("sch_netem.ko"));
    built_in || module || std::path::Path::new("/sys/module/sch_netem").exists()
}

impl ContainerLab {
    /// Nothing on the host: a container's faults live in its own namespaces, which the nodes'
    /// checks read.
    fn host_checks(&self, _: Option<NodeId>) -> Vec<crate::report::PostCheck> {
        Vec::new()
    }
}

crate::lab::nodes::real_lab_of_nodes!(ContainerLab);

impl Lab for ContainerLab {
    fn substrate(&self) -> Substrate {
        Substrate::Containers
    }

    fn supports(&self, kind: &FaultKind) -> Result<(), String> {
        self.nodes.supports_service(kind)?;
        match kind {
            FaultKind::Netem { .. } if !host_has_netem() => Err(
                "this host's kernel has no sch_netem module, and a container has the host's \
                 kernel (a VM lab applies netem inside its guests)"
                    .into(),
            ),
            FaultKind::SlowDisk(_) | FaultKind::FailDisk | FaultKind::RestoreDisk => Err(
                "a container lab's OSD is a file on the host's disk: no disk of its own to \
                 slow or fail (a VM lab has one)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    crate::lab::nodes::lab_methods_of_nodes!();

    fn resolve(&mut self, target: &Target) -> Result<Option<NodeId>, Error> {
        self.nodes.resolve(target, &ContainerLab::vip_holder)
    }

    fn inject(&mut self, kind: &FaultKind, id: NodeId) -> Result<(), Error> {
        if let Some(done) = self.nodes.inject_on_node(kind, id) {
            return done;
        }
        let name = self.container(id);
        let docker = &self.docker;
        match kind {
            FaultKind::PowerOff => self
                .nodes
                .rt
                .block_on(super::kill(docker, &name))
                .map_err(lab_err),
            FaultKind::PowerOn => {
                if self.running(id)? {
                    return Ok(());
                }
                self.nodes
                    .rt
                    .block_on(docker.start_container(&name, None::<StartContainerOptions>))
                    .map_err(self.docker_err(id, "start"))
            }
            FaultKind::Pause => self
                .nodes
                .rt
                .block_on(docker.pause_container(&name))
                .map_err(self.docker_err(id, "pause")),
            FaultKind::Resume => self
                .nodes
                .rt
                .block_on(docker.unpause_container(&name))
                .map_err(self.docker_err(id, "resume")),
            FaultKind::Isolate => self.cut(id, &[Direction::Inbound, Direction::Outbound], true),
            FaultKind::Cut(d) => self.cut(id, &[*d], false),
            FaultKind::LinkDown => self.link(id, false),
            FaultKind::LinkUp => self.link(id, true),
            FaultKind::Heal => self.heal(id),
            FaultKind::Reboot => self.power_off_clean(id, true),
            FaultKind::Shutdown => self.power_off_clean(id, false),
            FaultKind::SlowDisk(_) | FaultKind::FailDisk | FaultKind::RestoreDisk => {
                Err(lab_err(format!(
                    "{}: {}",
                    kind.key(),
                    self.supports(kind).err().unwrap_or_default()
                )))
            }
            FaultKind::Netem { .. }
            | FaultKind::StopService(_)
            | FaultKind::KillService(..)
            | FaultKind::StartService(_)
            | FaultKind::MoveVip
            | FaultKind::ReleaseVip
            | FaultKind::Drain
            | FaultKind::Uncordon => unreachable!("a node's own fault, injected above"),
        }
    }
}
