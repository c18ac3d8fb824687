"""NAT mode in namespaces: a private bridge virbr0 (203.0.113.1/24) behind dom0,
masquerade out of eth0 (192.0.2.2) to upstream (192.0.2.1), port forwards as one
nft map, hairpin, dnsmasq DHCP/DNS, the table watch, adoption after kill -9,
exact undo, faults at every step, bad input."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import NETDCTL, sigstop, wait_for
from nat_util import (BR, GW, TABLE, UDHCPC_SCRIPT, connect, dnsmasq_procs, mac_of, nat6_conf,
                      nat_conf, nat_guest, nft, our_tables, pidfile_pid, plug, pub_files,
                      refused_at_start, ruleset, run_files, servers, udhcpc)  # noqa: F401 (servers: a fixture)
from scapy.all import ARP, IP, TCP, UDP, TCPerror

FOREIGN = """table inet foreign {
	set blocked {
		type ipv4_addr
		elements = { 198.51.100.7, 198.51.100.8 }
	}

	chain input {
		type filter hook input priority filter; policy accept;
		ip saddr @blocked drop
		tcp dport 2222 counter packets 0 bytes 0 accept
	}
}
table ip foreignnat {
	chain post {
		type nat hook postrouting priority srcnat + 10; policy accept;
		oifname "eth0" ip saddr 198.51.100.0/24 masquerade
	}
}
table bridge foreignbr {
	chain brforward {
		type filter hook forward priority filter; policy accept;
		ether type arp accept
	}
}
"""

def without_our_table(text):
    """The ruleset listing minus our table's block (tables are listed as
    'table FAMILY NAME {' ... '}' at column 0)."""
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(f"table ip {TABLE} {{"):
            skip = True
            continue
        if skip:
            if line.startswith("}"):
                skip = False
            continue
        out.append(line)
    return "".join(out)


def map_elems(topo):
    doc = json.loads(nft(topo, f"-j list map ip {TABLE} forwards").stdout)
    m = [o["map"] for o in doc["nftables"] if "map" in o][0]
    out = set()
    for k, v in m.get("elem", []):
        out.add((k["concat"][0], k["concat"][1], v["concat"][0], v["concat"][1]))
    return out


def rule_handles(topo):
    doc = json.loads(nft(topo, f"-j list table ip {TABLE}").stdout)
    return sorted((o["rule"]["chain"], o["rule"]["handle"]) for o in doc["nftables"] if "rule" in o)


# A failed test may leave the dnsmasq of a killed netd (conftest stops it).
pytestmark = pytest.mark.usefixtures("no_leftover_dnsmasq")


def start_nat(topo, netd_factory, conf=None, guests=()):
    netd = netd_factory(conf if conf is not None else nat_conf())
    netd.start()
    for domid in guests:
        g = topo.guests[domid]
        ip = topo.addrs(g, "eth0")[0].split("/")[0]
        netd.ctl("vif", "online", f"{domid}.0", f"bridge={BR}", f"mac={mac_of(topo, g)}",
                 f"ip={ip}")
        topo.wait_carrier(g, "eth0")
    return netd


# ---------------------------------------------------------------- data path

def test_guest_reaches_upstream_masqueraded(topo, netd_factory, tmp_path):
    g = nat_guest(topo, 5)  # 203.0.113.10
    before_fwd = topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip()
    netd = start_nat(topo, netd_factory, guests=(5,))
    assert topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip() == "1"
    br = topo.link(topo.d0, BR)
    assert br["linkinfo"]["info_kind"] == "bridge" and "UP" in br["flags"]
    assert topo.addrs(topo.d0, BR)[0] == "203.0.113.1/24"
    assert topo.link(topo.d0, "vif5.0")["master"] == BR
    # scapy on upstream: the guest's echo request arrives from dom0's uplink address.
    sniff = subprocess.Popen(
        ["ip", "netns", "exec", topo.up, "/usr/bin/python3", "-c",
         "from scapy.all import sniff\n"
         "p = sniff(iface='up0', filter='icmp and icmp[icmptype] == icmp-echo', count=1,"
         " timeout=15, started_callback=lambda: print('ready', flush=True))\n"
         "print('src', p[0]['IP'].src if p else None, flush=True)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert sniff.stdout.readline().strip() == "ready"
        assert topo.ping(g, "192.0.2.1")
        out, _ = sniff.communicate(timeout=20)
    finally:
        if sniff.poll() is None:
            sniff.kill()
            sniff.wait()
    assert "src 192.0.2.2" in out, out
    netd.ctl("down")
    assert topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip() == before_fwd


def test_guest_port_without_dom0s_ipv6_until_down(topo, netd_factory):
    """A guest's vif is only a port of the nat bridge: Dom0's IPv6 is off on
    it (the bridge keeps its own, for RA and DHCPv6); `down`, which takes
    the vif out of the bridge, gives it the namespace's default back, as
    `vif offline` does."""
    nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, guests=(5,))
    v6 = "sysctl -n net.ipv6.conf.vif5/0.disable_ipv6"
    assert topo.run(topo.d0, v6).stdout.strip() == "1"
    netd.ctl("down")
    assert topo.link(topo.d0, "vif5.0").get("master") is None
    assert topo.run(topo.d0, v6).stdout.strip() == "0"


def test_offline_whose_ipv6_cannot_be_given_back_still_unplugs(topo, netd_factory):
    """As in bridge mode: a guest off the nat bridge whose Dom0 IPv6 cannot
    then be given back (NETD_FAULT=vif-ipv6-restore) is unplugged all the
    same, logged, its filters gone with it; its `vif offline` succeeds.
    Before, it failed with the vif already off the bridge, still listed."""
    nat_guest(topo, 5)
    netd = netd_factory(nat_conf())
    netd.start(env={"NETD_FAULT": "vif-ipv6-restore"})
    plug(netd, topo, 5)
    assert "vif5.0" in ruleset(topo)
    r = netd.ctl("vif", "offline", "5.0", check=False)
    assert r.returncode == 0, r.stderr
    assert topo.link(topo.d0, "vif5.0").get("master") is None
    assert "vif5.0" not in netd.ctl("vif", "list").stdout
    assert "vif5.0" not in ruleset(topo)
    assert f"(unplugged from {BR} all the same)" in netd.read_log()


def test_forward_from_upstream_and_hairpin(topo, netd_factory, servers):
    g5, g6 = nat_guest(topo, 5), nat_guest(topo, 6)  # .10 and .11
    start_nat(topo, netd_factory, nat_conf(forwards=["tcp:8080:203.0.113.10:80"]), guests=(5, 6))
    servers(g5, "g5")
    # Even with a route to the private subnet, upstream cannot reach the guest...
    topo.ip(topo.up, "route add 203.0.113.0/24 via 192.0.2.2")
    assert connect(topo, topo.up, "203.0.113.10", 80).startswith("ERR")
    assert not topo.ping(topo.up, "203.0.113.10", timeout=1)
    # ...except through the forward; the guest sees upstream's own address.
    assert connect(topo, topo.up, "192.0.2.2", 8080) == "g5 192.0.2.1"
    assert connect(topo, topo.up, "192.0.2.2", 8081).startswith("ERR")
    # Hairpin: guest 6 reaches guest 5 through the uplink address; guest 5
    # sees the gateway, so its reply returns through dom0 and is un-NATed.
    assert connect(topo, g6, "192.0.2.2", 8080) == f"g5 {GW}"
    # Guests still reach each other directly, unNATed.
    assert connect(topo, g6, "203.0.113.10", 80) == "g5 203.0.113.11"
    # The gateway's own port 8080 is not forwarded.
    assert connect(topo, g6, GW, 8080).startswith("ERR")


def test_runtime_forward_changes_one_element(topo, netd_factory, servers):
    g5 = nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, nat_conf(forwards=["tcp:8080:203.0.113.10:80"]),
                     guests=(5,))
    servers(g5, "g5")
    servers(g5, "g5b", 81)
    elems, rules = map_elems(topo), rule_handles(topo)
    assert elems == {("tcp", 8080, "203.0.113.10", 80)}
    assert connect(topo, topo.up, "192.0.2.2", 9090).startswith("ERR")

    r = netd.ctl("forward", "add", "tcp:9090:203.0.113.10:81")
    assert "tcp:9090:203.0.113.10:81" in r.stdout
    assert map_elems(topo) == elems | {("tcp", 9090, "203.0.113.10", 81)}
    assert rule_handles(topo) == rules, "a forward must not rebuild the rules"
    assert connect(topo, topo.up, "192.0.2.2", 9090) == "g5b 192.0.2.1"
    listing = json.loads(netd.ctl("--json", "forward", "list", BR).stdout)["result"]
    assert listing == {"network": BR, "forwards": ["tcp:8080:203.0.113.10:80",
                                                    "tcp:9090:203.0.113.10:81"]}

    netd.ctl("forward", "del", "tcp:9090")
    assert map_elems(topo) == elems
    assert rule_handles(topo) == rules
    assert connect(topo, topo.up, "192.0.2.2", 9090).startswith("ERR")
    # A config forward can go at run time too, by full spec.
    netd.ctl("forward", "del", "tcp:8080:203.0.113.10:80", BR)
    assert map_elems(topo) == set()
    assert connect(topo, topo.up, "192.0.2.2", 8080).startswith("ERR")


def test_runtime_forward_errors_change_nothing(topo, netd_factory):
    nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, nat_conf(forwards=["tcp:8080:203.0.113.10:80"]))
    elems, rules = map_elems(topo), rule_handles(topo)
    cases = [
        ("add", "tcp:8080:203.0.113.11:80",
         "tcp port 8080 is already forwarded (tcp:8080:203.0.113.10:80)"),
        ("add", "icmp:8080:203.0.113.10:80", "protocol 'icmp': expected tcp|udp"),
        ("add", "tcp:0:203.0.113.10:80", "port '0': expected 1..65535"),
        ("add", "tcp:65536:203.0.113.10:80", "port '65536': expected 1..65535"),
        ("add", "udp:53:203.0.113.10:0", "port '0': expected 1..65535"),
        ("add", "tcp:8081:198.51.100.10:80", "destination 198.51.100.10 is not inside 203.0.113.0/24 of virbr0"),
        ("add", "tcp:8081:203.0.113.1:80", "destination 203.0.113.1 is the gateway, network or broadcast address"),
        ("add", "tcp:8081:203.0.113.255:80", "is the gateway, network or broadcast address"),
        ("add", "tcp:8081:203.0.113.x:80", "destination '203.0.113.x': expected an IPv4 address"),
        ("add", "tcp:8081", "expected PROTO:PORT:ADDRESS:PORT"),
        ("del", "tcp:9999", "tcp port 9999 is not forwarded in virbr0"),
        ("del", "tcp:8080:203.0.113.99:80", "is forwarded elsewhere (tcp:8080:203.0.113.10:80)"),
        ("del", "udp:8080", "udp port 8080 is not forwarded"),
    ]
    for op, spec, msg in cases:
        r = netd.ctl("forward", op, spec, check=False)
        assert r.returncode == 1, (spec, r.stdout)
        assert msg in r.stderr, (spec, r.stderr)
        assert map_elems(topo) == elems and rule_handles(topo) == rules, spec
    r = netd.ctl("forward", "add", "tcp:8081:203.0.113.10:80", "nosuchnet", check=False)
    assert r.returncode == 1 and "no network named 'nosuchnet'" in r.stderr
    r = netd.request({"cmd": "forward-add", "net": BR})
    assert not r["ok"] and "needs a 'forward' string" in r["error"]
    assert netd.alive()


# ---------------------------------------------------------------- DHCP / DNS

def test_dhcp_leases_and_guest_names(topo, netd_factory, tmp_path):
    g5, g6 = nat_guest(topo, 5), nat_guest(topo, 6)
    for g in (g5, g6):
        topo.ip(g, "addr flush dev eth0")
    netd = start_nat(topo, netd_factory)
    # dom5 has mac= and ip=: a static lease and a name; dom6 leases from the range.
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", f"mac={mac_of(topo, g5)}",
             "ip=203.0.113.10")
    netd.ctl("vif", "online", "6.0", f"bridge={BR}")
    for g in (g5, g6):
        topo.wait_carrier(g, "eth0")
    pid = pidfile_pid(netd)
    ip5, mask, router, dns = udhcpc(topo, g5, tmp_path)
    assert (ip5, mask, router, dns) == ("203.0.113.10", "24", GW, GW)
    ip6 = udhcpc(topo, g6, tmp_path)[0]
    n = int(ip6.split(".")[3])
    assert ip6.startswith("203.0.113.") and 100 <= n <= 150, ip6
    with open(f"{netd.state}/{BR}/dnsmasq.leases") as f:
        leases = f.read()
    assert mac_of(topo, g5) in leases and mac_of(topo, g6) in leases
    # The guest applies its lease and resolves the other guest through dnsmasq.
    topo.ip(g6, f"addr add {ip6}/24 dev eth0")
    r = topo.run(g6, f"busybox nslookup dom5 {GW}", check=False)
    assert "203.0.113.10" in r.stdout, r.stdout + r.stderr
    # A second vif of a domain is dom<D>-<N>; a name comes with ip= alone.
    nat_guest(topo, 7, addr="203.0.113.30/24", vifname="vif7.1")
    netd.ctl("vif", "online", "7.1", f"bridge={BR}", "ip=203.0.113.30")
    with open(f"{netd.dnsmasq_dir}/{BR}/hosts") as f:
        assert "203.0.113.30 dom7-1" in f.read()

    def resolves(name, ip):
        return ip in topo.run(g6, f"busybox nslookup {name} {GW}", check=False).stdout
    wait_for(lambda: resolves("dom7-1", "203.0.113.30"), 3, what="dom7-1 in DNS")
    # Offline removes the static lease line and the name; dnsmasq is
    # reloaded (SIGHUP), not restarted. (dom5's lease itself lives on in
    # dnsmasq until it expires, as any lease does.)
    netd.ctl("vif", "offline", "5.0")
    netd.ctl("vif", "offline", "7.1")
    with open(f"{netd.dnsmasq_dir}/{BR}/hosts") as f:
        assert f.read() == ""
    with open(f"{netd.dnsmasq_dir}/{BR}/dhcp-hosts") as f:
        assert mac_of(topo, g5) not in f.read()
    wait_for(lambda: not resolves("dom7-1", "203.0.113.30"), 3,
             what="dom7-1 to disappear from DNS")
    assert pidfile_pid(netd) == pid and dnsmasq_procs(netd) == [pid]


def test_guest_without_ip_may_use_only_its_bound_lease(topo, netd_factory, tmp_path):
    """A guest without ip= may claim only what netd's dnsmasq leased to it:
    netd binds one address of the range to its MAC (the static lease dnsmasq
    hands it) and its filter allows exactly that. The real DHCP exchange
    works and the lease is usable; another address, ARP for the gateway and
    a forged DHCP ACK naming the gateway never reach the other guest and are
    counted; a restarted netd keeps the binding."""
    from test_antispoof import capture, spoof_drops, status_field
    g5, g6 = nat_guest(topo, 5), nat_guest(topo, 6)  # g6: 203.0.113.11 with ip=
    topo.ip(g5, "addr flush dev eth0")
    netd = start_nat(topo, netd_factory, guests=(6,))
    m5, m6 = mac_of(topo, g5), mac_of(topo, g6)
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", f"mac={m5}")
    topo.wait_carrier(g5, "eth0")
    bound = [b.split(":", 1)[1] for b in status_field(netd, "bound") if b.startswith("vif5.0:")]
    assert len(bound) == 1 and 100 <= int(bound[0].split(".")[3]) <= 150, bound
    ip5, mask, router, _ = udhcpc(topo, g5, tmp_path)
    assert (ip5, mask, router) == (bound[0], "24", GW), "dnsmasq leases it the bound address"
    topo.ip(g5, f"addr add {ip5}/24 dev eth0")
    topo.ip(g5, f"route add default via {GW}")
    assert topo.ping(g5, GW) and topo.ping(g5, "203.0.113.11") and topo.ping(g5, "192.0.2.1")
    other = "203.0.113.120" if ip5 != "203.0.113.120" else "203.0.113.121"
    eth = f"Ether(src='{m5}', dst='ff:ff:ff:ff:ff:ff')"
    forged = [
        f"[{eth}/IP(src='{other}', dst='203.0.113.11')/UDP(sport=40000, dport=7601)] * 2",
        f"[{eth}/ARP(op=2, hwsrc='{m5}', psrc='{GW}', hwdst='ff:ff:ff:ff:ff:ff', pdst='{GW}')]",
        f"[{eth}/ARP(op=2, hwsrc='{m5}', psrc='{other}', hwdst='ff:ff:ff:ff:ff:ff', pdst='{other}')]",
        f"[{eth}/IP(src='{GW}', dst='255.255.255.255')/UDP(sport=67, dport=68)"
        f"/BOOTP(op=2, yiaddr='203.0.113.11', siaddr='{GW}', chaddr=bytes.fromhex('{m6.replace(':', '')}'))"
        f"/DHCP(options=[('message-type', 'ack'), ('server_id', '{GW}'), ('router', '203.0.113.5'), 'end'])]",
        f"[{eth}/IP(src='{ip5}', dst='255.255.255.255')/UDP(sport=67, dport=68)"
        f"/BOOTP(op=2, yiaddr='203.0.113.11', siaddr='{ip5}')/DHCP(options=[('message-type', 'ack'), 'end'])]",
    ]
    own = [f"[{eth}/IP(src='{ip5}', dst='203.0.113.11')/UDP(sport=40000, dport=7602)] * 2",
           f"[{eth}/ARP(op=2, hwsrc='{m5}', psrc='{ip5}', hwdst='ff:ff:ff:ff:ff:ff', pdst='{ip5}')]"]
    got = capture(topo, {"g6": (g6, "eth0", f"ether src {m5}")}, g5, " + ".join(forged + own))
    seen = [p for p in got["g6"]]
    assert not [p.summary() for p in seen if UDP in p and p[UDP].sport == 67], "no DHCP ACK from a guest"
    assert not [p for p in seen if ARP in p and p[ARP].psrc != ip5], [p.summary() for p in seen]
    assert not [p for p in seen if IP in p and p[IP].src == other]
    assert sorted(p[UDP].dport for p in seen if UDP in p and p[UDP].dport in (7601, 7602)) == [7602, 7602]
    assert [p for p in seen if ARP in p and p[ARP].psrc == ip5]
    n_forged = 2 + 1 + 1 + 1 + 1
    assert spoof_drops(netd, "vif5.0") == n_forged
    assert f"vif5.0:{n_forged}" in status_field(netd, "spoof_drops")
    with open(f"{netd.dnsmasq_dir}/{BR}/dhcp-hosts") as f:
        assert f"{m5},{ip5},dom5" in f.read()
    # A restarted netd keeps the binding and the guest's traffic flows.
    netd.stop(signal.SIGKILL)
    netd.start()
    assert f"vif5.0:{ip5}" in status_field(netd, "bound")
    assert topo.ping(g5, "192.0.2.1")
    assert udhcpc(topo, g5, tmp_path)[0] == ip5
    # offline frees it: the status and the static lease forget it
    netd.ctl("vif", "offline", "5.0")
    assert not [b for b in status_field(netd, "bound") if b.startswith("vif5.0:")]


def signal_pending(pid, sig):
    """Whether sig waits, not yet delivered, in process pid (a stopped one)."""
    with open(f"/proc/{pid}/status") as f:
        shd = re.search(r"ShdPnd:\s*([0-9a-f]+)", f.read()).group(1)
    return bool(int(shd, 16) & (1 << (sig - 1)))


def test_plug_waits_until_dnsmasq_has_read_the_static_lease(topo, netd_factory, tmp_path):
    """At a plug netd rewrites dhcp-hosts and sends dnsmasq SIGHUP; a guest
    whose DHCP client is already asking (a hot-plugged vif) must not be
    answered before dnsmasq has read the new file, or it gets an address of
    dhcp_range that its filter then drops (issue 12). So the vif joins the
    bridge only once dnsmasq has read the file. dnsmasq is held stopped
    through the plug: while netd's SIGHUP waits in it, vif5.0 is no port
    yet; once dnsmasq runs again the plug completes, and the client that
    was asking all along gets the static lease."""
    g5 = nat_guest(topo, 5)
    topo.ip(g5, "addr flush dev eth0")
    netd = start_nat(topo, netd_factory)
    pid = pidfile_pid(netd)
    script = tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    client = subprocess.Popen(["ip", "netns", "exec", g5, "busybox", "udhcpc", "-i", "eth0", "-n",
                               "-q", "-f", "-t", "30", "-T", "1", "-s", str(script)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sigstop(pid)
    try:
        plug = subprocess.Popen([NETDCTL, "--socket", netd.sock, "vif", "online", "5.0",
                                 f"bridge={BR}", f"mac={mac_of(topo, g5)}", "ip=203.0.113.10"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_for(lambda: signal_pending(pid, signal.SIGHUP), 4,
                 what="netd's SIGHUP to wait in the stopped dnsmasq")
        assert topo.link(topo.d0, "vif5.0").get("master") is None, \
            "vif5.0 joined the bridge before dnsmasq had read its static lease"
    finally:
        os.kill(pid, signal.SIGCONT)
    out, _ = plug.communicate(timeout=30)
    assert plug.returncode == 0, out
    assert topo.link(topo.d0, "vif5.0")["master"] == BR
    out, _ = client.communicate(timeout=60)
    m = re.search(r"udhcpc bound ip=(\S+) mask=(\S+) router=(\S+)", out)
    assert m and m.groups() == ("203.0.113.10", "24", GW), out
    assert "has not read" not in netd.read_log()


def test_plug_of_a_wedged_dnsmasq_completes_after_the_bound(topo, netd_factory):
    """A dnsmasq that does not read the file again (here: stopped) holds a
    plug only up to netd's bound (5 s); then the vif is plugged and netd
    says why it did not wait for dnsmasq. The next plug, dnsmasq still
    wedged, waits only 100 ms (netd's loop, which every other request
    needs, would wait 5 s per plug), and once dnsmasq reads again netd
    says so and waits the whole bound again."""
    g5, g6 = nat_guest(topo, 5), nat_guest(topo, 6)
    netd = start_nat(topo, netd_factory)
    pid = pidfile_pid(netd)
    sigstop(pid)
    try:
        netd.ctl("vif", "online", "5.0", f"bridge={BR}", f"mac={mac_of(topo, g5)}",
                 "ip=203.0.113.10")
        assert topo.link(topo.d0, "vif5.0")["master"] == BR
        assert f"vif5.0: dnsmasq (pid {pid}) has not read" in netd.read_log(), netd.read_log()
        assert "within 5000 ms of SIGHUP\n" in netd.read_log(), netd.read_log()
        netd.ctl("vif", "online", "6.0", f"bridge={BR}", f"mac={mac_of(topo, g6)}",
                 "ip=203.0.113.11")
        assert topo.link(topo.d0, "vif6.0")["master"] == BR
        assert (f"vif6.0: dnsmasq (pid {pid}) has not read" in netd.read_log() and
                "within 100 ms of SIGHUP (nor the last time: waiting less until it does)"
                in netd.read_log()), netd.read_log()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert topo.ping(g5, GW)
    # a plug's short wait, on a loaded machine, could end before dnsmasq
    # has caught up: as many plugs as that takes, a few at most
    for _ in range(5):
        netd.ctl("vif", "offline", "6.0")
        netd.ctl("vif", "online", "6.0", f"bridge={BR}", f"mac={mac_of(topo, g6)}",
                 "ip=203.0.113.11")
        if f"dnsmasq (pid {pid}) reads its files again" in netd.read_log():
            break
    assert f"dnsmasq (pid {pid}) reads its files again" in netd.read_log(), netd.read_log()


def test_guest_without_ip_and_no_range_is_refused(topo, netd_factory):
    """Without dhcp_range dnsmasq leases nothing: a guest without ip= (but
    with its MAC) could claim no address, so its plug is refused, saying so."""
    g5 = nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, nat_conf(dhcp_range=None))
    r = netd.ctl("vif", "online", "5.0", f"bridge={BR}", f"mac={mac_of(topo, g5)}", check=False)
    assert r.returncode == 1 and "no dhcp_range" in r.stderr and "give ip=" in r.stderr, r.stderr
    assert topo.link(topo.d0, "vif5.0").get("master") is None


def test_dnsmasq_restarted_when_it_dies(topo, netd_factory):
    netd = start_nat(topo, netd_factory)
    pid = pidfile_pid(netd)
    assert dnsmasq_procs(netd) == [pid]
    os.kill(pid, signal.SIGKILL)
    # Restarted once it is ready (its pid file names it).
    wait_for(lambda: "dnsmasq restarted (pid" in netd.read_log(), 5, what="dnsmasq restarted")
    new = dnsmasq_procs(netd)
    assert len(new) == 1 and pidfile_pid(netd) == new[0]
    log = netd.read_log()
    assert f"dnsmasq (pid {pid}) was killed by signal 9; restarting in" in log, log
    assert f"dnsmasq restarted (pid {new[0]})" in log
    netd.ctl("down")
    assert dnsmasq_procs(netd) == []


# ---------------------------------------------------------------- nftables ownership

def test_foreign_tables_untouched(topo, netd_factory, tmp_path):
    f = tmp_path / "foreign.nft"
    f.write_text(FOREIGN)
    nft(topo, f"-f {f}")
    before = ruleset(topo)
    assert "foreignnat" in before
    nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, nat_conf(forwards=["udp:5353:203.0.113.10:53"]))
    assert len(our_tables(topo)) == 1
    assert without_our_table(ruleset(topo)) == before
    netd.ctl("forward", "add", "tcp:9090:203.0.113.10:80")
    assert without_our_table(ruleset(topo)) == before
    netd.ctl("forward", "del", "tcp:9090")
    assert without_our_table(ruleset(topo)) == before
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", "ip=203.0.113.10")
    netd.ctl("vif", "offline", "5.0")
    netd.ctl("down")
    assert ruleset(topo) == before
    netd.ctl("up")
    assert netd.stop() == 0
    assert ruleset(topo) == before


def test_deleted_table_is_restored(topo, netd_factory, servers):
    g5 = nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, nat_conf(forwards=["tcp:8080:203.0.113.10:80"]),
                     guests=(5,))
    servers(g5, "g5")
    netd.ctl("forward", "add", "udp:5353:203.0.113.10:53")
    elems = map_elems(topo)
    for n, how in enumerate((f"delete table ip {TABLE}", "flush ruleset",
                             f"delete element ip {TABLE} forwards {{ tcp . 8080 }}",
                             f"flush chain ip {TABLE} postrouting")):
        # How fast netd restores it is measured by bench/nat, not asserted here.
        nft(topo, f"'{how}'")
        # the bridged chain's rule and bridged_pass's 2 notrack, 2 dnat, 2 masquerade and 6
        # forward-chain rules (nat/ruleset.c)
        wait_for(lambda: our_tables(topo) and map_elems(topo) == elems
                 and len(rule_handles(topo)) == RULES_WITH_FORWARDS, 10, 0.01,
                 what=f"table restored after {how}")
        wait_for(lambda: netd.read_log().count("restored it") >= n + 1, 10,
                 what="the restore to be logged")
    assert "nftables table ip netd_virbr0 was changed or deleted by nft (pid" in netd.read_log()
    assert connect(topo, topo.up, "192.0.2.2", 8080) == "g5 192.0.2.1"
    assert topo.ping(g5, "192.0.2.1")
    # netd's own changes are not "foreign": no restore for them.
    count = netd.read_log().count("restored it")
    netd.ctl("forward", "add", "tcp:9090:203.0.113.10:80")
    netd.ctl("forward", "del", "tcp:9090")
    time.sleep(0.3)
    assert netd.read_log().count("restored it") == count
    # Without forwards, the table restored has no bridged chains: 2 dnat, 2
    # masquerade and 6 forward-chain rules.
    netd.ctl("forward", "del", "tcp:8080")
    netd.ctl("forward", "del", "udp:5353")
    nft(topo, f"'delete table ip {TABLE}'")
    wait_for(lambda: netd.read_log().count("restored it") >= count + 1, 10,
             what="the restore to be logged")
    wait_for(lambda: our_tables(topo), 10, 0.01, what="the table restored")
    assert map_elems(topo) == set() and len(rule_handles(topo)) == RULES_WITHOUT_FORWARDS
    assert chains(topo) == CHAINS
    assert topo.ping(g5, "192.0.2.1")


# The table's base chains and rule count without forwards and with: the
# bridged chains (one rule, and bridged_pass's 2 notrack) exist only while
# there is a forward (nat/ruleset.h).
CHAINS = {"prerouting", "postrouting", "forward"}
BRIDGED = {"bridged", "bridged_pass"}
RULES_WITHOUT_FORWARDS = 10
RULES_WITH_FORWARDS = 13


def chains(topo, fam="ip"):
    doc = json.loads(nft(topo, f"-j list table {fam} {TABLE}").stdout)
    return {o["chain"]["name"] for o in doc["nftables"] if "chain" in o}


def test_bridged_chain_only_while_there_are_forwards(topo, netd_factory, servers):
    """Every packet would run the raw-priority bridged chain, which can only
    match a forwarded port: it comes with the first forward of its family and
    goes with the last, without rebuilding the other rules; a restore or a
    kill -9 adoption builds the table as the forwards say."""
    g5 = nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, nat6_conf(), guests=(5,))
    servers(g5, "g5")
    rules = rule_handles(topo)
    assert chains(topo) == CHAINS and chains(topo, "ip6") == CHAINS
    assert len(rules) == RULES_WITHOUT_FORWARDS

    netd.ctl("forward", "add", "tcp:9090:203.0.113.10:80")
    assert chains(topo) == CHAINS | BRIDGED and chains(topo, "ip6") == CHAINS
    with_fwd = rule_handles(topo)
    assert len(with_fwd) == RULES_WITH_FORWARDS and set(rules) < set(with_fwd)
    assert connect(topo, topo.up, "192.0.2.2", 9090) == "g5 192.0.2.1"
    # A second forward, and an IPv6 one: the IPv6 table gets its own chains.
    netd.ctl("forward", "add", "udp:5353:203.0.113.10:53")
    netd.ctl("forward", "add", "tcp:9090:[2001:db8:1::10]:80")
    assert rule_handles(topo) == with_fwd and chains(topo, "ip6") == CHAINS | BRIDGED
    # kill -9: the new netd adopts the table with its chains.
    netd.stop(signal.SIGKILL)
    netd.start()
    assert chains(topo) == CHAINS | BRIDGED and chains(topo, "ip6") == CHAINS | BRIDGED
    assert len(rule_handles(topo)) == RULES_WITH_FORWARDS
    with_fwd = rule_handles(topo)
    netd.ctl("forward", "del", "udp:5353")
    assert rule_handles(topo) == with_fwd and chains(topo) == CHAINS | BRIDGED
    # The last forward of a family takes its chains with it, nothing else.
    netd.ctl("forward", "del", "tcp:9090:[2001:db8:1::10]:80")
    assert chains(topo, "ip6") == CHAINS and chains(topo) == CHAINS | BRIDGED
    netd.ctl("forward", "del", "tcp:9090")
    assert chains(topo) == CHAINS
    assert rule_handles(topo) == sorted(r for r in with_fwd if r[0] not in BRIDGED)
    assert len(rule_handles(topo)) == RULES_WITHOUT_FORWARDS
    assert connect(topo, topo.up, "192.0.2.2", 9090).startswith("ERR")
    # netd's own changes are not foreign: nothing was restored.
    time.sleep(0.3)
    assert "restored it" not in netd.read_log()
    # Adoption without forwards: still no bridged chains.
    netd.stop(signal.SIGKILL)
    netd.start()
    assert chains(topo) == CHAINS and chains(topo, "ip6") == CHAINS
    assert len(rule_handles(topo)) == RULES_WITHOUT_FORWARDS
    assert topo.ping(g5, "192.0.2.1")
    assert netd.stop() == 0 and our_tables(topo) == []


def forward_first_rule(topo, fam="ip"):
    """The keys the forward chain's first rule compares: [(meta key, value)]."""
    doc = json.loads(nft(topo, f"-j list chain {fam} {TABLE} forward").stdout)
    rule = next(o["rule"] for o in doc["nftables"] if "rule" in o)
    return [(m["match"]["left"]["meta"]["key"], m["match"]["right"]) for m in rule["expr"]
            if "match" in m and "meta" in m["match"]["left"]]


def test_forward_first_rule_by_index(topo, netd_factory):
    """A guest's packet on its way out is accepted by the forward chain's first
    rule, which names the bridge by its index (`iif`, cheaper per packet than a
    name: bench/datapath), in both tables, across a kill -9 adoption; a packet
    from upstream still gets only replies (the rules by name after it)."""
    g5 = nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, nat6_conf(), guests=(5,))
    topo.ip(topo.up, "route add 203.0.113.0/24 via 192.0.2.2")
    for _ in range(2):
        assert forward_first_rule(topo) == [("iif", BR)]
        assert forward_first_rule(topo, "ip6") == [("iif", BR)]
        assert len(rule_handles(topo)) == RULES_WITHOUT_FORWARDS
        assert topo.ping(g5, "192.0.2.1")
        # nothing from upstream into the bridge that is not a reply
        assert not topo.ping(topo.up, "203.0.113.10", timeout=1)
        netd.stop(signal.SIGKILL)
        netd.start()
    assert netd.stop() == 0 and our_tables(topo) == []


# ---------------------------------------------------------------- restart, undo

def test_kill9_adopts_table_dnsmasq_and_leases(topo, netd_factory, tmp_path, servers):
    g5, g6 = nat_guest(topo, 5), nat_guest(topo, 6)
    topo.ip(g6, "addr flush dev eth0")
    netd = start_nat(topo, netd_factory, nat_conf(forwards=["tcp:8080:203.0.113.10:80"]),
                     guests=(5,))
    netd.ctl("vif", "online", "6.0", f"bridge={BR}")
    topo.wait_carrier(g6, "eth0")
    servers(g5, "g5")
    netd.ctl("forward", "add", "tcp:9090:203.0.113.10:80")
    ip6 = udhcpc(topo, g6, tmp_path)[0]
    pid = pidfile_pid(netd)
    with open(f"{netd.state}/{BR}/dnsmasq.leases") as f:
        leases = f.read()
    br_index = topo.link(topo.d0, BR)["ifindex"]
    def dnsmasq_outlives_netd():
        assert dnsmasq_procs(netd) == [pid], "dnsmasq outlives netd"

    out = netd.kill9_restart_under_ping(g5, "192.0.2.1", between=dnsmasq_outlives_netd)
    assert " 0% packet loss" in out, out
    assert "adopted dnsmasq (pid %d)" % pid in netd.read_log()
    assert "adopted the running nat setup" in netd.read_log()
    assert len(our_tables(topo)) == 1
    assert dnsmasq_procs(netd) == [pid] and pidfile_pid(netd) == pid
    assert topo.link(topo.d0, BR)["ifindex"] == br_index
    with open(f"{netd.state}/{BR}/dnsmasq.leases") as f:
        assert f.read() == leases
    assert udhcpc(topo, g6, tmp_path)[0] == ip6
    # The run-time forward survived, and works.
    assert ("tcp", 9090, "203.0.113.10", 80) in map_elems(topo)
    assert connect(topo, topo.up, "192.0.2.2", 9090) == "g5 192.0.2.1"
    # A second crash with the table deleted meanwhile: the new netd restores it.
    netd.stop(signal.SIGKILL)
    nft(topo, f"delete table ip {TABLE}")
    netd.start()
    assert len(our_tables(topo)) == 1 and len(map_elems(topo)) == 2
    assert "was missing; restored it" in netd.read_log()
    assert dnsmasq_procs(netd) == [pid]
    assert netd.stop() == 0
    assert dnsmasq_procs(netd) == [] and our_tables(topo) == []


def test_down_leaves_nothing(topo, netd_factory, tmp_path):
    nft(topo, "add table ip foreignkeep")
    before, rules_before = topo.snapshot(), ruleset(topo)
    fwd_before = topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip()
    g5 = nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, nat_conf(forwards=["tcp:8080:203.0.113.10:80"]),
                     guests=(5,))
    netd.ctl("forward", "add", "udp:5353:203.0.113.10:53")
    assert topo.ping(g5, "192.0.2.1")
    pid = pidfile_pid(netd)
    assert pub_files(netd) == ["dhcp-hosts", "hosts"]
    assert set(run_files(netd)) >= {"dnsmasq.pid", "dnsmasq.leases",
                                    "forwards"}
    netd.ctl("down")
    assert dnsmasq_procs(netd) == []
    assert not os.path.exists(f"/proc/{pid}/cmdline") or open(f"/proc/{pid}/cmdline").read() == ""
    assert run_files(netd) == [] and not os.path.exists(f"{netd.state}/{BR}")
    assert pub_files(netd) == [] and not os.path.exists(f"{netd.dnsmasq_dir}/{BR}")
    assert not os.path.exists(f"{netd.state}/{BR}.json")
    assert ruleset(topo) == rules_before
    assert topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip() == fwd_before
    assert topo.link(topo.d0, BR) is None
    topo.ip(topo.d0, "link del vif5.0")
    topo.assert_snapshot_equal(before)
    assert netd.proc.poll() is None
    # Up again from scratch, then SIGTERM restores too.
    netd.ctl("up")
    assert len(dnsmasq_procs(netd)) == 1
    assert netd.stop() == 0
    assert dnsmasq_procs(netd) == [] and ruleset(topo) == rules_before
    topo.assert_snapshot_equal(before)


def test_up_twice_is_a_noop(topo, netd_factory):
    netd = start_nat(topo, netd_factory)
    snap, rules, pid = topo.snapshot(), ruleset(topo), pidfile_pid(netd)
    netd.ctl("up")
    netd.ctl("up", BR)
    assert topo.snapshot() == snap and ruleset(topo) == rules
    assert dnsmasq_procs(netd) == [pid]


def nat_listed(netd):
    return sorted(v["vif"] for v in netd.request({"cmd": "vif-list"})["result"]["vifs"])


def nat_net_state(netd):
    doc = json.loads(netd.ctl("--json", "status").stdout)
    return next(n["state"] for n in doc["result"]["networks"] if n["name"] == BR)


def assert_nat_restored(topo, netd, before, rules, fwd_before):
    """The host as before the network was up (the guest's vif aside, which
    outlives the network): no virbr0, no table, forwarding, no dnsmasq."""
    assert dnsmasq_procs(netd) == [], netd.read_log()
    assert topo.link(topo.d0, BR) is None
    assert our_tables(topo) == [] and ruleset(topo) == rules
    assert topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip() == fwd_before
    assert not os.path.exists(f"{netd.state}/{BR}.json")
    topo.ip(topo.d0, "link del vif5.0")
    topo.assert_snapshot_equal(before)


def test_up_again_repairs_virbr0_deleted_by_hand(topo, netd_factory, tmp_path, servers):
    """`ip link del virbr0` behind netd's back, then `netdctl up virbr0`:
    the host is restored and the setup applied again, the guest's vif a
    port of the new virbr0, its static lease and name served by a dnsmasq,
    the run-time forward still there; the guest reaches upstream, and
    `down` leaves the host as before up. Before, the vif stayed off the new
    bridge and the guest was cut off."""
    before, rules = topo.snapshot(), ruleset(topo)
    fwd_before = topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip()
    g5 = nat_guest(topo, 5)  # 203.0.113.10
    netd = start_nat(topo, netd_factory, guests=(5,))
    servers(g5, "g5")
    netd.ctl("forward", "add", "tcp:9090:203.0.113.10:80")
    topo.ip(topo.d0, f"link del {BR}")
    netd.ctl("up", BR)
    log = netd.read_log()
    br = topo.link(topo.d0, BR)
    assert br and br["linkinfo"]["info_kind"] == "bridge" and "UP" in br["flags"], log
    assert topo.addrs(topo.d0, BR)[0] == "203.0.113.1/24"
    assert topo.link(topo.d0, "vif5.0").get("master") == BR, log
    assert nat_listed(netd) == ["5.0"] and nat_net_state(netd) == "up"
    assert len(our_tables(topo)) == 1 and len(dnsmasq_procs(netd)) == 1
    assert ("tcp", 9090, "203.0.113.10", 80) in map_elems(topo), log
    topo.wait_carrier(g5, "eth0")
    assert udhcpc(topo, g5, tmp_path) == ("203.0.113.10", "24", GW, GW)
    r = topo.run(g5, f"busybox nslookup dom5 {GW}", check=False)
    assert "203.0.113.10" in r.stdout, r.stdout + r.stderr
    topo.settle()
    assert topo.ping(g5, "192.0.2.1")
    assert connect(topo, topo.up, "192.0.2.2", 9090) == "g5 192.0.2.1"
    netd.ctl("down", BR)
    assert_nat_restored(topo, netd, before, rules, fwd_before)


@pytest.mark.parametrize("crash", [False, True], ids=["failed", "killed"])
def test_failed_nat_repair_keeps_the_record_to_restore_the_host(topo, netd_factory, crash):
    """The repair of a virbr0 deleted by hand fails (or netd is killed) once
    the host is restored and before the setup is applied again: the
    network keeps its state file and vif, so `down` (or the next netd,
    which applies it again, then `down`) leaves the host as before; its
    state is `failed` (it said `up` before)."""
    before, rules = topo.snapshot(), ruleset(topo)
    fwd_before = topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip()
    nat_guest(topo, 5)
    netd = netd_factory(nat_conf(),
                        env={"NETD_FAULT": "nat-repair:crash" if crash else "nat-repair"})
    netd.start()
    plug(netd, topo, 5)
    topo.ip(topo.d0, f"link del {BR}")
    r = netd.ctl("up", BR, check=False)
    assert r.returncode != 0
    if crash:
        netd.crashed()
        assert os.path.exists(f"{netd.state}/{BR}.json")
        netd.start()
        assert topo.link(topo.d0, BR)["linkinfo"]["info_kind"] == "bridge"
        assert topo.link(topo.d0, "vif5.0").get("master") == BR
    else:
        assert f"cannot repair the nat setup; `netdctl down {BR}` restores the host" in \
            r.stderr, r.stderr
        assert nat_net_state(netd) == "failed"
        assert os.path.exists(f"{netd.state}/{BR}.json")
        assert dnsmasq_procs(netd) == [] and our_tables(topo) == []
    assert nat_listed(netd) == ["5.0"]
    netd.ctl("down", BR)
    assert_nat_restored(topo, netd, before, rules, fwd_before)


def as_vifs(topo):
    """The vifs with anti-spoofing elements: the `vifs` set of table
    bridge netd_as (none without the table)."""
    r = topo.run(topo.d0, "nft -j list set bridge netd_as vifs", check=False)
    if r.returncode:
        return set()
    elems = [o["set"].get("elem", []) for o in json.loads(r.stdout)["nftables"] if "set" in o]
    return {e if isinstance(e, str) else e["elem"]["val"] for l in elems for e in l}


def br_ports(topo):
    """`ip link show master virbr0`: the names of its ports."""
    return sorted(l["ifname"] for l in json.loads(topo.ip(topo.d0, f"-j link show master {BR}")
                                                  .stdout))


@pytest.mark.parametrize("how", ["up", "start"])
def test_kill9_mid_repair_ends_with_every_vif_plugged(topo, netd_factory, how):
    """netd killed while it plugs the vifs again into a virbr0 it made
    again (a repair after `ip link del virbr0`; or a start after virbr0 was
    deleted while no netd ran, which rolls back and applies): one vif a
    port, the other not yet. Started again, every remembered vif is a port
    with its anti-spoofing elements, vif-list lists both, and the guests
    reach upstream. Before, the state file said `applied` as soon as the
    setup was there, so the next netd adopted it as it was: one guest
    without its port."""
    g5, g6 = nat_guest(topo, 5), nat_guest(topo, 6)
    netd = netd_factory(nat_conf())
    netd.start()
    plug(netd, topo, 5)
    plug(netd, topo, 6)
    netd.stop(signal.SIGKILL)
    crash = {"NETD_FAULT": "vif-antispoof:crash"}
    if how == "up":
        netd.start(env=crash)  # adopts: plugs nothing
        topo.ip(topo.d0, f"link del {BR}")
        assert netd.ctl("up", BR, check=False).returncode != 0
    else:
        topo.ip(topo.d0, f"link del {BR}")
        netd.start(env=crash, wait=False)
    netd.crashed()
    assert len(br_ports(topo)) == 1, netd.read_log()  # what the crash left
    netd.start()
    log = netd.read_log()
    assert br_ports(topo) == ["vif5.0", "vif6.0"], log
    assert {"vif5.0", "vif6.0"} <= as_vifs(topo), log
    assert nat_listed(netd) == ["5.0", "6.0"] and nat_net_state(netd) == "up"
    topo.settle()
    assert topo.ping(g5, "192.0.2.1") and topo.ping(g6, "192.0.2.1")
    netd.ctl("down", BR)
    assert topo.link(topo.d0, BR) is None and dnsmasq_procs(netd) == []


def test_restore_on_exit_no_leaves_setup(topo, netd_factory):
    before, rules = topo.snapshot(), ruleset(topo)
    netd = netd_factory("")
    netd.write_conf(nat_conf(), "restore_on_exit = no")
    netd.start()
    pid = pidfile_pid(netd)
    assert netd.stop() == 0
    assert dnsmasq_procs(netd) == [pid] and len(our_tables(topo)) == 1
    netd.start()
    assert "adopted the running nat setup" in netd.read_log()
    assert dnsmasq_procs(netd) == [pid]
    netd.ctl("down")
    assert dnsmasq_procs(netd) == [] and ruleset(topo) == rules
    topo.assert_snapshot_equal(before)


def test_fault_at_every_step_rolls_back(topo, netd_factory):
    nft(topo, "add table inet foreign")
    before, rules = topo.snapshot(), ruleset(topo)
    netd = netd_factory(nat_conf(forwards=["tcp:8080:203.0.113.10:80"]))
    steps = netd.steps()
    assert steps[0] == "create-bridge" and "nft-table" in steps and "dnsmasq-start" in steps
    for step in steps:
        netd.run_faulted(step)
        topo.assert_snapshot_equal(before)
        assert ruleset(topo) == rules, step
        assert dnsmasq_procs(netd) == [], step
        assert run_files(netd) == [] and pub_files(netd) == [], step
        assert topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip() == "0"
    netd.start()
    assert len(our_tables(topo)) == 1


def test_crash_at_every_step_recovers(topo, netd_factory):
    before, rules = topo.snapshot(), ruleset(topo)
    netd = netd_factory(nat_conf(forwards=["tcp:8080:203.0.113.10:80"]))
    for step in netd.steps():
        netd.run_crashed(step)
        netd.start()
        assert len(our_tables(topo)) == 1, step
        assert len(dnsmasq_procs(netd)) == 1, step
        assert topo.addrs(topo.d0, BR)[0] == "203.0.113.1/24"
        assert netd.stop() == 0
        topo.assert_snapshot_equal(before)
        assert ruleset(topo) == rules, step
        assert dnsmasq_procs(netd) == [], step


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("body,msg", [
    ("address = 203.0.113.1/33\nuplink = eth0\n",
     "key 'address': expected ADDRESS/PREFIX (e.g. 203.0.113.1/24), got '203.0.113.1/33'"),
    ("address = 203.0.113.0/24\nuplink = eth0\n",
     "is the network or broadcast address of its subnet"),
    ("address = 203.0.113.1/24\nuplink = eth0\ndhcp_range = 198.51.100.10-198.51.100.20\n",
     "key 'dhcp_range': 198.51.100.10-198.51.100.20 is not inside 203.0.113.0/24"),
    ("address = 203.0.113.1/24\nuplink = eth0\ndhcp_range = 203.0.113.1-203.0.113.20\n",
     "includes the gateway address 203.0.113.1"),
    ("address = 203.0.113.1/24\nuplink = eth0\nforward = tcp:0:203.0.113.10:80\n",
     "key 'forward': port '0': expected 1..65535"),
    ("address = 203.0.113.1/24\nuplink = eth0\nforward = tcp:65536:203.0.113.10:80\n",
     "key 'forward': port '65536': expected 1..65535"),
    ("address = 203.0.113.1/24\nuplink = eth0\nforward = sctp:80:203.0.113.10:80\n",
     "key 'forward': protocol 'sctp': expected tcp|udp"),
    ("address = 203.0.113.1/24\nuplink = eth0\nforward = tcp:80:198.51.100.10:80\n",
     "key 'forward': destination 198.51.100.10 is not inside 203.0.113.0/24"),
    ("address = 203.0.113.1/24\nuplink = eth9\n", "uplink 'eth9' does not exist"),
    ("address = 203.0.113.1/24\n", "missing key 'uplink'"),
    ("address = 203.0.113.1/24\nuplink = eth0\n[virbr1]\nmode = nat\n"
     "address = 203.0.113.129/25\nuplink = eth0\n",
     "key 'address': 203.0.113.128/25 overlaps 203.0.113.0/24 of [virbr0]"),
])
def test_bad_config_changes_nothing(topo, netd_factory, body, msg):
    refused_at_start(topo, netd_factory, f"[{BR}]\nmode = nat\n{body}", msg)


def test_bridge_name_taken_is_refused(topo, netd_factory):
    topo.ip(topo.d0, f"link add {BR} type bridge")
    refused_at_start(topo, netd_factory, nat_conf(),
                     f"{BR}: {BR} already exists; refusing to take it over")


def test_vif_errors(topo, netd_factory):
    nat_guest(topo, 5)
    nat_guest(topo, 6)
    netd = start_nat(topo, netd_factory, guests=(5,))
    with open(f"{netd.dnsmasq_dir}/{BR}/hosts") as f:
        hosts = f.read()
    snap = topo.snapshot()
    cases = [
        (["vif", "online", "6.0", f"bridge={BR}", "ip=198.51.100.5"],
         "vif6.0: ip 198.51.100.5 is not inside 203.0.113.0/24 of virbr0"),
        (["vif", "online", "6.0", f"bridge={BR}", "ip=203.0.113.10"],
         "vif6.0: ip 203.0.113.10 is already the address of dom5 (vif5.0)"),
        (["vif", "online", "6.0", f"bridge={BR}", "ip=203.0.113.1"],
         "vif6.0: ip 203.0.113.1 refused: it is Dom0's own address"),
        (["vif", "online", "6.0", f"bridge={BR}", "ip=203.0.113.255"],
         "vif6.0: ip 203.0.113.255 refused: it is the broadcast address of a subnet Dom0 is on (virbr0)"),
        # The LAN's gateway and Dom0's uplink address are no NAT guest's either.
        (["vif", "online", "6.0", f"bridge={BR}", "ip=192.0.2.1"],
         "vif6.0: ip 192.0.2.1 refused: it is a gateway Dom0 routes through"),
        (["vif", "online", "6.0", f"bridge={BR}", "ip=192.0.2.2"],
         "vif6.0: ip 192.0.2.2 refused: it is Dom0's own address"),
        # Guests share virbr0: a MAC is one guest's, and never Dom0's.
        (["vif", "online", "6.0", f"bridge={BR}", f"mac={mac_of(topo, topo.guests[5])}"],
         f"vif6.0: mac {mac_of(topo, topo.guests[5])} refused: it is already vif 5.0's (vif5.0) in virbr0"),
        (["vif", "online", "6.0", f"bridge={BR}", f"mac={mac_of(topo, topo.d0, BR)}"],
         f"vif6.0: mac {mac_of(topo, topo.d0, BR)} refused: it is Dom0's (virbr0)"),
        (["vif", "online", "6.0", f"bridge={BR}", f"mac={topo.eth0_mac}"],
         f"vif6.0: mac {topo.eth0_mac} refused: it is Dom0's (eth0)"),
    ]
    for args, msg in cases:
        r = netd.ctl(*args, check=False)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr)
        assert topo.snapshot() == snap, args
        with open(f"{netd.dnsmasq_dir}/{BR}/hosts") as f:
            assert f.read() == hosts


def test_two_nat_networks(topo, netd_factory, servers):
    conf = (nat_conf(address="203.0.113.1/25", dhcp_range=None)
            + nat_conf(name="virbr1", address="203.0.113.129/25", dhcp_range=None))
    g5 = nat_guest(topo, 5, addr="203.0.113.10/25")
    g6 = nat_guest(topo, 6, addr="203.0.113.140/25", gw="203.0.113.129")
    netd = netd_factory(conf)
    netd.start()
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", "ip=203.0.113.10")
    netd.ctl("vif", "online", "6.0", "bridge=virbr1", "ip=203.0.113.140")
    for g in (g5, g6):
        topo.wait_carrier(g, "eth0")
    fwd = lambda: topo.run(topo.d0, "sysctl -n net.ipv4.ip_forward").stdout.strip()
    assert fwd() == "1"
    assert sorted(l.split()[-1] for l in nft(topo, "list tables").stdout.splitlines()
                  if l.startswith("table ip netd_")) == ["netd_virbr0", "netd_virbr1"]
    assert len(dnsmasq_procs(netd)) == 1 and len(dnsmasq_procs(netd, "virbr1")) == 1
    servers(g6, "g6")
    # With no network named, a forward goes to the network holding its destination.
    assert "virbr1" in netd.ctl("forward", "add", "tcp:8081:203.0.113.140:80").stdout
    assert "virbr0" in netd.ctl("forward", "add", "tcp:8080:203.0.113.10:80").stdout
    assert connect(topo, topo.up, "192.0.2.2", 8081) == "g6 192.0.2.1"
    # One outside port of the uplink leads to one guest, across networks.
    r = netd.ctl("forward", "add", "tcp:8080:203.0.113.140:80", "virbr1", check=False)
    assert r.returncode == 1
    assert ("tcp port 8080 on uplink eth0 is already forwarded by virbr0 "
            "(tcp:8080:203.0.113.10:80)") in r.stderr, r.stderr
    assert "virbr1" in netd.ctl("forward", "del", "tcp:8081").stdout
    # Forwarding stays on while one nat network is still up.
    netd.ctl("down", BR)
    assert fwd() == "1"
    assert topo.ping(g6, "192.0.2.1")
    netd.ctl("down", "virbr1")
    assert fwd() == "0"
    assert "netd_" not in nft(topo, "list tables").stdout


def test_dnsmasq_start_failure_is_reported_and_rolled_back(topo, netd_factory):
    """Something else holds the gateway's DNS port: dnsmasq's own reason
    reaches the user, and the host is restored."""
    before, rules = topo.snapshot(), ruleset(topo)
    holder = subprocess.Popen(
        ["ip", "netns", "exec", topo.d0, "/usr/bin/python3", "-c",
         "import socket, time\n"
         "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "s.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND: the address comes later\n"
         f"s.bind(('{GW}', 53))\nprint('ready', flush=True)\ntime.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        netd = netd_factory(nat_conf())
        r = netd.run_once()
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 1
    assert "virbr0: step dnsmasq-start: dnsmasq exited at startup (status 2): dnsmasq: failed to create listening socket for 203.0.113.1" in r.stderr, r.stderr
    assert "Address already in use" in r.stderr and "(host restored)" in r.stderr, r.stderr
    topo.assert_snapshot_equal(before)
    assert ruleset(topo) == rules and dnsmasq_procs(netd) == [] and run_files(netd) == []
    assert pub_files(netd) == []


@pytest.mark.parametrize("unit,why", [
    ("netd-dnsmasq@.service",
     "virbr0: netd-dnsmasq@.service runs dnsmasq from /run/netd-dnsmasq/<network>: dnsmasq_dir must be /run/netd-dnsmasq"),
    ("netd-dnsmasq.service",
     "virbr0: NETD_DNSMASQ_UNIT: 'netd-dnsmasq.service' is not a template service unit (name@.service)"),
])
def test_dnsmasq_unit_misconfigured_is_reported_and_rolled_back(topo, netd_factory, unit, why):
    """NETD_DNSMASQ_UNIT (netd.service's) with a dnsmasq_dir the template
    does not read, or naming no template: the nat network is refused with
    the reason, nothing is left on the host and no dnsmasq is started."""
    netd = refused_at_start(topo, netd_factory, nat_conf(), why,
                            env={"NETD_DNSMASQ_UNIT": unit}, applied=True)
    assert pub_files(netd) == []


def test_kill9_then_config_change_applies_on_adoption(topo, netd_factory):
    """Run-time forward changes survive a crash; config edits made meanwhile
    apply on top; a dnsmasq with the old settings is restarted, not kept."""
    nat_guest(topo, 5)
    fw = ["tcp:8080:203.0.113.10:80", "tcp:8081:203.0.113.10:81"]
    netd = start_nat(topo, netd_factory, nat_conf(forwards=fw))
    netd.ctl("forward", "add", "tcp:9090:203.0.113.10:90")
    netd.ctl("forward", "del", "tcp:8081")
    pid = pidfile_pid(netd)
    netd.stop(signal.SIGKILL)
    netd.write_conf(nat_conf(forwards=["tcp:8081:203.0.113.10:81", "tcp:8082:203.0.113.10:82"],
                             dhcp_range="203.0.113.100-203.0.113.120"))
    netd.start()
    assert map_elems(topo) == {("tcp", 9090, "203.0.113.10", 90), ("tcp", 8082, "203.0.113.10", 82)}
    log = netd.read_log()
    assert "forward tcp:8082:203.0.113.10:82 added to the config; applying it" in log
    assert "forward tcp:8080:203.0.113.10:80 removed from the config; removing it" in log
    assert f"dnsmasq (pid {pid}) runs with other settings than the config's; restarting it" in log
    new = dnsmasq_procs(netd)
    assert len(new) == 1 and new != [pid]
    with open(f"/proc/{new[0]}/cmdline", "rb") as f:
        assert b"--dhcp-range=203.0.113.100,203.0.113.120," in f.read()
    assert len(our_tables(topo)) == 1
    # An unchanged config on the next crash: the same dnsmasq is adopted.
    netd.stop(signal.SIGKILL)
    netd.start()
    assert dnsmasq_procs(netd) == new and f"adopted dnsmasq (pid {new[0]})" in netd.read_log()
    assert netd.stop() == 0 and dnsmasq_procs(netd) == []


def test_down_up_keeps_the_gateway_mac(topo, netd_factory):
    """Guests cache the gateway's MAC: after down/up it must be the same one,
    or they are cut off until their ARP entry goes stale."""
    g5 = nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory, guests=(5,))
    assert topo.ping(g5, "192.0.2.1")
    mac = topo.link(topo.d0, BR)["address"]
    assert int(mac[:2], 16) & 0x03 == 0x02, mac  # locally administered unicast
    netd.ctl("down")
    netd.ctl("up")
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", "ip=203.0.113.10")
    assert topo.link(topo.d0, BR)["address"] == mac
    topo.wait_carrier(g5, "eth0")
    assert topo.ping(g5, "192.0.2.1", timeout=1)


def test_forward_journal_stays_small_and_survives_restart(topo, netd_factory):
    """Run-time forwards are journaled one line per change; the journal is
    compacted as it grows and still restores the forwards after kill -9."""
    nat_guest(topo, 5)
    netd = start_nat(topo, netd_factory)
    import socket as so
    s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
    s.connect(netd.sock)
    f = s.makefile("rwb")

    def call(cmd, spec):
        f.write((json.dumps({"version": 1, "cmd": cmd, "net": BR, "forward": spec}) + "\n").encode())
        f.flush()
        r = json.loads(f.readline())
        assert r["ok"], r
    for i in range(700):
        call("forward-add", f"udp:{20000 + i}:203.0.113.10:53")
        if i % 10:
            call("forward-del", f"udp:{20000 + i}")
    s.close()
    with open(f"{netd.state}/{BR}/forwards") as jf:
        lines = jf.read().splitlines()
    assert len(lines) < 700, len(lines)  # 1330 changes were made
    want = {("udp", 20000 + i, "203.0.113.10", 53) for i in range(0, 700, 10)}
    assert map_elems(topo) == want
    netd.stop(signal.SIGKILL)
    nft(topo, f"delete table ip {TABLE}")
    netd.start()
    assert map_elems(topo) == want


def test_network_removed_while_netd_was_dead_is_restored(topo, netd_factory):
    """kill -9 with NAT up, the network leaves the config: the next netd stops
    its dnsmasq, removes its table and bridge, and restores the host."""
    before = topo.snapshot()
    netd = netd_factory(nat_conf())
    netd.start()
    assert len(dnsmasq_procs(netd)) == 1
    netd.stop(signal.SIGKILL)
    netd.write_conf("")
    netd.start()
    wait_for(lambda: not dnsmasq_procs(netd), 5, what="dnsmasq to stop")
    assert TABLE not in nft(topo, "list tables").stdout
    assert topo.link(topo.d0, BR) is None
    topo.assert_snapshot_equal(before)
    assert "virbr0: no longer configured; restoring" in netd.read_log()
    assert not os.path.exists(os.path.join(netd.state, f"{BR}.json"))


def test_forward_chain_verdicts(topo, netd_factory):
    """The forward chain, common cases first: with antispoof = no (so only the
    chain stands between a guest and the LAN), a guest's packet from an
    address of the subnet leaves masqueraded, one from a foreign source never
    reaches the LAN, yet routed back into the bridge (to another guest) it
    passes, as it always did."""
    from test_antispoof import capture
    g5, g6 = nat_guest(topo, 5), nat_guest(topo, 6)  # .10 and .11
    start_nat(topo, netd_factory, nat_conf(dhcp_range=None) + "antispoof = no\n", guests=(5, 6))
    gwmac, m5 = mac_of(topo, topo.d0, BR), mac_of(topo, g5)
    frame = (f"Ether(src='{m5}', dst='{gwmac}')/IP(src='{{}}', dst='{{}}')"
             "/UDP(sport=40000, dport={})")
    frames = " + ".join(f"[{frame.format(src, dst, port)}] * 2" for src, dst, port in (
        ("203.0.113.10", "192.0.2.1", 7401),     # its own address
        ("203.0.113.99", "192.0.2.1", 7402),     # the subnet's (no antispoof)
        ("198.51.100.77", "192.0.2.1", 7403),    # foreign: never out
        ("198.51.100.77", "203.0.113.11", 7404)))  # foreign, back into the bridge
    got = capture(topo, {"lan": (topo.up, "up0", "udp and dst portrange 7401-7404"),
                         "g6": (g6, "eth0", "udp and dst port 7404")}, g5, frames)
    assert sorted(p[UDP].dport for p in got["lan"]) == [7401, 7401, 7402, 7402], \
        [p.summary() for p in got["lan"]]
    assert all(p[IP].src == "192.0.2.2" for p in got["lan"])
    assert [p[IP].src for p in got["g6"]] == ["198.51.100.77"] * 2


def test_forward_chain_judges_packets_conntrack_calls_invalid(topo, netd_factory):
    """Every packet meets the forward chain, not only a connection's first:
    the nat chains run once per connection and never for a packet conntrack
    calls invalid (a TCP RST, FIN or SYN-ACK of no connection), which has
    none. Into a guest from upstream (frames to dom0's MAC, as a LAN host
    with a route to the private subnet sends them) only the port forward's
    packet arrives: the invalid ones, an ACK of no
    connection and a SYN to the guest's own address do not, and the SYN is
    rejected. Out of a guest with a foreign source (antispoof = no, so only
    the chain stands in the way) the invalid ones never reach the LAN, while
    a packet from its own address does, masqueraded; invalid ones from its
    own address, which no NAT would hide, are dropped too."""
    from test_antispoof import capture
    g5 = nat_guest(topo, 5)  # .10
    start_nat(topo, netd_factory, nat_conf(forwards=["tcp:8080:203.0.113.10:80"], dhcp_range=None)
              + "antispoof = no\n", guests=(5,))
    upmac, d0mac = mac_of(topo, topo.up, "up0"), mac_of(topo, topo.d0, "eth0")
    inbound = (f"Ether(src='{upmac}', dst='{d0mac}')/IP(src='192.0.2.1', dst='{{}}')"
               "/TCP(sport=40000, dport={}, flags='{}')")
    frames = " + ".join(f"[{inbound.format(dst, port, flags)}] * 2" for dst, port, flags in (
        ("203.0.113.10", 7505, "S"),      # new: rejected (first: the kernel sends
                                          # upstream at most 6 ICMP errors at once)
        ("192.0.2.2", 8080, "S"),         # the forward: to the guest's port 80
        ("203.0.113.10", 7501, "R"),      # invalid: no connection
        ("203.0.113.10", 7502, "F"),
        ("203.0.113.10", 7503, "SA"),
        ("203.0.113.10", 7504, "A")))     # new (conntrack takes it up midstream)
    got = capture(topo, {"g5": (g5, "eth0", "tcp and src host 192.0.2.1"),
                         "up": (topo.up, "up0", "icmp[icmptype] == 3")},
                  topo.up, frames, iface="up0")
    assert [p[TCP].dport for p in got["g5"]] == [80, 80], [p.summary() for p in got["g5"]]
    assert 7505 in [p[TCPerror].dport for p in got["up"] if TCPerror in p], \
        [p.summary() for p in got["up"]]
    gwmac, m5 = mac_of(topo, topo.d0, BR), mac_of(topo, g5)
    outbound = (f"Ether(src='{m5}', dst='{gwmac}')/IP(src='{{}}', dst='192.0.2.1')"
                "/{}(sport=40000, dport={}{})")
    frames = " + ".join(f"[{outbound.format(src, proto, port, extra)}] * 2"
                        for src, proto, port, extra in (
        ("203.0.113.10", "UDP", 7601, ""),               # its own: out, masqueraded
        ("198.51.100.77", "TCP", 7602, ", flags='R'"),   # foreign, invalid: never out
        ("198.51.100.77", "TCP", 7603, ", flags='F'"),
        ("198.51.100.77", "TCP", 7604, ", flags='SA'"),
        ("203.0.113.10", "TCP", 7605, ", flags='R'"),    # its own, invalid: never out
        ("203.0.113.10", "TCP", 7606, ", flags='SA'")))
    got = capture(topo, {"lan": (topo.up, "up0", "dst portrange 7601-7606")}, g5, frames)
    assert [p[IP].payload.dport for p in got["lan"]] == [7601, 7601], \
        [p.summary() for p in got["lan"]]
    assert all(p[IP].src == "192.0.2.2" for p in got["lan"])


def kernel_has_flowtable(topo):
    probe = ("add table ip ftprobe; "
             "add flowtable ip ftprobe f { hook ingress priority 0; devices = { lo }; }")
    return topo.run(topo.d0, f"nft -c '{probe}'", check=False).returncode == 0


def test_flowtable_on_where_the_kernel_has_one_refused_where_not(topo, netd_factory, servers):
    """flowtable = yes: where the kernel has nf_flow_table, the table holds a
    flowtable on the bridge and the uplink and guests' connections still
    work through it; where it has none (this sandbox's kernel), netd refuses
    the network with a message naming the missing kernel part, and nothing
    on the host changes."""
    g5 = nat_guest(topo, 5)
    conf = nat_conf() + "flowtable = yes\n"
    if kernel_has_flowtable(topo):
        start_nat(topo, netd_factory, conf, guests=(5,))
        ft = nft(topo, f"list flowtable ip {TABLE} ft").stdout
        assert f'devices = {{ {BR}, eth0 }}' in ft or f'devices = {{ eth0, {BR} }}' in ft, ft
        assert "flow add @ft" in nft(topo, f"list chain ip {TABLE} forward").stdout
        servers(topo.up, "up")
        for _ in range(3):
            assert connect(topo, g5, "192.0.2.1", 80) == "up 192.0.2.2"
        return
    refused_at_start(topo, netd_factory, conf,
                     f"{BR}: flowtable = yes, but this kernel has no nftables flowtable "
                     "(CONFIG_NF_FLOW_TABLE and CONFIG_NF_FLOW_TABLE_INET); set flowtable = no")
