#!/bin/bash
# demo.sh BUILD_DIR [classic|modern] -- netd in bridge mode, end to end, in namespaces.
#
#   upstream (the LAN, 192.0.2.1)  ==  eth0 [dom0 192.0.2.2, runs netd]
#                                        xenbr0 +-- vif1.0 == eth0 [guest1 192.0.2.11]
#                                               +-- vif2.0 == eth0 [guest2 192.0.2.12]
#
# Starts netd, plugs both vifs, measures a ping matrix, stops netd with SIGTERM and
# checks that dom0 is exactly as before. Everything lives in namespaces named
# demo-<pid>-*, removed on exit, Ctrl-C or failure. Exit status 0 only if all is well.
set -u

BUILD=${1:-build}
MODE=${2:-classic}
case $MODE in classic|modern) ;; *) echo "usage: $0 BUILD_DIR [classic|modern]" >&2; exit 2 ;; esac
NETD=$(cd "$BUILD" 2>/dev/null && pwd)/bin/netd
NETDCTL=${NETD%/netd}/netdctl
[ -x "$NETD" ] && [ -x "$NETDCTL" ] || { echo "demo: no netd/netdctl in $BUILD/bin (run make build)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 2; }
command -v ping >/dev/null || { echo "demo: ping missing (make deps installs iputils-ping)" >&2; exit 2; }

P=demo-$$
UP=$P-upstream D0=$P-dom0 G1=$P-guest1 G2=$P-guest2
TMP=$(mktemp -d /tmp/netd-demo.XXXXXX)
SOCK=$TMP/netd.sock
NETD_PID=
FAILED=0

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; else B= G= R= N=; fi
say()  { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
ok()   { printf '  %s✓%s %s\n' "$G" "$N" "$*"; }
bad()  { printf '  %s✗ %s%s\n' "$R" "$*" "$N"; FAILED=1; }
die()  { bad "$*"; [ -s "$TMP/netd.log" ] && sed 's/^/  netd| /' "$TMP/netd.log"; exit 1; }
nsx()  { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ctl()  { nsx "$D0" "$NETDCTL" --socket "$SOCK" "$@"; }

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$NETD_PID" ] && kill -0 "$NETD_PID" 2>/dev/null; then
		kill -TERM "$NETD_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$NETD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NETD_PID" 2>/dev/null
		wait "$NETD_PID" 2>/dev/null
	fi
	for ns in "$G1" "$G2" "$D0" "$UP"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT TERM

# --- topology -------------------------------------------------------------------
say "Topology: upstream, dom0, guest1, guest2 (namespaces $P-*)"
set -e
for ns in "$UP" "$D0" "$G1" "$G2"; do
	ip netns add "$ns"
	nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$ns" link set lo up
done
ip link add lan0 netns "$UP" type veth peer name eth0 netns "$D0"
ip -n "$UP" addr add 192.0.2.1/24 dev lan0
ip -n "$UP" addr add 2001:db8::1/64 dev lan0 nodad
ip -n "$UP" link set lan0 up
ip -n "$D0" addr add 192.0.2.2/24 dev eth0
ip -n "$D0" addr add 2001:db8::2/64 dev eth0 nodad
ip -n "$D0" link set eth0 up
ip -n "$D0" route add default via 192.0.2.1
i=0
for g in "$G1" "$G2"; do
	i=$((i + 1))
	ip link add "vif$i.0" netns "$D0" type veth peer name eth0 netns "$g"
	ip -n "$g" addr add "192.0.2.1$i/24" dev eth0
	ip -n "$g" addr add "2001:db8::1$i/64" dev eth0 nodad
	ip -n "$g" link set eth0 up
	ip -n "$g" route add default via 192.0.2.1
done
set +e
before_link() { nsx "$D0" sh -c 'echo "ifindex $(cat /sys/class/net/eth0/ifindex), mac $(cat /sys/class/net/eth0/address)"'; }
before_addr() { ip -n "$D0" -o addr show dev eth0 scope global | awk '{print $4}' | sort | tr '\n' ' '; }
before_route() { ip -n "$D0" route show default; }
LINK0=$(before_link) ADDR0=$(before_addr) ROUTE0=$(before_route)
ok "dom0 eth0: ${ADDR0}  default: $ROUTE0"

# --- netd -----------------------------------------------------------------------
say "Starting netd in dom0 (bridge mode, style $MODE)"
cat >"$TMP/netd.conf" <<EOF
[netd]
socket = $SOCK
state_dir = $TMP/state

[xenbr0]
mode = bridge
physdev = eth0
style = $MODE
EOF
# No function/subshell around it: $! must be netd itself (ip netns exec execs it).
ip netns exec "$D0" "$NETD" -c "$TMP/netd.conf" >"$TMP/netd.log" 2>&1 &
NETD_PID=$!
for _ in $(seq 50); do
	kill -0 "$NETD_PID" 2>/dev/null || die "netd exited at start"
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done
ctl status >/dev/null 2>&1 || die "netd control socket did not come up"
ok "netd pid $NETD_PID, socket $SOCK"

for v in 1.0 2.0; do
	out=$(ctl vif online "$v" bridge=xenbr0 2>&1) && ok "netdctl vif online $v ${out:+($out)}" ||
		bad "netdctl vif online $v: $out"
done

say "netdctl status"
ctl status | sed 's/^/  /'
say "netdctl vif list"
ctl vif list | sed 's/^/  /'

# The kernel reports carrier changes lazily (linkwatch, up to 1 s): wait until every port
# of xenbr0 forwards (brport state 3) and every link a packet crosses is operationally up.
ready() {
	for st in $(nsx "$D0" sh -c 'cat /sys/class/net/xenbr0/brif/*/state'); do [ "$st" = 3 ] || return 1; done
	for ns_if in "$D0 xenbr0" "$G1 eth0" "$G2 eth0" "$UP lan0"; do
		set -- $ns_if
		[ "$(nsx "$1" cat "/sys/class/net/$2/operstate")" = up ] || return 1
	done
}
for _ in $(seq 30); do ready && break; sleep 0.1; done
ready || bad "links not ready 3 s after plugging: $(ip -n "$D0" -br link | tr -s ' ' | tr '\n' ';')"

# --- reachability ---------------------------------------------------------------
NAMES=(guest1 guest2 dom0 upstream)
NSES=("$G1" "$G2" "$D0" "$UP")
V4=(192.0.2.11 192.0.2.12 192.0.2.2 192.0.2.1)
V6=(2001:db8::11 2001:db8::12 2001:db8::2 2001:db8::1)

cell() { # ns addr -> "ok 0.123ms" | "FAIL"; the first echo warms ARP/ND, the rtt is of the last
	local out rtt
	out=$(ip netns exec "$1" ping -n -q -c 3 -i 0.05 -w 1 "$2" 2>/dev/null)
	rtt=$(printf '%s\n' "$out" | sed -n 's|^rtt [^=]*= [^/]*/\([^/]*\)/.*|\1|p')
	if printf '%s\n' "$out" | grep -q ' 0% packet loss'; then printf 'ok %sms' "$rtt"; else printf 'FAIL'; fi
}
matrix() { # title, name of address array
	local -n addrs=$2
	say "Reachability, $1 (ping from row to column, avg rtt)"
	printf '  %-10s' "from \\ to"; printf '%-15s' "${NAMES[@]}"; echo
	for r in 0 1 2 3; do
		printf '  %-10s' "${NAMES[$r]}"
		for c in 0 1 2 3; do
			if [ "$r" = "$c" ]; then printf '%-15s' "-"; continue; fi
			v=$(cell "${NSES[$r]}" "${addrs[$c]}")
			case $v in ok*) printf '%s%-15s%s' "$G" "$v" "$N" ;; *) printf '%s%-15s%s' "$R" "$v" "$N"; FAILED=1 ;; esac
		done
		echo
	done
}
matrix IPv4 V4
matrix IPv6 V6

# --- stop and verify restore ----------------------------------------------------
say "Stopping netd (SIGTERM) and checking dom0 is back as before"
kill -TERM "$NETD_PID"
for _ in $(seq 100); do kill -0 "$NETD_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$NETD_PID" 2>/dev/null; then
	bad "netd still running 10 s after SIGTERM"
else
	wait "$NETD_PID"; rc=$?
	[ "$rc" = 0 ] && ok "netd exited with status 0" || bad "netd exited with status $rc"
fi
NETD_PID=
LINK1=$(before_link) ADDR1=$(before_addr) ROUTE1=$(before_route)
[ "$LINK1" = "$LINK0" ] && ok "eth0 is the original link: $LINK1" || bad "eth0 link: was '$LINK0', now '$LINK1'"
[ "$ADDR1" = "$ADDR0" ] && ok "eth0 addresses: $ADDR1" || bad "eth0 addresses: were '$ADDR0', now '$ADDR1'"
[ "$ROUTE1" = "$ROUTE0" ] && ok "default route: $ROUTE1" || bad "default route: was '$ROUTE0', now '$ROUTE1'"
left=$(ip -n "$D0" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^(xenbr0|peth0|vif0\.0|veth0)$' | tr '\n' ' ')
[ -z "$left" ] && ok "no xenbr0/peth0/vif0.0 left" || bad "left behind: $left"
v=$(cell "$D0" 192.0.2.1)
case $v in ok*) ok "dom0 -> upstream: $v" ;; *) bad "dom0 -> upstream: $v" ;; esac

if [ "$FAILED" = 0 ]; then
	say "${G}demo ($MODE): all paths ok, host restored${N}"
else
	sed 's/^/  netd| /' "$TMP/netd.log"
	say "${R}demo ($MODE): FAILED${N}"
fi
exit "$FAILED"
