//! A running libvirt lab as a [`Lab`]: what every lab of real nodes does ([`Nodes`]: SSH,
//! roles, service faults, probes) and what only libvirt, nftables on the host and the guest
//! can do.
//!
//! Machine faults: power-off = destroy, power-on = start, pause/resume = suspend/resume,
//! link-down/up = the NIC's link state, slow-disk = the OSD disk's iotune (virsh: virt 0.5
//! has no safe wrapper for it), fail-disk = detach the OSD disk, restore-disk = attach it and
//! the disk profile's caps again. Network faults: isolate = the node's tap into the lab's
//! nftables set (frames dropped, carrier kept: a partition, not a pulled cable); netem = `tc
//! netem` inside the guest over SSH (this host's kernel has no netem; the guest's has).
//! Reboot and shutdown are the guest's own (`systemctl` over SSH).

use std::process::Command;
use std::time::Duration;

use provisioner::model::{ClusterModel, NodeId};
use virt::connect::Connect;
use virt::sys;

use super::{connect, dom_of, run, xml, Names};
use crate::lab::nodes::{lab_err, Nodes};
use crate::lab::{Error, Lab, Substrate};
use crate::report::PostCheck;
use crate::scenario::{Direction, FaultKind, Target};

/// Longest a clean shutdown may take before the machine is powered off.
const SHUTDOWN_WAIT_MAX: Duration = Duration::from_secs(60);

/// A libvirt lab, ready to drill.
pub struct LibvirtLab {
    nodes: Nodes,
    state: crate::lab::state::State,
    conn: Connect,
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
        let lab = crate::lab::state::LabDir::new(home, name);
        let state = lab.load()?.ok_or_else(|| {
            format!("lab `{name}`: no such lab (labs are made with `hadrill up`)")
        })?;
        let known_hosts = lab.known_hosts();
        let nodes = Nodes::open(lab, &known_hosts, model, seed, kubeconfig)?;
        let conn = connect(&state.uri)?;
        Ok(LibvirtLab { nodes, state, conn })
    }

    fn node(&self, id: NodeId) -> &str {
        self.nodes.node(id)
    }

    fn dom(&self, id: NodeId) -> xml::Dom {
        dom_of(&self.state, &self.nodes.lab, id.index(), None)
    }

    fn domain(&self, id: NodeId) -> Result<virt::domain::Domain, Error> {
        let name = Names::domain(&self.nodes.lab.name, self.node(id));
        self.conn
            .lookup_domain_by_name(&name)
            .map_err(|e| lab_err(format!("{name}: {}", e.message())))
    }

    fn ssh(&self, id: NodeId, cmd: &str) -> Result<String, Error> {
        self.nodes.ssh(id, cmd)
    }

    /// The node clients reach for the VIP: the one whose MAC the host's neighbour entry for
    /// the VIP holds; without an entry, the first node that has the VIP on its interface.
    fn vip_holder(nodes: &Nodes) -> Result<Option<NodeId>, Error> {
        let lab = &nodes.lab.name;
        let bridge = Names::of(lab).bridge;
        let neigh = run(
            "ip neigh",
            Command::new("ip").args([
                "neigh",
                "show",
                &nodes.model.vip.to_string(),
                "dev",
                &bridge,
            ]),
        )
        .unwrap_or_default();
        if let Some(id) = nodes
            .model
            .node_ids()
            .find(|&i| neigh.contains(&Names::mac(lab, i.index())) && !neigh.contains("FAILED"))
        {
            return Ok(Some(id));
        }
        Ok(nodes.vip_on_interface())
    }

    fn nft(&self, verb: &str, id: NodeId) -> Result<(), Error> {
        self.nft_set(verb, "isolated", id)
    }

    /// Whether the lab's nftables table has the one-way cut sets (a lab made before they
    /// existed does not: it refuses one-way cuts before the drill starts).
    fn has_cut_sets(&self) -> bool {
        let table = Names::of(&self.nodes.lab.name).nft_table;
        Command::new("nft")
            .args(["list", "set", "bridge", &table, "cut_in"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// The lab's partition and cut sets on the host (this node's tap, or any): each must be
    /// empty of it once the faults are undone. A set the table lacks (an older lab's cuts) is
    /// not checked.
    fn host_checks(&self, node: Option<NodeId>) -> Vec<PostCheck> {
        let table = Names::of(&self.nodes.lab.name).nft_table;
        let tap = node.map(|id| Names::tap(&self.nodes.lab.name, id.index()));
        ["isolated", "cut_in", "cut_out"]
            .into_iter()
            .filter_map(|set| {
                let out = Command::new("nft")
                    .args(["list", "set", "bridge", &table, set])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())?;
                let left: Vec<String> = set_elements(&String::from_utf8_lossy(&out.stdout))
                    .into_iter()
                    .filter(|t| tap.as_ref().is_none_or(|tap| t == tap))
                    .collect();
                Some(PostCheck {
                    node: "host".into(),
                    check: match node {
                        Some(id) => format!("{} not in the lab's {set} set", self.node(id)),
                        None => format!("the lab's {set} set empty"),
                    },
                    ok: left.is_empty(),
                    detail: left.join(", "),
                })
            })
            .collect()
    }

    fn nft_set(&self, verb: &str, set: &str, id: NodeId) -> Result<(), Error> {
        let table = Names::of(&self.nodes.lab.name).nft_table;
        let tap = Names::tap(&self.nodes.lab.name, id.index());
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
        let dom = Names::domain(&self.nodes.lab.name, self.node(id));
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
        self.nodes.clear_netem(id);
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

/// The elements of an nftables set as `nft list set` prints it (`elements = { "a", "b" }`).
fn set_elements(listing: &str) -> Vec<String> {
    let Some(rest) = listing.split_once("elements = {").map(|(_, r)| r) else {
        return Vec::new();
    };
    rest.split('}')
        .next()
        .unwrap_or("")
        .split(',')
        .map(|e| e.trim().trim_matches('"').to_owned())
        .filter(|e| !e.is_empty())
        .collect()
}

crate::lab::nodes::real_lab_of_nodes!(LibvirtLab);

impl Lab for LibvirtLab {
    fn substrate(&self) -> Substrate {
        Substrate::Libvirt
    }

    fn supports(&self, kind: &FaultKind) -> Result<(), String> {
        self.nodes.supports_service(kind)?;
        match kind {
            FaultKind::Cut(_) if !self.has_cut_sets() => Err(format!(
                "the lab's nftables table has no one-way cut sets (made by an older hadrill): \
                 `hadrill down --lab {0}` and `hadrill up --lab {0}` make them",
                self.nodes.lab.name
            )),
            _ => Ok(()),
        }
    }

    crate::lab::nodes::lab_methods_of_nodes!();

    fn resolve(&mut self, target: &Target) -> Result<Option<NodeId>, Error> {
        self.nodes.resolve(target, &LibvirtLab::vip_holder)
    }

    fn inject(&mut self, kind: &FaultKind, id: NodeId) -> Result<(), Error> {
        if let Some(done) = self.nodes.inject_on_node(kind, id) {
            return done;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_elements_as_nft_lists_them() {
        let empty = "table bridge hadrill_l1 {\n\tset isolated {\n\t\ttype ifname\n\t}\n}\n";
        assert!(set_elements(empty).is_empty());
        let two = "table bridge hadrill_l1 {\n\tset cut_in {\n\t\ttype ifname\n\t\telements = { \"hd-l1-n3\",\n\t\t\t     \"hd-l1-n1\" }\n\t}\n}\n";
        assert_eq!(set_elements(two), ["hd-l1-n3", "hd-l1-n1"]);
    }
}
