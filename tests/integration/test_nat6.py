"""IPv6 in NAT mode: virbr0 with 2001:db8:1::1/64 beside 203.0.113.1/24.
Router advertisements and DHCPv6 (stateless and stateful) from netd's dnsmasq,
seen by the guest's kernel and by a real DHCPv6 client (dhclient -6); NAT66 out
of eth0 (2001:db8::2) or the /64 routed as is; anti-spoofing of the guests'
IPv6; IPv6 port forwards; kill -9 adoption and exact undo; bad input."""
import ipaddress
import json
import signal
import subprocess
import time

import pytest

from conftest import wait_for
from nat_util import (BR, GW6, UPLINK6, UPSTREAM6, canon, connect, dhclient6, dnsmasq_procs,
                      eui64, global6, guest6, mac_of, nat_conf, nat6_conf, nft, our_tables,
                      pidfile_pid, plug, pub_files, refused_at_start, ruleset,  # noqa: F401
                      run_files, servers6)  # servers6: a fixture

pytestmark = pytest.mark.usefixtures("no_leftover_dnsmasq")


def status(netd):
    return netd.request({"cmd": "status"})["result"]["networks"][0]["details"]


def ra_default_route(topo, ns):
    """The default route the guest's kernel took from the router advertisement."""
    return [r for r in topo.routes(ns, "-6") if r["dst"] == "default"
            and r.get("protocol") == "ra" and r["gateway"].startswith("fe80::")]


def sniff_src(topo, ns, iface, bpf, action, timeout=15):
    """The source of the first packet matching bpf on iface in ns while
    action() runs (None if none)."""
    p = subprocess.Popen(
        ["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
         "from scapy.all import sniff, IPv6\n"
         f"p = sniff(iface={iface!r}, filter={bpf!r}, count=1, timeout={timeout},"
         " started_callback=lambda: print('ready', flush=True))\n"
         "print('src', p[0][IPv6].src if p else None, flush=True)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        action()
        out, _ = p.communicate(timeout=timeout + 5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return out.split("src", 1)[1].strip() if "src" in out else None


def ip6_forwarding(topo):
    return topo.run(topo.d0, "sysctl -n net.ipv6.conf.all.forwarding").stdout.strip()


# ---------------------------------------------------------------- data path

def test_stateless_ra_slaac_dhcpv6_and_nat66(topo, netd_factory, tmp_path):
    """dhcp6 = stateless (the default): the guest's kernel takes the /64 and a
    default route from dnsmasq's router advertisement and forms the EUI-64
    address of its MAC, the one netd bound it to; dhclient -6 -S gets DNS by
    stateless DHCPv6; upstream sees its traffic from Dom0's uplink address."""
    g = guest6(topo, 5)
    netd = netd_factory(nat6_conf())
    netd.start()
    assert ip6_forwarding(topo) == "1"
    assert f"{GW6}/64" in topo.addrs(topo.d0, BR)
    plug(netd, topo, 5)
    mine = eui64(mac_of(topo, g))
    st = status(netd)
    assert st["address6"] == f"{GW6}/64" and st["dhcp6"] == "stateless"
    assert st["nat6"] == "masquerade" and st["table6"] == "ip6 netd_virbr0"
    assert st["bound6"] == [f"vif5.0={canon(mine)}"]
    wait_for(lambda: canon(mine) in global6(topo, g) and ra_default_route(topo, g), 15,
             what="SLAAC address and default route from the RA")
    assert global6(topo, g) == [canon(mine)], "only the advertised prefix, autoconfigured"
    lines = dhclient6(topo, g, tmp_path, stateless=True)
    # dhclient names an information-request's answer INFORM6 or RENEW6
    assert any(l.split()[0] in ("INFORM6", "RENEW6") and l.endswith(f"dns={GW6}")
               for l in lines), lines
    assert not any("addr=2001" in l for l in lines), "stateless: no address from DHCPv6"
    src = sniff_src(topo, topo.up, "up0", "icmp6 and ip6[40] == 128",
                    lambda: topo.ping(g, UPSTREAM6, timeout=3))
    assert src == UPLINK6, src
    assert topo.ping(g, UPSTREAM6)
    assert topo.ping(g, GW6)


def test_stateful_dhcpv6_leases_the_bound_address(topo, netd_factory, tmp_path):
    """dhcp6 = stateful: the advertisement says 'managed' and the guest does
    not autoconfigure; dhclient -6 gets the address netd bound the vif to
    (its static lease) and, with it, the guest reaches upstream."""
    g = guest6(topo, 5)
    netd = netd_factory(nat6_conf(dhcp6="stateful"))
    netd.start()
    plug(netd, topo, 5)
    mine = canon(eui64(mac_of(topo, g)))
    assert status(netd)["dhcp6"] == "stateful"
    wait_for(lambda: ra_default_route(topo, g), 15, what="default route from the RA")
    assert global6(topo, g) == [], "managed: nothing autoconfigured"
    with open(f"{netd.dnsmasq_dir}/{BR}/dhcp-hosts") as f:
        assert f"[{mine}]" in f.read()
    lines = dhclient6(topo, g, tmp_path)
    bound = [l for l in lines if l.startswith("BOUND6")]
    assert bound and f"addr={mine}" in bound[0], lines
    topo.ip(g, f"-6 addr add {mine}/64 dev eth0 nodad")
    assert topo.ping(g, UPSTREAM6, timeout=3)


def test_stateful_dhcpv6_range_leases_a_guest_without_static_lease(topo, netd_factory,
                                                                    tmp_path):
    """dhcp6 = stateful with dhcp6_range: a guest netd has no static lease for
    (its vif has neither ip= nor mac=) gets a lease from the range, and from
    that address reaches upstream, nothing dropped; guests netd knows still
    get their static leases (an IPv6 ip=, the EUI-64 address a vif without
    ip= is bound to)."""
    from test_antispoof import spoof_drops
    g5, g6, g7 = guest6(topo, 5), guest6(topo, 6), guest6(topo, 7)
    netd = netd_factory(nat6_conf(dhcp6="stateful")
                        + "dhcp6_range = 2001:db8:1::1000-2001:db8:1::10ff\n")
    netd.start()
    netd.ctl("vif", "online", "7.0", f"bridge={BR}")
    plug(netd, topo, 5, ip=False)
    netd.ctl("vif", "online", "6.0", f"bridge={BR}", f"mac={mac_of(topo, g6)}",
             "ip=203.0.113.11 2001:db8:1::66")
    for g in (g6, g7):
        topo.wait_carrier(g, "eth0")
    assert status(netd)["dhcp6_range"] == "2001:db8:1::1000-2001:db8:1::10ff"
    wait_for(lambda: ra_default_route(topo, g7), 15, what="default route from the RA")
    bound = [l for l in dhclient6(topo, g7, tmp_path) if l.startswith("BOUND6")]
    assert bound, "no lease"
    addr = bound[0].split("addr=")[1].split()[0]
    a = ipaddress.ip_address(addr)
    assert ipaddress.ip_address("2001:db8:1::1000") <= a <= \
        ipaddress.ip_address("2001:db8:1::10ff"), addr
    topo.ip(g7, f"-6 addr add {addr}/64 dev eth0 nodad")
    src = sniff_src(topo, topo.up, "up0", "icmp6 and ip6[40] == 128",
                    lambda: topo.ping(g7, UPSTREAM6, timeout=3))
    assert src == UPLINK6, src
    assert topo.ping(g7, UPSTREAM6)
    assert spoof_drops(netd, "vif7.0") == 0
    bound = [l for l in dhclient6(topo, g6, tmp_path) if l.startswith("BOUND6")]
    assert bound and "addr=2001:db8:1::66 " in bound[0], bound
    mine = canon(eui64(mac_of(topo, g5)))
    bound = [l for l in dhclient6(topo, g5, tmp_path) if l.startswith("BOUND6")]
    assert bound and f"addr={mine} " in bound[0], bound


def test_forged_ipv6_source_is_dropped(topo, netd_factory):
    """A guest may send IPv6 only from its bound (EUI-64) address or its ip=
    one and its link-local: a forged source in the /64, or outside it, never
    reaches upstream or the other guest, and is counted."""
    from test_antispoof import capture, spoof_drops
    g5, g6 = guest6(topo, 5), guest6(topo, 6)
    netd = netd_factory(nat6_conf())
    netd.start()
    plug(netd, topo, 5)
    plug(netd, topo, 6, ip=False)
    m5 = mac_of(topo, g5)
    own = canon(eui64(m5))
    mine6 = canon(eui64(mac_of(topo, g6)))
    wait_for(lambda: own in global6(topo, g5), 15, what="SLAAC address")
    eth = f"Ether(src='{m5}', dst='{topo.link(topo.d0, BR)['address']}')"
    udp = "UDP(sport=40000, dport={})"
    forged = [f"[{eth}/IPv6(src='2001:db8:1::dead', dst='{UPSTREAM6}')/{udp.format(7601)}] * 2",
              f"[{eth}/IPv6(src='{mine6}', dst='{UPSTREAM6}')/{udp.format(7601)}]",
              f"[{eth}/IPv6(src='2001:db8:ffff::5', dst='{UPSTREAM6}')/{udp.format(7601)}]"]
    good = [f"[{eth}/IPv6(src='{own}', dst='{UPSTREAM6}')/{udp.format(7602)}] * 2"]
    got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp")}, g5, " + ".join(forged + good))
    from scapy.all import UDP as U
    ports = sorted(p[U].dport for p in got["up"] if U in p)
    assert ports == [7602, 7602], [p.summary() for p in got["up"]]
    assert all(p["IPv6"].src == UPLINK6 for p in got["up"] if U in p)
    assert spoof_drops(netd, "vif5.0") == 4


def temp6(topo, ns):
    """The guest's RFC 4941 temporary addresses on eth0."""
    r = json.loads(topo.ip(ns, "-j -6 addr show dev eth0 temporary").stdout)
    return [a["local"] for a in r[0]["addr_info"] if "local" in a] if r else []


def test_privacy_address_of_a_guest_without_ip_reaches_upstream(topo, netd_factory):
    """A guest whose vif has no ip= takes its temporary address (RFC 4941,
    use_tempaddr = 2: preferred as the source) from the advertised /64 beside
    its EUI-64 one: its traffic from it reaches upstream (routed, so upstream
    sees the address itself) and replies come back (Dom0 resolves it by ND);
    nothing of it is dropped."""
    g = guest6(topo, 5)
    topo.sysctl(g, "net.ipv6.conf.eth0.use_tempaddr", 2)
    netd = netd_factory(nat6_conf(nat6="routed"))
    netd.start()
    plug(netd, topo, 5, ip=False)
    wait_for(lambda: temp6(topo, g), 15, what="a temporary address")
    tmp = canon(temp6(topo, g)[0])
    assert tmp != canon(eui64(mac_of(topo, g)))
    topo.ip(topo.up, f"-6 route add 2001:db8:1::/64 via {UPLINK6}")
    src = sniff_src(topo, topo.up, "up0", "icmp6 and ip6[40] == 128",
                    lambda: topo.ping(g, UPSTREAM6, timeout=3))
    assert src == tmp, src
    assert topo.ping(g, UPSTREAM6)
    assert topo.ping(g, GW6)
    from test_antispoof import spoof_drops
    assert spoof_drops(netd, "vif5.0") == 0


def test_guest_without_ip_may_not_take_what_is_not_free(topo, netd_factory):
    """A guest without ip= may use any other address of the /64, but never
    another guest's (an ip= one, a bound EUI-64 one), Dom0's (the gateway),
    the subnet-router anycast address or one outside the /64, as a source or
    in a neighbour advertisement; a guest with ip= (IPv4 only) still only
    its own. Each frame refused to the guest without ip= is counted."""
    from test_antispoof import capture, spoof_drops
    from scapy.all import UDP as U
    g5, g6, g7 = guest6(topo, 5), guest6(topo, 6), guest6(topo, 7)
    netd = netd_factory(nat6_conf())
    netd.start()
    plug(netd, topo, 5, ip=False)
    netd.ctl("vif", "online", "6.0", f"bridge={BR}", f"mac={mac_of(topo, g6)}",
             "ip=203.0.113.11 2001:db8:1::66")
    plug(netd, topo, 7, ip=False)
    topo.wait_carrier(g6, "eth0")
    m5 = mac_of(topo, g5)
    own = canon(eui64(m5))
    ll5 = canon(eui64(m5, "fe80:0:0:0"))
    other_bound = canon(eui64(mac_of(topo, g7)))
    br = topo.link(topo.d0, BR)["address"]
    eth = f"Ether(src='{m5}', dst='{br}')"

    def udp(src, port):
        return f"[{eth}/IPv6(src='{src}', dst='{UPSTREAM6}')/UDP(sport=40000, dport={port})]"

    def na(tgt):
        return (f"[Ether(src='{m5}', dst='33:33:00:00:00:01')/IPv6(src='{ll5}', dst='ff02::1')"
                f"/ICMPv6ND_NA(tgt='{tgt}', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='{m5}')]")

    forged = [udp("2001:db8:1::66", 7601), udp(other_bound, 7601), udp(GW6, 7601),
              udp("2001:db8:1::", 7601), udp("2001:db8:ffff::5", 7601),
              na("2001:db8:1::66"), na(other_bound), na(GW6)]
    good = [udp(own, 7602), udp("2001:db8:1::beef", 7603), na("2001:db8:1::beef")]
    got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp"),
                         "g6": (g6, "eth0", "icmp6 and ip6[40] == 136")},
                  g5, "sum([" + ", ".join(forged + good) + "], [])")
    ports = sorted(p[U].dport for p in got["up"] if U in p)
    assert ports == [7602, 7603], [p.summary() for p in got["up"]]
    tgts = [p["ICMPv6ND_NA"].tgt for p in got["g6"] if p.haslayer("ICMPv6ND_NA")]
    assert "2001:db8:1::beef" in tgts, tgts
    assert not {"2001:db8:1::66", other_bound, GW6} & set(tgts), tgts
    assert spoof_drops(netd, "vif5.0") == len(forged)
    # vif6.0 has ip=: the free address is not its to use
    m6 = mac_of(topo, g6)
    eth6 = f"Ether(src='{m6}', dst='{br}')"
    got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp")}, g6,
                  f"[{eth6}/IPv6(src='2001:db8:1::beef', dst='{UPSTREAM6}')/UDP(dport=7604)]")
    assert [p for p in got["up"] if U in p] == []


def as_elems(topo, set_name):
    """The elements of one set of table bridge netd_as, as nft -j writes them."""
    doc = json.loads(nft(topo, f"-j list set bridge netd_as {set_name}").stdout)["nftables"]
    return [json.dumps(e, sort_keys=True) for o in doc if "set" in o
            for e in o["set"].get("elem", [])]


def test_owned_and_free_elements_follow_replug_and_unplug(topo, netd_factory):
    """A guest's own IPv6 address is one element of own6 and one of owned6,
    its free /64 one of v6pfx and v6pfxnd: a re-plug with ip= (the listing
    path) replaces them, an unplug removes them, whatever else is there."""
    g5, g6 = guest6(topo, 5), guest6(topo, 6)
    netd = netd_factory(nat6_conf())
    netd.start()
    plug(netd, topo, 5, ip=False)
    plug(netd, topo, 6, ip=False)
    e5, e6 = canon(eui64(mac_of(topo, g5))), canon(eui64(mac_of(topo, g6)))

    def raw(a):
        return "0x" + ipaddress.ip_address(a).packed.hex()

    assert sorted(as_elems(topo, "owned6")) == sorted(json.dumps(raw(a)) for a in (e5, e6))
    assert len(as_elems(topo, "v6pfx")) == 2 and len(as_elems(topo, "v6pfxnd")) == 2
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", f"mac={mac_of(topo, g5)}",
             "ip=203.0.113.10 2001:db8:1::55")
    assert sorted(as_elems(topo, "owned6")) == sorted(json.dumps(raw(a))
                                                      for a in ("2001:db8:1::55", e6))
    assert sorted(as_elems(topo, "own6")) == sorted(
        json.dumps({"concat": [v, a]}) for v, a in (("vif5.0", "2001:db8:1::55"), ("vif6.0", e6)))
    assert [json.loads(e)["concat"][0] for e in as_elems(topo, "v6pfx")] == ["vif6.0"]
    netd.ctl("vif", "offline", "6.0")
    assert as_elems(topo, "owned6") == [json.dumps(raw("2001:db8:1::55"))]
    assert as_elems(topo, "v6pfx") == [] and as_elems(topo, "v6pfxnd") == []


def claims(topo):
    """claim6 as {address: vif}: who holds each address of a free /64."""
    out = {}
    for e in as_elems(topo, "claim6"):
        a, v = json.loads(e)["elem"]["val"]["concat"]
        out[canon(ipaddress.ip_address(int(a, 16)))] = v
    return out


def nd_frames(mac, ll, tgt):
    """From a guest with this MAC and link-local: an unsolicited NA for tgt
    (override set, as a stack announcing a move) and a DAD probe for it."""
    sn = ipaddress.ip_address(tgt).packed[-3:].hex()
    sol = "ff02::1:ff%s:%s" % (sn[:2], sn[2:])
    mdst = "33:33:ff:%s:%s:%s" % (sn[:2], sn[2:4], sn[4:])
    return [f"[Ether(src='{mac}', dst='33:33:00:00:00:01')/IPv6(src='{ll}', dst='ff02::1')"
            f"/ICMPv6ND_NA(tgt='{tgt}', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='{mac}')]",
            f"[Ether(src='{mac}', dst='{mdst}')/IPv6(src='::', dst='{sol}')"
            f"/ICMPv6ND_NS(tgt='{tgt}')]"]


def test_first_guest_to_use_a_free_address_owns_it(topo, netd_factory):
    """Two guests without ip=: the one that first uses an address of the /64
    nobody owns (here its RFC 4941 temporary address) holds it; the other's
    packets from it, its NA for it and its DAD probe for it are dropped and
    counted, Dom0's neighbour entry for it stays the owner's, and the owner
    keeps reaching upstream from it. The other may still take an address no
    one holds, and takes the first's once its vif is unplugged."""
    from test_antispoof import capture, spoof_drops
    from scapy.all import UDP as U
    g5, g6 = guest6(topo, 5), guest6(topo, 6)
    topo.sysctl(g5, "net.ipv6.conf.eth0.use_tempaddr", 2)
    netd = netd_factory(nat6_conf())
    netd.start()
    plug(netd, topo, 5, ip=False)
    plug(netd, topo, 6, ip=False)
    wait_for(lambda: temp6(topo, g5), 15, what="a temporary address")
    tmp = canon(temp6(topo, g5)[0])
    m5, m6 = mac_of(topo, g5), mac_of(topo, g6)
    assert topo.ping(g5, UPSTREAM6)       # from tmp: use_tempaddr = 2 prefers it
    assert topo.ping(topo.d0, tmp)        # Dom0 resolves it: g5's MAC
    assert claims(topo).get(tmp) == "vif5.0", claims(topo)
    ll6 = canon(eui64(m6, "fe80:0:0:0"))
    eth6 = f"Ether(src='{m6}', dst='{topo.link(topo.d0, BR)['address']}')"

    def udp(src, port):
        return f"[{eth6}/IPv6(src='{src}', dst='{UPSTREAM6}')/UDP(sport=40000, dport={port})]"

    forged = [udp(tmp, 7601)] + nd_frames(m6, ll6, tmp)
    good = [udp("2001:db8:1::b0b", 7602)]
    got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp"),
                         "g5": (g5, "eth0", f"icmp6 and ether src {m6}")},
                  g6, "sum([" + ", ".join(forged + good) + "], [])")
    assert sorted(p[U].dport for p in got["up"] if U in p) == [7602], \
        [p.summary() for p in got["up"]]
    assert [p.summary() for p in got["g5"] if p.haslayer("ICMPv6ND_NA")
            or p.haslayer("ICMPv6ND_NS")] == []
    assert spoof_drops(netd, "vif6.0") == len(forged)
    assert claims(topo).get(tmp) == "vif5.0" and \
        claims(topo).get("2001:db8:1::b0b") == "vif6.0", claims(topo)
    neigh = json.loads(topo.ip(topo.d0, f"-j -6 neigh show {tmp} dev {BR}").stdout)
    assert [n.get("lladdr") for n in neigh] == [m5], neigh
    assert topo.ping(g5, UPSTREAM6) and topo.ping(topo.d0, tmp)
    assert spoof_drops(netd, "vif5.0") == 0
    # Unplugged, g5's claims go at once: g6 may take its address.
    netd.ctl("vif", "offline", "5.0")
    assert tmp not in claims(topo), claims(topo)
    got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp")}, g6, udp(tmp, 7603))
    assert sorted(p[U].dport for p in got["up"] if U in p) == [7603]
    assert claims(topo).get(tmp) == "vif6.0", claims(topo)
    assert spoof_drops(netd, "vif6.0") == len(forged)
    netd.ctl("vif", "offline", "6.0")   # the last: the table goes, holds and all
    assert "bridge netd_as" not in nft(topo, "list tables").stdout


def test_holds_outlive_a_restart_and_go_with_a_vif_gone_meanwhile(topo, netd_factory):
    """The kernel keeps the holds: netd killed and started again leaves a
    guest's hold of a free address as it was, still refused to another
    guest; a vif that went while netd was dead loses its holds when netd
    starts, and the other guest may take its address."""
    from test_antispoof import capture, spoof_drops
    from scapy.all import UDP as U
    g5, g6 = guest6(topo, 5), guest6(topo, 6)
    netd = netd_factory(nat6_conf())
    netd.start()
    plug(netd, topo, 5, ip=False)
    plug(netd, topo, 6, ip=False)
    br = topo.link(topo.d0, BR)["address"]
    held = "2001:db8:1::a:5"

    def udp(g, src, port):
        m = mac_of(topo, g)
        return (f"[Ether(src='{m}', dst='{br}')/IPv6(src='{src}', dst='{UPSTREAM6}')"
                f"/UDP(sport=40000, dport={port})]")

    def sent(g, frames):
        got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp")}, g, frames)
        return sorted(p[U].dport for p in got["up"] if U in p)

    assert sent(g5, udp(g5, held, 7601)) == [7601]
    assert claims(topo).get(held) == "vif5.0", claims(topo)
    netd.stop(signal.SIGKILL)
    netd.start()
    assert claims(topo).get(held) == "vif5.0", claims(topo)
    drops = spoof_drops(netd, "vif6.0")
    assert sent(g6, udp(g6, held, 7602) + " + " + udp(g6, "2001:db8:1::a:6", 7603)) == [7603]
    assert spoof_drops(netd, "vif6.0") == drops + 1
    netd.stop(signal.SIGKILL)
    topo.ip(topo.d0, "link del vif5.0")
    netd.start()
    assert held not in claims(topo), claims(topo)
    assert sent(g6, udp(g6, held, 7604)) == [7604]
    assert claims(topo).get(held) == "vif6.0", claims(topo)


def hold_expiry(topo, addr):
    """{set: (the set's timeout, seconds addr's element has left)} in claim6
    and claimed6."""
    out = {}
    for name in ("claim6", "claimed6"):
        doc = json.loads(nft(topo, f"-j list set bridge netd_as {name}").stdout)["nftables"]
        for o in doc:
            for e in o.get("set", {}).get("elem", []):
                e = e["elem"]
                key = e["val"]["concat"][0] if name == "claim6" else e["val"]
                if canon(ipaddress.ip_address(int(key, 16))) == addr:
                    out[name] = (o["set"]["timeout"], e["expires"])
    return out


def test_a_hold_lapses_ten_minutes_after_its_last_use(topo, netd_factory):
    """A hold of a free address lasts 10 minutes from the guest's last use
    of it, not from its first: the kernel counts each hold down, and every
    packet from the address starts it again, in both sets."""
    from test_antispoof import capture
    from scapy.all import UDP as U
    g5 = guest6(topo, 5)
    netd = netd_factory(nat6_conf())
    netd.start()
    plug(netd, topo, 5, ip=False)
    held = "2001:db8:1::a:5"
    frame = (f"[Ether(src='{mac_of(topo, g5)}', dst='{topo.link(topo.d0, BR)['address']}')"
             f"/IPv6(src='{held}', dst='{UPSTREAM6}')/UDP(sport=40000, dport=7601)]")

    def use():
        got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp")}, g5, frame)
        assert [p[U].dport for p in got["up"] if U in p] == [7601]

    use()
    first = hold_expiry(topo, held)
    assert sorted(first) == ["claim6", "claimed6"], first
    assert all(t == 600 and 590 <= left <= 600 for t, left in first.values()), first
    time.sleep(3)
    later = hold_expiry(topo, held)
    assert all(later[k][1] <= first[k][1] - 2 for k in first), (first, later)
    use()
    again = hold_expiry(topo, held)
    assert all(again[k][1] >= later[k][1] + 2 for k in first), (later, again)


def test_a_guest_takes_at_most_16_new_free_addresses_at_once(topo, netd_factory):
    """A guest cannot fill the holds' sets (and so bar every other guest
    from new addresses): after 16 new addresses at once (then 4 a minute)
    its frames from further ones are dropped and counted, and take nothing;
    those it holds still pass."""
    from test_antispoof import capture, spoof_drops
    from scapy.all import UDP as U
    g6 = guest6(topo, 6)
    netd = netd_factory(nat6_conf())
    netd.start()
    plug(netd, topo, 6, ip=False)
    m6, br = mac_of(topo, g6), topo.link(topo.d0, BR)["address"]
    frames = (f"[Ether(src='{m6}', dst='{br}')/IPv6(src='2001:db8:1::b:%x' % i, "
              f"dst='{UPSTREAM6}')/UDP(sport=40000, dport=7000 + i) for i in range(20)]"
              f" + [Ether(src='{m6}', dst='{br}')/IPv6(src='2001:db8:1::b:0', "
              f"dst='{UPSTREAM6}')/UDP(sport=40000, dport=7100)]")
    got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp")}, g6, frames)
    assert sorted(p[U].dport for p in got["up"] if U in p) == \
        [7000 + i for i in range(16)] + [7100]
    assert spoof_drops(netd, "vif6.0") == 4
    assert sorted(claims(topo)) == sorted(canon(f"2001:db8:1::b:{i:x}") for i in range(16))


def test_every_ipv6_ip_of_a_guest_is_its_own(topo, netd_factory):
    """Each IPv6 address in a guest's ip= is its own, not the first only: a
    guest without ip= may neither send from the second nor advertise or
    probe it, and no other vif may be given it; an IPv6 ip= outside the
    /64 is refused wherever it stands in the list."""
    from test_antispoof import capture, spoof_drops
    from scapy.all import UDP as U
    g5, g6, g7 = guest6(topo, 5), guest6(topo, 6), guest6(topo, 7)
    netd = netd_factory(nat6_conf())
    netd.start()
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", f"mac={mac_of(topo, g5)}",
             "ip=203.0.113.10 2001:db8:1::55 2001:db8:1::56")
    plug(netd, topo, 6, ip=False)
    topo.wait_carrier(g5, "eth0")

    def raw(a):
        return json.dumps("0x" + ipaddress.ip_address(a).packed.hex())

    e6 = canon(eui64(mac_of(topo, g6)))
    assert sorted(as_elems(topo, "owned6")) == sorted(
        raw(a) for a in ("2001:db8:1::55", "2001:db8:1::56", e6))
    m6 = mac_of(topo, g6)
    eth6 = f"Ether(src='{m6}', dst='{topo.link(topo.d0, BR)['address']}')"
    forged = [f"[{eth6}/IPv6(src='2001:db8:1::56', dst='{UPSTREAM6}')/UDP(dport=7601)]"] + \
        nd_frames(m6, canon(eui64(m6, "fe80:0:0:0")), "2001:db8:1::56")
    got = capture(topo, {"up": (topo.up, "up0", "ip6 and udp"),
                         "g5": (g5, "eth0", f"icmp6 and ether src {m6}")},
                  g6, "sum([" + ", ".join(forged) + "], [])")
    assert [p for p in got["up"] if U in p] == []
    assert [p.summary() for p in got["g5"] if p.haslayer("ICMPv6ND_NA")
            or p.haslayer("ICMPv6ND_NS")] == []
    assert spoof_drops(netd, "vif6.0") == len(forged)
    assert "2001:db8:1::56" not in claims(topo)
    # the second address is g5's: g7 may not be given it, nor g6's bound one
    m7 = mac_of(topo, g7)
    for ips, who in [("2001:db8:1::77 2001:db8:1::56", "2001:db8:1::56 is already the address of"
                      " dom5 (vif5.0)"),
                     (f"2001:db8:1::77 {e6}", f"{e6} is already the address of dom6 (vif6.0)"),
                     ("2001:db8:1::77 2001:db8:2::7", "ip 2001:db8:2::7 is not inside")]:
        r = netd.ctl("vif", "online", "7.0", f"bridge={BR}", f"mac={m7}", f"ip={ips}",
                     check=False)
        assert r.returncode == 1 and who in r.stderr, (ips, r.stderr)
    # and g5, unplugged, gives both back
    netd.ctl("vif", "offline", "5.0")
    assert as_elems(topo, "owned6") == [raw(e6)]


def test_ipv6_port_forward_from_upstream(topo, netd_factory, servers6):
    """forward = tcp:8080:[guest]:80 in the config and one added at run time:
    upstream reaches the guest through Dom0's uplink IPv6 address; the guest
    sees upstream's own address; the IPv4 forward of the same port is
    another door; a guest's own IPv6 is not reachable from upstream."""
    g = guest6(topo, 5)
    mac = mac_of(topo, g)
    mine = canon(eui64(mac))
    netd = netd_factory(nat6_conf(forwards=[f"tcp:8080:[{mine}]:80", "tcp:8080:203.0.113.10:81"]))
    netd.start()
    plug(netd, topo, 5)
    wait_for(lambda: mine in global6(topo, g), 15, what="SLAAC address")
    servers6(g, "g5")
    servers6(g, "g5-81", 81)
    assert connect(topo, topo.up, UPLINK6, 8080) == f"g5 {UPSTREAM6}"
    assert connect(topo, topo.up, "192.0.2.2", 8080) == "g5-81 ::ffff:192.0.2.1"
    assert connect(topo, topo.up, UPLINK6, 9090).startswith("ERR")
    netd.ctl("forward", "add", f"tcp:9090:[{mine}]:81")
    assert connect(topo, topo.up, UPLINK6, 9090) == f"g5-81 {UPSTREAM6}"
    listed = json.loads(netd.ctl("--json", "forward", "list").stdout)["result"]["forwards"]
    assert listed == ["tcp:8080:203.0.113.10:81", f"tcp:8080:[{mine}]:80", f"tcp:9090:[{mine}]:81"]
    # Even with a route to the /64, upstream cannot open a connection to it.
    topo.ip(topo.up, f"-6 route add 2001:db8:1::/64 via {UPLINK6}")
    assert connect(topo, topo.up, mine, 80).startswith("ERR")
    # A removal by port removes both families' forwards of it.
    netd.ctl("forward", "del", "tcp:8080")
    assert connect(topo, topo.up, UPLINK6, 8080).startswith("ERR")
    assert json.loads(netd.ctl("--json", "forward", "list").stdout)["result"]["forwards"] == \
        [f"tcp:9090:[{mine}]:81"]
    r = netd.ctl("forward", "add", "tcp:9191:[2001:db8:2::5]:80", check=False)
    assert r.returncode == 1 and "is not inside 2001:db8:1::/64" in r.stderr, r.stderr


def test_routed_prefix_is_not_masqueraded(topo, netd_factory):
    """nat6 = routed: upstream routes the /64 to Dom0 and sees the guest's own
    address; IPv4 is still masqueraded."""
    g = guest6(topo, 5)
    netd = netd_factory(nat6_conf(nat6="routed"))
    netd.start()
    plug(netd, topo, 5)
    mine = canon(eui64(mac_of(topo, g)))
    wait_for(lambda: mine in global6(topo, g), 15, what="SLAAC address")
    topo.ip(topo.up, f"-6 route add 2001:db8:1::/64 via {UPLINK6}")
    assert status(netd)["nat6"] == "routed"
    src = sniff_src(topo, topo.up, "up0", "icmp6 and ip6[40] == 128",
                    lambda: topo.ping(g, UPSTREAM6, timeout=3))
    assert src == mine, src
    assert topo.ping(g, UPSTREAM6)


FOREIGN6 = "2001:db8:ffff::77"  # outside the /64


def forward_chain6(topo, netd_factory, nat6):
    """The forward chain's verdicts on IPv6 packets that no connection's nat
    chains judge. A network with nat6 = <nat6>, a forward of tcp:8080 to the
    guest's port 80 and antispoof = no (so only the chain stands between a
    guest and the LAN). Upstream sends frames to Dom0's MAC, as a LAN host
    with a route to the /64 would: a SYN to the guest's own address (first:
    the kernel sends upstream at most 6 ICMPv6 errors at once), the
    forward's SYN, then a RST, FIN, SYN-ACK (invalid: no connection) and an
    ACK (new: conntrack takes it up midstream) to the guest's address. The
    guest sends its own valid UDP, a foreign source's UDP, RST, FIN and
    SYN-ACK, its own address's RST and SYN-ACK, and from its own address an
    ICMPv6 port-unreachable for a UDP packet (to port 7608) that no
    connection has (invalid as well), each twice. Returns the TCP ports
    upstream's packets reached in the guest, the ports upstream's ICMPv6
    destination-unreachable errors name, the (port, source) of each of the
    guest's packets on the LAN (an error's: the port it names), and the
    guest's address."""
    from test_antispoof import capture
    from scapy.all import IPv6, TCP, TCPerror, UDPerror
    g = guest6(topo, 5)
    mine = canon(eui64(mac_of(topo, g)))
    netd = netd_factory(nat6_conf(nat6=nat6, forwards=[f"tcp:8080:[{mine}]:80"])
                        + "antispoof = no\n")
    netd.start()
    plug(netd, topo, 5)
    wait_for(lambda: mine in global6(topo, g), 15, what="SLAAC address")
    upmac, d0mac = mac_of(topo, topo.up, "up0"), mac_of(topo, topo.d0, "eth0")
    inbound = (f"Ether(src='{upmac}', dst='{d0mac}')/IPv6(src='{UPSTREAM6}', dst='{{}}')"
               "/TCP(sport=40000, dport={}, flags='{}')")
    frames = " + ".join(f"[{inbound.format(dst, port, flags)}] * 2" for dst, port, flags in (
        (mine, 7505, "S"), (UPLINK6, 8080, "S"), (mine, 7501, "R"), (mine, 7502, "F"),
        (mine, 7503, "SA"), (mine, 7504, "A")))
    got = capture(topo, {"g": (g, "eth0", f"ip6 and tcp and src host {UPSTREAM6}"),
                         "up": (topo.up, "up0", "icmp6 and ip6[40] == 1")},
                  topo.up, frames, iface="up0")
    into_guest = [p[TCP].dport for p in got["g"]]
    rejected = [p[TCPerror].dport for p in got["up"] if TCPerror in p]
    gwmac, m5 = mac_of(topo, topo.d0, BR), mac_of(topo, g)
    outbound = (f"Ether(src='{m5}', dst='{gwmac}')/IPv6(src='{{}}', dst='{UPSTREAM6}')"
                "/{}(sport=40000, dport={}{})")
    frames = " + ".join(f"[{outbound.format(src, proto, port, extra)}] * 2"
                        for src, proto, port, extra in (
        (mine, "UDP", 7601, ""), (FOREIGN6, "UDP", 7607, ""),
        (FOREIGN6, "TCP", 7602, ", flags='R'"), (FOREIGN6, "TCP", 7603, ", flags='F'"),
        (FOREIGN6, "TCP", 7604, ", flags='SA'"),
        (mine, "TCP", 7605, ", flags='R'"), (mine, "TCP", 7606, ", flags='SA'")))
    frames += (f" + [Ether(src='{m5}', dst='{gwmac}')/IPv6(src='{mine}', dst='{UPSTREAM6}')"
               f"/ICMPv6DestUnreach(code=4)/IPv6(src='{UPSTREAM6}', dst='{mine}')"
               "/UDP(sport=40000, dport=7608)] * 2")
    got = capture(topo, {"lan": (topo.up, "up0", "ip6 and (dst portrange 7601-7607 or "
                                 f"(icmp6 and ip6[40] == 1 and not src host {UPSTREAM6}))")},
                  g, frames)
    out = [(p[UDPerror].dport if UDPerror in p else p[IPv6].payload.dport, canon(p[IPv6].src))
           for p in got["lan"]]
    return into_guest, rejected, out, mine


def test_forward_chain_judges_ipv6_packets_conntrack_calls_invalid(topo, netd_factory):
    """nat6 = masquerade (forward_chain6): every packet meets the forward
    chain, the nat chains only a connection's first and never one conntrack
    calls invalid (a TCP RST, FIN or SYN-ACK of no connection). Into the
    guest only the forward's SYN arrives, at port 80; the SYN to its own
    address is rejected (ICMPv6 to upstream). Out of the guest only its own
    UDP reaches the LAN, from Dom0's uplink address: a foreign source's
    packets never do, nor its own address's invalid ones (TCP, and an
    ICMPv6 error of no connection), which the masquerade never sees and so
    would leave with the guest's hidden address."""
    into_guest, rejected, out, _ = forward_chain6(topo, netd_factory, "masquerade")
    assert into_guest == [80, 80], into_guest
    assert 7505 in rejected, rejected
    assert out == [(7601, UPLINK6)] * 2, out


def test_routed_forward_chain_judges_ipv6_packets_conntrack_calls_invalid(topo, netd_factory):
    """nat6 = routed (forward_chain6): the /64 is routed as is, so nothing is
    hidden, yet Dom0 is still the guests' firewall. Into the guest, as with
    masquerade, only replies, related packets and forwards: the forward's
    SYN arrives at port 80, the SYN to its own address is rejected, the
    invalid ones and the ACK of no connection never arrive. Out of the
    guest a foreign source never reaches the LAN. Its own address's packets
    all do, invalid ones too, with that address: by decision, as any router
    passes a host's packets, since no NAT has an address to hide and a
    guest's RST for a connection conntrack has already forgotten (its
    timeout, say, or `conntrack -F`) must still reach the peer."""
    into_guest, rejected, out, mine = forward_chain6(topo, netd_factory, "routed")
    assert into_guest == [80, 80], into_guest
    assert 7505 in rejected, rejected
    own = [(7601, mine), (7605, mine), (7606, mine), (7608, mine)]
    assert sorted(out) == sorted(own * 2), out


# ---------------------------------------------------------------- lifecycle

def test_kill9_adopts_and_down_restores_exactly(topo, netd_factory, tmp_path, servers6):
    nft(topo, "add table ip6 foreignkeep")
    before, rules = topo.snapshot(), ruleset(topo)
    fwd6 = ip6_forwarding(topo)
    g = guest6(topo, 5)
    mine = canon(eui64(mac_of(topo, g)))
    netd = netd_factory(nat6_conf(forwards=[f"tcp:8080:[{mine}]:80"]))
    netd.start()
    plug(netd, topo, 5)
    wait_for(lambda: mine in global6(topo, g), 15, what="SLAAC address")
    netd.ctl("forward", "add", f"udp:5353:[{mine}]:53")
    servers6(g, "g5")
    pid = pidfile_pid(netd)
    assert len(our_tables(topo)) == 2
    out = netd.kill9_restart_under_ping(g, UPSTREAM6)
    assert " 0% packet loss" in out, out
    assert "adopted the running nat setup" in netd.read_log()
    assert dnsmasq_procs(netd) == [pid]
    assert len(our_tables(topo)) == 2
    assert connect(topo, topo.up, UPLINK6, 8080) == f"g5 {UPSTREAM6}"
    assert status(netd)["bound6"] == [f"vif5.0={mine}"]
    # The IPv6 table deleted while netd is dead: the next one restores it.
    netd.stop(signal.SIGKILL)
    nft(topo, "delete table ip6 netd_virbr0")
    netd.start()
    assert "table ip6 netd_virbr0 was missing; restored it" in netd.read_log()
    assert connect(topo, topo.up, UPLINK6, 8080) == f"g5 {UPSTREAM6}"
    doc = json.loads(nft(topo, "-j list map ip6 netd_virbr0 forwards").stdout)
    m = [o["map"] for o in doc["nftables"] if "map" in o][0]
    assert len(m["elem"]) == 2
    # ...and while it runs: restored at once.
    nft(topo, "delete table ip6 netd_virbr0")
    wait_for(lambda: len(our_tables(topo)) == 2, 5, what="the IPv6 table restored")
    netd.ctl("down")
    assert dnsmasq_procs(netd) == [] and run_files(netd) == [] and pub_files(netd) == []
    assert ruleset(topo) == rules
    assert ip6_forwarding(topo) == fwd6
    topo.ip(topo.d0, "link del vif5.0")
    topo.assert_snapshot_equal(before)


def test_config_change_of_ipv6_while_dead_is_applied(topo, netd_factory):
    """The /64 or its way out changed while netd was dead: the setup is rolled
    back and applied afresh; stateless -> stateful restarts dnsmasq."""
    netd = netd_factory(nat6_conf())
    netd.start()
    pid = pidfile_pid(netd)
    netd.stop(signal.SIGKILL)
    netd.write_conf(nat6_conf(dhcp6="stateful"))
    netd.start()
    assert "runs with other settings than the config's; restarting it" in netd.read_log()
    assert dnsmasq_procs(netd) != [pid] and len(dnsmasq_procs(netd)) == 1
    netd.stop(signal.SIGKILL)
    netd.write_conf(nat6_conf(address6="2001:db8:7::1/64"))
    netd.start()
    assert "2001:db8:7::1/64" in topo.addrs(topo.d0, BR)
    assert f"{GW6}/64" not in topo.addrs(topo.d0, BR)
    netd.stop(signal.SIGKILL)
    netd.write_conf(nat_conf())
    netd.start()
    assert [a for a in topo.addrs(topo.d0, BR) if a.startswith("2001")] == []
    assert len(our_tables(topo)) == 1 and ip6_forwarding(topo) == "0"


def test_fault_and_crash_at_every_step_with_ipv6(topo, netd_factory):
    before, rules = topo.snapshot(), ruleset(topo)
    netd = netd_factory(nat6_conf(forwards=["tcp:8080:[2001:db8:1::10]:80"]))
    steps = netd.steps()
    assert {"bridge-address6", "ip6-forward", "nft-table6"} <= set(steps)
    for step in steps:
        netd.run_faulted(step)
        topo.assert_snapshot_equal(before)
        assert ruleset(topo) == rules, step
        assert ip6_forwarding(topo) == "0", step
        assert dnsmasq_procs(netd) == [], step
    for step in steps:
        netd.run_crashed(step)
        netd.start()
        assert len(our_tables(topo)) == 2, step
        assert f"{GW6}/64" in topo.addrs(topo.d0, BR), step
        assert netd.stop() == 0
        topo.assert_snapshot_equal(before)
        assert ruleset(topo) == rules and ip6_forwarding(topo) == "0", step


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("extra,msg", [
    ("address6 = 2001:db8:1::1/48\n",
     "key 'address6': prefix length in '2001:db8:1::1/48' must be 64"),
    ("address6 = 203.0.113.1/24\n", "key 'address6': expected IPV6ADDRESS/64"),
    ("address6 = 2001:db8:1::/64\n", "is the subnet-router anycast address"),
    ("address6 = fe80::1/64\n", "is not a global unicast address"),
    ("dhcp6 = stateful\n", "key 'dhcp6': needs address6"),
    ("address6 = 2001:db8:1::1/64\ndhcp6 = sometimes\n",
     "key 'dhcp6': expected stateless|stateful, got 'sometimes'"),
    ("address6 = 2001:db8:1::1/64\nnat6 = nptv6\n",
     "key 'nat6': expected masquerade|routed, got 'nptv6'"),
    ("address6 = 2001:db8:1::1/64\nforward = tcp:80:[2001:db8:2::5]:80\n",
     "key 'forward': destination 2001:db8:2::5 is not inside 2001:db8:1::/64"),
    ("address6 = 2001:db8:1::1/64\nforward = tcp:80:[2001:db8:1::1]:80\n",
     "destination 2001:db8:1::1 is the gateway"),
    ("address6 = 2001:db8:1::1/64\nforward = tcp:80:[2001:db8:1::5]:80\n"
     "forward = tcp:80:[2001:db8:1::6]:80\n",
     "IPv6 tcp port 80 on uplink 'eth0' is already forwarded at line "),
    ("address6 = 2001:db8::100/64\n",
     "address6 2001:db8::100/64 overlaps the subnet of uplink eth0"),
    ("dhcp6_range = 2001:db8:1::10-2001:db8:1::20\n", "key 'dhcp6_range': needs address6"),
    ("address6 = 2001:db8:1::1/64\ndhcp6_range = 2001:db8:1::10-2001:db8:1::20\n",
     "key 'dhcp6_range': needs dhcp6 = stateful"),
    ("address6 = 2001:db8:1::1/64\ndhcp6 = stateful\ndhcp6_range = 2001:db8:1::10\n",
     "key 'dhcp6_range': expected FIRST-LAST IPv6 addresses"),
    ("address6 = 2001:db8:1::1/64\ndhcp6 = stateful\ndhcp6_range = 203.0.113.5-203.0.113.9\n",
     "key 'dhcp6_range': expected FIRST-LAST IPv6 addresses"),
    ("address6 = 2001:db8:1::1/64\ndhcp6 = stateful\ndhcp6_range = 2001:db8:2::10-2001:db8:2::20\n",
     "key 'dhcp6_range': 2001:db8:2::10-2001:db8:2::20 is not inside 2001:db8:1::/64"),
    ("address6 = 2001:db8:1::1/64\ndhcp6 = stateful\ndhcp6_range = 2001:db8:1::20-2001:db8:1::10\n",
     "key 'dhcp6_range': first address 2001:db8:1::20 is above last 2001:db8:1::10"),
    ("address6 = 2001:db8:1::1/64\ndhcp6 = stateful\ndhcp6_range = 2001:db8:1::-2001:db8:1::10\n",
     "includes the subnet-router anycast address"),
    ("address6 = 2001:db8:1::1/64\ndhcp6 = stateful\ndhcp6_range = 2001:db8:1::1-2001:db8:1::10\n",
     "2001:db8:1::1-2001:db8:1::10 includes the gateway address 2001:db8:1::1"),
])
def test_bad_ipv6_config_changes_nothing(topo, netd_factory, extra, msg):
    refused_at_start(topo, netd_factory, nat_conf() + extra, msg)


def test_vif_ipv6_errors(topo, netd_factory):
    g5, g6 = guest6(topo, 5), guest6(topo, 6)
    netd = netd_factory(nat6_conf())
    netd.start()
    m5 = mac_of(topo, g5)
    for ip, msg in [("2001:db8:2::5", "is not inside 2001:db8:1::1/64 (address6) of virbr0"),
                    ("2001:db8:1::", "is the subnet-router anycast address"),
                    ("2001:db8:1::1", "refused")]:
        r = netd.ctl("vif", "online", "5.0", f"bridge={BR}", f"mac={m5}", f"ip={ip}", check=False)
        assert r.returncode == 1 and msg in r.stderr, (ip, r.stderr)
        assert topo.link(topo.d0, "vif5.0").get("master") is None
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", f"mac={m5}", "ip=203.0.113.10 2001:db8:1::10")
    r = netd.ctl("vif", "online", "6.0", f"bridge={BR}", f"mac={mac_of(topo, g6)}",
                 "ip=203.0.113.11 2001:db8:1::10", check=False)
    assert r.returncode == 1 and "ip 2001:db8:1::10 is already the address of dom5" in r.stderr, \
        r.stderr


def test_ipv6_with_the_units_capabilities(topo, netd_factory, tmp_path, monkeypatch, servers6):
    """Under the bounding sets of netd.service and netd-dnsmasq@.service
    (outside systemd netd forks dnsmasq, so the two share one set) and
    no_new_privs, dnsmasq still sends router advertisements (a raw ICMPv6
    socket) and the IPv6 table and forwarding come up and go."""
    import conftest
    from test_package import DNSMASQ_UNIT, _unit_caps
    NETD = conftest.NETD
    caps = _unit_caps(DNSMASQ_UNIT)
    wrapper = tmp_path / "netd-sandboxed"
    wrapper.write_text("#!/bin/sh\nexec setpriv --bounding-set -all,+" + ",+".join(caps) +
                       f" --no-new-privs {NETD} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "NETD", str(wrapper))
    g = guest6(topo, 5)
    mine = canon(eui64(mac_of(topo, g)))
    netd = netd_factory(nat6_conf(forwards=[f"tcp:8080:[{mine}]:80"]))
    netd.start()
    plug(netd, topo, 5)
    wait_for(lambda: mine in global6(topo, g) and ra_default_route(topo, g), 15,
             what="SLAAC address and default route from the RA")
    servers6(g, "g5")
    assert connect(topo, topo.up, UPLINK6, 8080) == f"g5 {UPSTREAM6}"
    assert topo.ping(g, UPSTREAM6)
    assert netd.stop() == 0, netd.read_log()
    assert dnsmasq_procs(netd) == [] and our_tables(topo) == [] and ip6_forwarding(topo) == "0"
