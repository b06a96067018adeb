//! Every catalogue scenario's longest gap, on both profiles and seeds 1–3, inside a band that
//! the daemons' documented timers justify (formulas/mod.rs), each band with its reason. The
//! golden snapshot (tests/tests/golden.rs) pins the exact figures, so any change shows there;
//! this test says which figures the mechanisms allow, so a snapshot update that moves a gap out
//! of its band is a change of mechanism, not a retune. A service a fault does not touch must
//! show no gap at all.

use std::time::Duration;

use harness::drill::{self, SimLab};
use harness::record::Service;
use harness::scenario::{Scenario, Step};
use harness::sim::Sim;
use provisioner::model::{ClusterModel, Profile};

mod catalogue;
mod formulas;
use formulas::{clash, master_down, neighbour_kept, osd_marked_down_by, skew_time};

/// Where the longest gap may lie, in seconds, and why.
struct Band {
    lo: f64,
    hi: f64,
    why: &'static str,
}

fn band(lo: Duration, hi: Duration, why: &'static str) -> Band {
    Band {
        lo: lo.as_secs_f64(),
        hi: hi.as_secs_f64(),
        why,
    }
}

/// The backups' priority in the seed (100 + the check's weight 2; the holder has 101 + 2).
const BACKUP_PRIORITY: u32 = 102;

/// The VIP holder is gone without a word (power, link, pause, partition): the backups take
/// over master_down after the last advert they heard, which went out up to advert_int before
/// the fault. A client's SYN sent into the gap is sent again syn_rto later and reaches the new
/// holder if it has taken over by then, so the client can see up to syn_rto less. One probe
/// interval either way for where the probes fall.
///
/// The seed's two backups have one priority, so their timers run out together: when closer
/// than an advert's transit, both take over, and if the one with the lower address (which
/// steps down) sent its GARPs last, clients follow it until the winner's second burst,
/// garp_master_delay after its first (FACTS.md; seen on the lab, CI at 710d0f6: 6.8 s).
fn vip_moves(m: &ClusterModel) -> Band {
    let down = master_down(m, BACKUP_PRIORITY) + m.machine.vrrp_timer_slack;
    band(
        down.saturating_sub(m.machine.syn_rto + m.keepalived.advert_int + m.probes.interval),
        down + clash(m) + m.probes.interval,
        "VRRP takeover after master_down (both backups: until the second GARP burst)",
    )
}

/// As [`vip_moves`] with two of three nodes dead: after the takeover HAProxy's rotation still
/// holds the dead nodes' servers (silent: DOWN only after fall × inter) and, in the kubernetes
/// profile, traefik's still holds the app pods on them (until their node is NotReady), so
/// requests that each rotation sends to a dead node fail. Each request moves each rotation on
/// by one: among servers × pods requests in a row, one reaches a live server and a live pod.
/// So up to that many probes more, wherever the rotations stood when the VIP moved.
fn vip_moves_past_dead(m: &ClusterModel) -> Band {
    let moves = vip_moves(m);
    let servers = m.nodes.iter().filter(|n| n.proxy).count() as u32;
    let pods = match m.profile {
        Profile::Kubernetes => m.kube.app_replicas,
        Profile::Bare => 1,
    };
    band(
        Duration::from_secs_f64(moves.lo),
        Duration::from_secs_f64(moves.hi) + m.probes.interval * (servers * pods - 1),
        "VRRP takeover, then requests the rotations still send to the two dead nodes",
    )
}

/// As [`vip_moves`], and then a finding (keepalived #166): after the heal both nodes hold the
/// VIP until one steps down, and clients whose neighbour entry points at the one that stepped
/// down keep sending to it until the entry is resolved again, up to [`neighbour_kept`].
fn vip_strands(m: &ClusterModel) -> Band {
    let moves = vip_moves(m);
    band(
        Duration::from_secs_f64(moves.lo),
        neighbour_kept(m) + m.probes.interval,
        "VRRP takeover; after the heal, clients stranded until their neighbour entry expires",
    )
}

/// HAProxy stops on the holder: its port refuses at once; the check (`pgrep`, every
/// check_interval, fall 1) removes the weight within check_interval; backups discard the
/// holder's lower-priority adverts (RFC 3768 §6.4.2, preempt) and take over master_down after
/// the last full-priority advert, sent up to advert_int before the stop at the earliest.
fn check_moves_vip(m: &ClusterModel) -> Band {
    let down = master_down(m, BACKUP_PRIORITY);
    band(
        down.saturating_sub(m.keepalived.advert_int + m.probes.interval),
        m.keepalived.check_interval + down + m.machine.vrrp_timer_slack + clash(m) + m.probes.interval,
        "keepalived's check drops the weight, backups take over master_down later (both: until the second GARP burst)",
    )
}

/// Requests in flight on a process or node that went away (or a probe slowed or lost by
/// netem) fail, each by the probe's deadline; HAProxy retries refused or timed-out connects
/// and redispatches the last retry, so the next probe is answered elsewhere.
fn in_flight(m: &ClusterModel) -> Band {
    band(
        Duration::ZERO,
        m.probes.timeout + m.probes.interval,
        "only requests in flight fail, each by the probe's deadline",
    )
}

/// A node shut down or rebooted cleanly: requests in flight on it fail ([`in_flight`]); if it
/// held the VIP, its keepalived sent priority 0 on the way down, and when both backups take
/// over at once, clients may follow the one that steps down until the second GARP burst.
fn handed_over(m: &ClusterModel) -> Band {
    band(
        Duration::ZERO,
        m.probes.timeout + m.probes.interval + clash(m),
        "requests in flight fail; if it held the VIP and both backups took over, until the second GARP burst",
    )
}

/// keepalived on the holder stops cleanly: it sends an advert of priority 0 and removes the
/// VIP; a backup that hears it takes over Skew_Time later (RFC 3768 §6.4.2), not
/// master_down. A client's SYN sent into that moment is lost (the old holder no longer has the
/// address) and sent again syn_rto later, by when the new holder has announced itself; one
/// probe interval for where the probes fall.
fn priority_zero(m: &ClusterModel) -> Band {
    band(
        Duration::ZERO,
        skew_time(BACKUP_PRIORITY) + m.machine.syn_rto + clash(m) + m.probes.interval,
        "a backup takes over a skew time after the priority-0 advert (both: until the second GARP burst)",
    )
}

/// The etcd leader is killed: followers start an election when their randomised election
/// timeout, in [election_timeout, 2 × election_timeout) after the last heartbeat (raft's
/// randomizedElectionTimeout), runs out.
fn etcd_elects(m: &ClusterModel) -> Band {
    let e = &m.etcd;
    band(
        e.election_timeout
            .saturating_sub(e.heartbeat + m.probes.interval),
        2 * e.election_timeout + m.probes.interval,
        "raft election after a randomised election timeout",
    )
}

/// An OSD stops (cleanly, or killed: its port refuses and peers report it at once,
/// osd_fast_fail_on_connection_refused): the mons mark it down at their next proposal, within
/// paxos_propose_interval, then its placement groups re-peer. Every write stalls until the
/// mark-down (fast_markdown after the stop, the first failing probe up to an interval after
/// it); after it, a write to a group already active again goes through, so the gap can end
/// there, or last until the last group is active (peering).
fn osd_stops(m: &ClusterModel) -> Band {
    let c = &m.ceph;
    band(
        c.fast_markdown.saturating_sub(m.probes.interval),
        c.paxos_propose_interval + c.peering + m.probes.interval,
        "mark-down at the next proposal, then re-peering",
    )
}

/// An OSD's host goes silent: no failure report before osd_heartbeat_grace, marked down by
/// [`osd_marked_down_by`], then its placement groups re-peer.
fn osd_silent(m: &ClusterModel) -> Band {
    band(
        m.ceph.osd_heartbeat_grace,
        osd_marked_down_by(m) + m.ceph.peering + m.probes.interval,
        "heartbeat grace, failure report, mark-down, re-peering",
    )
}

/// Quorum is lost while two nodes are off and found again once one has booted: the window
/// between the power-off and the power-on, the boot, then an election (etcd: up to
/// 2 × election_timeout; Ceph's monitors: mon_election_timeout, then re-peering).
fn quorum_back(m: &ClusterModel, window: Duration, service: Service) -> Band {
    let off = window + m.machine.boot;
    let elect = match service {
        Service::Ceph => m.ceph.mon_election_timeout + m.ceph.peering,
        _ => 2 * m.etcd.election_timeout,
    };
    band(
        off,
        off + elect + m.probes.interval,
        "down until a node boots and quorum is elected again",
    )
}

/// A one-way cut of the VIP holder (IP only; ARP flows): VRRP cannot end it. Cut inbound,
/// the holder's adverts still go out and nobody takes over; cut outbound, a backup takes
/// over, but the old holder answers each of its lower-priority adverts with gratuitous ARPs
/// and the clients follow them back (FACTS.md). So clients are cut off for the whole
/// window; a SYN sent up to syn_rto before the heal is sent again after it. After the heal,
/// HAProxy on the holder takes its backends back after `rise` good checks, and in the
/// kubernetes profile every kubelet missed its lease renewals through the VIP, so traefik
/// has no ready endpoint until a lease renewal and the node monitor's next pass.
///
/// Cut outbound, a new master's first GARPs leave a lag after its advert, and the old
/// holder answers that advert a transit after it left: when the lag is the longer, clients
/// follow the new master until the old holder answers its next advert, so the cut's first
/// master_down + advert_int (and the lag) may break the gap in two.
fn cut_holds(m: &ClusterModel, window: Duration, outbound: bool) -> Band {
    let rise = m.haproxy.check_inter * (m.haproxy.check_rise + 1);
    let ready = m.kube.kubelet_lease_renew + m.kube.node_monitor_period;
    let takeover = if outbound {
        master_down(m, BACKUP_PRIORITY)
            + m.keepalived.advert_int
            + m.machine.vrrp_timer_slack
            + m.machine.vrrp_garp_lag
    } else {
        Duration::ZERO
    };
    band(
        window.saturating_sub(takeover + m.machine.syn_rto + m.probes.interval),
        window + rise.max(ready) + m.probes.interval,
        "cut off for the whole cut; back after HAProxy's rise (and the nodes' readiness)",
    )
}

/// Loss on the holder's link for `window`: each probe fails alone when TCP's retransmissions
/// outlast its deadline (an ingress probe at least when its SYN-ACK is lost twice, p² = 9 % at
/// 30 %), so some of the window's hundreds of probes fail, and none fails for the loss after
/// it ends (only those in flight then).
fn lossy(m: &ClusterModel, window: Duration) -> Band {
    band(
        m.probes.interval,
        window + m.probes.timeout + m.probes.interval,
        "some probes fail while the loss lasts, none for it after",
    )
}

/// Loss on the link of a node with an OSD and the probe's Ceph client, for `window`: a write
/// fails only when the copies lost on its path cost more than the probe's deadline (each
/// lost copy 200 ms or more, so at least four or five in a row on one message at 30 %), so a
/// run may see none; and a stalled stream holds back every later write on it, so a gap may
/// last while the loss does, and not past it by more than a deadline and a probe.
fn lossy_streams(m: &ClusterModel, window: Duration) -> Band {
    band(
        Duration::ZERO,
        window + m.probes.timeout + m.probes.interval,
        "writes fail only when several copies in a row are lost; none for the loss after it",
    )
}

/// keepalived is killed on the holder: the VIP stays on its interface and answers, the
/// backups take over master_down later and clients follow their GARPs. If both take over
/// and the one that steps down sent its GARPs last, clients follow it until the winner's
/// second burst ([`clash`]); a request in flight as the clients move may be lost.
fn stale_vip(m: &ClusterModel) -> Band {
    band(
        Duration::ZERO,
        clash(m) + m.probes.interval,
        "the stale VIP answers; if both backups take over, until the second GARP burst",
    )
}

fn untouched() -> Band {
    band(
        Duration::ZERO,
        Duration::ZERO,
        "nothing on this service's path is touched",
    )
}

/// Time probed between the scenario's first power-off and its first power-on.
fn powered_off_window(s: &Scenario) -> Duration {
    window(s, "PowerOff", "PowerOn")
}

/// Time probed between the scenario's first step of kind `from` and its first of kind `to`.
fn window(s: &Scenario, from: &str, to: &str) -> Duration {
    let show = |st: &Step| format!("{st:?}");
    let steps = &s.steps;
    let off = steps.iter().position(|st| show(st).contains(from));
    let on = steps.iter().position(|st| show(st).contains(to));
    let (Some(off), Some(on)) = (off, on) else {
        panic!("{}: a {from} and a {to}", s.name)
    };
    steps[off..on]
        .iter()
        .map(|st| match st {
            Step::Observe(d) | Step::Settle(d) => *d,
            Step::Fault(_) => Duration::ZERO,
        })
        .sum()
}

fn band_of(name: &str, service: Service, m: &ClusterModel, s: &Scenario) -> Band {
    use Service::{Api, Ceph, Ingress};
    match (name, service) {
        ("kill-vip-holder" | "link-down-vip-holder", Api | Ingress) => vip_moves(m),
        ("two-nodes-down", Ingress) => vip_moves_past_dead(m),
        ("isolate-vip-holder" | "pause-vip-holder", Api | Ingress) => vip_strands(m),
        ("stop-haproxy-on-vip-holder", Api | Ingress) => check_moves_vip(m),
        ("kill-etcd-leader", Api) => etcd_elects(m),
        ("stop-keepalived-on-vip-holder", Api | Ingress) => priority_zero(m),
        ("two-nodes-down", Api | Ceph) => quorum_back(m, powered_off_window(s), service),
        ("loss-vip-holder", Api | Ingress) => lossy(m, window(s, "Netem", "Heal")),
        ("loss-vip-holder", Ceph) => lossy_streams(m, window(s, "Netem", "Heal")),
        ("cut-vip-holder-inbound", Api | Ingress) => cut_holds(m, window(s, "Cut", "Heal"), false),
        ("cut-vip-holder-outbound", Api | Ingress) => cut_holds(m, window(s, "Cut", "Heal"), true),
        ("kill-keepalived-on-vip-holder", Api | Ingress) => stale_vip(m),
        (
            "kill-vip-holder"
            | "link-down-vip-holder"
            | "isolate-vip-holder"
            | "pause-vip-holder"
            | "isolate-node"
            | "cut-vip-holder-inbound"
            | "cut-vip-holder-outbound",
            Ceph,
        ) => osd_silent(m),
        (
            "stop-ceph-osd"
            | "fail-disk"
            | "shutdown-node"
            | "rolling-maintenance"
            | "reboot-etcd-leader",
            Ceph,
        ) => osd_stops(m),
        ("shutdown-node" | "rolling-maintenance" | "reboot-etcd-leader", Api | Ingress) => {
            handed_over(m)
        }
        ("isolate-node" | "move-vip" | "netem-vip-holder", Api | Ingress)
        | ("stop-kube-apiserver" | "stop-etcd-leader", Api)
        | ("stop-traefik", Ingress) => in_flight(m),
        _ => untouched(),
    }
}

#[test]
fn every_catalogue_gap_is_within_its_timer_band() {
    let mut checked = 0;
    let mut outside = Vec::new();
    for profile in [Profile::Bare, Profile::Kubernetes] {
        let m = ClusterModel::seed(profile);
        for (name, s) in catalogue::all() {
            for seed in 1..=3 {
                let mut lab = SimLab::new(Sim::new(m.clone(), seed));
                let r = drill::run(&mut lab, &s, None);
                if r.error.is_some() {
                    // The bare profile has no kube-apiserver or kubelet to stop.
                    assert_eq!(profile, Profile::Bare, "{name}: {:?}", r.error);
                    continue;
                }
                for (service, sr) in &r.services {
                    let b = band_of(&name, *service, &m, &s);
                    let g = sr.max_gap_s();
                    checked += 1;
                    // Gaps are measured at the probes' 0.2 s grain; 1 ms for rounding.
                    if g < b.lo - 1e-3 || g > b.hi + 1e-3 {
                        outside.push(format!(
                            "{profile:?} {name} {service} seed {seed}: {g:.1} s, not in \
                             {:.1}-{:.1} s ({})",
                            b.lo, b.hi, b.why
                        ));
                    }
                }
            }
        }
    }
    // 25 scenarios × 3 services × 3 seeds on kubernetes, 23 on bare.
    assert!(checked >= (26 + 24) * 3 * 3, "{checked} gaps checked");
    assert!(outside.is_empty(), "{}", outside.join("\n"));
}
