//! Fault kinds: what a scenario can do to a node, and what undoes each. Every match here is
//! exhaustive with no wildcard, so a new fault kind does not compile until it says what undoes
//! it (or that it is an undo, or heals by itself).
//!
//! **Invariant:** every kind has one [`Role`]: a fault with its undo (the drill's ledger holds
//! it until the undo runs), an undo, or a fault that heals by itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::Daemon;

/// A fault kind with its parameters, not yet bound to a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Pull the power (libvirt destroy).
    PowerOff,
    /// Power on again.
    PowerOn,
    /// Clean reboot.
    Reboot,
    /// Clean shutdown (power on to undo).
    Shutdown,
    /// Suspend the machine (libvirt suspend): it stops where it is, its clock too.
    Pause,
    /// Resume a paused machine.
    Resume,
    /// Cut the node off in the network; it keeps its link (and so its VIP).
    Isolate,
    /// Drop the node's IP traffic one way, as a host firewall rule does: ARP still flows, so
    /// the node still answers for the VIP and its gratuitous ARPs still move clients.
    Cut(Direction),
    /// Lose the carrier on the node's interface: keepalived goes FAULT.
    LinkDown,
    /// Restore the carrier.
    LinkUp,
    /// Undo every network fault of the target (isolate, netem, link-down).
    Heal,
    /// Delay and loss on the node's link.
    Netem {
        /// Added one-way delay.
        delay: Duration,
        /// Packet loss, 0–1.
        loss: f64,
    },
    /// Stop a daemon cleanly (`systemctl stop`: SIGTERM, and the daemon's own shutdown runs:
    /// keepalived sends priority 0, etcd's leader hands leadership over).
    StopService(Daemon),
    /// Send a daemon a signal (`systemctl kill`); the unit does not restart it. SIGKILL runs
    /// no shutdown code: keepalived leaves the VIP on the interface, etcd's leader leaves its
    /// followers to an election.
    KillService(Daemon, Signal),
    /// Start a daemon again.
    StartService(Daemon),
    /// Make the VIP move to the target (raise its priority through keepalived's track file).
    MoveVip,
    /// Undo a `move-vip` to the target: its track-file bonus goes, and the priorities are the
    /// model's again (the VIP goes back to the highest unless `nopreempt`).
    ReleaseVip,
    /// Cordon and evict the pods of the node (kubernetes) or take it out of the LB (bare).
    Drain,
    /// Make the node schedulable again.
    Uncordon,
    /// The storage disk slows down to a disk profile.
    SlowDisk(String),
    /// The storage disk fails (I/O errors).
    FailDisk,
    /// The storage disk is healthy again.
    RestoreDisk,
}

/// The direction of a one-way cut, seen from the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// What is sent to the node is dropped; what it sends goes out.
    Inbound,
    /// What the node sends is dropped; what is sent to it arrives.
    Outbound,
}

impl Direction {
    /// The scenario word.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// The signal of a `kill-service` fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    /// SIGKILL: the process ends where it is.
    Kill,
    /// SIGTERM: the daemon shuts down cleanly, as on `systemctl stop`.
    Term,
}

impl Signal {
    /// The scenario word.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Kill => "kill",
            Signal::Term => "term",
        }
    }

    /// Whether the daemon's own shutdown runs (SIGTERM), or nothing does (SIGKILL).
    pub fn clean(self) -> bool {
        match self {
            Signal::Kill => false,
            Signal::Term => true,
        }
    }
}

/// What a fault kind is to the drill's ledger.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// It breaks something; this kind, on the same node, undoes it.
    Fault(FaultKind),
    /// It undoes a fault (it opens no fault window of its own).
    Undo,
    /// It breaks something that comes back by itself (a reboot).
    HealsItself,
}

impl FaultKind {
    /// The scenario key.
    pub fn key(&self) -> &'static str {
        match self {
            FaultKind::PowerOff => "power-off",
            FaultKind::PowerOn => "power-on",
            FaultKind::Reboot => "reboot",
            FaultKind::Shutdown => "shutdown",
            FaultKind::Pause => "pause",
            FaultKind::Resume => "resume",
            FaultKind::Isolate | FaultKind::Cut(_) => "isolate",
            FaultKind::LinkDown => "link-down",
            FaultKind::LinkUp => "link-up",
            FaultKind::Heal => "heal",
            FaultKind::Netem { .. } => "netem",
            FaultKind::StopService(_) => "stop-service",
            FaultKind::KillService(..) => "kill-service",
            FaultKind::StartService(_) => "start-service",
            FaultKind::MoveVip => "move-vip",
            FaultKind::ReleaseVip => "release-vip",
            FaultKind::Drain => "drain",
            FaultKind::Uncordon => "uncordon",
            FaultKind::SlowDisk(_) => "slow-disk",
            FaultKind::FailDisk => "fail-disk",
            FaultKind::RestoreDisk => "restore-disk",
        }
    }

    /// What this kind is to the drill's ledger: one exhaustive match, so a new kind says
    /// what undoes it before it compiles.
    pub fn role(&self) -> Role {
        use FaultKind as K;
        match self {
            K::PowerOff | K::Shutdown => Role::Fault(K::PowerOn),
            K::Pause => Role::Fault(K::Resume),
            K::Isolate | K::Cut(_) | K::Netem { .. } => Role::Fault(K::Heal),
            K::LinkDown => Role::Fault(K::LinkUp),
            K::StopService(d) | K::KillService(d, _) => Role::Fault(K::StartService(*d)),
            K::MoveVip => Role::Fault(K::ReleaseVip),
            K::Drain => Role::Fault(K::Uncordon),
            K::SlowDisk(_) | K::FailDisk => Role::Fault(K::RestoreDisk),
            K::Reboot => Role::HealsItself,
            K::PowerOn
            | K::Resume
            | K::Heal
            | K::LinkUp
            | K::StartService(_)
            | K::ReleaseVip
            | K::Uncordon
            | K::RestoreDisk => Role::Undo,
        }
    }

    /// What undoes a fault of this kind, on the same node; None when this kind is itself an
    /// undo or heals by itself (a reboot). The drill's ledger holds exactly the faults that
    /// have one.
    pub fn inverse(&self) -> Option<FaultKind> {
        match self.role() {
            Role::Fault(undo) => Some(undo),
            Role::Undo | Role::HealsItself => None,
        }
    }

    /// Whether this kind is an undo of another kind (it opens no fault window of its own).
    pub fn is_undo(&self) -> bool {
        self.role() == Role::Undo
    }

    /// Whether this kind undoes a fault of kind `other` (`power-on` undoes `power-off`): it is
    /// `other`'s inverse, or `heal`, which undoes every network fault.
    pub fn undoes(&self, other: &FaultKind) -> bool {
        let network = matches!(
            other,
            FaultKind::Isolate | FaultKind::Cut(_) | FaultKind::Netem { .. } | FaultKind::LinkDown
        );
        other.inverse().as_ref() == Some(self) || *self == FaultKind::Heal && network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<FaultKind> {
        let d = Daemon::Etcd;
        vec![
            FaultKind::PowerOff,
            FaultKind::PowerOn,
            FaultKind::Reboot,
            FaultKind::Shutdown,
            FaultKind::Pause,
            FaultKind::Resume,
            FaultKind::Isolate,
            FaultKind::Cut(Direction::Inbound),
            FaultKind::Cut(Direction::Outbound),
            FaultKind::LinkDown,
            FaultKind::LinkUp,
            FaultKind::Heal,
            FaultKind::Netem {
                delay: Duration::from_millis(100),
                loss: 0.05,
            },
            FaultKind::StopService(d),
            FaultKind::KillService(d, Signal::Kill),
            FaultKind::KillService(d, Signal::Term),
            FaultKind::StartService(d),
            FaultKind::MoveVip,
            FaultKind::ReleaseVip,
            FaultKind::Drain,
            FaultKind::Uncordon,
            FaultKind::SlowDisk("hdd-7200".into()),
            FaultKind::FailDisk,
            FaultKind::RestoreDisk,
        ]
    }

    #[test]
    fn every_fault_but_a_reboot_has_an_undo_and_every_undo_undoes_something() {
        let kinds = every_kind();
        for k in &kinds {
            match k.inverse() {
                Some(inv) => {
                    assert!(!k.is_undo(), "{k:?} has an inverse, so it is not an undo");
                    assert!(inv.is_undo(), "{k:?}'s inverse {inv:?} is an undo");
                    assert!(inv.undoes(k), "{inv:?} undoes {k:?}");
                }
                None => assert!(
                    k.is_undo() || *k == FaultKind::Reboot,
                    "{k:?}: neither an undo nor undone"
                ),
            }
            if k.is_undo() {
                assert!(
                    kinds.iter().any(|f| k.undoes(f)),
                    "{k:?} undoes no fault kind"
                );
            }
        }
        // Keys are distinct: a scenario names each kind one way (a kind's parameters, such
        // as kill-service's signal, share its key), except that a one-way cut is `isolate`
        // with a direction.
        let mut keys: Vec<&str> = kinds.iter().map(FaultKind::key).collect();
        keys.sort_unstable();
        keys.dedup();
        let variants: std::collections::HashSet<_> = kinds
            .iter()
            .filter(|k| !matches!(k, FaultKind::Cut(_)))
            .map(std::mem::discriminant)
            .collect();
        assert_eq!(keys.len(), variants.len());
    }

    #[test]
    fn undo_pairs_are_exact() {
        assert!(FaultKind::ReleaseVip.undoes(&FaultKind::MoveVip));
        assert!(FaultKind::Heal.undoes(&FaultKind::LinkDown));
        assert!(FaultKind::LinkUp.undoes(&FaultKind::LinkDown));
        assert!(!FaultKind::LinkUp.undoes(&FaultKind::Isolate));
        assert!(FaultKind::Heal.undoes(&FaultKind::Cut(Direction::Inbound)));
        assert!(!FaultKind::LinkUp.undoes(&FaultKind::Cut(Direction::Outbound)));
        assert!(
            !FaultKind::StartService(Daemon::Etcd).undoes(&FaultKind::StopService(Daemon::Haproxy))
        );
        assert!(FaultKind::RestoreDisk.undoes(&FaultKind::SlowDisk("ssd".into())));
        assert!(!FaultKind::PowerOn.undoes(&FaultKind::Reboot));
    }
}
