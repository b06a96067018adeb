#!/bin/bash
# record.sh DIR: asks the namespaces up.sh made validate's questions of the bare profile and
# writes each answer to DIR: NAME.txt (stdout of a command that exited 0), NAME.err (what
# validate reports for one that did not), NAME.http (status line, then the body; or
# `error: ...` when no answer came).
S=$(dirname "$(readlink -f "$0")")
set -u
D=$1; mkdir -p $D
R=${HADRILL_REC:-/tmp/hadrill-validate-rec}
E="env ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379"
cmd() { # cmd NAME NS COMMAND...: stdout on exit 0, else `cmd`: last stderr lines
  local name=$1 ns=$2; shift 2
  local out err rc
  out=$(ip netns exec $ns "$@" 2>$D/.stderr); rc=$?
  if [ $rc = 0 ]; then printf '%s\n' "$out" > $D/$name.txt
  else printf 'exited %s: %s\n' $rc "$(grep -v '^\s*$' $D/.stderr | tail -3 | paste -sd'|' | sed 's/|/ | /g')" > $D/$name.err; fi
  rm -f $D/.stderr
}
http() { # http NAME URL [curl args]: as validate asks, from the client namespace, 5 s at most
  local name=$1 url=$2; shift 2
  local body code
  body=$(ip netns exec vrc curl -sS -m 5 -o $D/.body -w '%{http_code}' "$@" "$url" 2>$D/.stderr)
  if [ "$body" != 000 ]; then { echo "$body"; cat $D/.body; } > $D/$name.http
  else echo "error: $(cat $D/.stderr)" > $D/$name.http; fi
  rm -f $D/.body $D/.stderr
}
for i in 1 2 3; do
  cmd addr-node-$i vr$i ip -4 -o addr show dev eth0
  if $S/dump.sh $i $D/vrrp-node-$i.txt.tmp; then mv $D/vrrp-node-$i.txt.tmp $D/vrrp-node-$i.txt
  else echo "exited 1: " > $D/vrrp-node-$i.err; rm -f $D/vrrp-node-$i.txt.tmp; fi
  rm -f $D/vrrp-node-$i.txt.tmp.data
done
cmd etcd-members vr1 $E member list
# endpoint health exits 1 when a member is unhealthy, and still prints its JSON: kept either way.
ip netns exec vr1 $E endpoint health --cluster -w json > $D/etcd-endpoints.txt 2>/dev/null
http etcd-health http://10.77.0.100:6443/health
http etcd-put http://10.77.0.100:6443/v3/kv/put -X POST -H 'content-type: application/json' \
  -d '{"key":"aGFkcmlsbC92YWxpZGF0ZQ==","value":"b2s="}'
http ingress http://10.77.0.100:80/
