"""Namespace-wide sysctls shared by a route and a nat network in one netd.

net/ipv4/ip_forward (and IPv6 forwarding) is one switch per network namespace.
Both modes hold it through netd's registry (<state_dir>/netd-sysctl-registry.json): while one
network is still up the switch stays on and that network's guests keep
reaching upstream; the last one down puts back the value found before the
first one came up, whatever the order, across kill -9, and also when a network
left the config while netd was dead (released at the next start)."""
import json
import os
import signal

import pytest

from conftest import held_sysctls, route_conf, sh

FWD = "net/ipv4/ip_forward"
FWD6 = "net/ipv6/conf/all/forwarding"
# What either mode turns on in dom0 (route: all four; nat: ip_forward).
WATCHED = [FWD, FWD6, "net/ipv4/conf/eth0/proxy_arp", "net/ipv6/conf/eth0/proxy_ndp",
           "net/ipv4/conf/all/forwarding", "net/ipv4/conf/eth0/forwarding",
           "net/ipv6/conf/eth0/forwarding"]
ROUTED, NAT = "routed", "virbr0"
ROUTED_IP, NAT_IP = "198.51.100.10", "203.0.113.10"


def nat_conf():
    return f"[{NAT}]\nmode = nat\naddress = 203.0.113.1/24\nuplink = eth0\n"


def both_conf(first=ROUTED):
    """Both networks; netd brings them up in this order."""
    return route_conf() + nat_conf() if first == ROUTED else nat_conf() + route_conf()


def sysctls(topo, paths=WATCHED):
    script = "; ".join(f'echo "{p}=$(cat /proc/sys/{p})"' for p in paths)
    out = topo.run(topo.d0, f"sh -c '{script}'").stdout
    return dict(l.split("=", 1) for l in out.strip().splitlines())


def fwd(topo):
    return sysctls(topo, [FWD])[FWD]


def states(netd):
    doc = json.loads(netd.ctl("--json", "status").stdout)
    return {n["name"]: n["state"] for n in doc["result"]["networks"]}


def holders(netd, path=FWD):
    return sorted(held_sysctls(netd).get(path, {}).get("holders", []))


def add_guests(topo):
    """A routed guest (its own address, Dom0 as gateway, as Xen's vif-route)
    and a guest behind the nat bridge; upstream routes the routed subnet to
    Dom0 (nothing is masqueraded for it)."""
    g2 = topo.add_ns(f"{topo.prefix}-g2")
    sh(f"ip link add vif2.0 netns {topo.d0} type veth peer name eth0 netns {g2}")
    topo.ip(g2, f"addr add {ROUTED_IP}/32 dev eth0")
    topo.ip(g2, "link set eth0 up")
    topo.ip(g2, "route add 192.0.2.2 dev eth0")
    topo.ip(g2, "route add default via 192.0.2.2")
    topo.ip(topo.up, "route add 198.51.100.0/24 via 192.0.2.2")
    g5 = topo.add_ns(f"{topo.prefix}-g5")
    sh(f"ip link add vif5.0 netns {topo.d0} type veth peer name eth0 netns {g5}")
    topo.ip(g5, f"addr add {NAT_IP}/24 dev eth0")
    topo.ip(g5, "link set eth0 up")
    topo.ip(g5, "route add default via 203.0.113.1")
    topo.guests.update({2: g2, 5: g5})
    return {ROUTED: g2, NAT: g5}


def plug(topo, netd, guests):
    netd.ctl("vif", "online", "2.0", f"bridge={ROUTED}", f"ip={ROUTED_IP}")
    netd.ctl("vif", "online", "5.0", f"bridge={NAT}", f"ip={NAT_IP}")
    for g in guests.values():
        topo.wait_carrier(g, "eth0")


def reaches_upstream(topo, g):
    # A first ping may wait for ARP on a freshly plugged path: allow three.
    return topo.ping(g, "192.0.2.1", count=3, timeout=2)


def set_original(topo, value):
    topo.sysctl(topo.d0, "net.ipv4.ip_forward", value)
    assert fwd(topo) == str(value)


# A failed test may leave the dnsmasq of a killed netd (conftest stops it).
pytestmark = pytest.mark.usefixtures("no_leftover_dnsmasq")


# ---- down in either order ----

@pytest.mark.parametrize("original", [0, 1])
@pytest.mark.parametrize("up_first,down_first", [(ROUTED, NAT), (ROUTED, ROUTED),
                                                 (NAT, NAT), (NAT, ROUTED)],
                         ids=["route-up-first,nat-down-first", "route-up-first,route-down-first",
                              "nat-up-first,nat-down-first", "nat-up-first,route-down-first"])
def test_one_down_keeps_forwarding_for_the_other(topo, netd_factory, up_first, down_first,
                                                 original):
    set_original(topo, original)
    before = sysctls(topo)
    guests = add_guests(topo)
    netd = netd_factory(both_conf(up_first))
    netd.start()
    plug(topo, netd, guests)
    assert fwd(topo) == "1"
    held = held_sysctls(netd)
    assert held[FWD]["orig"] == str(original) and held[FWD]["value"] == "1"
    # Registered in the order they came up.
    assert held[FWD]["holders"] == [up_first, NAT if up_first == ROUTED else ROUTED]
    assert held[FWD6] == {"orig": before[FWD6], "value": "1", "holders": [ROUTED]}
    for g in guests.values():
        assert reaches_upstream(topo, g)

    other = NAT if down_first == ROUTED else ROUTED
    netd.ctl("down", down_first)
    # The other network still holds the switch: on, and its guest gets out.
    assert fwd(topo) == "1"
    assert holders(netd) == [other]
    assert reaches_upstream(topo, guests[other])
    assert states(netd) == {down_first: "down", other: "up"}
    if down_first == ROUTED:
        # What only the route network held is back at once.
        s = sysctls(topo)
        for p in (FWD6, "net/ipv4/conf/eth0/proxy_arp", "net/ipv6/conf/eth0/proxy_ndp"):
            assert s[p] == before[p], p
    else:
        assert topo.link(topo.d0, NAT) is None

    netd.ctl("down", other)
    assert fwd(topo) == str(original)
    assert sysctls(topo) == before
    assert held_sysctls(netd) == {}
    assert not os.path.exists(os.path.join(netd.state, "netd-sysctl-registry.json"))
    # Up again (both), and SIGTERM restores the same original.
    netd.ctl("up")
    assert fwd(topo) == "1" and held_sysctls(netd)[FWD]["orig"] == str(original)
    assert netd.stop() == 0
    assert sysctls(topo) == before


def test_someone_else_turning_forwarding_off_is_repaired_when_joining(topo, netd_factory):
    """Behind netd's back ip_forward goes 0 while route holds it: the nat
    network joining the hold sets it again (and says so); the original is
    still the one found before netd."""
    before = sysctls(topo)
    netd = netd_factory(both_conf())
    netd.start()
    netd.ctl("down", NAT)
    topo.sysctl(topo.d0, "net.ipv4.ip_forward", 0)
    netd.ctl("up", NAT)
    assert fwd(topo) == "1"
    assert f"{NAT}: sysctl {FWD} is 0, changed behind netd's back; setting it to 1 again" \
        in netd.read_log()
    assert held_sysctls(netd)[FWD]["orig"] == "0" and holders(netd) == [ROUTED, NAT]
    netd.ctl("down")
    assert sysctls(topo) == before


def test_nat_failing_to_come_up_leaves_routed_guests_alone(topo, netd_factory):
    """nat added by a reload fails at a step after it held ip_forward: its
    rollback lets go of the switch without turning it off under the route
    network's guests."""
    before = sysctls(topo)
    guests = add_guests(topo)
    netd = netd_factory(route_conf(), env={"NETD_FAULT": "nft-table"})
    netd.start()
    netd.ctl("vif", "online", "2.0", f"ip={ROUTED_IP}")
    topo.wait_carrier(guests[ROUTED], "eth0")
    assert reaches_upstream(topo, guests[ROUTED])
    netd.write_conf(both_conf())
    r = netd.ctl("reload", check=False)
    assert r.returncode == 1 and "step nft-table: fault injected" in r.stderr, r.stderr
    assert fwd(topo) == "1" and holders(netd) == [ROUTED]
    assert reaches_upstream(topo, guests[ROUTED])
    assert topo.link(topo.d0, NAT) is None
    netd.ctl("down")
    assert sysctls(topo) == before and held_sysctls(netd) == {}


# ---- crashes ----

@pytest.mark.parametrize("original", [0, 1])
def test_kill9_with_both_up_then_down_restores(topo, netd_factory, original):
    set_original(topo, original)
    before = sysctls(topo)
    guests = add_guests(topo)
    netd = netd_factory(both_conf())
    netd.start()
    plug(topo, netd, guests)
    held = held_sysctls(netd)
    netd.stop(signal.SIGKILL)
    netd.start()
    log = netd.read_log()
    assert "adopted the running route setup" in log and "adopted the running nat setup" in log
    # Adoption joined nothing twice and recorded no new original.
    assert held_sysctls(netd) == held
    for g in guests.values():
        assert reaches_upstream(topo, g)
    netd.ctl("down", NAT)
    assert fwd(topo) == "1" and reaches_upstream(topo, guests[ROUTED])
    netd.ctl("down", ROUTED)
    assert sysctls(topo) == before
    assert held_sysctls(netd) == {}


@pytest.mark.parametrize("state_file", ["kept", "lost"])
def test_network_removed_while_netd_was_dead_releases_its_hold(topo, netd_factory, state_file):
    """routed leaves the config while netd is dead: the next netd takes it
    down from its state file, or, with that file lost, releases its holds
    once every configured network is up. What only routed held (IPv6
    forwarding, eth0's proxy settings) is back at once; ip_forward stays on
    for the nat network and its guest, and comes back with its down."""
    before = sysctls(topo)
    guests = add_guests(topo)
    netd = netd_factory(both_conf())
    netd.start()
    assert holders(netd) == [ROUTED, NAT]
    netd.stop(signal.SIGKILL)
    netd.write_conf(nat_conf())
    if state_file == "lost":
        os.unlink(os.path.join(netd.state, f"{ROUTED}.json"))
    netd.start()
    log = netd.read_log()
    if state_file == "kept":
        assert f"{ROUTED}: no longer configured; restoring" in log
    else:
        assert f"{ROUTED} is not a network that is up: releasing its hold on {FWD}" in log
    s = sysctls(topo)
    for p in (FWD6, "net/ipv4/conf/eth0/proxy_arp", "net/ipv6/conf/eth0/proxy_ndp"):
        assert s[p] == before[p], p
    assert fwd(topo) == "1"
    assert {p: h["holders"] for p, h in held_sysctls(netd).items()} == {FWD: [NAT]}
    netd.ctl("vif", "online", "5.0", f"bridge={NAT}", f"ip={NAT_IP}")
    topo.wait_carrier(guests[NAT], "eth0")
    assert reaches_upstream(topo, guests[NAT])
    netd.ctl("down")
    assert sysctls(topo) == before and held_sysctls(netd) == {}


def test_last_holder_removed_while_netd_was_dead_restores_at_start(topo, netd_factory):
    """Nothing else holds it: the original comes back at the next start."""
    before = sysctls(topo)
    netd = netd_factory(route_conf())
    netd.start()
    assert fwd(topo) == "1"
    netd.stop(signal.SIGKILL)
    netd.write_conf("")
    netd.start()
    assert sysctls(topo) == before
    assert held_sysctls(netd) == {}
    assert not os.path.exists(os.path.join(netd.state, "netd-sysctl-registry.json"))
    assert netd.alive()


def test_crash_while_holding_is_rolled_back_once(topo, netd_factory):
    """netd dies right after nat held ip_forward (its next step crashes): a
    new netd rolls the half-done nat setup back, brings it up again, and one
    down of everything restores the original."""
    before = sysctls(topo)
    netd = netd_factory(both_conf())
    netd.run_crashed("nft-table")
    assert held_sysctls(netd)[FWD]["orig"] == "0"
    assert holders(netd) == [ROUTED, NAT]
    netd.start()
    assert "rolling it back" in netd.read_log()
    assert fwd(topo) == "1" and holders(netd) == [ROUTED, NAT]
    netd.ctl("down")
    assert sysctls(topo) == before and held_sysctls(netd) == {}


# ---- two route networks on one physdev; the registry file ----

def test_two_route_networks_share_the_physdev_proxy_settings(topo, netd_factory):
    """eth0's proxy_arp / proxy_ndp serve both route networks on it: the first
    one down leaves them (and forwarding) on for the other."""
    before = sysctls(topo)
    guests = add_guests(topo)
    netd = netd_factory(route_conf() + route_conf(name="routed2", metric=3))
    netd.start()
    netd.ctl("vif", "online", "2.0", "bridge=routed2", f"ip={ROUTED_IP}")
    topo.wait_carrier(guests[ROUTED], "eth0")
    held = held_sysctls(netd)
    assert sorted(held) == sorted(WATCHED[:4])
    assert all(h["holders"] == [ROUTED, "routed2"] for h in held.values())
    netd.ctl("down", ROUTED)
    assert all(v == "1" for k, v in sysctls(topo).items() if k in WATCHED[:4])
    assert reaches_upstream(topo, guests[ROUTED])
    netd.ctl("down", "routed2")
    assert sysctls(topo) == before and held_sysctls(netd) == {}


@pytest.mark.parametrize("text,why", [
    ('{"version": 1, "held": {"net/ipv4/ip_forward": {"orig": "0"', "line 1"),
    ('{"version": 1, "held": {"net/ipv4/../../kernel/x": {"orig": "0", "holders": []}}}',
     "bad sysctl path"),
    ('{"version": 1, "held": {"net/ipv4/ip_forward": {"orig": "0; reboot", "holders": []}}}',
     "net/ipv4/ip_forward: bad original value"),
    ('{"version": 2, "held": {}}', "not a version 1 sysctl registry"),
], ids=["torn", "path", "value", "version"])
def test_unreadable_registry_is_moved_aside(topo, netd_factory, text, why):
    """A torn or foreign netd-sysctl-registry.json cannot say what to restore: netd says why,
    keeps it as netd-sysctl-registry.json.bad, writes nothing it named, and records afresh."""
    before = sysctls(topo)
    netd = netd_factory(route_conf())
    os.makedirs(netd.state, exist_ok=True)
    with open(os.path.join(netd.state, "netd-sysctl-registry.json"), "w") as f:
        f.write(text)
    netd.start()
    log = netd.read_log()
    assert why in log and "netd-sysctl-registry.json.bad, the original values it held are lost" in log, log
    assert os.path.exists(os.path.join(netd.state, "netd-sysctl-registry.json.bad"))
    assert held_sysctls(netd)[FWD] == {"orig": "0", "value": "1", "holders": [ROUTED]}
    netd.ctl("down")
    assert sysctls(topo) == before
