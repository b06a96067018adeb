//! The simulator's own limits and streams, tested on the whole world.

use super::*;
use crate::record::{Service, AGENT_GRACE};
use crate::scenario::{Daemon, FaultKind};
use provisioner::model::Profile;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The seed's cluster grown to `n` nodes like its third one.
fn cluster(profile: Profile, n: usize) -> ClusterModel {
    let mut m = ClusterModel::seed(profile);
    let like = m.nodes[2].clone();
    for i in m.nodes.len() + 1..=n {
        let mut node = like.clone();
        node.name = format!("node-{i}");
        node.address = std::net::Ipv4Addr::new(10, 77, 0, 10 + u8::try_from(i).unwrap());
        m.nodes.push(node);
    }
    m
}

/// Ten minutes of the largest cluster, after `n_off` of its nodes were powered off.
fn ten_minutes(profile: Profile, n_off: usize) -> Sim {
    let mut sim = Sim::new(cluster(profile, NODES_MAX), 1);
    let mut rec = Record::default();
    sim.set_probing(true);
    sim.run_until(Duration::from_secs(10), &mut rec).unwrap();
    for i in 0..n_off {
        let node = NodeId(u8::try_from(i).unwrap());
        sim.inject(&FaultKind::PowerOff, node).unwrap();
    }
    sim.run_until(Duration::from_secs(610), &mut rec).unwrap();
    sim
}

#[test]
fn the_largest_cluster_stays_within_its_steady_timers_and_events_max() {
    for profile in [Profile::Kubernetes, Profile::Bare] {
        // Healthy, and with quorum lost (elections and mark-downs tried again and again).
        for n_off in [0, NODES_MAX / 2 + 1] {
            let sim = ten_minutes(profile, n_off);
            let high = sim.queue.high;
            assert!(high <= STEADY_TIMERS_MAX / 5, "{profile:?}: {high} timers");
            // At this rate, the longest scenario's day leaves EVENTS_MAX a margin.
            let per_s = sim.queue.n_events as f64 / sim.now.as_secs_f64();
            let day = per_s * crate::scenario::probing_max().as_secs_f64();
            assert!(
                day * 1.5 < EVENTS_MAX as f64,
                "{profile:?}: {per_s:.0} events/s"
            );
        }
    }
}

#[test]
fn a_limit_reached_stops_the_simulation_with_an_error() {
    let mut sim = Sim::new(ClusterModel::seed(Profile::Bare), 1);
    let mut rec = Record::default();
    sim.queue.n_events = EVENTS_MAX;
    let e = sim
        .run_until(Duration::from_secs(10), &mut rec)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Limit {
                name: "EVENTS_MAX",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("EVENTS_MAX (50000000)"), "{e}");
    // For good: later calls return it too.
    assert_eq!(sim.inject(&FaultKind::Isolate, NodeId(0)), Err(e.clone()));
    assert_eq!(sim.run_until(Duration::from_secs(20), &mut rec), Err(e));
}

/// A day of probing at the longest interval fits, and more than `SIM_TIME_MAX` is refused
/// before it runs, naming the limit (seconds), for good.
#[test]
fn a_time_past_sim_time_max_is_refused_by_name() {
    let longest = crate::scenario::probing_max_at(crate::scenario::PROBE_INTERVAL_MAX);
    // 432,000 samples 10 s apart (50 days) and the minute a drill runs on after its heals.
    assert_eq!(longest, Duration::from_secs(4_319_990));
    assert!(longest + Duration::from_secs(60) < SIM_TIME_MAX);
    let mut sim = Sim::new(ClusterModel::seed(Profile::Bare), 1);
    let mut rec = Record::default();
    sim.run_until(Duration::from_secs(5), &mut rec).unwrap();
    let e = sim
        .run_until(SIM_TIME_MAX + Duration::from_nanos(1), &mut rec)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the simulation at 5.000 s: limit SIM_TIME_MAX (5400000) reached"
    );
    assert_eq!(sim.now(), Duration::from_secs(5), "nothing ran");
    assert_eq!(sim.run_until(Duration::from_secs(6), &mut rec), Err(e));
}

/// Timers come out in time order, ties in the order they were set, whatever order they were
/// set in (the queue's one-integer key).
#[test]
fn timers_come_out_in_time_order_ties_in_setting_order() {
    let mut q = Queue::new();
    let ms = Duration::from_millis;
    let ev = |i: u8| Event::Kube(kube::Event::Heartbeat(NodeId(i)));
    for (t, i) in [
        (ms(30), 0),
        (ms(10), 1),
        (ms(30), 2),
        (Duration::MAX, 3),
        (ms(10), 4),
        (ms(20), 5),
    ] {
        q.push(t, ev(i)).unwrap();
    }
    let mut out = Vec::new();
    while let Some((t, e)) = q.pop_until(ms(1000)).unwrap() {
        out.push((t, e));
    }
    let want = [
        (ms(10), 1),
        (ms(10), 4),
        (ms(20), 5),
        (ms(30), 0),
        (ms(30), 2),
    ];
    assert_eq!(out, want.map(|(t, i)| (t, ev(i))));
    assert_eq!(q.heap.len(), 1, "the timer past every time stays queued");
}

#[test]
fn a_full_queue_refuses_a_timer() {
    let mut q = Queue::new();
    for _ in 0..QUEUE_LEN_MAX {
        q.push(Duration::ZERO, Event::Client(client::Event::Probe))
            .unwrap();
    }
    let e = q
        .push(Duration::ZERO, Event::Client(client::Event::Probe))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Limit {
                name: "QUEUE_LEN_MAX",
                ..
            }
        ),
        "{e}"
    );
}

/// Thirty seconds of `m` at `seed`, probed.
fn thirty_seconds(m: ClusterModel, seed: u64) -> Record {
    let mut sim = Sim::new(m, seed);
    let mut rec = Record::default();
    sim.set_probing(true);
    sim.run_until(Duration::from_secs(30), &mut rec).unwrap();
    rec
}

/// Each answer time of `s` in `rec`, in order.
fn latencies(rec: &Record, s: Service) -> Vec<Duration> {
    rec.of(s).iter().map(|x| x.latency).collect()
}

#[test]
fn answer_times_vary_by_probe_and_by_seed_and_move_nothing_else() {
    let run = |seed| thirty_seconds(ClusterModel::seed(Profile::Kubernetes), seed);
    let (a, b) = (run(1), run(2));
    for s in Service::ALL {
        let l = latencies(&a, s);
        assert!(l.iter().any(|x| *x != l[0]), "{s}: one answer time");
        assert_ne!(l, latencies(&b, s), "{s}");
        // Each answer takes at most four mean extras beyond what the model counts.
        let floor = l.iter().min().unwrap();
        assert!(
            l.iter().all(|x| *x
                <= *floor
                    + 4 * ClusterModel::seed(Profile::Kubernetes)
                        .machine
                        .answer_extra_mean),
            "{s}"
        );
    }
    // The answer stream is its own: drawing from it differently (measured figures
    // instead of the default) moves none of the other timers or draws.
    let mut m = ClusterModel::seed(Profile::Kubernetes);
    m.machine.api_overhead = vec![Duration::from_millis(3), Duration::from_millis(9)];
    let mut sim = Sim::new(m, 1);
    let mut rec = Record::default();
    sim.set_probing(true);
    sim.run_until(Duration::from_secs(30), &mut rec).unwrap();
    let seq = |r: &Record| -> Vec<(Duration, bool)> {
        r.of(Service::Ceph).iter().map(|x| (x.at, x.ok)).collect()
    };
    assert_eq!(seq(&rec), seq(&a));
    assert_ne!(latencies(&rec, Service::Api), latencies(&a, Service::Api));
    let mut again = Sim::new(ClusterModel::seed(Profile::Kubernetes), 1);
    again.set_probing(true);
    again
        .run_until(Duration::from_secs(30), &mut Record::default())
        .unwrap();
    assert_eq!(sim.queue.seq, again.queue.seq);
}

#[test]
fn a_stale_neighbour_entry_is_resolved_to_the_vip_master_whichever_node_it_is() {
    // After a heal's race (pause-vip-holder: the resumed master's advert silences the
    // interim one before it hears a lower priority, so nobody sends a gratuitous ARP), the
    // client's entry points at a node without the VIP until the kernel's probes resolve it
    // again. The seed's master is the first node; an inventory may make any node master, and
    // the broadcast ARP request must be answered by it, not by the first node on the link.
    for master in 0..3 {
        let mut m = ClusterModel::seed(Profile::Bare);
        for (i, node) in m.nodes.iter_mut().enumerate() {
            node.vrrp_priority = if i == master { 101 } else { 100 };
            node.vrrp_initial_master = i == master;
        }
        let mut sim = Sim::new(m, 1);
        let mut rec = Record::default();
        sim.set_probing(true);
        sim.run_until(Duration::from_secs(10), &mut rec).unwrap();
        let master_id = NodeId(u8::try_from(master).unwrap());
        assert_eq!(
            sim.neighbour.entry,
            Some(master_id),
            "master node index {master}"
        );
        // The entry goes stale: it points at a backup.
        let stale = NodeId(u8::try_from((master + 1) % 3).unwrap());
        sim.neighbour.entry = Some(stale);
        // It is probed once its reachable time (up to 1.5 × neigh_reachable) is over.
        sim.run_until(Duration::from_secs(100), &mut rec).unwrap();
        assert_eq!(
            sim.neighbour.entry,
            Some(master_id),
            "master node index {master}"
        );
        let api = rec.of(Service::Api);
        let late: Vec<_> = api
            .iter()
            .filter(|x| x.at >= Duration::from_secs(90))
            .collect();
        assert!(
            late.len() > 10 && late.iter().all(|x| x.ok),
            "master node index {master}: API probes 80 s after the stale entry failed"
        );
    }
}

/// Each component's liveness rule, on state set by hand: what it calls not back, and what not.
#[test]
fn liveness_rules_judge_the_component_state() {
    let mut sim = Sim::new(ClusterModel::seed(Profile::Bare), 1);
    let mut rec = Record::default();
    sim.run_until(Duration::from_secs(5), &mut rec).unwrap();
    // Ceph: peering still under way is not back; peering that ends now is.
    sim.ceph.peered_at[0] = sim.now + Duration::from_secs(1);
    assert!(sim.settled(Component::Ceph).is_err());
    sim.ceph.peered_at[0] = sim.now;
    assert_eq!(sim.settled(Component::Ceph), Ok(()));
    // The client's neighbour entry: pointing at a node that is not the master is not back.
    let master = sim.vrrp_masters()[0];
    let other = sim.model.node_ids().find(|&i| i != master).unwrap();
    sim.neighbour.entry = Some(other);
    assert!(sim.settled(Component::Neighbour).is_err());
    sim.neighbour.entry = Some(master);
    assert_eq!(sim.settled(Component::Neighbour), Ok(()));
    // Kubernetes: a NotReady node counts only in the kubernetes profile.
    sim.kube.nodes[1].ready = false;
    assert_eq!(sim.settled(Component::Kube), Ok(()));
    let mut kube = Sim::new(ClusterModel::seed(Profile::Kubernetes), 1);
    kube.kube.nodes[1].ready = false;
    assert!(kube.settled(Component::Kube).is_err());
    // keepalived's bound counts the check script `rise` times (the seed's rise is 1).
    let mut m = ClusterModel::seed(Profile::Bare);
    m.keepalived.check_rise = 3;
    let k = m.keepalived.clone();
    let sim = Sim::new(m.clone(), 1);
    assert_eq!(
        sim.settle_bound(Component::Vrrp),
        k.check_interval * 3 + m.vrrp_master_down(1) + k.advert_int
    );
}

/// A check due at the very moment of an event is made after that event: a component back
/// exactly at its bound is back. Here etcd, leaderless by hand, elects at the check's moment.
#[test]
fn a_check_due_at_an_events_moment_sees_that_event() {
    let mut sim = Sim::new(ClusterModel::seed(Profile::Bare), 1);
    let mut rec = Record::default();
    sim.run_until(Duration::from_secs(5), &mut rec).unwrap();
    let (checks, n) = (sim.liveness_checks(), NodeId(0));
    sim.etcd.leader = None;
    let delay = Duration::from_millis(100);
    let at = sim.now + delay;
    sim.at(delay, etcd::Event::Campaign(n, sim.etcd.members[0].gen));
    sim.liveness.healed = Some(live::Healed::new(sim.now, vec![(at, Component::Etcd)]));
    sim.run_until(at + delay, &mut rec).unwrap();
    assert_eq!(sim.etcd.leader, Some(n));
    assert_eq!(sim.liveness_checks(), checks + 1);
    assert_eq!(sim.violations(), &[] as &[String]);
}

mod ceph;
mod lb;
mod vrrp;
