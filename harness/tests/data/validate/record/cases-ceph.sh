#!/bin/bash
# The Ceph cases, in turn on one cluster (ceph-up.sh), each healed before the next.
# Run after cases.sh, on a fresh up.sh: the healthy answers join cases/healthy.
S=$(dirname "$(readlink -f "$0")")
cd ${HADRILL_REC:-/tmp/hadrill-validate-rec}
R=${HADRILL_REC:-/tmp/hadrill-validate-rec}; C=$R/ceph; ROOT=$R/root; RUN=/run/hadrill-validate-rec
export LD_LIBRARY_PATH=$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu/ceph
CEPH="ip netns exec vr1 ceph -c $C/ceph.conf"
clean() { for t in $(seq 120); do $CEPH pg stat 2>/dev/null | grep -Eq '^([0-9]+) pgs: \1 active\+clean' && return; sleep 1; done; echo "not clean"; }
$S/record-ceph.sh cases/healthy
# The pool at size 2: not what the model says.
$CEPH osd pool set replica-pool size 2 --yes-i-really-mean-it; sleep 3
$S/record-ceph.sh cases/ceph-pool-size
$CEPH osd pool set replica-pool size 3 --yes-i-really-mean-it; $CEPH osd pool set replica-pool min_size 2; clean
# The monitor of node-3 stops: two of three in quorum.
kill $(cat $RUN/ceph-mon-3.pid); sleep 12
$S/record-ceph.sh cases/ceph-mon-down
ip netns exec vr3 $ROOT/usr/bin/ceph-mon -c $C/ceph.conf -i node-3 -f >>$C/log/mon-3.out 2>&1 & echo $! > $RUN/ceph-mon-3.pid
sleep 12; clean
# node-3's OSD crashes: marked down at once, PGs active but undersized and degraded.
kill -9 $(cat $RUN/ceph-osd-3.pid); sleep 10
$S/record-ceph.sh cases/ceph-osd-down
# node-2's too: PGs below min_size, inactive; writes block.
kill -9 $(cat $RUN/ceph-osd-2.pid); sleep 10
$S/record-ceph.sh cases/ceph-pgs-inactive
# Both back; then a deep scrub of a pool with data: active+clean+scrubbing+deep is routine.
for i in 2 3; do
  ip netns exec vr$i $ROOT/usr/bin/ceph-osd -c $C/ceph.conf -i $((i-1)) -f >>$C/log/osd-$((i-1)).out 2>&1 & echo $! > $RUN/ceph-osd-$i.pid
done
clean
dd if=/dev/urandom of=$R/blob bs=1M count=4 2>/dev/null
for n in $(seq 300); do ip netns exec vr1 rados -c $C/ceph.conf -p replica-pool put obj-$n $R/blob; done
$CEPH osd pool deep-scrub replica-pool
mkdir -p cases/ceph-scrubbing
for t in $(seq 150); do
  $CEPH status -f json > cases/ceph-scrubbing/ceph-status.txt; grep -q scrubbing cases/ceph-scrubbing/ceph-status.txt && break; sleep 0.2
done
