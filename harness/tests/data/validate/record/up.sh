#!/bin/bash
# Brings up the bare front (keepalived, HAProxy, nginx, etcd) of the seed model in three
# network namespaces vr1..vr3 on bridge vrbr, from the files `hadrill plan` rendered.
set -eu
R=${HADRILL_REC:-/tmp/hadrill-validate-rec}
P=$R/plan/hosts
RUN=/run/hadrill-validate-rec
mkdir -p $RUN $R/log
ip link add vrbr type bridge
ip link set vrbr up
iptables -I FORWARD -i vrbr -o vrbr -j ACCEPT
for i in 1 2 3; do
  n=vr$i
  ip netns add $n
  ip link add ${n}a type veth peer name ${n}b
  ip link set ${n}a master vrbr up
  ip link set ${n}b netns $n
  ip -n $n link set ${n}b name eth0
  ip -n $n addr add 10.77.0.1$i/24 dev eth0
  ip -n $n link set eth0 up
  ip -n $n link set lo up
  ip netns exec $n sysctl -q -p ${HADRILL_REC:-/tmp/hadrill-validate-rec}/plan/hosts/node-$i/etc/sysctl.d/*.conf
done
# A client outside the cluster, as the workstation that runs validate.
ip netns add vrc
ip link add vrca type veth peer name vrcb
ip link set vrca master vrbr up
ip link set vrcb netns vrc
ip -n vrc addr add 10.77.0.50/24 dev vrcb
ip -n vrc link set vrcb up
ip -n vrc link set lo up
for i in 1 2 3; do
  n=vr$i; h=$P/node-$i; d=$R/node-$i; mkdir -p $d
  # etcd from its rendered environment file, data under the recording's folder.
  ( set -a; . $h/etc/default/etcd; ETCD_DATA_DIR=$d/etcd; set +a
    ip netns exec $n etcd >$R/log/etcd-$i.log 2>&1 & echo $! > $RUN/etcd-$i.pid )
  # nginx with the rendered site.
  printf 'pid %s/nginx.pid;\nerror_log %s/nginx-error.log;\ndaemon off;\nevents {}\nhttp { access_log off; include %s; }\n' \
    $d $d $h/etc/nginx/sites-enabled/hadrill > $d/nginx.conf
  ip netns exec $n nginx -c $d/nginx.conf -p $d >$R/log/nginx-$i.log 2>&1 & echo $! > $RUN/nginx-$i.pid
  # HAProxy: the rendered file but in the foreground, with a stats socket and pid file per node.
  sed -e '/^    daemon$/d' -e "s#/run/haproxy/admin.sock#$RUN/haproxy-$i.sock#" -e 's#^    log /dev/log local0#    log stderr local0#' \
    $h/etc/haproxy/haproxy.cfg > $d/haproxy.cfg
  ip netns exec $n haproxy -W -db -p $RUN/haproxy-$i.pid -f $d/haproxy.cfg >$R/log/haproxy-$i.log 2>&1 &
  # keepalived: the rendered file, its check script and track file moved to per-node paths
  # (several keepalived share one host's /run here).
  sed -e "s#/run/haproxy.pid#$RUN/haproxy-$i.pid#" $h/etc/keepalived/check-haproxy > $RUN/check-haproxy-$i
  chmod 755 $RUN/check-haproxy-$i
  sed -e "s#/etc/keepalived/check-haproxy#$RUN/check-haproxy-$i#" -e "s#/run/hadrill-vip-weight#$RUN/vip-weight-$i#" \
    $h/etc/keepalived/keepalived.conf > $d/keepalived.conf
  ip netns exec $n keepalived -n -l -D -f $d/keepalived.conf -p $RUN/keepalived-$i.pid -r $RUN/vrrp-$i.pid -c $RUN/checkers-$i.pid >$R/log/keepalived-$i.log 2>&1 & echo $! > $RUN/keepalived-main-$i.pid
done
