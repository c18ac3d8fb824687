"""What the nat tests share (test_nat.py, test_nat6.py, test_nat_classic.py and
the nat cases of other files): the network's names and addresses, its config,
guests on virbr0, nft listings, netd's dnsmasq processes and files, TCP
servers and clients in namespaces (either family), and the DHCP clients
(busybox udhcpc, dhclient -6). The fixtures here (servers, servers6) are
imported by the test modules that use them."""
import ipaddress
import os
import re
import signal
import subprocess

import pytest

from conftest import sh

BR = "virbr0"
TABLE = "netd_virbr0"
GW = "203.0.113.1"
GW6 = "2001:db8:1::1"
UPLINK6 = "2001:db8::2"   # dom0's eth0 (conftest's Topo)
UPSTREAM6 = "2001:db8::1"

SERVER = r"""
import socket, sys
name, port, v6 = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "6"
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if v6 else "0.0.0.0", port))
s.listen(16)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(f"{name} {peer[0]}\n".encode())
    c.close()
"""

CLIENT = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    c.settimeout(float(sys.argv[3]))
    print(c.recv(200).decode().strip())
except OSError as e:
    print(f"ERR {e.__class__.__name__}")
"""

UDHCPC_SCRIPT = """#!/bin/sh
# Prints the lease; configures nothing (the test decides what to apply).
echo "udhcpc $1 ip=$ip mask=$mask router=$router dns=$dns"
"""


DHCLIENT_SCRIPT = """#!/bin/sh
# Records what dhclient -6 got; configures nothing (the test decides).
echo "$reason addr=$new_ip6_address plen=$new_ip6_prefixlen dns=$new_dhcp6_name_servers" >> "$(dirname "$0")/dhclient.out"
"""



def nat_conf(forwards=(), dhcp_range="203.0.113.100-203.0.113.150", name=BR,
             address="203.0.113.1/24", uplink="eth0"):
    body = f"[{name}]\nmode = nat\naddress = {address}\nuplink = {uplink}\n"
    if dhcp_range:
        body += f"dhcp_range = {dhcp_range}\n"
    for f in forwards:
        body += f"forward = {f}\n"
    return body


def nat6_conf(dhcp6=None, nat6=None, forwards=(), address6=f"{GW6}/64", **kw):
    body = nat_conf(forwards=forwards, **kw) + f"address6 = {address6}\n"
    if dhcp6:
        body += f"dhcp6 = {dhcp6}\n"
    if nat6:
        body += f"nat6 = {nat6}\n"
    return body


def nat_guest(topo, domid, addr=None, vifname=None, gw=GW, dad=True):
    """A guest on the private subnet (203.0.113.<5+domid>) whose default route
    is the NAT gateway; its eth0 is vif<domid>.0 in dom0, as Topo.add_guest.
    dad=False: no duplicate address detection on eth0 either (its IPv6
    addresses usable at once)."""
    g = topo.add_ns(f"{topo.prefix}-g{domid}")
    vif = vifname or f"vif{domid}.0"
    topo.sysctl(g, "net.ipv6.conf.all.accept_dad", 0)
    if not dad:
        # eth0, made below, takes the namespace's default
        topo.sysctl(g, "net.ipv6.conf.default.accept_dad", 0)
    sh(f"ip link add {vif} netns {topo.d0} type veth peer name eth0 netns {g}")
    topo.ip(g, f"addr add {addr or f'203.0.113.{5 + domid}/24'} dev eth0")
    topo.ip(g, "link set eth0 up")
    topo.ip(g, f"route add default via {gw}")
    topo.guests[domid] = g
    return g


def guest6(topo, domid):
    """A nat_guest whose eth0 takes router advertisements (accept_ra,
    autoconf: the defaults of a host that does not forward) with no DAD
    delay."""
    return nat_guest(topo, domid, dad=False)


def mac_of(topo, ns, dev="eth0"):
    return topo.link(ns, dev)["address"]


def plug(netd, topo, domid, ip=True):
    g = topo.guests[domid]
    args = ["vif", "online", f"{domid}.0", f"bridge={BR}", f"mac={mac_of(topo, g)}"]
    if ip:
        args.append(f"ip=203.0.113.{5 + domid}")
    netd.ctl(*args)
    topo.wait_carrier(g, "eth0")


def eui64(mac, prefix="2001:db8:1:0"):
    b = [int(x, 16) for x in mac.split(":")]
    b[0] ^= 0x02
    return "%s:%02x%02x:%02xff:fe%02x:%02x%02x" % (prefix, *b[:3], *b[3:])


def canon(a):
    return str(ipaddress.ip_address(a))


def global6(topo, ns):
    return [a.split("/")[0] for a in topo.addrs(ns, "eth0")
            if ":" in a and not a.startswith("fe80")]


def nft(topo, args, check=True):
    return topo.run(topo.d0, f"nft {args}", check=check)


def ruleset(topo):
    return nft(topo, "list ruleset").stdout


def our_tables(topo):
    return [l for l in nft(topo, "list tables").stdout.splitlines() if TABLE in l]


def dnsmasq_procs(netd, bridge=BR):
    """Live (not zombie) dnsmasq processes started for this test's netd."""
    want = f"--pid-file={netd.state}/{bridge}/dnsmasq.pid"
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if args and os.path.basename(args[0].decode()) == "dnsmasq" and state != "Z" \
                and want.encode() in args:
            pids.append(int(d))
    return pids


def pidfile_pid(netd):
    with open(f"{netd.state}/{BR}/dnsmasq.pid") as f:
        return int(f.read().strip())


def run_files(netd):
    d = f"{netd.state}/{BR}"
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def pub_files(netd):
    """dnsmasq's host files, which it reads as its own user (dnsmasq_dir)."""
    d = f"{netd.dnsmasq_dir}/{BR}"
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


class Server:
    """A TCP server in a namespace answering '<name> <peer address>'; stopped by PID.
    family 6: it listens on "::", and is reached over IPv4 too (::ffff:a.b.c.d)."""

    def __init__(self, ns, name, port=80, family=4):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", SERVER,
                                   name, str(port), str(family)], stdout=subprocess.PIPE,
                                  text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(5)


def _servers(family):
    started = []

    def make(ns, name, port=80):
        s = Server(ns, name, port, family)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def servers():
    """servers(ns, name, port=80): an IPv4 Server, stopped after the test."""
    yield from _servers(4)


@pytest.fixture
def servers6():
    """servers6(ns, name, port=80): an IPv6 Server, stopped after the test."""
    yield from _servers(6)


def connect(topo, ns, host, port, timeout=2):
    return topo.python(ns, CLIENT.replace("sys.argv[1]", repr(host))
                       .replace("int(sys.argv[2])", str(port))
                       .replace("float(sys.argv[3])", str(timeout)),
                       timeout=timeout * 3 + 10).stdout.strip()


def udhcpc(topo, ns, tmp_path, timeout=10):
    script = tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    r = topo.run(ns, f"busybox udhcpc -i eth0 -n -q -f -t 6 -T 1 -s {script}", check=False,
                 timeout=timeout + 20)
    m = re.search(r"udhcpc bound ip=(\S+) mask=(\S+) router=(\S+) dns=(\S+)", r.stdout)
    assert m, f"no lease: {r.stdout}\n{r.stderr}"
    return m.groups()


def dhclient6(topo, ns, tmp_path, stateless=False, timeout=15):
    """dhclient -6 (one attempt, DUID-LL) in ns; returns the lines its script
    recorded. dhclient goes to the background once bound: stopped by its pid."""
    d = tmp_path / f"dhc-{ns}"
    d.mkdir(exist_ok=True)
    script = d / "script.sh"
    script.write_text(DHCLIENT_SCRIPT)
    script.chmod(0o755)
    out = d / "dhclient.out"
    if out.exists():
        out.unlink()
    pidf = d / "pid"
    r = topo.run(ns, f"timeout {timeout} dhclient -6 {'-S ' if stateless else ''}-1 -v -D LL "
                     f"-sf {script} -lf {d}/leases -pf {pidf} -df {d}/duid eth0",
                 check=False, timeout=timeout + 10)
    try:
        if pidf.exists():
            os.kill(int(pidf.read_text().strip()), signal.SIGTERM)
    except (ValueError, ProcessLookupError):
        pass
    lines = out.read_text().splitlines() if out.exists() else []
    assert lines, f"dhclient -6 got nothing: {r.stdout}\n{r.stderr}"
    return lines


def refused_at_start(topo, netd_factory, conf, msg, env=None, applied=False):
    """netd started with conf exits 1 saying msg, and the host is as it was:
    links, addresses and routes, the whole nftables ruleset, no dnsmasq and
    none of its files. applied: netd got as far as changing the host (and
    restored it), so the snapshot may wait for it to settle. Returns the
    Netd, for further checks."""
    before, rules = topo.snapshot(), ruleset(topo)
    netd = netd_factory(conf)
    r = netd.run_once(env=env)
    assert r.returncode == 1, r.stderr
    assert msg in r.stderr, r.stderr
    if applied:
        topo.assert_snapshot_equal(before)
    else:
        topo.assert_snapshot_equal(before, timeout=0)
    assert ruleset(topo) == rules and dnsmasq_procs(netd) == [] and run_files(netd) == []
    return netd
