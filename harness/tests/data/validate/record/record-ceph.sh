#!/bin/bash
# record-ceph.sh DIR: validate's Ceph questions to node-1 of ceph-up.sh's cluster, answers
# written as record.sh writes them (NAME.txt on exit 0, NAME.err otherwise).
set -u
D=$1; mkdir -p $D
R=${HADRILL_REC:-/tmp/hadrill-validate-rec}; C=$R/ceph
cmd() {
  local name=$1; shift
  local out rc
  out=$(ip netns exec vr1 "$@" 2>$D/.stderr); rc=$?
  if [ $rc = 0 ]; then printf '%s\n' "$out" > $D/$name.txt
  else printf 'exited %s: %s\n' $rc "$(grep -v '^\s*$' $D/.stderr | tail -3 | paste -sd'|' | sed 's/|/ | /g')" > $D/$name.err; fi
  rm -f $D/.stderr
}
cmd ceph-status timeout 60 ceph -c $C/ceph.conf status -f json
cmd ceph-pool timeout 60 ceph -c $C/ceph.conf osd pool get replica-pool all -f json
# validate gives the write 60 s; 15 s here, which a write to active PGs never needs.
cmd ceph-write timeout 15 rados -c $C/ceph.conf -p replica-pool put hadrill-validate /etc/hostname
