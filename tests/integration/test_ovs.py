"""ovs mode: netd plugs vifs into an Open vSwitch bridge over OVSDB.

Each test runs its own ovsdb-server and ovs-vswitchd (userspace datapath:
this kernel has no openvswitch module) in the topology's dom0 namespace,
with run/db/log directories of its own, stopped by PID (ovs_util.py). vifs
are conftest's veth stand-ins; the hotplug tests drive them through the
simulated xenstored and our vif-openvswitch drop-in, or netd's no-fork
watch. What is checked is what a user sees: OVSDB rows (ovs-vsctl),
OpenFlow rules (ovs-ofctl) and packets between guest namespaces (ping,
scapy)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BE, HVSIM, NETDCTL, ROOT, Netd, Xsd, sh, tcp_transfer, terminate, wait_for
from ovs_util import Ovs, OvnCentral, have_ovn, have_ovs, start_ovn_controller, tx_csum_off

pytestmark = pytest.mark.skipif(not have_ovs(), reason="Open vSwitch not installed (make deps)")

SCRIPTS = os.path.join(ROOT, "scripts")
BR = "ovsbr"


def uuid_of(domid):
    return f"00000000-0000-4000-8000-{domid:012x}"


@pytest.fixture
def ovs(topo):
    d = tempfile.mkdtemp(prefix="ovs", dir="/tmp")
    o = Ovs(topo.d0, d)
    try:
        yield o
    finally:
        o.stop()
        shutil.rmtree(d, ignore_errors=True)


def ovs_conf(ovs, extra=""):
    return f"[{BR}]\nmode = ovs\novsdb = {ovs.db}\ndatapath_type = netdev\n{extra}"


@pytest.fixture
def netd(netd_factory, ovs):
    n = netd_factory(ovs_conf(ovs))
    n.start()
    return n


def guest(topo, domid, addr, mac):
    g = topo.add_guest(domid, addr)
    topo.ip(g, f"link set eth0 address {mac}")
    return g


def plugged_guest(topo, netd, d, *keys):
    """Guest d (192.0.2.d, MAC 00:16:3e:00:00:d: the digits of d) plugged
    with those keys, by default into BR untagged."""
    g = guest(topo, d, f"192.0.2.{d}/24", f"00:16:3e:00:00:{d}")
    netd.ctl("vif", "online", f"{d}.0", f"mac=00:16:3e:00:00:{d}", f"ip=192.0.2.{d}",
             *(keys or [f"bridge={BR}"]))
    return g


def iface_ids(ovs, name):
    return ovs.get("Interface", name, "external_ids")


def status_of(netd):
    nets = netd.request({"cmd": "status"})["result"]["networks"]
    return next(n for n in nets if n["name"] == BR)["details"]


# ---- plugging: rows, ids, VLANs --------------------------------------------

def test_up_creates_the_bridge_and_down_removes_it(topo, ovs, netd):
    assert ovs.bridges() == [BR]
    assert ovs.get("Bridge", BR, "datapath_type") == "netdev"
    assert ovs.get("Bridge", BR, "external_ids") == {"netd-net": BR}
    netd.ctl("down", BR)
    assert ovs.bridges() == []


def test_vif_openvswitch_script_plugs_with_ovn_ids_and_vlans(topo, ovs, netd):
    """The drop-in script, as libxl runs it: one Port and Interface with the
    ids OVN binds on, bridge=BR.TAG:TRUNK as vif-openvswitch takes it."""
    guest(topo, 5, "192.0.2.15/24", "00:16:3e:00:00:05")
    xsd = Xsd()
    try:
        env = xsd.env(NETD_SOCKET=netd.sock, NETDCTL=NETDCTL)
        run = lambda *a: subprocess.run(["ip", "netns", "exec", topo.d0, HVSIM, *a], env=env,
                                        capture_output=True, text=True, timeout=30)
        assert run("domain", "add", "5").returncode == 0
        r = run("vif", "add", "5.0", f"script={SCRIPTS}/vif-openvswitch,"
                "mac=00:16:3e:00:00:05,bridge=ovsbr.10:20:30")
        assert r.returncode == 0, r.stdout + r.stderr
        assert xsd.read(f"{BE}/5/0/hotplug-status") == "connected"
        assert ovs.ports(BR) == ["vif5.0"]
        assert iface_ids(ovs, "vif5.0") == {
            "iface-id": f"xen-{uuid_of(5)}-0", "attached-mac": "00:16:3e:00:00:05",
            "vm-id": uuid_of(5), "xen-vm-name": "hvsim-dom5", "iface-status": "active",
            "netd-net": BR}
        assert ovs.get("Port", "vif5.0", "tag") == 10
        assert ovs.get("Port", "vif5.0", "trunks") == [20, 30]
        assert ovs.get("Port", "vif5.0", "vlan_mode") == "native-untagged"
        assert "UP" in topo.link(topo.d0, "vif5.0")["flags"]

        # the toolstack's own iface-id wins over the template
        guest(topo, 6, "192.0.2.16/24", "00:16:3e:00:00:06")
        assert run("domain", "add", "6").returncode == 0
        r = run("vif", "add", "6.0", f"script={SCRIPTS}/vif-openvswitch,"
                "mac=00:16:3e:00:00:06,bridge=ovsbr,iface-id=lsp-web-1")
        assert r.returncode == 0, r.stdout + r.stderr
        assert iface_ids(ovs, "vif6.0")["iface-id"] == "lsp-web-1"
        assert ovs.get("Port", "vif6.0", "tag") == []

        assert run("vif", "del", "5.0").returncode == 0
        assert ovs.ports(BR) == ["vif6.0"]
        assert ovs.all_ports() == sorted([BR, "vif6.0"])
    finally:
        xsd.close()


def test_iface_id_template_and_xl_vlan(topo, ovs, netd_factory):
    n = netd_factory(ovs_conf(ovs, "iface_id = vm{domid}-nic{devid}\n"))
    n.start()
    guest(topo, 7, "192.0.2.17/24", "00:16:3e:00:00:07")
    n.ctl("vif", "online", "7.0", "mac=00:16:3e:00:00:07", f"bridge={BR}", "vlan=10p/20-21")
    assert iface_ids(ovs, "vif7.0")["iface-id"] == "vm7-nic0"
    assert ovs.get("Port", "vif7.0", "tag") == 10
    assert ovs.get("Port", "vif7.0", "trunks") == [20, 21]
    # an OVS port has one untagged VLAN: a second is refused, nothing left
    guest(topo, 8, "192.0.2.18/24", "00:16:3e:00:00:08")
    r = n.ctl("vif", "online", "8.0", f"bridge={BR}", "vlan=10p/20u", check=False)
    assert r.returncode == 1 and "one untagged VLAN" in r.stderr
    assert ovs.ports(BR) == ["vif7.0"]


def dom0_ipv6_on(topo, dev):
    """Dom0's own IPv6 on dev: its addresses and the routes (every table)
    there on its account."""
    addrs = [a["local"] for lk in json.loads(topo.ip(topo.d0, f"-j -6 addr show dev {dev}").stdout)
             for a in lk.get("addr_info", [])]
    routes = [f"{r['dst']} table {r.get('table', 'main')}"
              for r in json.loads(topo.ip(topo.d0, "-j -6 route show table all").stdout)
              if r.get("dev") == dev]
    return addrs + routes


def test_port_has_no_ipv6_of_dom0_and_guests_ipv6_crosses(topo, ovs, netd):
    """An OVS port is only a switch port: Dom0 gets no link-local address or
    fe80::/64 route on it (with the userspace datapath Dom0's stack sees the
    port's frames too); the guests' IPv6 still crosses the switch. Unplugged,
    the vif has IPv6 again."""
    gs = []
    for d in (11, 12):
        g = guest(topo, d, f"192.0.2.{d}/24", f"00:16:3e:00:00:{d}")
        topo.ip(g, f"addr add 2001:db8::{d}/64 dev eth0 nodad")
        netd.ctl("vif", "online", f"{d}.0", f"mac=00:16:3e:00:00:{d}",
                 f"ip=192.0.2.{d} 2001:db8::{d}", f"bridge={BR}")
        topo.wait_carrier(g, "eth0")
        gs.append(g)
    g1 = gs[0]
    assert topo.ping(g1, "2001:db8::12", timeout=5)
    assert dom0_ipv6_on(topo, "vif11.0") == []
    assert dom0_ipv6_on(topo, "vif12.0") == []
    netd.ctl("vif", "offline", "11.0")
    r = topo.run(topo.d0, "sysctl -n net.ipv6.conf.vif11/0.disable_ipv6")
    assert r.stdout.strip() == "0"


def v6_sysctl(topo, dev):
    return topo.run(topo.d0, f"sysctl -n net.ipv6.conf.{dev.replace('.', '/')}.disable_ipv6") \
        .stdout.strip()


def test_adopted_port_gets_ipv6_off_and_down_gives_it_back(topo, ovs, netd_factory):
    """A port the previous netd plugged with Dom0's IPv6 on (a netd before
    it was turned off on ports) has it off once the next netd adopts it;
    `down`, which takes the vif out of the switch, gives it back, as `vif
    offline` does."""
    n = netd_factory(ovs_conf(ovs))
    n.start()
    plugged_guest(topo, n, 21)
    assert v6_sysctl(topo, "vif21.0") == "1"
    topo.run(topo.d0, "sysctl -qw net.ipv6.conf.vif21/0.disable_ipv6=0")
    wait_for(lambda: dom0_ipv6_on(topo, "vif21.0"), what="vif21.0's own link-local address")
    n.stop(signal.SIGKILL)
    n.start()
    assert ovs.ports(BR) == ["vif21.0"]
    assert v6_sysctl(topo, "vif21.0") == "1"
    assert dom0_ipv6_on(topo, "vif21.0") == []
    n.ctl("down", BR)
    assert v6_sysctl(topo, "vif21.0") == "0"


def test_failed_plug_gives_the_vif_its_ipv6_back(topo, ovs, netd_factory):
    """A plug that fails once the port is there (its rules refused) takes
    the port away and leaves the vif's IPv6 as it found it (the namespace's
    default), so that it can serve elsewhere, in a route network say."""
    n = netd_factory(ovs_conf(ovs))
    n.start(env={"NETD_FAULT": "vif-antispoof"})
    guest(topo, 22, "192.0.2.22/24", "00:16:3e:00:00:22")
    r = n.ctl("vif", "online", "22.0", "mac=00:16:3e:00:00:22", "ip=192.0.2.22",
              f"bridge={BR}", check=False)
    assert r.returncode != 0
    assert ovs.ports(BR) == []
    assert v6_sysctl(topo, "vif22.0") == "0"


def test_offline_whose_ipv6_cannot_be_given_back_still_unplugs(topo, ovs, netd_factory):
    """A vif whose port and rules are gone but whose Dom0 IPv6 cannot then
    be given back (NETD_FAULT=vif-ipv6-restore) is unplugged all the same,
    logged: its `vif offline` succeeds, the vif no longer listed, and it
    can be plugged again. Before, the offline failed with the port gone."""
    n = netd_factory(ovs_conf(ovs))
    n.start(env={"NETD_FAULT": "vif-ipv6-restore"})
    plugged_guest(topo, n, 23)
    r = n.ctl("vif", "offline", "23.0", check=False)
    assert r.returncode == 0, r.stderr
    assert ovs.ports(BR) == []
    assert "in_port" not in ovs.ofctl("dump-flows", BR, "cookie=0/0")
    assert "vif23.0" not in n.ctl("vif", "list").stdout
    assert ("vif23.0: cannot give Dom0's IPv6 back to it: fault injected at step "
            "'vif-ipv6-restore' (unplugged all the same)") in n.read_log()
    n.ctl("vif", "online", "23.0", "mac=00:16:3e:00:00:23", "ip=192.0.2.23", f"bridge={BR}")
    assert ovs.ports(BR) == ["vif23.0"]


def test_hvm_pair_one_active(topo, ovs, netd):
    """vifD.N and its emulated NIC's tap share the iface-id; the PV vif is
    the active one once plugged, the tap again when the PV vif goes."""
    for name in ("vif9.0", "vif9.0-emu"):
        topo.ip(topo.d0, f"link add {name} type veth peer name p{name[3:6]}{len(name)}")
    netd.ctl("vif", "online", "9.0-emu", "mac=00:16:3e:00:00:09", f"bridge={BR}")
    assert iface_ids(ovs, "vif9.0-emu")["iface-status"] == "active"
    netd.ctl("vif", "online", "9.0", "mac=00:16:3e:00:00:09", f"bridge={BR}")
    assert iface_ids(ovs, "vif9.0")["iface-status"] == "active"
    assert iface_ids(ovs, "vif9.0-emu")["iface-status"] == "inactive"
    assert iface_ids(ovs, "vif9.0")["iface-id"] == iface_ids(ovs, "vif9.0-emu")["iface-id"]
    netd.ctl("vif", "offline", "9.0")
    assert iface_ids(ovs, "vif9.0-emu")["iface-status"] == "active"
    assert ovs.ports(BR) == ["vif9.0-emu"]


def test_no_fork_watch_plugs_into_ovs(topo, ovs, netd_factory):
    xsd = Xsd()
    try:
        n = netd_factory(ovs_conf(ovs))
        n.write_conf(ovs_conf(ovs), netd_section="xenstore_watch = yes\n")
        n.start(env={"XENSTORED_PATH": xsd.sock})
        guest(topo, 11, "192.0.2.21/24", "00:16:3e:00:00:0b")
        xsd.hvsim("domain", "add", "11")
        xsd.hvsim("vif", "add", "-n", "11.0", "mac=00:16:3e:00:00:0b,bridge=ovsbr.10")
        wait_for(lambda: xsd.read(f"{BE}/11/0/hotplug-status") == "connected", 10,
                 what="netd to plug vif11.0")
        assert ovs.ports(BR) == ["vif11.0"]
        assert ovs.get("Port", "vif11.0", "tag") == 10
        assert iface_ids(ovs, "vif11.0")["vm-id"] == uuid_of(11)
        xsd.hvsim("vif", "del", "-n", "11.0")
        wait_for(lambda: ovs.ports(BR) == [], 10, what="netd to unplug vif11.0")
    finally:
        xsd.close()


def test_bad_values_are_refused_and_nothing_is_added(topo, ovs, netd):
    guest(topo, 12, "192.0.2.22/24", "00:16:3e:00:00:0c")
    for args, why in ((["bridge=ovsbr.4096"], "VLANs 0..4095"),
                      (["bridge=ovsbr:1:x"], "expected .TAG"),
                      (["bridge=ovsbr", "iface-id=a b"], "iface-id"),
                      (["bridge=ovsbr", "vm-uuid=not-a-uuid"], "vm-uuid"),
                      (["bridge=nosuch.10"], "unknown bridge")):
        r = netd.ctl("vif", "online", "12.0", *args, check=False)
        assert r.returncode == 1 and why in r.stderr, (args, r.stderr)
    # a port of the same name that is not netd's is never taken over
    ovs.vsctl("add-port", BR, "vif12.0")
    r = netd.ctl("vif", "online", "12.0", f"bridge={BR}", check=False)
    assert r.returncode == 1 and "not netd's" in r.stderr
    assert ovs.get("Interface", "vif12.0", "external_ids") == {}
    assert netd.alive()


# ---- packets ----------------------------------------------------------------

def test_vlan_tags_are_honoured(topo, ovs, netd):
    """Guests on tag 10 reach each other; the one on tag 20 sees neither."""
    g = {d: guest(topo, d, f"192.0.2.{30 + d}/24", f"00:16:3e:00:00:{d:02x}") for d in (1, 2, 3)}
    for d, tag in ((1, 10), (2, 10), (3, 20)):
        netd.ctl("vif", "online", f"{d}.0", f"mac=00:16:3e:00:00:{d:02x}",
                 f"ip=192.0.2.{30 + d}", f"bridge={BR}.{tag}")
    assert topo.ping(g[1], "192.0.2.32", count=2)
    assert not topo.ping(g[1], "192.0.2.33", count=2, timeout=1)
    assert not topo.ping(g[3], "192.0.2.31", count=2, timeout=1)


SNIFF = """
import sys
from scapy.all import AsyncSniffer, conf
conf.verb = 0
sn = AsyncSniffer(iface="eth0", filter="arp or (udp and port 7777)", store=True,
                  started_callback=lambda: print("ready", flush=True))
sn.start()
sys.stdin.readline()
sn.stop()
for p in sn.results:
    if p.haslayer("ARP"):
        print("arp", p["ARP"].psrc, p["ARP"].hwsrc)
    elif p.haslayer("Raw"):
        print("udp", p["Raw"].load.decode())
"""

SEND = """
from scapy.all import Ether, IP, UDP, ARP, sendp, conf
conf.verb = 0
mac, ip, dst = "00:16:3e:00:00:41", "192.0.2.41", "192.0.2.42"
frames = [
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src=ip, dst=dst) / UDP(sport=7777, dport=7777) / b"good",
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="192.0.2.99", dst=dst) / UDP(sport=7777, dport=7777) / b"forged-ip",
    Ether(src="00:16:3e:00:00:99", dst="ff:ff:ff:ff:ff:ff") / IP(src=ip, dst=dst) / UDP(sport=7777, dport=7777) / b"forged-mac",
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=mac, psrc=ip, pdst=dst),
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=mac, psrc="192.0.2.42", pdst=dst),
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src=ip, dst=dst) / UDP(sport=7777, dport=7777) / b"good2",
]
sendp(frames, iface="eth0")
"""


def sniffed_while(topo, rx, send):
    p = subprocess.Popen(["ip", "netns", "exec", rx, "/usr/bin/python3", "-c", SNIFF],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        send()
        time.sleep(0.5)
        out, _ = p.communicate("stop\n", timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return out.split("\n")


def test_antispoof_rules_drop_forged_frames(topo, ovs, netd):
    tx, rx = plugged_guest(topo, netd, 41), plugged_guest(topo, netd, 42)
    assert "openflow" == status_of(netd)["antispoof"]
    lines = sniffed_while(topo, rx, lambda: topo.python(tx, SEND))
    assert "udp good" in lines and "udp good2" in lines
    assert "udp forged-ip" not in lines and "udp forged-mac" not in lines
    assert "arp 192.0.2.41 00:16:3e:00:00:41" in lines
    assert not any(l.startswith("arp 192.0.2.42") for l in lines)
    assert topo.ping(tx, "192.0.2.42")
    # the rules are the vif's alone and go with it
    assert "cookie=0x4e44000000290000" in ovs.ofctl("dump-flows", BR)
    netd.ctl("vif", "offline", "41.0")
    assert "cookie=0x4e44000000290000" not in ovs.ofctl("dump-flows", BR)
    assert "cookie=0x4e440000002a0000" in ovs.ofctl("dump-flows", BR)


def test_without_antispoof_forged_frames_pass(topo, ovs, netd_factory):
    """The same frames, anti-spoofing off: the drops above are the rules'."""
    n = netd_factory(ovs_conf(ovs, "antispoof = no\n"))
    n.start()
    tx, rx = plugged_guest(topo, n, 41), plugged_guest(topo, n, 42)
    lines = sniffed_while(topo, rx, lambda: topo.python(tx, SEND))
    assert "udp forged-ip" in lines and "udp forged-mac" in lines


SNIFF_VLAN = """
import sys
from scapy.all import AsyncSniffer, Dot1Q, conf
conf.verb = 0
# No `vlan` in the filter: the kernel hands the tag beside the frame (the
# filter sees the inner frame) and scapy puts it back.
sn = AsyncSniffer(iface="eth0", filter="udp and port 7777", store=True,
                  started_callback=lambda: print("ready", flush=True))
sn.start()
sys.stdin.readline()
sn.stop()
for p in sn.results:
    if p.haslayer("Raw"):
        print(p["Raw"].load.decode(), p[Dot1Q].vlan if p.haslayer(Dot1Q) else "untagged")
"""

SEND_VLAN = """
from scapy.all import Dot1Q, Ether, IP, UDP, sendp, conf
conf.verb = 0
mac, ip = "00:16:3e:00:00:41", "192.0.2.41"
def f(load, vlans=(), src=ip):
    e = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
    for v in vlans:
        e = e / Dot1Q(vlan=v)
    return e / IP(src=src, dst="192.0.2.255") / UDP(sport=7777, dport=7777) / load.encode()
sendp([f("plain"), f("tagged-42", [42]), f("forged-42", [42], "192.0.2.99"), f("tagged-43", [43]),
       f("prio-0", [0]), f("qinq-42-43", [42, 43]), f("plain2")], iface="eth0")
"""


def sniffed_on_while(topo, rxs, send):
    """What each guest in rxs saw of SEND_VLAN's frames: (load, VLAN)."""
    ps = [subprocess.Popen(["ip", "netns", "exec", rx, "/usr/bin/python3", "-c", SNIFF_VLAN],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
          for rx in rxs]
    try:
        for p in ps:
            assert p.stdout.readline().strip() == "ready"
        send()
        time.sleep(0.5)
        outs = [p.communicate("stop\n", timeout=20)[0] for p in ps]
    finally:
        for p in ps:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [sorted(tuple(l.split()) for l in o.splitlines() if l.strip()) for o in outs]


def test_antispoof_tagged_frames_from_an_untrunked_port_go_nowhere(topo, ovs, netd):
    """An OVS port without tag or trunks trunks every VLAN, and OpenFlow's
    `ip` matches the type inside an 802.1Q tag: a guest's frame tagged 42
    from its own MAC and address must still not reach VLAN 42's guest, nor
    the untagged guest (to whom NORMAL would hand it tagged). Nor a
    priority-tagged (VLAN 0) or double-tagged one."""
    tx, rx = plugged_guest(topo, netd, 41), plugged_guest(topo, netd, 42)
    rx42 = plugged_guest(topo, netd, 43, f"bridge={BR}.42")
    seen, seen42 = sniffed_on_while(topo, [rx, rx42], lambda: topo.python(tx, SEND_VLAN))
    assert seen == [("plain", "untagged"), ("plain2", "untagged")], seen
    assert seen42 == [], seen42
    assert topo.ping(tx, "192.0.2.42")


@pytest.mark.parametrize("vlans", [[f"bridge={BR}.10:42"], [f"bridge={BR}", "vlan=10p/42"]],
                         ids=["bridge", "xl-vlan"])
def test_antispoof_tagged_frames_from_a_trunk_port_only_on_its_trunks(topo, ovs, netd, vlans):
    """A port with trunks (bridge=BR.TAG:TRUNK, or xl's vlan= with tagged
    VLANs) may send tagged frames on those VLANs, from its own MAC and
    address only; untagged ones are its tag's; other VLANs, VLAN 0 and
    double tags stay closed."""
    tx = plugged_guest(topo, netd, 41, *vlans)
    rx10, rx42, rx43 = (plugged_guest(topo, netd, d, f"bridge={BR}.{tag}")
                        for d, tag in ((42, 10), (43, 42), (44, 43)))
    s10, s42, s43 = sniffed_on_while(topo, [rx10, rx42, rx43],
                                     lambda: topo.python(tx, SEND_VLAN))
    assert s10 == [("plain", "untagged"), ("plain2", "untagged")], s10
    assert s42 == [("tagged-42", "untagged")], s42
    assert s43 == [], s43


# ---- crash and restore ------------------------------------------------------

def test_kill9_restart_keeps_one_port_each_and_sweeps_strays(topo, ovs, netd):
    for d in (51, 52):
        guest(topo, d, f"192.0.2.{d}/24", f"00:16:3e:00:00:{d:02x}")
        netd.ctl("vif", "online", f"{d}.0", f"mac=00:16:3e:00:00:{d:02x}", f"bridge={BR}")
    g = topo.guests[51]
    assert topo.ping(g, "192.0.2.52")

    def stray():
        # a plug a crash cut short: in OVSDB, marked netd's, in no record
        topo.ip(topo.d0, "link add vif53.0 type veth peer name p53")
        ovs.vsctl("add-port", BR, "vif53.0", "--", "set", "Interface", "vif53.0",
                  f"external_ids:netd-net={BR}", "--", "set", "Port", "vif53.0",
                  f"external_ids:netd-net={BR}")
        # with Dom0's IPv6 off, as the plug left it before the port went in
        topo.run(topo.d0, "sysctl -qw net.ipv6.conf.vif53/0.disable_ipv6=1")

    out = netd.kill9_restart_under_ping(g, "192.0.2.52", between=stray)
    assert " 0% packet loss" in out or " 0.0% packet loss" in out, out
    assert ovs.ports(BR) == ["vif51.0", "vif52.0"]
    assert ovs.all_ports() == sorted([BR, "vif51.0", "vif52.0"])
    # swept as `vif offline` would leave it: IPv6 back
    assert v6_sysctl(topo, "vif53.0") == "0"
    assert "adopted OVS bridge" in netd.read_log()
    # the restarted netd still unplugs what the first one plugged
    netd.ctl("vif", "offline", "52.0")
    assert ovs.ports(BR) == ["vif51.0"]


@pytest.mark.parametrize("found", ["remembered", "marked"])
def test_a_vif_another_network_holds_found_on_the_ovs_bridge_is_left_alone(
        topo, ovs, netd_factory, found):
    """Two networks, a Linux bridge one and an ovs one. vif1.0, plugged into
    the bridge network, is found on the OVS bridge when netd restarts (moved
    there by hand while no netd ran): as a port of the operator's that the
    ovs network's record, older than the host, still names ("remembered";
    it was plugged there with mtu=1400 before), or as a port marked the ovs
    network's that its record does not name ("marked", as a plug cut short
    leaves one). The vif is the bridge network's: its MTU, Dom0's IPv6 on it
    and its bridge stay as that network set them, logged; the ovs network
    forgets it (an unplug and a plug again go to the bridge network). Before, the ovs
    network's adoption plugged it again (its MTU 1400) before OVSDB refused
    the operator's port, or swept the marked port and gave the vif Dom0's
    IPv6 back."""
    from conftest import bridge_conf
    n = netd_factory(bridge_conf() + ovs_conf(ovs))
    topo.add_guest(1)
    n.start()
    older = {}
    if found == "remembered":
        n.ctl("vif", "online", "1.0", f"bridge={BR}", "mtu=1400")
        for ext in ("json", "vifs"):
            path = os.path.join(n.state, f"{BR}.{ext}")
            if os.path.exists(path):
                older[path] = open(path).read()
        n.ctl("vif", "offline", "1.0")
    n.ctl("vif", "online", "1.0", "bridge=xenbr0")
    before = topo.link(topo.d0, "vif1.0")
    assert before["master"] == "xenbr0" and before["mtu"] == 1500
    assert v6_sysctl(topo, "vif1.0") == "1"
    n.stop(signal.SIGKILL)
    for path, text in older.items():
        with open(path, "w") as f:
            f.write(text)
    if found == "remembered":
        ovs.vsctl("add-port", BR, "vif1.0")
    else:
        ovs.vsctl("add-port", BR, "vif1.0", "--", "set", "Interface", "vif1.0",
                  f"external_ids:netd-net={BR}", "--", "set", "Port", "vif1.0",
                  f"external_ids:netd-net={BR}")
    n.start()
    log = n.read_log()
    after = topo.link(topo.d0, "vif1.0")
    assert (after["master"], after["mtu"], "UP" in after["flags"]) == ("xenbr0", 1500, True), log
    assert v6_sysctl(topo, "vif1.0") == "1", log
    assert f"vif1.0 is network xenbr0's" in log, log
    # the operator's port stays theirs; one marked netd's that no record
    # names goes, as any such
    assert ovs.ports(BR) == (["vif1.0"] if found == "remembered" else []), log
    # listed once, the bridge network's: the ovs network forgot it (held
    # in both, its unplug from xenbr0 left the ovs network's ghost, and
    # the plug back into xenbr0 was refused, "online already in ovsbr")
    assert [(v["vif"], v["network"])
            for v in n.request({"cmd": "vif-list"})["result"]["vifs"]] == [("1.0", "xenbr0")]
    n.ctl("vif", "offline", "1.0")
    n.ctl("vif", "online", "1.0", "bridge=xenbr0")
    assert topo.link(topo.d0, "vif1.0")["master"] == "xenbr0"
    assert n.stop() == 0, n.read_log()


def test_down_removes_exactly_what_netd_added(topo, ovs, netd_factory):
    """On a bridge someone else made, with their own port and flows: down
    takes netd's ports and rules, and leaves theirs."""
    topo.ip(topo.d0, "link add theirs type veth peer name ptheirs")
    ovs.vsctl("add-br", BR, "--", "set", "Bridge", BR, "datapath_type=netdev",
              "--", "add-port", BR, "theirs")
    before_flows = ovs.ofctl("dump-flows", BR, "--no-stats")
    n = netd_factory(ovs_conf(ovs))
    n.start()
    guest(topo, 61, "192.0.2.61/24", "00:16:3e:00:00:3d")
    n.ctl("vif", "online", "61.0", "mac=00:16:3e:00:00:3d", "ip=192.0.2.61", f"bridge={BR}")
    assert ovs.ports(BR) == ["theirs", "vif61.0"]
    assert status_of(n)["created"] is False
    n.ctl("down")
    assert ovs.bridges() == [BR]
    assert ovs.ports(BR) == ["theirs"]
    assert ovs.get("Bridge", BR, "external_ids") == {}
    assert ovs.ofctl("dump-flows", BR, "--no-stats") == before_flows


@pytest.mark.parametrize("damage", ["del-br", "del-port"])
def test_up_again_repairs_a_bridge_or_port_deleted_by_hand(topo, ovs, netd, damage):
    """`ovs-vsctl del-br` (or `del-port` of a guest's vif) behind netd's
    back, then `netdctl up ovsbr`: the bridge and both guests' ports are
    there again, marked netd's, with their anti-spoofing rules, and the
    guests reach each other; `down` then removes all of it. Before, the up
    returned 0 and changed nothing: the guests stayed cut off. An up with
    nothing damaged touches nothing. A port deleted from a bridge that is
    there is the only one plugged again: the bridge and the other guest's
    port are the same rows as before (before, every port and the bridge
    were removed and made again, each vif waiting for OVN anew)."""
    tx, rx = plugged_guest(topo, netd, 71), plugged_guest(topo, netd, 72)
    netd.ctl("up", BR)
    assert "restoring the host" not in netd.read_log()
    rows = (ovs.get("Bridge", BR, "_uuid"), ovs.get("Port", "vif72.0", "_uuid"))
    if damage == "del-br":
        ovs.vsctl("del-br", BR)
        what = f"OVS bridge {BR} is gone; restoring the host and applying it again"
    else:
        ovs.vsctl("del-port", BR, "vif71.0")
        what = (f"vif71.0 is no longer a port of OVS bridge {BR}; plugging the vifs whose "
                "ports are gone again")
    netd.ctl("up", BR)
    log = netd.read_log()
    assert ovs.bridges() == [BR]
    assert ovs.get("Bridge", BR, "external_ids") == {"netd-net": BR}
    assert ovs.ports(BR) == ["vif71.0", "vif72.0"], log
    if damage == "del-port":
        assert (ovs.get("Bridge", BR, "_uuid"), ovs.get("Port", "vif72.0", "_uuid")) == rows
        assert "restoring the host" not in log, log
    assert f"{BR}: {what}" in log, log
    assert iface_ids(ovs, "vif71.0")["attached-mac"] == "00:16:3e:00:00:71"
    flows = ovs.ofctl("dump-flows", BR)
    assert "cookie=0x4e44000000470000" in flows and "cookie=0x4e44000000480000" in flows
    netd_status = netd.request({"cmd": "status"})["result"]["networks"][0]
    assert netd_status["state"] == "up" and sorted(netd_status["vifs"]) == ["vif71.0", "vif72.0"]
    assert topo.ping(tx, "192.0.2.72")
    netd.ctl("down", BR)
    assert ovs.bridges() == []


@pytest.mark.parametrize("table,column,value", [
    ("Interface", "external_ids:iface-id", "someone-else"),
    ("Interface", "external_ids:attached-mac", "00:16:3e:00:00:99"),
    ("Port", "tag", "5"),
], ids=["iface-id", "attached-mac", "tag"])
def test_up_again_replugs_a_port_changed_by_hand(topo, ovs, netd, table, column, value):
    """`ovs-vsctl set` on a guest's port behind netd's back (its iface-id,
    which binds it to another logical port; its attached-mac; a VLAN tag
    that cuts it off), then `netdctl up ovsbr`: that vif is plugged again
    as its keys say, the guests reach each other, and the other guest's
    port is the same row as before. Before, the port was marked the
    network's, so the repair saw nothing wrong and left it as changed."""
    tx, rx = plugged_guest(topo, netd, 71), plugged_guest(topo, netd, 72)
    ids = iface_ids(ovs, "vif71.0")
    other = ovs.get("Port", "vif72.0", "_uuid")
    ovs.vsctl("set", table, "vif71.0", f"{column}={value}")
    netd.ctl("up", BR)
    log = netd.read_log()
    what = column.split(":")[-1]
    assert (f"{BR}: vif71.0's port on OVS bridge {BR} has another {what} than netd gave it; "
            "plugging the vifs whose ports are gone again") in log, log
    assert iface_ids(ovs, "vif71.0") == ids
    assert ovs.get("Port", "vif71.0", "tag") == []
    assert ovs.get("Port", "vif72.0", "_uuid") == other
    assert "cookie=0x4e44000000470000" in ovs.ofctl("dump-flows", BR)
    assert topo.ping(tx, "192.0.2.72")


def test_up_again_leaves_ports_with_vlans_as_they_are(topo, ovs, netd):
    """Ports as netd made them, with a tag, trunks and vlan_mode (bridge=
    BR.TAG:TRUNK; xl's vlan= with a PVID and tagged VLANs), then `up`:
    nothing is plugged again, the rows are the same."""
    plugged_guest(topo, netd, 41, f"bridge={BR}.10:42")
    plugged_guest(topo, netd, 42, f"bridge={BR}", "vlan=10p/20-21")
    rows = [ovs.get("Port", f"vif{d}.0", "_uuid") for d in (41, 42)]
    netd.ctl("up", BR)
    log = netd.read_log()
    assert "plugging the vifs" not in log and "restoring the host" not in log, log
    assert [ovs.get("Port", f"vif{d}.0", "_uuid") for d in (41, 42)] == rows


def test_up_again_on_a_bridge_netd_did_not_make_keeps_the_healthy_ports(topo, ovs, netd_factory):
    """On a bridge someone else made (their own port on it), a guest's port
    deleted by hand, then `up`: only that vif is plugged again; the other
    guest's port is the same row with its OpenFlow rules all along, and
    their port stays. (Checks the claim that such a repair removed every
    netd port and left their rules until the re-plug: not so since the
    repair re-plugs only what is gone.)"""
    topo.ip(topo.d0, "link add theirs type veth peer name ptheirs")
    ovs.vsctl("add-br", BR, "--", "set", "Bridge", BR, "datapath_type=netdev",
              "--", "add-port", BR, "theirs")
    n = netd_factory(ovs_conf(ovs))
    n.start()
    tx, rx = plugged_guest(topo, n, 71), plugged_guest(topo, n, 72)
    other = ovs.get("Port", "vif72.0", "_uuid")
    rules72 = [l for l in ovs.ofctl("dump-flows", BR, "--no-stats").splitlines()
               if "cookie=0x4e44000000480000" in l]
    assert rules72
    ovs.vsctl("del-port", BR, "vif71.0")
    n.ctl("up", BR)
    log = n.read_log()
    assert "restoring the host" not in log, log
    assert ovs.ports(BR) == ["theirs", "vif71.0", "vif72.0"]
    assert ovs.get("Port", "vif72.0", "_uuid") == other
    assert [l for l in ovs.ofctl("dump-flows", BR, "--no-stats").splitlines()
            if "cookie=0x4e44000000480000" in l] == rules72
    assert topo.ping(tx, "192.0.2.72")


@pytest.mark.parametrize("how", ["up", "restart"])
def test_a_bridge_netd_did_not_make_deleted_is_not_made_again(topo, ovs, netd_factory, how):
    """A bridge someone else made (datapath_type and an other_config of
    theirs), deleted by hand (`ovs-vsctl del-br`), then `up` (or netd
    killed, the bridge deleted, netd started again): netd does not make
    it again, since it would make it with its own settings, not its
    owner's, and says so: the up fails (the network `failed`, its vifs
    kept), the start fails (the state file kept). Once its owner has made
    it again, `up` (the start) plugs the vifs into it again, their rules
    with them, the bridge as its owner made it, and `down` takes netd's
    ports and leaves the bridge. Before, netd made it again with the
    config's datapath_type and none of its owner's settings."""
    def make_theirs():
        ovs.vsctl("add-br", BR, "--", "set", "Bridge", BR, "datapath_type=netdev",
                  "other_config:forward-bpdu=true")
    make_theirs()
    n = netd_factory(ovs_conf(ovs))
    n.start()
    tx, rx = plugged_guest(topo, n, 71), plugged_guest(topo, n, 72)
    assert status_of(n)["created"] is False
    why = (f"OVS bridge {BR}, which netd did not create, is gone: not made again, as its "
           f"owner's settings are not netd's to guess; make it again, then `netdctl up {BR}` "
           "(or start netd)")
    if how == "up":
        ovs.vsctl("del-br", BR)
        r = n.ctl("up", BR, check=False)
        assert r.returncode == 1 and why in r.stderr, r.stderr
        st = n.request({"cmd": "status"})["result"]["networks"][0]
        assert st["state"] == "failed", st
        assert ovs.bridges() == [], n.read_log()
        assert sorted(v["vif"] for v in n.request({"cmd": "vif-list"})["result"]["vifs"]) \
            == ["71.0", "72.0"]
        make_theirs()
        n.ctl("up", BR)
    else:
        n.stop(signal.SIGKILL)
        ovs.vsctl("del-br", BR)
        r = n.run_once()
        assert r.returncode == 1 and f"{BR}: {why}" in r.stderr, r.stderr
        assert "the host is not as before" not in r.stderr, r.stderr
        assert ovs.bridges() == []
        assert os.path.exists(os.path.join(n.state, f"{BR}.json"))
        make_theirs()
        n.start()
    log = n.read_log()
    assert ovs.ports(BR) == ["vif71.0", "vif72.0"], log
    flows = ovs.ofctl("dump-flows", BR)
    assert "cookie=0x4e44000000470000" in flows and "cookie=0x4e44000000480000" in flows, flows
    assert ovs.get("Bridge", BR, "external_ids") == {}
    assert ovs.get("Bridge", BR, "other_config") == {"forward-bpdu": "true"}
    assert status_of(n)["created"] is False
    assert topo.ping(tx, "192.0.2.72")
    n.ctl("down", BR)
    assert ovs.bridges() == [BR], n.read_log()
    assert ovs.ports(BR) == []


def test_a_guest_leaving_while_a_bridge_netd_did_not_make_is_gone_is_unplugged(
        topo, ovs, netd_factory):
    """Their bridge deleted by hand, `up` fails (netd does not make it
    again: the network failed, its vifs kept); a guest shut down
    meanwhile: its vif offline succeeds and the vif is no longer listed,
    its rules gone with the bridge, and `down` is clean. Before, the
    offline failed (exit 1) trying to delete the vif's OpenFlow rules
    from the bridge that is gone, and the vif stayed listed."""
    ovs.vsctl("add-br", BR, "--", "set", "Bridge", BR, "datapath_type=netdev")
    n = netd_factory(ovs_conf(ovs))
    n.start()
    plugged_guest(topo, n, 71)
    ovs.vsctl("del-br", BR)
    assert n.ctl("up", BR, check=False).returncode == 1
    r = n.ctl("vif", "offline", "71.0", check=False)
    assert r.returncode == 0, r.stderr
    assert n.request({"cmd": "vif-list"})["result"]["vifs"] == [], n.read_log()
    n.ctl("down", BR)
    assert "ovs-ofctl del-flows" not in n.read_log(), n.read_log()


def test_an_applied_checkpoint_that_fails_takes_the_replugged_vifs_rules_with_it(
        topo, ovs, netd_factory):
    """On a bridge someone else made, a netd killed mid-apply (its record
    `applying`, here written so): the next rolls back, applies again and
    plugs the vif again, port and OpenFlow rules, before the `applied`
    checkpoint, which then fails (NETD_FAULT=txn-applied: a full disk).
    The undo takes netd's port off their bridge, and the vif's rules out
    of its flow table too. Before, the rules stayed in their bridge."""
    ovs.vsctl("add-br", BR, "--", "set", "Bridge", BR, "datapath_type=netdev")
    n = netd_factory(ovs_conf(ovs))
    n.start()
    plugged_guest(topo, n, 71)
    assert "cookie=0x4e44000000470000" in ovs.ofctl("dump-flows", BR)
    n.stop(signal.SIGKILL)
    record = os.path.join(n.state, f"{BR}.json")
    with open(record) as f:
        doc = json.load(f)
    doc["phase"] = "applying"
    with open(record, "w") as f:
        json.dump(doc, f)
    r = n.run_once(env={"NETD_FAULT": "txn-applied"})
    assert r.returncode == 1, r.stderr
    assert f"{BR}: fault injected at step 'txn-applied' (host restored)" in r.stderr, r.stderr
    assert ovs.bridges() == [BR]
    assert ovs.ports(BR) == []
    assert "cookie=0x4e44" not in ovs.ofctl("dump-flows", BR), r.stderr


@pytest.mark.parametrize("crash", [False, True], ids=["failed", "killed"])
def test_failed_ovs_repair_keeps_the_record_to_restore_the_host(topo, ovs, netd_factory, crash):
    """The repair of a bridge deleted by hand fails (or netd is killed) once
    netd's ports are gone and before the setup is applied again: the
    network is `failed` with its state file and vif, so `down` (or the
    next netd, which applies it again, then `down`) leaves no bridge."""
    netd = netd_factory(ovs_conf(ovs),
                        env={"NETD_FAULT": "ovs-repair:crash" if crash else "ovs-repair"})
    netd.start()
    plugged_guest(topo, netd, 73)
    ovs.vsctl("del-br", BR)
    r = netd.ctl("up", BR, check=False)
    assert r.returncode != 0
    if crash:
        netd.crashed()
        netd.start()  # rolls back what the killed repair left, applies it again
        assert ovs.ports(BR) == ["vif73.0"], netd.read_log()
    else:
        why = (f"{BR}: cannot repair the ovs setup; `netdctl down {BR}` restores the host: "
               "fault injected at step 'ovs-repair'")
        assert why in r.stderr, r.stderr
        st = netd.request({"cmd": "status"})["result"]["networks"][0]
        assert (st["state"], st["error"]) == ("failed", why)
        assert ovs.bridges() == []
    assert os.path.exists(os.path.join(netd.state, f"{BR}.json"))
    assert [v["vif"] for v in netd.request({"cmd": "vif-list"})["result"]["vifs"]] == ["73.0"]
    netd.ctl("down", BR)
    assert ovs.bridges() == []
    assert not os.path.exists(os.path.join(netd.state, f"{BR}.json"))


@pytest.mark.parametrize("how", ["up", "start"])
def test_kill9_mid_repair_ends_with_every_vif_plugged(topo, ovs, netd_factory, how):
    """netd killed while it plugs the vifs again into a bridge it made
    again (a repair after `ovs-vsctl del-br`; or a start after the bridge
    was deleted while no netd ran, which rolls back and applies): one vif's
    port there without its rules, the other's not yet. Started again,
    every remembered vif is a port with its anti-spoofing rules and the
    guests reach each other; `down` then leaves no bridge. Before, the
    record said `applied` as soon as the bridge was there, so the next
    netd adopted it as it was: one guest without a port, the other
    without its rules."""
    n = netd_factory(ovs_conf(ovs))
    n.start()
    tx, rx = plugged_guest(topo, n, 71), plugged_guest(topo, n, 72)
    n.stop(signal.SIGKILL)
    crash = {"NETD_FAULT": "vif-antispoof:crash"}
    if how == "up":
        n.start(env=crash)  # adopts: plugs nothing
        ovs.vsctl("del-br", BR)
        assert n.ctl("up", BR, check=False).returncode != 0
    else:
        ovs.vsctl("del-br", BR)
        n.start(env=crash, wait=False)
    n.crashed()
    assert len(ovs.ports(BR)) == 1, n.read_log()  # what the crash left
    n.start()
    log = n.read_log()
    assert ovs.ports(BR) == ["vif71.0", "vif72.0"], log
    flows = ovs.ofctl("dump-flows", BR)
    assert "cookie=0x4e44000000470000" in flows and "cookie=0x4e44000000480000" in flows, flows
    assert topo.ping(tx, "192.0.2.72")
    n.ctl("down", BR)
    assert ovs.bridges() == []


def test_vlan_suffix_is_refused_for_a_linux_bridge(topo, ovs, netd_factory):
    """bridge=BR:TRUNK is vif-openvswitch's syntax: a bridge-mode network
    beside the ovs one refuses it rather than dropping the VLANs."""
    n = netd_factory("[xenbr0]\nmode = bridge\nphysdev = eth0\nstyle = modern\n\n" + ovs_conf(ovs))
    n.start()
    guest(topo, 13, "192.0.2.23/24", "00:16:3e:00:00:0d")
    r = n.ctl("vif", "online", "13.0", "bridge=xenbr0:10", check=False)
    assert r.returncode == 1 and "Open vSwitch's syntax" in r.stderr
    assert topo.link(topo.d0, "vif13.0").get("master") is None
    n.ctl("vif", "online", "13.0", f"bridge={BR}.10")
    assert ovs.get("Port", "vif13.0", "tag") == 10


# ---- OVN across two simulated hosts ------------------------------------------


LS_MAC = {1: "00:16:3e:00:01:05", 2: "00:16:3e:00:02:06"}
LS_IP = {1: "192.0.2.105", 2: "192.0.2.106"}
DOM = {1: 5, 2: 6}


class Host:
    """One simulated Xen host: its namespace (netd's "d0"), OVS, ovn-controller,
    hvsim xenstored and netd."""

    def __init__(self, prefix, i, tmp):
        self.i = i
        self.d0 = f"{prefix}-h{i}"
        self.tmp = tmp
        self.ovs = self.xsd = self.netd = None


@pytest.fixture(scope="module")
def ovn(tmp_path_factory):
    """central (NB, SB, northd) and host1/host2 on an underlay bridge
    198.51.100.0/24; Geneve between the hosts' OVS (userspace tunnels: the
    endpoint address sits on an OVS bridge br-phy); the CMS's logical switch
    with two logical ports with port_security. Guests are namespaces whose
    eth0 is the other end of vifD.0 on their host."""
    if not have_ovn():
        pytest.skip("OVN not installed (make deps)")
    prefix = f"ovn{os.getpid() % 100000}"
    nss, hosts, central = [], [], None
    tmpdirs = []

    def ns(name):
        sh(f"ip netns add {name}")
        nss.append(name)
        sh(f"ip -n {name} link set lo up")
        return name

    try:
        ul = ns(f"{prefix}-ul")
        sh(f"ip -n {ul} link add ul type bridge")
        sh(f"ip -n {ul} link set ul up")
        c = ns(f"{prefix}-c")
        sh(f"ip link add eth0 netns {c} type veth peer name c0 netns {ul}")
        sh(f"ip -n {ul} link set c0 master ul up")
        sh(f"ip -n {c} addr add 198.51.100.1/24 dev eth0")
        sh(f"ip -n {c} link set eth0 up")
        tx_csum_off(c, "eth0")
        d = tempfile.mkdtemp(prefix="ovnc", dir="/tmp")
        tmpdirs.append(d)
        central = OvnCentral(c, d, "198.51.100.1")
        for i in (1, 2):
            h = Host(prefix, i, tmp_path_factory.mktemp(f"h{i}"))
            hosts.append(h)
            ns(h.d0)
            sh(f"ip link add ul0 netns {h.d0} type veth peer name h{i} netns {ul}")
            sh(f"ip -n {ul} link set h{i} master ul up")
            sh(f"ip -n {h.d0} link set ul0 up")
            d = tempfile.mkdtemp(prefix=f"ovsh{i}", dir="/tmp")
            tmpdirs.append(d)
            h.ovs = Ovs(h.d0, d)
            h.ovs.vsctl("--timeout=10", "add-br", "br-phy", "--", "set", "Bridge", "br-phy",
                        "datapath_type=netdev", "--", "add-port", "br-phy", "ul0")
            sh(f"ip -n {h.d0} addr add 198.51.100.{10 + i}/24 dev br-phy")
            sh(f"ip -n {h.d0} link set br-phy up")
            start_ovn_controller(h.ovs, f"host{i}", f"198.51.100.{10 + i}", central.sb_remote)
            wait_for(lambda: "br-int" in h.ovs.bridges(), 20, what=f"host{i}'s br-int")
            h.xsd = Xsd()
            h.netd = Netd(h, h.tmp, f"[br-int]\nmode = ovs\novsdb = {h.ovs.db}\n"
                          f"ovn = yes\novn_wait = 8\n")
            h.netd.start(env={"XENSTORED_PATH": h.xsd.sock})
        wait_for(lambda: len(central.sbctl("--bare", "--columns=name", "list",
                                           "Chassis").split()) == 2, 30,
                 what="both chassis in the SB database")
        # The CMS: one logical switch, a port per guest, with port security.
        central.nbctl("ls-add", "ls0")
        for i in (1, 2):
            lsp = "lsp1" if i == 1 else f"xen-00000000-0000-4000-8000-{DOM[2]:012x}-0"
            central.nbctl("lsp-add", "ls0", lsp)
            central.nbctl("lsp-set-addresses", lsp, f"{LS_MAC[i]} {LS_IP[i]}")
            central.nbctl("lsp-set-port-security", lsp, f"{LS_MAC[i]} {LS_IP[i]}")
        yield central, hosts, ns
    finally:
        for h in reversed(hosts):
            if h.netd and h.netd.proc:
                terminate(h.netd.proc)
            if h.xsd:
                h.xsd.close()
            if h.ovs:
                h.ovs.stop()
        if central:
            central.stop()
        for n in reversed(nss):
            sh(f"ip netns del {n}", check=False)
        for d in tmpdirs:
            shutil.rmtree(d, ignore_errors=True)


def plug_guest(h, ns, spec=""):
    """hvsim's domain and vif, plugged by our vif-openvswitch as libxl runs it;
    the guest namespace's eth0 is the vif's other end."""
    i, dom = h.i, DOM[h.i]
    g = f"{h.d0}-g"
    if g not in sh("ip netns list").stdout:
        ns(g)
        sh(f"ip link add vif{dom}.0 netns {h.d0} type veth peer name eth0 netns {g}")
        sh(f"ip -n {g} link set eth0 address {LS_MAC[i]} mtu 1400")
        sh(f"ip -n {g} addr add {LS_IP[i]}/24 dev eth0")
        sh(f"ip -n {g} link set eth0 up")
        tx_csum_off(g, "eth0")
    env = h.xsd.env(NETD_SOCKET=h.netd.sock, NETDCTL=NETDCTL)
    run = lambda *a: subprocess.run(["ip", "netns", "exec", h.d0, HVSIM, *a], env=env,
                                    capture_output=True, text=True, timeout=60)
    if h.xsd.read(f"/local/domain/{dom}/name") is None:
        assert run("domain", "add", str(dom)).returncode == 0
    r = run("vif", "add", f"{dom}.0",
            f"script={SCRIPTS}/vif-openvswitch,mac={LS_MAC[i]},bridge=br-int" +
            (f",{spec}" if spec else ""))
    return g, r


def binding_chassis(central, lsp):
    out = central.sbctl("--bare", "--columns=chassis", "find", "Port_Binding",
                        f"logical_port={lsp}")
    return out.strip()


@pytest.mark.skipif(not have_ovn(), reason="OVN not installed (make deps)")
def test_ovn_guests_on_two_hosts(ovn):
    central, (h1, h2), ns = ovn
    g1, r = plug_guest(h1, ns, "iface-id=lsp1")
    assert r.returncode == 0, r.stdout + r.stderr
    # connected only once ovn-controller had installed the port's flows
    assert h1.xsd.read(f"{BE}/5/0/hotplug-status") == "connected"
    assert iface_ids(h1.ovs, "vif5.0").get("ovn-installed") == "true"
    g2, r = plug_guest(h2, ns)
    assert r.returncode == 0, r.stdout + r.stderr
    ids = iface_ids(h2.ovs, "vif6.0")
    assert ids["iface-id"] == f"xen-{uuid_of(6)}-0" and ids.get("ovn-installed") == "true"
    assert binding_chassis(central, "lsp1") != ""
    st = h1.netd.request({"cmd": "status"})["result"]["networks"][0]["details"]
    assert "port_security" in st["antispoof"] and st["ovn"] is True

    assert sh(f"ip netns exec {g1} ping -c 3 -i 0.2 -W 2 {LS_IP[2]}", check=False).returncode == 0
    assert sh(f"ip netns exec {g2} ping -c 2 -i 0.2 -W 2 {LS_IP[1]}", check=False).returncode == 0
    # the path is a Geneve tunnel between the hosts
    assert "geneve" in h1.ovs.vsctl("--bare", "--columns=type", "list", "Interface")

    # 1 MiB across the tunnel, checksum compared
    sent, got = tcp_transfer(g1, g2, LS_IP[2], 1 << 20, port=7001, timeout=60)
    assert sent == got and sent[0] == str(1 << 20)

    # port_security: a forged source from guest 1 never reaches guest 2
    forged = SEND.replace('"00:16:3e:00:00:41", "192.0.2.41", "192.0.2.42"',
                          f'"{LS_MAC[1]}", "{LS_IP[1]}", "{LS_IP[2]}"')
    forged = forged.replace('psrc="192.0.2.42"', f'psrc="{LS_IP[2]}"')
    lines = sniffed_while(None, g2, lambda: sh(f"ip netns exec {g1} /usr/bin/python3 -c '{forged}'"))
    assert "udp good" in lines and "udp good2" in lines, lines
    assert "udp forged-ip" not in lines and "udp forged-mac" not in lines

    # kill -9 of netd and a restart: the ports stay, once each, bound
    h1.netd.stop(signal.SIGKILL)
    h1.netd.start(env={"XENSTORED_PATH": h1.xsd.sock})
    assert h1.ovs.all_ports().count("vif5.0") == 1
    assert [p for p in h1.ovs.ports("br-int") if p.startswith("vif")] == ["vif5.0"]
    assert "adopted OVS bridge br-int" in h1.netd.read_log()
    assert sh(f"ip netns exec {g1} ping -c 2 -i 0.2 -W 2 {LS_IP[2]}", check=False).returncode == 0

    # unplug releases the binding
    r = subprocess.run(["ip", "netns", "exec", h1.d0, HVSIM, "vif", "del", "5.0"],
                       env=h1.xsd.env(NETD_SOCKET=h1.netd.sock, NETDCTL=NETDCTL),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "vif5.0" not in h1.ovs.all_ports()
    wait_for(lambda: binding_chassis(central, "lsp1") == "", 15, what="lsp1 released")

    # a logical port OVN does not know: a clear hotplug-error in time, no port left
    r = subprocess.run(["ip", "netns", "exec", h1.d0, HVSIM, "vif", "add", "5.0",
                        f"script={SCRIPTS}/vif-openvswitch,mac={LS_MAC[1]},bridge=br-int,"
                        "iface-id=no-such-lsp"],
                       env=h1.xsd.env(NETD_SOCKET=h1.netd.sock, NETDCTL=NETDCTL),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    err = h1.xsd.read(f"{BE}/5/0/hotplug-error")
    assert "OVN did not install iface-id no-such-lsp within 8.000 s" in err
    assert h1.xsd.read(f"{BE}/5/0/hotplug-status") == "error"
    assert "vif5.0" not in h1.ovs.all_ports()

    # down on host 2: exactly netd's port goes; br-int and ovn-controller's ports stay
    others = [p for p in h2.ovs.ports("br-int") if p != "vif6.0"]
    h2.netd.ctl("down")
    assert "br-int" in h2.ovs.bridges()
    assert h2.ovs.ports("br-int") == others
    wait_for(lambda: binding_chassis(central, f"xen-{uuid_of(6)}-0") == "", 15,
             what="host2's port released")
