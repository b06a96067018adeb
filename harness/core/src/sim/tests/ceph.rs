//! Ceph through the simulated network: peering per group, answer times, lossy links and the
//! probe's deadlines.

use super::*;

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
