#!/bin/sh
# hadrill's Ceph writer (rendered by hadrill; do not edit). Every $HADRILL_INTERVAL seconds it
# writes a heartbeat to its Ceph volume and fsyncs it (dd conv=fsync); when that returns it records the
# time (centiseconds of uptime) in memory. nc serves each HTTP connection with the handler,
# which judges that record: a write stuck on Ceph makes it stale without blocking the answer.
set -u
mkdir -p /run/hadrill
now_cs() {
    read -r up _ < /proc/uptime
    echo $(( ${up%.*} * 100 + 1${up#*.} - 100 ))
}
write_loop() {
    n=0
    while :; do
        n=$((n + 1))
        if echo "$n" | dd of=/data/heartbeat conv=fsync 2>/dev/null; then
            now_cs > /run/hadrill/last.tmp && mv /run/hadrill/last.tmp /run/hadrill/last
        fi
        sleep "$HADRILL_INTERVAL"
    done
}
write_loop &
exec nc -ll -p "$HADRILL_PORT" -e /hadrill/handler
