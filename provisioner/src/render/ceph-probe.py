#!/usr/bin/python3
# Rendered by hadrill: the Ceph probe agent. A client of the pool, driven by a lab's probe
# over SSH: one probe number per line on stdin; for each, one object is written to the pool
# (asynchronously: probes overlap as a client's requests do) and one line answered on stdout,
# "N ok MS" or "N err MS CAUSE". A write not completed within the timeout is answered
# "err ... timeout" (librados cancels it after rados_osd_op_timeout). One connected client for
# the whole drill, as an application keeps; it reconnects when the monitors drop it.
import math
import os
import select
import sys
import time

import rados

pool = sys.argv[1] if len(sys.argv) > 1 else "replica-pool"
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0

cluster = None
ioctx = None
pending = {}


def connect():
    global cluster, ioctx
    c = rados.Rados(conffile="/etc/ceph/ceph.conf", name="client.admin")
    # These options take whole seconds.
    secs = str(max(1, int(math.ceil(timeout))))
    c.conf_set("rados_osd_op_timeout", secs)
    c.conf_set("rados_mon_op_timeout", secs)
    c.conf_set("client_mount_timeout", secs)
    c.connect(timeout=int(max(1, timeout)))
    cluster, ioctx = c, c.open_ioctx(pool)


def drop():
    global cluster, ioctx
    try:
        if ioctx is not None:
            ioctx.close()
        if cluster is not None:
            cluster.shutdown()
    except Exception:
        pass
    cluster, ioctx = None, None


def answer(n, start, status, cause=""):
    ms = int((time.monotonic() - start) * 1000)
    sys.stdout.write("%s %s %d %s\n" % (n, status, ms, cause))
    sys.stdout.flush()


def begin(n):
    start = time.monotonic()
    try:
        if ioctx is None:
            connect()
        # 64 objects in turn: the writes spread over PGs as an application's do.
        obj = "hadrill-probe-%d" % (int(n) % 64)
        pending[n] = (start, ioctx.aio_write_full(obj, n.encode()))
    except Exception as e:
        drop()
        answer(n, start, "err", type(e).__name__)


def settle():
    now = time.monotonic()
    for n in list(pending):
        start, done = pending[n]
        if done.is_complete():
            del pending[n]
            rc = done.get_return_value()
            answer(n, start, "ok" if rc >= 0 else "err", "" if rc >= 0 else "rc%d" % rc)
        elif now - start > timeout:
            del pending[n]
            answer(n, start, "err", "timeout")


# Connect before the first request: the first probe should not pay for it.
try:
    connect()
except Exception:
    drop()

buf = b""
while True:
    ready, _, _ = select.select([0], [], [], 0.005)
    if ready:
        chunk = os.read(0, 4096)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            n = line.decode().strip()
            if n.isdigit():
                begin(n)
    settle()
# stdin closed: answer what is still in flight (each within its timeout), then leave.
while pending:
    time.sleep(0.005)
    settle()
