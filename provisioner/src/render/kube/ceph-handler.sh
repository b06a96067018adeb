#!/bin/sh
# One HTTP exchange on stdin/stdout, run by nc for each connection (rendered by hadrill).
# /ceph (and /hadrill-ceph, the ingress path) answer 200 while the last heartbeat write
# finished within $HADRILL_FRESH_CS centiseconds, else 503.
exec 2>/dev/null
cr=$(printf '\r')
read -r _method path _version || exit 0
while read -r -t 2 line; do
    [ -z "${line%"$cr"}" ] && break
done
reply() {
    printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s\n' \
        "$1" "$(( ${#2} + 1 ))" "$2"
    exit 0
}
case "$path" in
    /ceph | /ceph\?* | /hadrill-ceph | /hadrill-ceph/* | /hadrill-ceph\?*) ;;
    *) reply "404 Not Found" "not found" ;;
esac
read -r up _ < /proc/uptime
now=$(( ${up%.*} * 100 + 1${up#*.} - 100 ))
last=$(cat /run/hadrill/last) || last=""
if [ -n "$last" ] && [ $(( now - last )) -le "$HADRILL_FRESH_CS" ]; then
    reply "200 OK" "ok: last write $(( now - last ))0 ms ago"
fi
reply "503 Service Unavailable" "stale: no write finished in the last ${HADRILL_FRESH_CS}0 ms"
