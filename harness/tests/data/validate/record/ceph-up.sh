#!/bin/bash
# Ceph 16.2 (Debian's ceph-mon, ceph-mgr, ceph-osd, unpacked under root/, not installed) on
# the namespaces of up.sh: a mon and an OSD (bluestore on a 2 GiB sparse file) per node, a mgr
# on node-1, the rendered ceph.conf plus paths of this recording's own, the seed's pool.
set -eu
R=${HADRILL_REC:-/tmp/hadrill-validate-rec}; C=$R/ceph; ROOT=$R/root; RUN=/run/hadrill-validate-rec
export LD_LIBRARY_PATH=$ROOT/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/usr/lib/x86_64-linux-gnu/ceph
export PATH=$ROOT/usr/bin:$PATH
rm -rf $C; mkdir -p $C/run $C/log $C/mon $C/mgr $C/osd
CONF=$C/ceph.conf
FSID=$(sed -n 's/^fsid = //p' $R/plan/hosts/node-1/etc/ceph/ceph.conf)
{ cat $R/plan/hosts/node-1/etc/ceph/ceph.conf
  cat <<EOC
run_dir = $C/run
admin_socket = $C/run/\$cluster-\$name.asok
log_file = $C/log/\$cluster-\$name.log
mon_data = $C/mon/\$cluster-\$id
mgr_data = $C/mgr/\$cluster-\$id
osd_data = $C/osd/\$cluster-\$id
osd_class_dir = $ROOT/usr/lib/x86_64-linux-gnu/rados-classes
erasure_code_dir = $ROOT/usr/lib/x86_64-linux-gnu/ceph/erasure-code
mgr_module_path = $ROOT/usr/share/ceph/mgr
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 2147483648
[client]
keyring = $C/ceph.client.admin.keyring
[mon]
keyring = \$mon_data/keyring
[mgr]
keyring = \$mgr_data/keyring
[osd]
keyring = \$osd_data/keyring
EOC
  for i in 1 2 3; do printf '[osd.%d]\ncrush_location = root=default host=node-%d\n' $((i-1)) $i; done
} > $CONF
ceph-authtool --create-keyring $C/mon.keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring $C/ceph.client.admin.keyring --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool $C/mon.keyring --import-keyring $C/ceph.client.admin.keyring >/dev/null
monmaptool --create --enable-all-features --fsid $FSID --addv node-1 '[v2:10.77.0.11:3300,v1:10.77.0.11:6789]' \
  --addv node-2 '[v2:10.77.0.12:3300,v1:10.77.0.12:6789]' --addv node-3 '[v2:10.77.0.13:3300,v1:10.77.0.13:6789]' $C/monmap >/dev/null
for i in 1 2 3; do
  ip netns exec vr$i ceph-mon -c $CONF --mkfs -i node-$i --monmap $C/monmap --keyring $C/mon.keyring
  ip netns exec vr$i ceph-mon -c $CONF -i node-$i -f >$C/log/mon-$i.out 2>&1 & echo $! > $RUN/ceph-mon-$i.pid
done
CEPH="ip netns exec vr1 ceph -c $CONF"
timeout 60 $CEPH -s >/dev/null
mkdir -p $C/mgr/ceph-node-1
$CEPH auth get-or-create mgr.node-1 mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o $C/mgr/ceph-node-1/keyring
PYTHONPATH=$ROOT/usr/lib/python3/dist-packages ip netns exec vr1 ceph-mgr -c $CONF -i node-1 -f >$C/log/mgr.out 2>&1 & echo $! > $RUN/ceph-mgr-1.pid
for i in 1 2 3; do
  id=$((i-1)); uuid=$(cat /proc/sys/kernel/random/uuid)
  $CEPH osd new $uuid $id >/dev/null
  mkdir -p $C/osd/ceph-$id
  $CEPH auth get-or-create osd.$id mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' -o $C/osd/ceph-$id/keyring
  ip netns exec vr$i ceph-osd -c $CONF -i $id --mkfs --osd-uuid $uuid >$C/log/osd-mkfs-$id.out 2>&1
  ip netns exec vr$i ceph-osd -c $CONF -i $id -f >$C/log/osd-$id.out 2>&1 & echo $! > $RUN/ceph-osd-$i.pid
done
# The pool as the plan's `ceph pool` step makes it.
$CEPH osd pool create replica-pool 32 32 replicated >/dev/null
$CEPH osd pool set replica-pool size 3 --yes-i-really-mean-it >/dev/null
$CEPH osd pool set replica-pool min_size 2 >/dev/null
$CEPH osd pool application enable replica-pool hadrill >/dev/null
# restful needs python3-pecan, which a real install of ceph-mgr brings and this one lacks.
$CEPH mgr module disable restful
for t in $(seq 120); do
  $CEPH pg stat 2>/dev/null | grep -Eq '^([0-9]+) pgs: \1 active\+clean' && break; sleep 1
done
$CEPH -s
