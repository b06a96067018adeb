#!/bin/bash
# dump.sh N OUT: validate's VRRP question to node N (its shell lines, with this recording's
# pid and track files in place of pkill -x and /run/hadrill-vip-weight); the full state dump
# goes to OUT.data.
i=$1; out=$2; RUN=/run/hadrill-validate-rec
ip netns exec vr$i sh -c "rm -f /tmp/keepalived.data; kill -USR1 \$(cat $RUN/keepalived-$i.pid) || exit 1; \
  for i in \$(seq 100); do grep -q 'Effective priority' /tmp/keepalived.data 2>/dev/null && break; sleep 0.1; done; \
  echo track=\$(cat $RUN/vip-weight-$i 2>/dev/null || echo 0); grep -m1 'Effective priority' /tmp/keepalived.data" > $out
cp /tmp/keepalived.data $out.data
