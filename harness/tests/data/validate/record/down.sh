#!/bin/bash
# Stops what up.sh started and removes its namespaces, links and bridge.
RUN=/run/hadrill-validate-rec
for f in $RUN/*.pid; do [ -f "$f" ] && kill $(cat $f) 2>/dev/null; done
for n in vr1 vr2 vr3 vrc; do
  for t in $(seq 50); do
    pids=$(ip netns pids $n 2>/dev/null); [ -z "$pids" ] && break
    [ $t -gt 20 ] && kill -9 $pids 2>/dev/null; sleep 0.1
  done
  ip netns del $n 2>/dev/null
  ip link del ${n}a 2>/dev/null
done
iptables -D FORWARD -i vrbr -o vrbr -j ACCEPT 2>/dev/null
ip link del vrbr 2>/dev/null
rm -rf $RUN
