//! A cluster hadrill did not make: the user's own machines, read from their inventory, as a
//! [`Lab`]. Everything is done over SSH from the nodes' own commands ([`Nodes`]), so only the
//! faults a node can undo by itself are allowed: service stop, kill and start, VIP moves,
//! drains, clean reboots, netem and one-way cuts. Power-off, pause, partitions, pulled links
//! and disk faults are refused before the drill, with the reason: hadrill has no power switch
//! or hypervisor here, and a two-way cut would cut its own session and the undo with it.
//!
//! Each fault with an undo first arms a revert timer on the node that the undo runs on
//! (`systemd-run --on-active`): if hadrill dies or its SSH session is lost, the node heals
//! itself when the timer fires. The drill's own undo disarms it. A one-way cut spares the
//! session hadrill's commands come through (`$SSH_CONNECTION` on the node) and loopback, as a
//! host firewall rule would.
//!
//! A dry run goes through the same drill engine and prints every command each step would run,
//! on which host, instead of running it; roles are read from the live cluster (read-only).

use std::time::Duration;

use provisioner::model::{ClusterModel, NodeId};
use provisioner::plan::quote;

use crate::lab::nodes::{lab_err, Command, Nodes};
use crate::lab::state::LabDir;
use crate::lab::{Error, Lab, Substrate};
use crate::scenario::{Direction, FaultKind, Target};

/// The substrate's name in reports and in a cluster folder.
pub const SUBSTRATE: &str = "existing";

/// Added to the longest scenario for the revert timers: the undo of a drill that runs to its
/// end comes before a timer fires.
pub const REVERT_MARGIN: Duration = Duration::from_secs(120);

/// The nftables table a one-way cut writes on a node.
const CUT_TABLE: &str = "hadrill_fault";

/// The prefix of every revert timer's unit: `heal` and the end of a drill stop them all.
const REVERT_UNIT: &str = "hadrill-revert";

/// The folder of a cluster's claim and fault ledger: `$HADRILL_HOME/clusters/NAME`.
pub fn dir(home: &std::path::Path, name: &str) -> LabDir {
    LabDir {
        name: name.to_owned(),
        dir: home.join("clusters").join(name),
    }
}

/// The cluster's nodes over SSH, claimed in its folder ([`dir`], made here): a drill's, or a
/// bench's (`hadrill bench --inventory`).
pub fn open_nodes(
    home: &std::path::Path,
    model: ClusterModel,
    known_hosts: &std::path::Path,
    seed: u64,
    kubeconfig: Option<&std::path::Path>,
) -> Result<Nodes, String> {
    crate::lab::state::check_name(&model.name).map_err(|e| format!("the cluster's name: {e}"))?;
    let lab = dir(home, &model.name);
    std::fs::create_dir_all(&lab.dir).map_err(|e| format!("{}: {e}", lab.dir.display()))?;
    Nodes::open(lab, known_hosts, model, seed, kubeconfig)
}

/// A cluster's folder removed when no fault is left in force (its ledger empty): a drill
/// that ended clean, or was refused, leaves nothing behind.
pub fn forget_if_clean(dir: &LabDir) {
    let ledger = dir.faults();
    if crate::drill::Ledger::load(&ledger).is_ok_and(|l| l.is_empty()) {
        let _ = std::fs::remove_file(&ledger);
    }
    let _ = std::fs::remove_dir(&dir.dir);
    let _ = std::fs::remove_dir(dir.dir.parent().unwrap_or(&dir.dir));
}

/// A revert timer armed on a host for a fault at a node.
#[derive(Debug)]
struct Armed {
    host: NodeId,
    unit: String,
    fault: FaultKind,
    node: NodeId,
}

/// The user's cluster, ready to drill (or to show what a drill would run).
pub struct ExistingLab {
    nodes: Nodes,
    /// When a revert timer fires after its fault.
    revert_after: Duration,
    armed: Vec<Armed>,
    /// A dry run: commands are printed, not run, and time is counted, not waited.
    dry: Option<Duration>,
}

impl ExistingLab {
    /// Opens the cluster of `model` over SSH (host keys pinned in `known_hosts`); its claim
    /// and ledger live in [`dir`]. `dry`: print, do not run.
    pub fn open(
        home: &std::path::Path,
        model: ClusterModel,
        known_hosts: &std::path::Path,
        seed: u64,
        kubeconfig: Option<&std::path::Path>,
        revert_after: Duration,
        dry: bool,
    ) -> Result<ExistingLab, String> {
        let nodes = open_nodes(home, model, known_hosts, seed, kubeconfig)?;
        Ok(ExistingLab {
            nodes,
            revert_after,
            armed: Vec::new(),
            dry: dry.then_some(Duration::ZERO),
        })
    }

    /// A one-way cut at the node: IP dropped in that direction, except loopback and the SSH
    /// session this command came through (so the undo still reaches the node).
    fn cut(d: Direction) -> String {
        let (hook, lo, peer, port) = match d {
            Direction::Inbound => ("input", "iif", "saddr", "dport"),
            Direction::Outbound => ("output", "oif", "daddr", "sport"),
        };
        format!(
            "set -e; set -- ${{SSH_CONNECTION:?no SSH_CONNECTION: the session could not be spared}}; \
             case $1 in *:*) f=ip6;; *) f=ip;; esac; \
             nft -f - <<EOF\n\
             table inet {CUT_TABLE} {{\n\
             chain {hook} {{ type filter hook {hook} priority -300; policy drop; {lo} lo accept; $f {peer} $1 tcp {port} $4 accept; }}\n\
             }}\n\
             EOF"
        )
    }

    /// Every network fault at the node undone: the cut's table and netem's qdisc.
    fn heal_script(&self) -> String {
        format!(
            "nft delete table inet {CUT_TABLE} 2>/dev/null; tc qdisc del dev {} root 2>/dev/null; true",
            quote(&self.nodes.model.vip_interface)
        )
    }

    /// The commands of a fault (or an undo) at node `id`.
    fn commands(&self, kind: &FaultKind, id: NodeId) -> Result<Vec<Command>, Error> {
        let on = |script: String| Ok(vec![Command::required(id, script)]);
        match kind {
            FaultKind::Cut(d) => on(Self::cut(*d)),
            FaultKind::Heal => on(self.heal_script()),
            // The command returns before the node goes down; the session then breaks.
            FaultKind::Reboot => {
                on("nohup sh -c 'sleep 1; systemctl reboot' >/dev/null 2>&1 &".into())
            }
            _ => match self.nodes.commands(kind, id) {
                Some(cmds) => cmds,
                None => Err(lab_err(format!(
                    "{}: {}",
                    kind.key(),
                    self.supports(kind).err().unwrap_or_default()
                ))),
            },
        }
    }

    /// The revert timers for a fault at `id`: on each host its undo runs on, the undo's
    /// commands there, after [`ExistingLab::revert_after`]. Those on the fault's own node are
    /// required (a fault that cannot heal itself does not start).
    fn arm(&self, kind: &FaultKind, id: NodeId) -> Result<Vec<(Armed, Command)>, Error> {
        let Some(undo) = kind.inverse() else {
            return Ok(Vec::new());
        };
        let undo_cmds = self.commands(&undo, id)?;
        let mut hosts: Vec<NodeId> = undo_cmds.iter().map(|c| c.host).collect();
        hosts.dedup();
        let secs = self.revert_after.as_secs().max(1);
        Ok(hosts
            .into_iter()
            .map(|h| {
                let script = undo_cmds
                    .iter()
                    .filter(|c| c.host == h)
                    .map(|c| c.script.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let unit = format!("{REVERT_UNIT}-{}-{}", slug(kind), id.index());
                let arm = format!(
                    "systemctl stop {u}.timer {u}.service 2>/dev/null; \
                     systemctl reset-failed {u}.timer {u}.service 2>/dev/null; \
                     systemd-run --quiet --unit={u} --on-active={secs}s \
                     --timer-property=AccuracySec=1s /bin/sh -c {s}",
                    u = quote(&unit),
                    s = quote(&script)
                );
                let cmd = if h == id {
                    Command::required(h, arm)
                } else {
                    Command::optional(h, arm)
                };
                let armed = Armed {
                    host: h,
                    unit,
                    fault: kind.clone(),
                    node: id,
                };
                (armed, cmd)
            })
            .collect())
    }

    /// Runs the commands, or prints them in a dry run.
    fn run(&self, what: &str, cmds: &[Command]) -> Result<(), Error> {
        if self.dry.is_some() {
            for c in cmds {
                let optional = if c.required { "" } else { " (optional)" };
                println!(
                    "    {what} on {}{optional}: {}",
                    self.nodes.node(c.host),
                    c.script.replace('\n', "\n      ")
                );
            }
            return Ok(());
        }
        self.nodes.run_all(cmds)
    }

    /// The revert timers the undo `undo` at `id` makes needless, stopped.
    fn disarm(&mut self, undo: &FaultKind, id: NodeId) -> Result<(), Error> {
        let (done, kept): (Vec<Armed>, Vec<Armed>) = std::mem::take(&mut self.armed)
            .into_iter()
            .partition(|a| a.node == id && undo.undoes(&a.fault));
        self.armed = kept;
        let cmds: Vec<Command> = done
            .iter()
            .map(|a| {
                Command::optional(
                    a.host,
                    format!(
                        "systemctl stop {u}.timer 2>/dev/null; systemctl reset-failed {u}.service 2>/dev/null; true",
                        u = quote(&a.unit)
                    ),
                )
            })
            .collect();
        self.run("disarm", &cmds)
    }

    fn vip_holder(nodes: &Nodes) -> Result<Option<NodeId>, Error> {
        Ok(nodes.vip_on_interface())
    }
}

/// Why a fault is not done on the user's own machines; None when a node can undo it by
/// itself.
fn refused(kind: &FaultKind) -> Option<&'static str> {
    match kind {
        FaultKind::PowerOff | FaultKind::Shutdown => Some(
            "a machine powered off stays off until someone powers it on, and hadrill has no \
             power switch for your machines: drill a clean `reboot`, or power-off on a lab \
             made with `hadrill up`",
        ),
        FaultKind::PowerOn => Some("hadrill has no power switch for your machines"),
        FaultKind::Pause | FaultKind::Resume => Some(
            "pausing a whole machine needs its hypervisor; a lab made with `hadrill up` has one",
        ),
        FaultKind::Isolate | FaultKind::LinkDown | FaultKind::LinkUp => Some(
            "it would cut hadrill's own SSH session to the node, and the undo with it: drill a \
             one-way cut (`isolate: {node: …, direction: inbound}`), which spares the session \
             and arms a revert timer on the node",
        ),
        FaultKind::SlowDisk(_) | FaultKind::FailDisk | FaultKind::RestoreDisk => {
            Some("your cluster's disks are its own: hadrill slows or fails only a lab's disks")
        }
        FaultKind::Reboot
        | FaultKind::Cut(_)
        | FaultKind::Heal
        | FaultKind::Netem { .. }
        | FaultKind::StopService(_)
        | FaultKind::KillService(..)
        | FaultKind::StartService(_)
        | FaultKind::MoveVip
        | FaultKind::ReleaseVip
        | FaultKind::Drain
        | FaultKind::Uncordon => None,
    }
}

/// A fault as a unit-name word: `stopservice-etcd`.
fn slug(kind: &FaultKind) -> String {
    let raw = format!("{kind:?}").to_ascii_lowercase();
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(40).collect()
}

impl crate::lab::RealLab for ExistingLab {
    fn wait_healthy(&mut self) -> Result<(), String> {
        if self.dry.is_some() {
            println!("  wait until every `validate` check passes");
            return Ok(());
        }
        self.nodes.wait_healthy()
    }

    fn ledger_file(&self) -> std::path::PathBuf {
        self.nodes.lab.faults()
    }

    fn verify_healed(&mut self) -> Vec<crate::report::PostCheck> {
        if self.dry.is_some() {
            println!("  check every node for what a fault could leave");
            return Vec::new();
        }
        self.nodes.verify_healed()
    }

    fn disarm_all(&mut self) {
        self.armed.clear();
        let cmds: Vec<Command> = self
            .nodes
            .model
            .node_ids()
            .map(|h| {
                Command::optional(
                    h,
                    format!("systemctl stop '{REVERT_UNIT}-*.timer' 2>/dev/null; true"),
                )
            })
            .collect();
        let _ = self.run("disarm", &cmds);
    }
}

impl Lab for ExistingLab {
    fn substrate(&self) -> Substrate {
        Substrate::Existing
    }

    fn supports(&self, kind: &FaultKind) -> Result<(), String> {
        self.nodes.supports_service(kind)?;
        match refused(kind) {
            Some(why) => Err(why.to_owned()),
            None => Ok(()),
        }
    }

    crate::lab::nodes::lab_nodes_of_nodes!();

    fn check_undone(&mut self, undo: &FaultKind, node: NodeId) -> Vec<crate::report::PostCheck> {
        if self.dry.is_some() {
            return Vec::new();
        }
        self.nodes.check_undone(undo, node)
    }

    fn now(&self) -> Duration {
        self.dry.unwrap_or_else(|| self.nodes.now())
    }

    fn resolve(&mut self, target: &Target) -> Result<Option<NodeId>, Error> {
        let node = self.nodes.resolve(target, &ExistingLab::vip_holder)?;
        if self.dry.is_some() && !matches!(target, Target::Node(_) | Target::All) {
            let name = node.map_or("nobody", |n| self.nodes.node(n));
            println!("  {target} is {name} now (read from the cluster)");
        }
        Ok(node)
    }

    fn inject(&mut self, kind: &FaultKind, id: NodeId) -> Result<(), Error> {
        self.supports(kind)
            .map_err(|why| lab_err(format!("{}: {why}", kind.key())))?;
        if self.dry.is_some() {
            let what = match kind {
                FaultKind::Cut(d) => format!("isolate ({}, one way)", d.as_str()),
                _ => kind.key().to_owned(),
            };
            println!("  {what} at {}:", self.nodes.node(id));
        }
        let cmds = self.commands(kind, id)?;
        // Armed first: a session lost right after the fault still heals it.
        let arm = self.arm(kind, id)?;
        let arm_cmds: Vec<Command> = arm.iter().map(|(_, c)| c.clone()).collect();
        self.run("arm revert timer", &arm_cmds)?;
        self.armed.extend(arm.into_iter().map(|(a, _)| a));
        self.run("run", &cmds)?;
        // An undo: the timers of what it undid are needless now.
        self.disarm(kind, id)
    }

    fn observe(&mut self, span: Duration, rec: &mut crate::record::Record) -> Result<(), Error> {
        match &mut self.dry {
            Some(clock) => {
                println!("  observe {:.1} s through the VIP", span.as_secs_f64());
                *clock += span;
                rec.end = rec.end.max(*clock);
                Ok(())
            }
            None => self.nodes.observe(span, rec),
        }
    }

    fn finish(&mut self, rec: &mut crate::record::Record) -> Result<(), Error> {
        if self.dry.is_some() {
            return Ok(());
        }
        // A timer still armed is a fault whose undo failed: it stays, and heals the node.
        self.nodes.finish(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_node_undoes_by_itself_is_done() {
        use crate::scenario::{Daemon, Signal};
        let allowed = [
            FaultKind::Reboot,
            FaultKind::Cut(Direction::Inbound),
            FaultKind::Cut(Direction::Outbound),
            FaultKind::Heal,
            FaultKind::Netem {
                delay: Duration::from_millis(50),
                loss: 0.01,
            },
            FaultKind::StopService(Daemon::Etcd),
            FaultKind::KillService(Daemon::Keepalived, Signal::Kill),
            FaultKind::StartService(Daemon::Etcd),
            FaultKind::MoveVip,
            FaultKind::ReleaseVip,
            FaultKind::Drain,
            FaultKind::Uncordon,
        ];
        for k in &allowed {
            assert_eq!(refused(k), None, "{k:?}");
        }
        let refused_kinds = [
            (FaultKind::PowerOff, "no power switch"),
            (FaultKind::Shutdown, "no power switch"),
            (FaultKind::PowerOn, "no power switch"),
            (FaultKind::Pause, "hypervisor"),
            (FaultKind::Resume, "hypervisor"),
            (FaultKind::Isolate, "SSH session"),
            (FaultKind::LinkDown, "SSH session"),
            (FaultKind::LinkUp, "SSH session"),
            (FaultKind::SlowDisk("hdd-7200".into()), "disks"),
            (FaultKind::FailDisk, "disks"),
            (FaultKind::RestoreDisk, "disks"),
        ];
        for (k, why) in &refused_kinds {
            assert!(refused(k).is_some_and(|r| r.contains(why)), "{k:?}");
        }
        // Every fault with an undo that is allowed has an allowed undo (the revert timer runs it).
        for k in &allowed {
            if let Some(undo) = k.inverse() {
                assert_eq!(refused(&undo), None, "{k:?} → {undo:?}");
            }
        }
    }

    #[test]
    fn a_unit_word_is_a_few_plain_characters() {
        assert_eq!(
            slug(&FaultKind::StopService(crate::scenario::Daemon::Etcd)),
            "stopservice-etcd"
        );
        assert_eq!(slug(&FaultKind::Cut(Direction::Inbound)), "cut-inbound");
    }

    #[test]
    fn a_cut_spares_loopback_and_the_session_and_drops_the_rest() {
        let s = ExistingLab::cut(Direction::Inbound);
        assert!(s.contains("hook input priority -300; policy drop; iif lo accept; $f saddr $1 tcp dport $4 accept;"), "{s}");
        let s = ExistingLab::cut(Direction::Outbound);
        assert!(s.contains("hook output priority -300; policy drop; oif lo accept; $f daddr $1 tcp sport $4 accept;"), "{s}");
    }
}
