#!/bin/bash
# demo.sh BUILD_DIR [classic|modern] -- netd in bridge mode, end to end, with simulated Xen guests.
#
#   upstream (the LAN, 192.0.2.1)  ==  eth0 [dom0 192.0.2.2: hvsim xenstored, vifback, netd]
#                                        xenbr0 +-- vif1.0 ~~ rings ~~ eth0 [guest1 192.0.2.11]
#                                               +-- vif2.0 ~~ rings ~~ eth0 [guest2 192.0.2.12]
#
# The pieces, as on a Xen host:
#   hvsim xenstored   xenstore, plus what the hypervisor gives a backend: guest memory,
#                     grant tables, event channels (XENSTORED_PATH tells everyone where);
#   vifback           the backend (Linux's xen-netback in userspace): per vif, a TAP vifD.N
#                     in dom0 and the xenbus handshake; it moves packets between the TAP
#                     and the guest's rings;
#   netd              plugs vifD.N into xenbr0 with anti-spoofing; here in no-fork mode, it
#                     watches xenstore itself instead of being called by a hotplug script;
#   hvsim domain/vif  what `xl create` / `xl network-attach` write into xenstore;
#   hvsim guest       the guest's netfront: its eth0 (a TAP in the guest's namespace) is
#                     moved over real netif rings in the guest's (simulated) memory.
#
# Measures a ping matrix, shows a forged source being dropped, detaches the vifs, stops
# everything it started (by pid) and checks that dom0 is exactly as before. Everything
# lives in namespaces named demo-<pid>-*, removed on exit, Ctrl-C or failure.
# Exit status 0 only if all is well.
set -u

BUILD=${1:-build}
MODE=${2:-classic}
case $MODE in classic|modern) ;; *) echo "usage: $0 BUILD_DIR [classic|modern]" >&2; exit 2 ;; esac
BIN=$(cd "$BUILD" 2>/dev/null && pwd)
NETD=$BIN/bin/netd NETDCTL=$BIN/bin/netdctl VIFBACK=$BIN/bin/vifback HVSIM=$BIN/hvsim
for x in "$NETD" "$NETDCTL" "$VIFBACK" "$HVSIM"; do
	[ -x "$x" ] || { echo "demo: $x missing (run make build)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 2; }
for t in ping xenstore-read; do
	command -v $t >/dev/null || { echo "demo: $t missing (make deps installs it)" >&2; exit 2; }
done

P=demo-$$
UP=$P-upstream D0=$P-dom0 G1=$P-guest1 G2=$P-guest2
TMP=$(mktemp -d /tmp/netd-demo.XXXXXX)
SOCK=$TMP/netd.sock
# Every xenstore client below (vifback, netd, hvsim, xenstore-read) finds xenstored here.
export XENSTORED_PATH=$TMP/xs/socket
XS_PID= VIFBACK_PID= NETD_PID= GUEST_PIDS=()
DOMAINS=()
FAILED=0

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; else B= G= R= N=; fi
say()  { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
ok()   { printf '  %s✓%s %s\n' "$G" "$N" "$*"; }
bad()  { printf '  %s✗ %s%s\n' "$R" "$*" "$N"; FAILED=1; }
logs() { for f in "$TMP"/*.log; do [ -s "$f" ] && sed "s/^/  $(basename "$f" .log)| /" "$f"; done; }
die()  { bad "$*"; logs; exit 1; }
nsx()  { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ctl()  { nsx "$D0" "$NETDCTL" --socket "$SOCK" "$@"; }
xsr()  { xenstore-read "$1" 2>/dev/null; }
be()   { xsr "/local/domain/0/backend/vif/$1/0/${2:-state}"; }
# wait_for SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds
wait_for() { local n=$(($1 * 10)); shift; while ! "$@"; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1; done; }
has_line() { grep -qx "$2" "$1" 2>/dev/null; }

stop() { # PID [SECONDS]: SIGTERM, wait, SIGKILL; returns the exit status
	local pid=$1 n=$((${2:-10} * 10))
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return; }
	kill -TERM "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid" 2>/dev/null; echo "demo: pid $pid ignored SIGTERM" >&2; }
	wait "$pid" 2>/dev/null
}

cleanup() {
	trap - EXIT INT TERM
	local pid d
	for pid in "${GUEST_PIDS[@]}"; do stop "$pid" 5; done
	for d in "${DOMAINS[@]}"; do "$HVSIM" vif del -n "$d.0" >/dev/null 2>&1; "$HVSIM" domain del "$d" >/dev/null 2>&1; done
	for pid in $NETD_PID $VIFBACK_PID $XS_PID; do stop "$pid"; done
	for ns in "$G1" "$G2" "$D0" "$UP"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT TERM

# --- topology: the LAN and dom0; the guests' namespaces stay empty until their netfront runs
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
set +e
before_link() { nsx "$D0" sh -c 'echo "ifindex $(cat /sys/class/net/eth0/ifindex), mac $(cat /sys/class/net/eth0/address)"'; }
before_addr() { ip -n "$D0" -o addr show dev eth0 scope global | awk '{print $4}' | sort | tr '\n' ' '; }
before_route() { ip -n "$D0" route show default; }
LINK0=$(before_link) ADDR0=$(before_addr) ROUTE0=$(before_route)
ok "dom0 eth0: ${ADDR0}  default: $ROUTE0"

# --- dom0's services: xenstored, vifback, netd ------------------------------------
# No function or subshell around a start: $! must be the daemon itself (`ip netns exec`
# execs it), so that cleanup stops exactly what this script started.
say "Starting hvsim xenstored, vifback and netd in dom0 (bridge mode, style $MODE)"
"$HVSIM" xenstored -s "$XENSTORED_PATH" >"$TMP/xenstored.out" 2>"$TMP/xenstored.log" &
XS_PID=$!
wait_for 5 has_line "$TMP/xenstored.out" ready || die "hvsim xenstored did not come up"
ok "hvsim xenstored pid $XS_PID, XENSTORED_PATH=$XENSTORED_PATH"

ip netns exec "$D0" "$VIFBACK" --hv sim --stats-dir "$TMP/vifback-stats" >"$TMP/vifback.log" 2>&1 &
VIFBACK_PID=$!
wait_for 5 grep -q serving "$TMP/vifback.log" || die "vifback did not come up"
ok "vifback pid $VIFBACK_PID, watching /local/domain/0/backend/vif"

cat >"$TMP/netd.conf" <<EOF
[netd]
socket = $SOCK
state_dir = $TMP/state
xenstore_watch = yes
vifback_stats_dir = $TMP/vifback-stats

[xenbr0]
mode = bridge
physdev = eth0
style = $MODE
EOF
ip netns exec "$D0" "$NETD" -c "$TMP/netd.conf" >"$TMP/netd.log" 2>&1 &
NETD_PID=$!
wait_for 5 ctl status >/dev/null 2>&1 || die "netd control socket did not come up"
ok "netd pid $NETD_PID, socket $SOCK"

# --- the guests ---------------------------------------------------------------------
# What xl does for a guest with vif = ['mac=...,ip=...'], then the guest's netfront:
#   hvsim vif add -n  the vif's backend and frontend keys (-n: no hotplug script, netd
#                     plugs from its watch);
#   vifback           creates TAP vifD.N, advertises its features, state InitWait;
#   netd              sees InitWait, plugs vifD.N into xenbr0 with filters for mac/ip,
#                     writes hotplug-status=connected;
#   hvsim guest       grants its rings, binds event channels, frontend Connected;
#   vifback           maps the rings, and once hotplug-status says the vif is plugged,
#                     backend Connected: packets flow.
say "Creating guest1 and guest2 (hvsim domain add, hvsim vif add, hvsim guest)"
i=0
for g in "$G1" "$G2"; do
	i=$((i + 1))
	spec="mac=00:16:3e:00:00:0$i,bridge=xenbr0,ip=192.0.2.1$i 2001:db8::1$i"
	"$HVSIM" domain add "$i" >/dev/null || { bad "hvsim domain add $i"; continue; }
	DOMAINS+=("$i")
	"$HVSIM" vif add -n "$i.0" "$spec" || { bad "hvsim vif add $i.0"; continue; }
	"$HVSIM" guest "$i.0" --netns "$g" >"$TMP/guest$i.out" 2>"$TMP/guest$i.log" &
	GUEST_PIDS+=($!)
	wait_for 10 has_line "$TMP/guest$i.out" ready || { bad "guest$i: netfront not ready"; continue; }
	connected() { [ "$(be "$1")" = 4 ] && [ "$(xsr "/local/domain/$1/device/vif/0/state")" = 4 ]; }
	if wait_for 10 connected "$i"; then
		ok "vif$i.0 '$spec': hotplug-status $(be $i hotplug-status), backend and frontend Connected (4)"
	else
		bad "vif$i.0: backend state $(be $i), frontend $(xsr "/local/domain/$i/device/vif/0/state")"
	fi
	ip -n "$g" addr add "192.0.2.1$i/24" dev eth0
	ip -n "$g" addr add "2001:db8::1$i/64" dev eth0 nodad
	ip -n "$g" route add default via 192.0.2.1
done

say "netdctl status"
ctl status | sed 's/^/  /'
say "netdctl vif list"
ctl vif list | sed 's/^/  /'
say "vifback's processes (a supervisor, its worker spawner, a seccomp-filtered worker per guest domain)"
ps -o pid=,ppid=,rss=,comm= --pid "$VIFBACK_PID" --ppid "$VIFBACK_PID" |
	awk -v sup="$VIFBACK_PID" '{role = $1 == sup ? "supervisor" : $4 == "vifback-spawn" ? "spawner" : "worker"
		printf "  pid %s ppid %s rss %5s KiB  %s\n", $1, $2, $3, role}'

# The kernel reports carrier changes lazily (linkwatch, up to 1 s): wait until every port
# of xenbr0 forwards (brport state 3) and every link a packet crosses is operationally up.
ready() {
	for st in $(nsx "$D0" sh -c 'cat /sys/class/net/xenbr0/brif/*/state'); do [ "$st" = 3 ] || return 1; done
	for ns_if in "$D0 xenbr0" "$G1 eth0" "$G2 eth0" "$UP lan0"; do
		set -- $ns_if
		[ "$(nsx "$1" cat "/sys/class/net/$2/operstate" 2>/dev/null)" = up ] || return 1
	done
}
wait_for 3 ready || bad "links not ready 3 s after plugging: $(ip -n "$D0" -br link | tr -s ' ' | tr '\n' ';')"

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

# --- anti-spoofing --------------------------------------------------------------
# guest1 may send only from the ip= of its vif: 192.0.2.99 is not one of them.
say "Anti-spoofing: guest1 pings upstream from a forged source 192.0.2.99"
spoof_json() { ctl --json status | python3 -c '
import json, sys
for n in json.load(sys.stdin)["result"]["networks"]:
    c = n["details"].get("counters", {}).get("vif1.0")
    if c: print(c.get("spoof_drops", {}).get("packets", 0)); break
else: print(0)'; }
before=$(spoof_json)
ip -n "$G1" addr add 192.0.2.99/32 dev eth0
if nsx "$G1" ping -n -q -c 3 -i 0.2 -W 1 -I 192.0.2.99 192.0.2.1 >/dev/null 2>&1; then
	bad "a forged source reached upstream"
else
	ok "no reply to the forged source"
fi
after=$(spoof_json)
[ "$after" -ge $((before + 3)) ] 2>/dev/null && ok "vif1.0 spoof_drops: $before -> $after packets" ||
	bad "vif1.0 spoof_drops: $before -> $after, expected at least 3 more"
ip -n "$G1" addr del 192.0.2.99/32 dev eth0
v=$(cell "$G1" 192.0.2.1)
case $v in ok*) ok "guest1 -> upstream from its own address still: $v" ;; *) bad "guest1 -> upstream: $v" ;; esac

# --- teardown: as the toolstack does it, then the services ------------------------
say "Shutting the guests down, detaching their vifs (hvsim vif del), removing the domains"
for k in "${!GUEST_PIDS[@]}"; do
	stop "${GUEST_PIDS[$k]}" 10 && ok "guest$((k + 1)) netfront exited with status 0" ||
		bad "guest$((k + 1)) netfront exited with status $?"
done
GUEST_PIDS=()
for d in "${DOMAINS[@]}"; do
	# online=0, state Closing: vifback removes the TAP, netd's watch unplugs it
	"$HVSIM" vif del -n "$d.0" >/dev/null && "$HVSIM" domain del "$d" >/dev/null || bad "hvsim vif/domain del $d"
	gone() { ! ip -n "$D0" link show "vif$1.0" >/dev/null 2>&1; }
	wait_for 5 gone "$d" && ok "vif$d.0 removed from dom0" || bad "vif$d.0 still in dom0"
done
DOMAINS=()
# the supervisor's children but its spawner (vifback-spawn)
workers=$(ps -o comm= --ppid "$VIFBACK_PID" | grep -cvx vifback-spawn)
[ "$workers" = 0 ] && ok "no vifback worker left" || bad "$workers vifback workers left without guests"

say "Stopping netd, vifback, xenstored (SIGTERM) and checking dom0 is back as before"
for name in netd vifback xenstored; do
	case $name in netd) pid=$NETD_PID ;; vifback) pid=$VIFBACK_PID ;; xenstored) pid=$XS_PID ;; esac
	stop "$pid" 10; rc=$?
	[ "$rc" = 0 ] && ok "$name exited with status 0" || bad "$name exited with status $rc"
done
NETD_PID= VIFBACK_PID= XS_PID=
LINK1=$(before_link) ADDR1=$(before_addr) ROUTE1=$(before_route)
[ "$LINK1" = "$LINK0" ] && ok "eth0 is the original link: $LINK1" || bad "eth0 link: was '$LINK0', now '$LINK1'"
[ "$ADDR1" = "$ADDR0" ] && ok "eth0 addresses: $ADDR1" || bad "eth0 addresses: were '$ADDR0', now '$ADDR1'"
[ "$ROUTE1" = "$ROUTE0" ] && ok "default route: $ROUTE1" || bad "default route: was '$ROUTE0', now '$ROUTE1'"
left=$(ip -n "$D0" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -vxE 'lo|eth0' | tr '\n' ' ')
[ -z "$left" ] && ok "dom0 has only lo and eth0 again" || bad "left behind in dom0: $left"
[ ! -e "$XENSTORED_PATH" ] && ok "xenstored's sockets removed" || bad "xenstored's socket left: $XENSTORED_PATH"
v=$(cell "$D0" 192.0.2.1)
case $v in ok*) ok "dom0 -> upstream: $v" ;; *) bad "dom0 -> upstream: $v" ;; esac

if [ "$FAILED" = 0 ]; then
	say "${G}demo ($MODE): all paths ok, host restored${N}"
else
	logs
	say "${R}demo ($MODE): FAILED${N}"
fi
exit "$FAILED"
