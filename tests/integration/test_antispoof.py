"""Per-vif anti-spoofing and rate limits (nftables sets) in bridge mode.

Guests send forged frames with scapy; sniffers on the LAN (upstream) and on
other guests must see none of them, while the guest's own traffic passes, and
the vif's drop counter (netdctl status, nft list) counts exactly what was
dropped. Plugging vifs adds set elements, never rules; other tables are never
touched. Everything lives in the fixtures' namespaces."""
import json
import signal
import subprocess
import time

import pytest
from scapy.all import ARP, DHCP, BOOTP, ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6ND_NS, IP, IPv6, UDP, \
    Ether, ICMPv6NDOptDstLLAddr

from conftest import bridge_conf, sh, wait_for

STYLES = ["classic", "modern"]
LAN = "192.0.2.1"
TABLE = "bridge netd_as"

# One Python process per check: sniffers start in their namespaces (setns
# on the sniffer thread before it opens its socket), then the frames are
# sent from the guest's namespace; the captured frames come back as hex.
CAPTURE = r'''
import ctypes, json, os, sys, threading, time
from scapy.all import *
conf.verb = 0
libc = ctypes.CDLL(None, use_errno=True)

def netns(name):
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
    finally:
        os.close(fd)

SNIFF = json.loads(sys.argv[1])
sniffers = {}
for key, (ns, iface, bpf) in SNIFF.items():
    netns(ns)
    ev = threading.Event()
    sn = AsyncSniffer(iface=iface, filter=bpf, store=True, started_callback=ev.set)
    sn.start()
    if not ev.wait(5):
        raise SystemExit("sniffer did not start")
    sniffers[key] = sn
time.sleep(0.2)
netns(sys.argv[2])
frames = eval(sys.argv[3])
sendp(frames, iface="eth0", inter=0.01)
time.sleep(float(sys.argv[4]))
print(json.dumps({k: [bytes(p).hex() for p in sn.stop()] for k, sn in sniffers.items()}))
'''


def capture(topo, sniff, sender_ns, frames, settle=0.5):
    """Send `frames` (a Python expression over scapy) from sender_ns's eth0;
    sniff = {key: (ns, iface, bpf)}. Returns {key: [Ether, ...]}."""
    r = subprocess.run(["ip", "netns", "exec", topo.d0, "/usr/bin/python3", "-c", CAPTURE,
                        json.dumps(sniff), sender_ns, frames, str(settle)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    return {k: [Ether(bytes.fromhex(h)) for h in v] for k, v in got.items()}


def gmac(topo, g):
    return topo.link(g, "eth0")["address"]


def nft(topo, cmd, check=True):
    return topo.run(topo.d0, f"nft {cmd}", check=check)


def nft_json(topo, cmd):
    return json.loads(nft(topo, f"-j {cmd}").stdout)["nftables"]


def tables(topo):
    return sorted(f'{t["table"]["family"]} {t["table"]["name"]}'
                  for t in nft_json(topo, "list tables") if "table" in t)


def rule_count(topo):
    return sum(1 for o in nft_json(topo, "list ruleset") if "rule" in o)


def elements(topo):
    """Every element of every set/map in our table, as (set, json) strings."""
    out = set()
    for o in nft_json(topo, f"list table {TABLE}"):
        s = o.get("set") or o.get("map")
        if s:
            for e in s.get("elem", []):
                out.add((s["name"], json.dumps(e, sort_keys=True)))
    return out


def objects(topo):
    return {(k, o[k]["name"]) for o in nft_json(topo, f"list table {TABLE}")
            for k in ("counter", "limit") if k in o}


def counters(netd, ifname):
    doc = json.loads(netd.ctl("--json", "status").stdout)
    for n in doc["result"]["networks"]:
        c = n["details"].get("counters", {}).get(ifname)
        if c is not None:
            return c
    return {}


def spoof_drops(netd, ifname):
    return counters(netd, ifname).get("spoof_drops", {}).get("packets")


def status_field(netd, key):
    """The values of key=a,b,c in `netdctl status` (text)."""
    for word in netd.ctl("status").stdout.split():
        if word.startswith(key + "="):
            return word.split("=", 1)[1].split(",")
    return []


def start(netd_factory, topo, style="classic", extra=""):
    netd = netd_factory(bridge_conf(style) + extra)
    netd.start()
    return netd


def plug(netd, topo, domid, ip=None, mac=True, **keys):
    g = topo.guests[domid]
    args = ["vif", "online", f"{domid}.0"]
    if mac:
        args.append(f"mac={gmac(topo, g)}")
    if ip:
        args.append(f"ip={ip}")
    args += [f"{k}={v}" for k, v in keys.items()]
    netd.ctl(*args)
    topo.wait_carrier(g, "eth0")
    return g


def udp(src_mac, src_ip, dport, n=1, dst=LAN):
    return (f"[Ether(src='{src_mac}', dst='ff:ff:ff:ff:ff:ff')/IP(src='{src_ip}', dst='{dst}')"
            f"/UDP(sport=40000, dport={dport})/Raw(b'x'*20)] * {n}")


def garp(mac, ip, n=1):
    return (f"[Ether(src='{mac}', dst='ff:ff:ff:ff:ff:ff')/ARP(op=2, hwsrc='{mac}', psrc='{ip}',"
            f" hwdst='ff:ff:ff:ff:ff:ff', pdst='{ip}')] * {n}")


@pytest.mark.parametrize("style", STYLES)
def test_forged_frames_are_dropped_and_counted(topo, netd_factory, style):
    """Forged source MAC, forged source IP, ARP for Dom0's or another guest's
    address: nobody on the LAN or on the other guest sees them, the guest's
    own frames pass, and the vif counts exactly the forged ones."""
    netd = start(netd_factory, topo, style)
    g1, g2 = topo.add_guest(1), topo.add_guest(2)
    plug(netd, topo, 1, ip="192.0.2.11")
    plug(netd, topo, 2, ip="192.0.2.12")
    m1 = gmac(topo, g1)
    assert topo.ping(g1, LAN), "own traffic must pass"
    assert topo.ping(g1, "192.0.2.12"), "guest to guest must pass"
    base = spoof_drops(netd, "vif1.0")
    assert base == 0

    forged = (udp("02:00:00:00:00:99", "192.0.2.11", 7001, 3)          # MAC not the vif's
              + " + " + udp(m1, "192.0.2.99", 7002, 4)                  # IP not the vif's
              + " + " + udp(m1, "192.0.2.12", 7003, 2)                  # the other guest's IP
              + " + " + garp(m1, "192.0.2.2", 2)                        # Dom0's address
              + " + " + garp(m1, "192.0.2.12", 2)                       # the other guest's
              + " + [Ether(src='%s', dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc='02:00:00:00:00:99',"
              " psrc='192.0.2.11', pdst='192.0.2.1')]" % m1)            # ARP sender MAC forged
    own = udp(m1, "192.0.2.11", 7004, 5) + " + " + garp(m1, "192.0.2.11", 1)
    bpf = "(udp and dst portrange 7001-7004) or arp"
    got = capture(topo, {"lan": (topo.up, "up0", bpf), "g2": (g2, "eth0", bpf)}, g1,
                  forged + " + " + own)
    for where in ("lan", "g2"):
        pk = got[where]
        udps = [p for p in pk if UDP in p]
        arps = [p for p in pk if ARP in p and p[ARP].psrc != "192.0.2.1"]
        assert sorted(p[UDP].dport for p in udps) == [7004] * 5, (where, [p.summary() for p in pk])
        assert all(p[IP].src == "192.0.2.11" and p[Ether].src == m1 for p in udps)
        assert [(p[ARP].psrc, p[ARP].hwsrc) for p in arps] == [("192.0.2.11", m1)], \
            (where, [p.summary() for p in arps])
    assert spoof_drops(netd, "vif1.0") == base + 3 + 4 + 2 + 2 + 2 + 1
    assert spoof_drops(netd, "vif2.0") == 0
    # the same number in nft's own listing and in the text status
    c = nft_json(topo, f"list counter {TABLE} spoof_vif1.0")
    assert [o["counter"]["packets"] for o in c if "counter" in o] == [14]
    assert "vif1.0:14" in status_field(netd, "spoof_drops")
    assert topo.ping(g1, LAN), "the vif still works after drops"
