"""Route mode in namespaces: Xen's network-route + vif-route (and IPv6 with proxy
NDP entries): forwarding and proxy sysctls restored to exactly what they were,
host routes per guest address, pings both ways, the guest's packets leave Dom0
with the guest's own address, proxy ARP answers with eth0's MAC, offline removes
only what its online made, rollback at every step, adoption after kill -9."""
import json
import os
import select
import signal
import subprocess

import pytest

from conftest import BUILD, NETDCTL, ROOT, bridge_conf, held_sysctls, route_conf, sh

# The network's sysctls route mode may touch, and the per-device ones that
# follow the global forwarding switches (compared before/after as a whole).
NET_SYSCTLS = [
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/default/forwarding",
    "net/ipv4/conf/eth0/forwarding",
    "net/ipv4/conf/all/proxy_arp",
    "net/ipv4/conf/eth0/proxy_arp",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/conf/default/forwarding",
    "net/ipv6/conf/eth0/forwarding",
    "net/ipv6/conf/all/proxy_ndp",
    "net/ipv6/conf/eth0/proxy_ndp",
]
UP_STEPS = ["ip-forward", "ipv6-forward", "proxy-arp", "proxy-ndp"]
# Fault points of `vif online` (route/plug.c, rt_vif_steps), in order.
VIF_STEPS = ["vif-addr", "vif-proxy-arp", "vif-up", "vif-route", "vif-proxy-ndp", "vif-route6",
             "vif-proxy-guest", "vif-proxy-upstream"]


def vif_sysctls(vif):
    return [f"net/ipv4/conf/{vif}/proxy_arp", f"net/ipv6/conf/{vif}/proxy_ndp"]


def sysctls(topo, paths, ns=None):
    ns = ns or topo.d0
    script = "; ".join(f'echo "{p}=$(cat /proc/sys/{p})"' for p in paths)
    out = topo.run(ns, f"sh -c '{script}'").stdout
    return dict(l.split("=", 1) for l in out.strip().splitlines())


def proxies(topo):
    """IPv6 proxy neighbour entries of dom0 as (address, device)."""
    out = json.loads(topo.ip(topo.d0, "-j -6 neigh show proxy").stdout or "[]")
    return sorted((e["dst"], e["dev"]) for e in out)


def routes_of(topo, dev, family="-4"):
    return [r for r in topo.routes(topo.d0, family) if r.get("dev") == dev]


def no_proxy_delay(topo, *devs):
    """Test-side: answer proxied ARP/NS at once instead of after 0.8 s."""
    for dev in devs:
        topo.run(topo.d0, f"sysctl -qw net/ipv4/neigh/{dev}/proxy_delay=0 "
                          f"net/ipv6/neigh/{dev}/proxy_delay=0")


def add_guest(topo, domid, addrs, routes):
    """A guest namespace whose eth0 is vif<domid>.0 in dom0 (left down there,
    as netback leaves it until the hotplug script runs)."""
    g = topo.add_ns(f"{topo.prefix}-g{domid}")
    vif = f"vif{domid}.0"
    sh(f"ip link add {vif} netns {topo.d0} type veth peer name eth0 netns {g}")
    # The kernel attaches a device's default qdisc at its first up and keeps
    # it after a down; cycle once so that a vif put back down by a rollback
    # or an offline compares equal to the vif before.
    topo.ip(topo.d0, f"link set {vif} up")
    topo.ip(topo.d0, f"link set {vif} down")
    topo.sysctl(g, "net.ipv6.conf.all.accept_dad", 0)
    for a in addrs:
        topo.ip(g, f"addr add {a} dev eth0" + (" nodad" if ":" in a else ""))
    topo.ip(g, "link set eth0 up")
    for r in routes:
        topo.ip(g, f"{'-6 ' if ':' in r else ''}route add {r}")
    topo.guests[domid] = g
    return g


def lan_guest(topo, domid=1, v4="192.0.2.20", v6="2001:db8::20"):
    """A guest inside the LAN's own subnets, reached by proxy ARP / NDP."""
    addrs, routes = [f"{v4}/24"], ["default via 192.0.2.1"]
    if v6:
        addrs.append(f"{v6}/64")
        routes.append("default via 2001:db8::1")
    return add_guest(topo, domid, addrs, routes)


def routed_guest(topo, domid=2, v4="198.51.100.10"):
    """Xen's classic routed guest: its own address, Dom0's address as gateway."""
    return add_guest(topo, domid, [f"{v4}/32"], ["192.0.2.2 dev eth0", "default via 192.0.2.2"])


def state_doc(netd, name="routed"):
    with open(os.path.join(netd.state, f"{name}.json")) as f:
        return json.load(f)


def host_view(topo):
    """Everything route mode may touch: links, addresses, routes (all tables),
    proxy entries and the network's sysctls."""
    return topo.snapshot(), proxies(topo), sysctls(topo, NET_SYSCTLS)


def assert_host_view(topo, before):
    snap, prox, ctl = before
    topo.assert_snapshot_equal(snap)
    assert proxies(topo) == prox
    assert sysctls(topo, NET_SYSCTLS) == ctl


def check_up(topo, ipv6=True):
    s = sysctls(topo, NET_SYSCTLS)
    assert s["net/ipv4/ip_forward"] == "1"
    assert s["net/ipv4/conf/eth0/proxy_arp"] == "1"
    assert s["net/ipv6/conf/all/forwarding"] == ("1" if ipv6 else "0")
    assert s["net/ipv6/conf/eth0/proxy_ndp"] == ("1" if ipv6 else "0")


# ---- the network: sysctls, up/down, idempotence, faults, crashes ----

@pytest.mark.parametrize("preset", [{}, {"net.ipv4.ip_forward": 1, "net/ipv4/conf/eth0/proxy_arp": 1,
                                         "net/ipv6/conf/eth0/proxy_ndp": 1}],
                         ids=["fresh", "preset"])
def test_up_down_restores_exactly(topo, netd_factory, preset):
    for k, v in preset.items():
        topo.sysctl(topo.d0, k, v)
    before = host_view(topo)
    netd = netd_factory(route_conf())
    netd.start()
    check_up(topo)
    # netd's sysctl registry holds each one for the network, with the value
    # it found (a preset 1 stays 1 after down).
    held = held_sysctls(netd)
    expect = {p: "0" for p in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding",
                               "net/ipv4/conf/eth0/proxy_arp", "net/ipv6/conf/eth0/proxy_ndp")}
    for k in preset:
        expect[k.replace(".", "/")] = "1"
    assert {p: h["orig"] for p, h in held.items()} == expect
    assert all(h["holders"] == ["routed"] for h in held.values())
    netd.ctl("down")
    assert_host_view(topo, before)
    assert not os.path.exists(os.path.join(netd.state, "routed.json"))
    assert held_sysctls(netd) == {}
    assert netd.proc.poll() is None, "netd must keep running after down"
    netd.ctl("up")
    check_up(topo)
    assert netd.stop() == 0
    assert_host_view(topo, before)


def test_gatewaydev_alias_and_no_ipv6(topo, netd_factory):
    """A physdev without a global IPv6 address: IPv6 forwarding and proxy NDP
    stay off, and an IPv6 guest address is refused."""
    topo.ip(topo.d0, "-6 route del default via 2001:db8::1")
    topo.ip(topo.d0, "addr del 2001:db8::2/64 dev eth0")
    before = host_view(topo)
    netd = netd_factory(route_conf(key="gatewaydev"))
    netd.start()
    check_up(topo, ipv6=False)
    assert sorted(held_sysctls(netd)) == ["net/ipv4/conf/eth0/proxy_arp", "net/ipv4/ip_forward"]
    lan_guest(topo, 1, v6=None)
    snap = host_view(topo)
    r = netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20", check=False)
    assert r.returncode == 1
    assert "vif1.0: IPv6 guest address given, but eth0 had no global IPv6 address" in r.stderr
    assert_host_view(topo, snap)
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20")
    no_proxy_delay(topo, "eth0", "vif1.0")
    assert topo.ping(topo.up, "192.0.2.20")
    assert netd.stop() == 0
    topo.ip(topo.d0, "link del vif1.0")
    assert_host_view(topo, before)


def test_status(topo, netd_factory):
    netd = netd_factory(route_conf(metric=7, gatewayip="2001:db8::1"))
    netd.start()
    lan_guest(topo, 1)
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    out = netd.ctl("status").stdout
    assert "routed" in out and "route" in out and "physdev=eth0" in out
    assert "dom0_ip=192.0.2.2" in out and "forwarding=ipv4,ipv6" in out and "metric=7" in out
    assert "192.0.2.20/32 dev vif1.0" in out
    doc = json.loads(netd.ctl("--json", "status").stdout)
    net = doc["result"]["networks"][0]
    assert (net["name"], net["mode"], net["state"]) == ("routed", "route", "up")
    d = net["details"]
    assert d["physdev"] == "eth0" and d["dom0_ip"] == "192.0.2.2" and d["metric"] == 7
    assert d["gatewayip"] == "2001:db8::1" and d["ipv6"] == "yes"
    assert d["vif_routes"] == {"vif1.0": ["192.0.2.20/32", "2001:db8::20/128"]}
    assert [r["metric"] for r in routes_of(topo, "vif1.0")] == [7]


def test_up_twice_is_a_noop(topo, netd_factory):
    netd = netd_factory(route_conf())
    netd.start()
    lan_guest(topo, 1)
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    topo.settle()
    view, doc = host_view(topo), state_doc(netd)
    netd.ctl("up")
    netd.ctl("up", "routed")
    assert_host_view(topo, view)
    assert state_doc(netd) == doc
    assert "re-applying" not in netd.read_log()


def test_up_repairs_a_reset_sysctl(topo, netd_factory):
    """Someone turned forwarding off behind netd's back: `up` turns it back on
    and down still restores the original value."""
    before = host_view(topo)
    netd = netd_factory(route_conf())
    netd.start()
    topo.sysctl(topo.d0, "net.ipv4.ip_forward", 0)
    netd.ctl("up")
    check_up(topo)
    assert "re-applying" in netd.read_log()
    netd.ctl("down")
    assert_host_view(topo, before)


def test_failed_repair_makes_the_network_failed(topo, netd_factory):
    """A route network whose reset sysctl cannot be set again (a fault at
    its step, in a netd that adopted the setup with the fault armed) is
    `failed`: `up` fails saying why, status says failed with that error,
    a plug into it is refused saying so, the record and the vif are kept,
    and `down` restores the host from them."""
    before = host_view(topo)
    netd = netd_factory(route_conf())
    netd.start()
    lan_guest(topo, 1)
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    netd.stop(signal.SIGKILL)
    netd.env = {"NETD_FAULT": "ip-forward"}
    netd.start()  # adoption runs no fault point
    assert "adopted the running route setup" in netd.read_log()
    topo.sysctl(topo.d0, "net.ipv4.ip_forward", 0)
    r = netd.ctl("up", "routed", check=False)
    assert r.returncode != 0
    why = "routed: step ip-forward: fault injected at step 'ip-forward'"
    assert why in r.stderr, r.stderr
    st = netd.request({"cmd": "status"})["result"]["networks"][0]
    assert (st["name"], st["state"], st["error"]) == ("routed", "failed", why), st
    routed_guest(topo, 2)
    r = netd.ctl("vif", "online", "2.0", "ip=198.51.100.10", check=False)
    assert r.returncode != 0
    assert (f"vif2.0: network routed is not applied, its repair failed (`netdctl up routed` "
            f"tries again): {why}") in r.stderr, r.stderr
    assert routes_of(topo, "vif2.0") == []
    assert os.path.exists(os.path.join(netd.state, "routed.json"))
    assert "1.0" in netd.ctl("vif", "list").stdout
    netd.ctl("down", "routed")
    st = netd.request({"cmd": "status"})["result"]["networks"][0]
    assert st["state"] == "down"
    assert not os.path.exists(os.path.join(netd.state, "routed.json"))
    for domid in (1, 2):
        topo.ip(topo.d0, f"link del vif{domid}.0")
    assert_host_view(topo, before)


def test_two_route_networks_share_forwarding(topo, netd_factory):
    """ip_forward is one switch for the namespace: both networks hold it in
    netd's registry, which keeps the value to restore; the last one down
    restores it."""
    sh(f"ip link add up1 netns {topo.up} type veth peer name eth1 netns {topo.d0}")
    topo.ip(topo.d0, "addr add 203.0.113.2/24 dev eth1")
    topo.ip(topo.d0, "link set eth1 up")
    eth1 = ["net/ipv4/conf/eth1/proxy_arp", "net/ipv6/conf/eth1/proxy_ndp"]
    before, before1 = host_view(topo), sysctls(topo, eth1)
    netd = netd_factory(route_conf() + route_conf(physdev="eth1", name="routed2"))
    netd.start()
    # eth1 has no global IPv6 address: routed2 routes IPv4 only.
    assert sorted(p for p, h in held_sysctls(netd).items() if "routed2" in h["holders"]) == [
        eth1[0], "net/ipv4/ip_forward"]
    netd.ctl("down", "routed")
    s = sysctls(topo, NET_SYSCTLS + eth1)
    assert s["net/ipv4/ip_forward"] == "1" and s[eth1[0]] == "1"
    assert s["net/ipv4/conf/eth0/proxy_arp"] == "0" and s["net/ipv6/conf/all/forwarding"] == "0"
    held = {p: (h["orig"], h["holders"]) for p, h in held_sysctls(netd).items()}
    assert held == {eth1[0]: ("0", ["routed2"]), "net/ipv4/ip_forward": ("0", ["routed2"])}
    netd.ctl("down", "routed2")
    assert_host_view(topo, before)
    assert sysctls(topo, eth1) == before1
    netd.ctl("up")
    check_up(topo)
    assert netd.stop() == 0  # down in reverse order: routed2 first
    assert_host_view(topo, before)
    assert sysctls(topo, eth1) == before1


def test_fault_at_every_step_rolls_back(topo, netd_factory):
    before = host_view(topo)
    netd = netd_factory(route_conf())
    steps = netd.steps()
    assert steps == UP_STEPS
    for step in steps:
        netd.run_faulted(step)
        assert_host_view(topo, before)
        assert not os.path.exists(os.path.join(netd.state, "routed.json"))
    netd.start()
    check_up(topo)


def test_crash_at_every_step_recovers(topo, netd_factory):
    before = host_view(topo)
    netd = netd_factory(route_conf())
    for step in netd.steps():
        netd.run_crashed(step)
        assert state_doc(netd)["phase"] == "applying"
        # A new netd rolls the half-done setup back, applies it afresh...
        netd.start()
        check_up(topo)
        assert "rolling it back" in netd.read_log()
        # ...and down restores the original host.
        assert netd.stop() == 0
        assert_host_view(topo, before)


def test_kill9_adopts_without_disturbing(topo, netd_factory):
    before = host_view(topo)
    netd = netd_factory(route_conf())
    netd.start()
    g = lan_guest(topo, 1)
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    no_proxy_delay(topo, "eth0", "vif1.0")
    topo.wait_carrier(g, "eth0")
    assert topo.ping(g, "192.0.2.1")
    topo.settle()
    view, doc = host_view(topo), state_doc(netd)
    out = netd.kill9_restart_under_ping(g, "192.0.2.1")
    assert " 0% packet loss" in out, out
    log = netd.read_log()
    assert "adopted the running route setup" in log and "re-applying" not in log
    assert_host_view(topo, view)
    # Adoption rewrote nothing: the values found before the first up are
    # still the ones to restore.
    assert state_doc(netd)["mode_state"] == doc["mode_state"]
    assert "1.0" in netd.ctl("vif", "list").stdout
    # The new netd knows what the old one's online made.
    netd.ctl("vif", "offline", "1.0")
    assert routes_of(topo, "vif1.0") == [] and routes_of(topo, "vif1.0", "-6") == []
    assert proxies(topo) == []
    assert topo.addrs(topo.d0, "vif1.0") == []
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    # kill -9 again, and down from the next netd removes the guest's routes too.
    netd.stop(signal.SIGKILL)
    netd.start()
    netd.ctl("down")
    topo.ip(topo.d0, "link del vif1.0")
    assert_host_view(topo, before)


def test_down_with_vifs_online_restores_host(topo, netd_factory):
    before = host_view(topo)
    netd = netd_factory(route_conf())
    netd.start()
    lan_guest(topo, 1)
    routed_guest(topo, 2)
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    netd.ctl("vif", "online", "2.0", "ip=198.51.100.10")
    assert len(proxies(topo)) == 3
    assert netd.stop() == 0  # SIGTERM: restore_on_exit
    assert proxies(topo) == []
    for d in (1, 2):
        assert routes_of(topo, f"vif{d}.0") == []
        assert topo.addrs(topo.d0, f"vif{d}.0") == []
        topo.ip(topo.d0, f"link del vif{d}.0")
    assert_host_view(topo, before)


# ---- guests: traffic ----

def test_guests_reach_the_lan_with_their_own_addresses(topo, netd_factory):
    """A guest inside the LAN's subnet (proxy ARP) and one in its own subnet
    (upstream routes it to Dom0): pings both ways; on the LAN the guests'
    packets carry their own source addresses behind eth0's MAC; ARP for the
    guest on the LAN is answered by Dom0 with eth0's MAC."""
    netd = netd_factory(route_conf())
    netd.start()
    g1, g2 = lan_guest(topo, 1, v6=None), routed_guest(topo, 2)
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20")
    netd.ctl("vif", "online", "2.0", "ip=198.51.100.10")
    topo.ip(topo.up, "route add 198.51.100.0/24 via 192.0.2.2")
    no_proxy_delay(topo, "eth0", "vif1.0", "vif2.0")
    for d in (1, 2):
        v = f"vif{d}.0"
        assert topo.addrs(topo.d0, v)[0] == "192.0.2.2/32"
        assert "UP" in topo.link(topo.d0, v)["flags"]
        assert sysctls(topo, vif_sysctls(v))[f"net/ipv4/conf/{v}/proxy_arp"] == "1"
    (r1,), (r2,) = routes_of(topo, "vif1.0"), routes_of(topo, "vif2.0")
    assert (r1["dst"], r1["prefsrc"], r1["metric"], r1["scope"]) == \
        ("192.0.2.20", "192.0.2.2", 2, "link")
    assert (r2["dst"], r2["prefsrc"], r2["metric"]) == ("198.51.100.10", "192.0.2.2", 2)
    topo.wait_carrier(g1, "eth0")
    topo.wait_carrier(g2, "eth0")
    assert topo.ping(topo.up, "192.0.2.20")
    assert topo.ping(topo.up, "198.51.100.10")
    assert topo.ping(g1, "192.0.2.1")
    assert topo.ping(g2, "192.0.2.1")
    assert topo.ping(g1, "198.51.100.10")  # guest to guest, through Dom0
    script = f"""
import subprocess
from scapy.all import AsyncSniffer, Ether, ARP, IP, srp, conf
conf.verb = 0
import threading
# "started" once its socket captures (filter attached); "seen" counts frames
started, seen = threading.Event(), threading.Semaphore(0)
sn = AsyncSniffer(iface="up0", filter="udp and port 7321", store=True,
                  started_callback=started.set, prn=lambda p: seen.release())
sn.start()
assert started.wait(10), "sniffer did not start"
for g in ("{g1}", "{g2}"):
    subprocess.run(["ip", "netns", "exec", g, "/usr/bin/python3", "-c",
      "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'hi', ('192.0.2.1', 7321))"],
      check=True)
for _ in range(2):  # the guests' datagrams
    seen.acquire(timeout=10)
pk = sn.stop()
print("SRC", ",".join(sorted(p[IP].src + "@" + p[Ether].src for p in pk)))
ans, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff")/ARP(pdst="192.0.2.20", psrc="192.0.2.1"),
             iface="up0", timeout=2)
print("ARP", ",".join(r[ARP].hwsrc for _, r in ans))
"""
    r = topo.python(topo.up, script)
    lines = dict(l.split(" ", 1) for l in r.stdout.strip().splitlines())
    mac = topo.eth0_mac
    assert lines["SRC"] == f"192.0.2.20@{mac},198.51.100.10@{mac}"
    assert lines["ARP"] == mac


def test_ipv6_routed_guest(topo, netd_factory):
    netd = netd_factory(route_conf())
    netd.start()
    g = lan_guest(topo, 1, v4="192.0.2.20", v6="2001:db8::20")
    netd.ctl("vif", "online", "1.0", "ip=2001:db8::20")
    no_proxy_delay(topo, "eth0", "vif1.0")
    assert [r["metric"] for r in routes_of(topo, "vif1.0", "-6")
            if r["dst"] == "2001:db8::20"] == [2]
    # The LAN asks eth0 for the guest; the guest asks the vif for Dom0's own
    # address and the gateway (the physdev's default route).
    assert proxies(topo) == [("2001:db8::1", "vif1.0"), ("2001:db8::2", "vif1.0"),
                             ("2001:db8::20", "eth0")]
    assert sysctls(topo, vif_sysctls("vif1.0"))["net/ipv6/conf/vif1.0/proxy_ndp"] == "1"
    # IPv6 only: no IPv4 address or proxy ARP on the vif.
    assert "192.0.2.2/32" not in topo.addrs(topo.d0, "vif1.0")
    assert sysctls(topo, vif_sysctls("vif1.0"))["net/ipv4/conf/vif1.0/proxy_arp"] == "0"
    topo.wait_carrier(g, "eth0")
    assert topo.ping(g, "2001:db8::1", count=2)
    assert topo.ping(topo.up, "2001:db8::20")
    assert topo.ping(g, "2001:db8::2")
    neigh = json.loads(topo.ip(topo.up, "-j -6 neigh show 2001:db8::20 dev up0").stdout)
    assert neigh and neigh[0]["lladdr"] == topo.eth0_mac


def test_gatewayip_names_the_ipv6_gateway(topo, netd_factory):
    netd = netd_factory(route_conf(gatewayip="2001:db8::fe"))
    netd.start()
    lan_guest(topo, 1)
    netd.ctl("vif", "online", "1.0", "ip=2001:db8::20")
    assert proxies(topo) == [("2001:db8::2", "vif1.0"), ("2001:db8::20", "eth0"),
                             ("2001:db8::fe", "vif1.0")]


# ---- guests: offline, rollback, bad input ----

def test_offline_removes_only_its_own(topo, netd_factory):
    netd = netd_factory(route_conf())
    netd.start()
    lan_guest(topo, 1)
    routed_guest(topo, 2)
    netd.ctl("vif", "online", "2.0", "ip=198.51.100.10 2001:db8::30")
    # Someone else's configuration, on the same vif and in the same tables.
    topo.ip(topo.d0, "link set vif1.0 up")
    topo.ip(topo.d0, "route add 203.0.113.0/25 dev vif1.0")
    topo.ip(topo.d0, "route add 203.0.113.128/25 via 192.0.2.1")
    topo.ip(topo.d0, "-6 route add 2001:db8:1::/64 dev vif1.0")
    topo.ip(topo.d0, "-6 neigh add proxy 2001:db8::1 dev vif1.0")
    topo.settle()
    before = topo.snapshot()
    r4, r6 = topo.routes(topo.d0), topo.routes(topo.d0, "-6")
    prox, vs = proxies(topo), sysctls(topo, vif_sysctls("vif1.0"))
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    assert len(routes_of(topo, "vif1.0")) == 2 and len(routes_of(topo, "vif1.0", "-6")) >= 2
    assert ("2001:db8::20", "eth0") in proxies(topo)
    netd.ctl("vif", "offline", "1.0")
    assert topo.routes(topo.d0) == r4
    assert topo.routes(topo.d0, "-6") == r6
    assert proxies(topo) == prox  # the foreign proxy entry for ::1 on vif1.0 stays
    assert sysctls(topo, vif_sysctls("vif1.0")) == vs
    topo.assert_snapshot_equal(before)
    # The second guest is untouched.
    assert [r["dst"] for r in routes_of(topo, "vif2.0")] == ["198.51.100.10"]
    assert ("2001:db8::30", "eth0") in proxies(topo)


def test_online_again_with_other_addresses(topo, netd_factory):
    netd = netd_factory(route_conf())
    netd.start()
    lan_guest(topo, 1)
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.21 2001:db8::20")
    assert [r["dst"] for r in routes_of(topo, "vif1.0")] == ["192.0.2.21"]
    assert ("2001:db8::20", "eth0") in proxies(topo)
    netd.ctl("vif", "offline", "1.0")
    assert routes_of(topo, "vif1.0") == [] and proxies(topo) == []
    assert topo.addrs(topo.d0, "vif1.0") == []
    assert "UP" not in topo.link(topo.d0, "vif1.0")["flags"]


def test_emulated_nic_and_pv_vif_of_one_guest(topo, netd_factory):
    """An HVM guest's emulated NIC (tap vifD.N-emu) and PV vif route the same
    addresses: the tap gets metric 1, the vif 2 (as vif-route), and the proxy
    entry on eth0 stays while either still routes the address."""
    netd = netd_factory(route_conf())
    netd.start()
    g = lan_guest(topo, 1)
    sh(f"ip link add vif1.0-emu netns {topo.d0} type veth peer name emu0 netns {g}")
    netd.ctl("vif", "online", "1.0-emu", "ip=192.0.2.20 2001:db8::20")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")

    def guest_routes():
        return sorted((r["dev"], r["metric"]) for fam in ("-4", "-6")
                      for r in topo.routes(topo.d0, fam) if r["dst"] in ("192.0.2.20", "2001:db8::20"))
    assert guest_routes() == [("vif1.0", 2), ("vif1.0", 2), ("vif1.0-emu", 1), ("vif1.0-emu", 1)]
    # The guest's PV drivers take over: the tap goes; it made the proxy entry.
    netd.ctl("vif", "offline", "1.0-emu")
    assert guest_routes() == [("vif1.0", 2), ("vif1.0", 2)]
    assert ("2001:db8::20", "eth0") in proxies(topo)
    netd.ctl("vif", "offline", "1.0")
    assert guest_routes() == [] and proxies(topo) == []


@pytest.mark.parametrize("step", VIF_STEPS)
def test_vif_fault_at_every_step_rolls_back(topo, netd_factory, step):
    netd = netd_factory(route_conf(), env={"NETD_FAULT": step})
    netd.start()
    lan_guest(topo, 1)
    topo.settle()
    before = host_view(topo), sysctls(topo, vif_sysctls("vif1.0"))
    r = netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20", check=False)
    assert r.returncode == 1
    assert f"vif1.0: fault injected at step '{step}'" in r.stderr, r.stderr
    assert_host_view(topo, before[0])
    assert sysctls(topo, vif_sysctls("vif1.0")) == before[1]
    assert "1.0" not in netd.ctl("vif", "list").stdout
    assert netd.alive()


@pytest.mark.parametrize("step", VIF_STEPS + ["vif-antispoof"])
def test_vif_crash_at_every_step_is_undone_by_the_next_netd(topo, netd_factory, step):
    """kill -9 at each step of a routed plug: the next netd undoes it from
    the plug's journal record (it never got a record of its items), down to
    the vif's own proxy_arp and proxy_ndp (back to the namespace's default)
    and the upstream proxy entries on the vif; the network's sysctls (the uplink's proxy settings, forwarding)
    stay as the network holds them."""
    netd = netd_factory(route_conf(), env={"NETD_FAULT": f"{step}:crash"})
    netd.start()
    lan_guest(topo, 1)
    topo.settle()
    before = host_view(topo), sysctls(topo, vif_sysctls("vif1.0"))
    r = netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20", check=False)
    assert r.returncode != 0
    netd.crashed()
    if step == "vif-antispoof":  # what the crash left: the whole plug, unrecorded
        assert set(sysctls(topo, vif_sysctls("vif1.0")).values()) == {"1"}
        assert ("2001:db8::2", "vif1.0") in proxies(topo)
    netd.start()
    assert "vif1.0 was being plugged when netd stopped" in netd.read_log()
    assert sysctls(topo, vif_sysctls("vif1.0")) == before[1], netd.read_log()
    assert_host_view(topo, before[0])
    assert "1.0" not in netd.ctl("vif", "list").stdout
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    assert sysctls(topo, vif_sysctls("vif1.0")) == {"net/ipv4/conf/vif1.0/proxy_arp": "1",
                                                    "net/ipv6/conf/vif1.0/proxy_ndp": "1"}


def test_vif_failure_midway_undoes_that_online(topo, netd_factory):
    """The second address of the list is another guest's: the first one's
    route, the /32 and proxy ARP go again, the vif is as before."""
    netd = netd_factory(route_conf())
    netd.start()
    lan_guest(topo, 1)
    routed_guest(topo, 2)
    netd.ctl("vif", "online", "2.0", "ip=198.51.100.10")
    topo.settle()
    before = host_view(topo), sysctls(topo, vif_sysctls("vif1.0"))
    r = netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 198.51.100.10", check=False)
    assert r.returncode == 1
    assert "vif1.0: 198.51.100.10/32 is already routed via vif2.0 (metric 2)" in r.stderr
    assert_host_view(topo, before[0])
    assert sysctls(topo, vif_sysctls("vif1.0")) == before[1]


def test_bad_input_changes_nothing(topo, netd_factory):
    netd = netd_factory(route_conf())
    netd.start()
    lan_guest(topo, 1)
    lan_guest(topo, 3, v4="192.0.2.23", v6=None)
    topo.ip(topo.d0, "link add br9 type bridge")
    topo.ip(topo.d0, "link set vif3.0 master br9")
    topo.settle()
    before = host_view(topo), sysctls(topo, vif_sysctls("vif1.0"))
    cases = [
        (["vif", "online", "1.0"], "vif1.0: route mode needs ip= (nothing to route to)"),
        (["vif", "online", "1.0", "ip="], "vif1.0: route mode needs ip= (nothing to route to)"),
        (["vif", "online", "1.0", "ip=192.0.2.300"],
         "ip: '192.0.2.300': not an IPv4 or IPv6 address"),
        (["vif", "online", "1.0", "ip=192.0.2.20 2001:db8::zz"],
         "ip: '2001:db8::zz': not an IPv4 or IPv6 address"),
        (["vif", "online", "1.0", "ip=192.0.2.0/24"], "only host addresses are accepted"),
        (["vif", "online", "9.0", "ip=192.0.2.29"], "vif9.0: no such interface"),
        (["vif", "online", "3.0", "ip=192.0.2.23"], "vif3.0: is a port of br9"),
        (["vif", "online", "1.0", "ip=192.0.2.20", "bridge=xenbr7"], "unknown bridge 'xenbr7'"),
        (["vif", "offline", "9.0"], "vif 9.0 is not online"),
    ]
    for args, msg in cases:
        r = netd.ctl(*args, check=False)
        assert r.returncode == 1, (args, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
        assert_host_view(topo, before[0])
        assert sysctls(topo, vif_sysctls("vif1.0")) == before[1], args
    assert netd.ctl("vif", "list").stdout.strip().splitlines()[1:] == []
    assert netd.alive()


def test_ip_claiming_the_gateway_or_dom0_is_refused(topo, netd_factory):
    """ip= may not be the LAN's gateway (a next hop of Dom0's routes, or the
    configured gatewayip), Dom0's own address, its subnet's network or
    broadcast address, nor a link-local, reserved or IPv4-mapped one: Dom0
    would route it to the guest and answer ARP/NS for it on the LAN with its
    own MAC. Refused with the vif, the address and why; nothing changes."""
    netd = netd_factory(route_conf(gatewayip="192.0.2.254"))
    netd.start()
    lan_guest(topo, 1)
    topo.ip(topo.d0, "addr add 203.0.113.77/32 dev lo")  # Dom0's, not on the physdev
    topo.settle()
    before = host_view(topo), sysctls(topo, vif_sysctls("vif1.0"))
    cases = [
        ("198.51.100.5 192.0.2.1 2001:db8::1",
         "vif1.0: ip 192.0.2.1 refused: it is a gateway Dom0 routes through"),
        ("192.0.2.20 2001:db8::1", "vif1.0: ip 2001:db8::1 refused: it is a gateway Dom0 routes through"),
        ("192.0.2.254", "vif1.0: ip 192.0.2.254 refused: it is the gateway (gatewayip) of the network"),
        ("192.0.2.2", "vif1.0: ip 192.0.2.2 refused: it is Dom0's own address"),
        ("203.0.113.77", "vif1.0: ip 203.0.113.77 refused: it is Dom0's own address"),
        ("2001:db8::20 2001:db8::2", "vif1.0: ip 2001:db8::2 refused: it is Dom0's own address"),
        ("192.0.2.0", "vif1.0: ip 192.0.2.0 refused: it is the network address of 192.0.2.0/24 (on eth0)"),
        ("192.0.2.255", "vif1.0: ip 192.0.2.255 refused: it is the broadcast address of a subnet Dom0 is on (eth0)"),
        # forwarding is on: the kernel answers it (an anycast route)
        ("2001:db8::", "vif1.0: ip 2001:db8:: refused: it is the subnet-router anycast address of "
                       "a subnet Dom0 is on (eth0)"),
        ("169.254.0.5", "ip: '169.254.0.5': link-local address"),
        ("fe80::20", "ip: 'fe80::20': link-local address"),
        ("240.0.0.20", "ip: '240.0.0.20': reserved address"),
        ("::ffff:192.0.2.20", "ip: '::ffff:192.0.2.20': IPv4-mapped address"),
    ]
    for ip, msg in cases:
        r = netd.ctl("vif", "online", "1.0", f"ip={ip}", check=False)
        assert r.returncode == 1, (ip, r.stderr)
        assert msg in r.stderr, (ip, r.stderr)
        assert_host_view(topo, before[0])
        assert sysctls(topo, vif_sysctls("vif1.0")) == before[1], ip
    assert netd.ctl("vif", "list").stdout.strip().splitlines()[1:] == []
    # A guest address next to them is fine.
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    assert netd.alive()


# ---- Xen's hotplug path ----

HVSIM = os.path.join(BUILD, "hvsim")


def test_xen_hotplug_vif_route(topo, netd_factory, tmp_path):
    """libxl's side played by hvsim (xenstore keys, then scripts/vif-route
    online/offline with libxl's argv and environment): the ip= list comes from
    the backend directory, hotplug-status says connected, and the guest is
    routed; detach removes its routes."""
    xs_sock, pid_file = str(tmp_path / "xs.sock"), str(tmp_path / "xs.pid")
    env = dict(os.environ, XENSTORED_PATH=xs_sock)
    xs = subprocess.Popen([HVSIM, "xenstored", "-p", pid_file], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        ready, _, _ = select.select([xs.stdout], [], [], 5)
        assert ready and xs.stdout.readline() == b"ready\n"
        netd = netd_factory(route_conf())
        netd.start()
        g = lan_guest(topo, 1)
        hp = (f"env XENSTORED_PATH={xs_sock} XEN_SCRIPT_DIR={ROOT}/scripts NETDCTL={NETDCTL} "
              f"NETD_SOCKET={netd.sock} {HVSIM}")
        topo.run(topo.d0, f"{hp} domain add 1")
        topo.run(topo.d0, f"{hp} vif add 1.0 'script=vif-route,bridge=routed,ip=192.0.2.20 2001:db8::20'")
        status = subprocess.run(["xenstore-read", "/local/domain/0/backend/vif/1/0/hotplug-status"],
                                env=env, capture_output=True, text=True, timeout=5).stdout.strip()
        assert status == "connected"
        # The guest sends with the MAC the toolstack gave it (anti-spoofing checks it).
        mac = subprocess.run(["xenstore-read", "/local/domain/0/backend/vif/1/0/mac"],
                             env=env, capture_output=True, text=True, timeout=5).stdout.strip()
        topo.ip(g, f"link set eth0 address {mac}")
        assert [r["dst"] for r in routes_of(topo, "vif1.0")] == ["192.0.2.20"]
        assert ("2001:db8::20", "eth0") in proxies(topo)
        no_proxy_delay(topo, "eth0", "vif1.0")
        assert topo.ping(g, "192.0.2.1") and topo.ping(g, "2001:db8::1")
        topo.run(topo.d0, f"{hp} vif del 1.0")
        assert routes_of(topo, "vif1.0") == [] and proxies(topo) == []
        assert "1.0" not in netd.ctl("vif", "list").stdout
    finally:
        xs.terminate()
        xs.wait(5)


def test_route_vif_with_libxl_default_bridge(topo, netd_factory):
    """libxl writes bridge=xenbr0 for every vif; Xen's vif-route ignores it. A
    vif-route vif (mode hint) whose bridge= names a bridge network joins the
    route network; a vif without the hint still joins the bridge."""
    topo.ip(topo.d0, "link add eth1 type veth peer name eth1p")
    netd = netd_factory(bridge_conf("modern", physdev="eth1") + route_conf())
    netd.start()
    lan_guest(topo, 3, v6=None)
    add_guest(topo, 4, ["192.0.2.40/24"], [])
    r = netd.ctl("vif", "online", "3.0", "ip=192.0.2.20", "bridge=xenbr0", "mode=route")
    assert "vif3.0 plugged into routed" in r.stdout
    assert [x["dst"] for x in routes_of(topo, "vif3.0")] == ["192.0.2.20"]
    assert "master" not in topo.link(topo.d0, "vif3.0")
    netd.ctl("vif", "online", "4.0")
    assert topo.link(topo.d0, "vif4.0")["master"] == "xenbr0"
    r = netd.ctl("vif", "online", "4.0", "mode=nat", check=False)
    assert r.returncode == 1 and "vif4.0: no nat network is configured" in r.stderr
