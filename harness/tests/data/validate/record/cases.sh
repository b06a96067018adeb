#!/bin/bash
# Records every case: a fresh cluster each, broken as its name says.
S=$(dirname "$(readlink -f "$0")")
cd ${HADRILL_REC:-/tmp/hadrill-validate-rec}
RUN=/run/hadrill-validate-rec
fresh() { $S/down.sh >/dev/null 2>&1; rm -rf node-* log; $S/up.sh; sleep 8; }
case_() { echo "== $1"; $S/record.sh cases/$1; }
fresh; case_ healthy
# etcd on node-3 stops: two of three members answer, the cluster keeps quorum.
kill $(cat $RUN/etcd-3.pid); sleep 3; case_ etcd-member-down
# And node-2's: no quorum.
kill $(cat $RUN/etcd-2.pid); sleep 3; case_ etcd-no-quorum
fresh
# HAProxy on node-1 dies: its check fails, its priority drops by the weight, the VIP moves.
kill $(cat $RUN/haproxy-1.pid); sleep 8; case_ haproxy-down
fresh
# keepalived on node-1 killed with SIGKILL: its VIP stays, a backup takes it too.
kill -9 $(cat $RUN/keepalived-1.pid) $(cat $RUN/vrrp-1.pid) $(cat $RUN/checkers-1.pid); sleep 6; case_ two-holders
fresh
# keepalived stopped on every node: nobody holds the VIP.
for i in 1 2 3; do kill $(cat $RUN/keepalived-$i.pid); done; sleep 3; case_ no-holder
fresh
# nginx stopped on every node: HAProxy has no ingress backend.
for i in 1 2 3; do kill $(cat $RUN/nginx-$i.pid); done; sleep 10; case_ ingress-down
fresh
# move-vip's track file on node-2 (weight 1, value 60): a state the model knows.
echo 60 > $RUN/vip-weight-2; sleep 5; case_ moved-vip
$S/down.sh
