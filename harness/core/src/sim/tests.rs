//! The simulator's own limits and streams, tested on the whole world.

use super::*;
use crate::record::{Service, AGENT_GRACE};
use crate::scenario::FaultKind;
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

/// An OSD map change re-peers only the placement groups of the OSD that changed, each active
/// at its own moment within `peering`; a write waits only for its own group.
#[test]
fn only_the_changed_osds_groups_peer_each_at_its_own_moment() {
    let m = cluster(Profile::Bare, 4);
    let peering = m.ceph.peering;
    let mut sim = Sim::new(m, 1);
    let mut rec = Record::default();
    sim.run_until(Duration::from_secs(5), &mut rec).unwrap();
    let node = NodeId(3);
    sim.inject(&FaultKind::StopService(Daemon::CephOsd), node)
        .unwrap();
    let stopped = sim.now;
    // A clean stop is marked down within fast_markdown (0.5 s in the seed).
    sim.run_until(stopped + Duration::from_secs(1), &mut rec)
        .unwrap();
    assert!(!sim.ceph.osd_up[node.index()], "marked down");
    let (with, without): (Vec<_>, Vec<_>) = (sim.ceph.pgs.iter())
        .zip(&sim.ceph.peered_at)
        .partition(|(pg, _)| pg.contains(&node));
    // Four OSDs, three per group: some groups do not have node-4's and never peered again.
    assert!(
        !with.is_empty() && !without.is_empty(),
        "{:?}",
        sim.ceph.pgs
    );
    assert!(without.iter().all(|(_, at)| **at == Duration::ZERO));
    let ends: Vec<Duration> = with.iter().map(|(_, at)| **at).collect();
    assert!(
        ends.iter()
            .all(|&e| e > stopped && e <= stopped + Duration::from_secs(1) + peering),
        "{ends:?}"
    );
    let (first, last) = (ends.iter().min().unwrap(), ends.iter().max().unwrap());
    assert!(*last - *first > peering / 2, "spread: {ends:?}");
    assert_eq!(sim.ceph.peering_until(), *last);
    // A write to a group active again from this very moment goes through while another
    // still peers.
    sim.run_until(*first, &mut rec).unwrap();
    assert_eq!(sim.now, *first);
    let done = sim
        .ceph
        .peered_at
        .iter()
        .position(|&at| at == sim.now)
        .unwrap();
    let busy = sim
        .ceph
        .peered_at
        .iter()
        .position(|&at| at > sim.now)
        .unwrap();
    assert!(sim.write_to(done).is_ok());
    assert_eq!(sim.write_to(busy), Err("pg peering after an osdmap change"));
}

/// Measured Ceph answer times (`compare` fills them from the lab's, as for the API and the
/// ingress) go into every Ceph write, and move nothing else.
#[test]
fn measured_ceph_answer_times_go_into_every_write_and_nothing_else() {
    let ms = Duration::from_millis;
    let run = |m| thirty_seconds(m, 1);
    let base = run(ClusterModel::seed(Profile::Bare));
    let mut m = ClusterModel::seed(Profile::Bare);
    m.machine.ceph_overhead = vec![ms(700), ms(900)];
    let slow = run(m);
    let (before, after) = (
        latencies(&base, Service::Ceph),
        latencies(&slow, Service::Ceph),
    );
    assert_eq!(before.len(), after.len());
    // The model's own part (a disk write) stays; the drawn extra is 700 or 900 ms, and
    // both are drawn.
    let own = *before.iter().max().unwrap();
    assert!(
        after.iter().all(|&l| l >= ms(700) && l <= ms(900) + own),
        "{after:?}"
    );
    assert!(after.iter().any(|&l| l < ms(900)) && after.iter().any(|&l| l >= ms(900)));
    for s in [Service::Api, Service::Ingress] {
        assert_eq!(latencies(&base, s), latencies(&slow, s), "{s}");
    }
}

/// A lost copy costs TCP's retransmission timeout, doubling (Linux's TCP_RTO_MIN is 200 ms),
/// unless the stream's next message reports it sooner (RACK). Six lost copies in a row are
/// counted at most.
#[test]
fn a_lost_copy_costs_the_retransmission_timeout_or_the_next_message() {
    use super::net::{through_loss, Recovery};
    let ms = Duration::from_millis;
    let rto = ms(200);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let untouched = rng.clone();
    for how in [Recovery::Timeout, Recovery::Stream(ms(600))] {
        assert_eq!(through_loss(&mut rng, 0.0, rto, how), Duration::ZERO);
    }
    assert_eq!(rng, untouched, "no loss, no draw");
    // Every copy lost, alone: 200 + 400 + 800 + 1600 + 3200 + 6400 ms.
    assert_eq!(
        through_loss(&mut rng, 1.0, rto, Recovery::Timeout),
        ms(12_600)
    );
    // A message every 600 ms: 200 + 400, then 600 for each of the four more.
    let every = |i| Recovery::Stream(ms(i));
    assert_eq!(through_loss(&mut rng, 1.0, rto, every(600)), ms(3_000));
    // A message every 200 ms or sooner: each copy costs the least timeout, 6 × 200 ms.
    assert_eq!(through_loss(&mut rng, 1.0, rto, every(200)), ms(1_200));
    assert_eq!(through_loss(&mut rng, 1.0, rto, every(0)), ms(1_200));
    // 30 % loss, a message every 200 ms: about 0.3 / 0.7 = 0.43 lost copies per message
    // (86 ms); 4000 messages put the mean within ±15 ms of it (its standard error is 2 ms).
    let n = 4000u32;
    let total: Duration = (0..n)
        .map(|_| through_loss(&mut rng, 0.3, rto, every(200)))
        .sum();
    let mean = total / n;
    assert!(mean > ms(71) && mean < ms(101), "{mean:?}");
}

/// A Ceph write crosses the lossy link as messages: without loss nothing is drawn and no write
/// is slower; with every copy lost on the probe agent's node the write and its answer are late,
/// the write fails, and once its answer is past the deadline and the grace the workstation goes
/// to the next storage node's agent, as the lab's probe does.
#[test]
fn ceph_writes_cross_a_lossy_link_message_by_message() {
    let m = cluster(Profile::Bare, 3);
    let (timeout, rto) = (m.probes.timeout, m.machine.data_rto);
    let mut sim = Sim::new(m, 1);
    let mut rec = Record::default();
    sim.run_until(Duration::from_secs(5), &mut rec).unwrap();
    let untouched = sim.rngs.ceph_packets.clone();
    for pg in 0..sim.ceph.pgs.len() {
        let l = sim.write_to(pg).unwrap();
        assert!(l < Duration::from_millis(100), "pg {pg}: {l:?}");
    }
    assert_eq!(sim.rngs.ceph_packets, untouched, "no loss, no draw");
    assert_eq!(sim.ceph.agent, NodeId(0));
    assert_eq!(sim.ceph.agent_gives_up, None, "every answer in time");

    let lossy = NodeId(0);
    sim.inject(
        &FaultKind::Netem {
            delay: Duration::ZERO,
            loss: 1.0,
        },
        lossy,
    )
    .unwrap();
    // Three nodes, three copies: every group has node-1's OSD. One whose primary is another
    // node: the agent's request (6 × 200 ms) and node-1's ack to the primary (as much) come
    // to 2.4 s, past the 2 s deadline.
    let pg = (0..sim.ceph.pgs.len())
        .find(|&g| sim.ceph.pgs[g][0] != lossy)
        .unwrap();
    let start = sim.now;
    assert_eq!(
        sim.write_to(pg),
        Err("ceph messages lost on a lossy link (retransmissions outlast the deadline)")
    );
    // The agent answers "timeout" at the deadline, and that answer takes 6 × 200 ms more:
    // 3.2 s, past the 2.5 s the workstation waits.
    assert!(6 * rto + timeout > timeout + AGENT_GRACE);
    assert_eq!(sim.ceph.agent_gives_up, Some(start + timeout + AGENT_GRACE));
    // Later writes on the same streams wait behind the first (in-order delivery).
    assert!(sim.write_to(pg).is_err());
    assert_eq!(sim.ceph.agent, lossy, "not given up yet");
    sim.run_until(start + timeout + AGENT_GRACE, &mut rec)
        .unwrap();
    let _ = sim.write_to(pg);
    assert_eq!(sim.ceph.agent, NodeId(1), "the next storage node's agent");
    assert_eq!(sim.ceph.agent_gives_up, None);
}

/// A lossy link between the agent and the workstation alone: the write itself is done in
/// time, but its answer is not in by the deadline and the grace, so the probe fails and the
/// workstation gives up on that agent. A write slow for another reason (no loss) is answered,
/// and the probe's own timeout judges it.
#[test]
fn the_agents_answer_counts_until_the_deadline_and_the_grace() {
    let ms = Duration::from_millis;
    // Four nodes, three copies: some groups have no OSD on node-1, the agent's node.
    let mut sim = Sim::new(cluster(Profile::Bare, 4), 1);
    let mut rec = Record::default();
    sim.run_until(Duration::from_secs(5), &mut rec).unwrap();
    let agent = NodeId(0);
    let pg = (0..sim.ceph.pgs.len())
        .find(|&g| !sim.ceph.pgs[g].contains(&agent))
        .unwrap();
    assert!(sim.write_to(pg).is_ok());
    // No loss, a slow machine: the write is answered, slower than the deadline.
    sim.model.machine.ceph_overhead = vec![ms(2_600)];
    let l = sim.write_to(pg).unwrap();
    assert!(l >= ms(2_600), "{l:?}");
    sim.model.machine.ceph_overhead = Vec::new();
    sim.inject(
        &FaultKind::Netem {
            delay: Duration::ZERO,
            loss: 1.0,
        },
        agent,
    )
    .unwrap();
    // The request loses six copies, found by the SACK of the stream's next message (it was
    // used a moment ago): 6 × 200 ms, within the deadline; the OSDs lose none. The answer,
    // 1.2 s after the stream's last one, loses six copies at 200 + 400 + 800 ms and then
    // 1.2 s each: in at 6.2 s, past the 2.5 s the workstation waits.
    let start = sim.now;
    assert_eq!(
        sim.write_to(pg),
        Err("the agent's answer held up on a lossy link (past the deadline and grace)")
    );
    assert_eq!(sim.ceph.agent_gives_up, Some(start + ms(2_500)));
}

/// The probe's client is on the first storage node on the network, as the lab's probe goes
/// to the next agent when one's node is gone.
#[test]
fn the_ceph_client_is_on_the_first_storage_node_on_the_network() {
    let mut sim = Sim::new(cluster(Profile::Bare, 3), 1);
    let mut rec = Record::default();
    sim.run_until(Duration::from_secs(5), &mut rec).unwrap();
    assert_eq!(sim.ceph_agent(), NodeId(0));
    sim.inject(&FaultKind::PowerOff, NodeId(0)).unwrap();
    assert_eq!(sim.ceph_agent(), NodeId(1));
    assert_eq!(sim.ceph.agent, NodeId(1));
}

/// A write or an answer that lands exactly on its deadline is in time, as on the lab: the
/// agent fails a write only once more than the deadline has passed, a sample at the deadline
/// counts as answered, and the workstation gives up on an agent only after the deadline and
/// the grace.
#[test]
fn a_write_or_an_answer_exactly_at_its_deadline_is_in_time() {
    let ms = Duration::from_millis;
    let netem = FaultKind::Netem {
        delay: Duration::ZERO,
        loss: 1.0,
    };
    // The write: node-3 holds a copy of every group (three nodes, three copies) and loses
    // every copy of its ack to the primary, six found one by one by the SACK of the stream's
    // next message (the stream was used a moment ago): 1.2 s. The machine adds what makes
    // the write take exactly the deadline.
    let m = cluster(Profile::Bare, 3);
    let (timeout, disk) = (m.probes.timeout, m.ceph.write_latency);
    let mut sim = Sim::new(m, 1);
    sim.run_until(Duration::from_secs(5), &mut Record::default())
        .unwrap();
    let lossy = NodeId(2);
    let pg = (0..sim.ceph.pgs.len())
        .find(|&g| sim.ceph.pgs[g][0] != lossy)
        .unwrap();
    assert!(sim.write_to(pg).is_ok());
    sim.model.machine.ceph_overhead = vec![timeout - ms(1_200) - disk];
    sim.inject(&netem, lossy).unwrap();
    assert_eq!(sim.write_to(pg), Ok(timeout));

    // The answer: the agent's node loses every copy; the request costs 1.2 s as above, the
    // answer, 1.2 s after that stream's last message, 200 + 400 + 800 ms and 1.2 s three
    // times: in 6.2 s after the write began. Deadlines set to meet it exactly.
    let answer = |timeout: Duration| {
        let mut m = cluster(Profile::Bare, 4);
        m.probes.timeout = timeout;
        m.machine.ceph_overhead = vec![Duration::ZERO];
        let mut sim = Sim::new(m, 1);
        sim.run_until(Duration::from_secs(5), &mut Record::default())
            .unwrap();
        let pg = (0..sim.ceph.pgs.len())
            .find(|&g| !sim.ceph.pgs[g].contains(&NodeId(0)))
            .unwrap();
        assert!(sim.write_to(pg).is_ok());
        sim.inject(&netem, NodeId(0)).unwrap();
        (sim.write_to(pg), sim.ceph.agent_gives_up)
    };
    // The write's own 25 ms and the answer's 6.2 s end exactly at deadline + grace.
    let (r, gave_up) = answer(ms(6_225) - AGENT_GRACE);
    assert_eq!(r, Ok(disk + ms(1_200)));
    assert_eq!(gave_up, None);
    // The answer itself exactly at deadline + grace: the workstation has not given up (the
    // probe fails: the write's 25 ms come on top).
    let (r, gave_up) = answer(ms(6_200) - AGENT_GRACE);
    assert!(r.is_err());
    assert_eq!(gave_up, None);
}

/// The seed's cluster, probed, with its holder (node-1) powered off at 10 s and the master-down
/// timers of `disarmed` backups stopped: the test makes their takeovers.
fn holder_gone(m: ClusterModel, disarmed: &[NodeId]) -> (Sim, Record) {
    let mut sim = Sim::new(m, 1);
    let mut rec = Record::default();
    sim.set_probing(true);
    sim.run_until(Duration::from_secs(10), &mut rec).unwrap();
    sim.inject(&FaultKind::PowerOff, NodeId(0)).unwrap();
    for i in disarmed {
        sim.keepalived.nodes[i.index()].gen += 1;
    }
    (sim, rec)
}

#[test]
fn a_backup_stays_backup_on_an_advert_of_its_own_priority_from_a_lower_address() {
    // keepalived (RFC 3768: "greater than or equal") accepts it; only a master compares the
    // addresses. node-2 (.12) takes over at once, before node-3's (.13, the same priority)
    // master-down timer runs out: node-3 must stay a backup, not take over and win.
    let (mut sim, mut rec) = holder_gone(ClusterModel::seed(Profile::Bare), &[NodeId(1)]);
    sim.become_master(NodeId(1));
    sim.run_until(Duration::from_secs(20), &mut rec).unwrap();
    assert_eq!(sim.vrrp_masters(), vec![NodeId(1)]);
}

#[test]
fn clients_left_on_a_backup_that_stepped_down_wait_for_the_second_garp_burst() {
    // Both backups take over at once; node-2 (the lower address) steps down on hearing
    // node-3. Had node-2's GARPs left last, the client sends to it: set by hand here, after
    // both takeovers' first bursts. It answers nothing (no VIP) until node-3's second burst,
    // garp_master_delay after its first; then every probe is answered. (Under the previous
    // model, with no second burst, the client stayed there until its entry went stale.)
    let mut m = ClusterModel::seed(Profile::Bare);
    m.machine.vrrp_garp_lag = Duration::from_millis(1);
    let (mut sim, mut rec) = holder_gone(m.clone(), &[NodeId(1), NodeId(2)]);
    // Late enough that HAProxy has marked the dead node's servers DOWN.
    sim.run_until(Duration::from_secs(40), &mut rec).unwrap();
    let t0 = sim.now;
    sim.become_master(NodeId(1));
    sim.become_master(NodeId(2));
    sim.run_until(t0 + Duration::from_millis(100), &mut rec)
        .unwrap();
    assert_eq!(
        sim.vrrp_masters(),
        vec![NodeId(2)],
        "the higher address wins"
    );
    sim.neighbour.entry = Some(NodeId(1));
    let burst = t0 + m.keepalived.garp_master_delay;
    sim.run_until(burst + Duration::from_secs(5), &mut rec)
        .unwrap();
    let api = rec.of(Service::Api);
    let (before, after): (Vec<_>, Vec<_>) = api
        .iter()
        .filter(|x| x.at >= t0 + Duration::from_millis(100))
        .partition(|x| x.at + m.probes.timeout < burst);
    assert!(
        before.len() > 10 && before.iter().all(|x| !x.ok),
        "answered on the node that stepped down"
    );
    let late: Vec<_> = after
        .iter()
        .filter(|x| x.at > burst + Duration::from_millis(10))
        .collect();
    assert!(
        late.len() > 10 && late.iter().all(|x| x.ok),
        "not back after the second burst"
    );
    assert_eq!(sim.neighbour.entry, Some(NodeId(2)));
}
