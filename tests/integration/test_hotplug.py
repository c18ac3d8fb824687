"""Xen hotplug: our drop-in vif-bridge / vif-route / vif-nat (`netdctl hotplug`)
and netd's no-fork xenstore watch, against the simulated xenstored.

Every test runs a netd in the dom0 namespace of its own topology and its own
`hvsim xenstored` (host side: a UNIX socket is not a network). vifs are the
conftest's veth stand-ins vifD.0; `hvsim vif add D.N SPEC` writes the keys as
libxl does and runs the script with xl's convention (argv `online
type_if=vif`, env vif, XENBUS_PATH, ...), inside the dom0 namespace. Tests
that need values libxl would never write set them with xenstore-write and
call the script with libxl's environment themselves.

Xen's own vif-bridge (package xen-utils-common, unpacked by scripts/deps.sh,
or /etc/xen/scripts) is run for comparison in the dom0 namespace only (it
calls ip), in a private mount namespace with a tmpfs on /var/log (it logs to
/var/log/xen)."""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

# xsd (the simulated xenstored fixture) and Xsd are conftest's: test_leaks
# and test_realxen import them from here
from conftest import (BE, BUILD, HVSIM, NETDCTL, ROOT, Xsd, bridge_conf, sh,  # noqa: F401
                      sigstop, wait_for, xsd)

SCRIPTS = os.path.join(ROOT, "scripts")


def xen_scripts_dir():
    for d in (os.environ.get("XEN_SCRIPTS_DIR"),
              "/var/cache/netd/xen-utils-common/etc/xen/scripts", "/etc/xen/scripts"):
        if d and os.access(os.path.join(d, "vif-bridge"), os.X_OK) and \
           os.path.exists(os.path.join(d, "vif-common.sh")):
            return d
    return None


XEN_SCRIPTS = xen_scripts_dir()


class Hotplug:
    """Runs hotplug scripts in dom0 the way libxl does, against xsd and netd."""

    def __init__(self, topo, xsd, netd):
        self.topo, self.xsd, self.netd = topo, xsd, netd

    def env(self, **kw):
        return self.xsd.env(NETD_SOCKET=self.netd.sock, NETDCTL=NETDCTL, **kw)

    def d0(self, *argv, env=None, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.topo.d0, *argv],
                              env=env or self.env(), capture_output=True, text=True,
                              timeout=timeout)

    def vif_add(self, vif, spec="", script="vif-bridge", keys_only=False):
        """xl network-attach: libxl's keys, then (unless keys_only) the script."""
        if script and "/" not in script:
            script = os.path.join(SCRIPTS, script)
        spec = ",".join(x for x in (f"script={script}" if script else "", spec) if x)
        return self.d0(HVSIM, "vif", "add", *(["-n"] if keys_only else []), vif, spec)

    def vif_del(self, vif, keys_only=False):
        return self.d0(HVSIM, "vif", "del", *(["-n"] if keys_only else []), vif)

    def script(self, action, d, n=0, script="vif-bridge", type_if="vif", env=None, args=()):
        """The script as libxl runs it, with values already in xenstore."""
        e = self.env(vif=f"vif{d}.{n}", XENBUS_PATH=f"backend/vif/{d}/{n}",
                     XENBUS_TYPE="vif", XENBUS_BASE_PATH="backend", netdev="",
                     script=os.path.join(SCRIPTS, script))
        if type_if == "tap":
            e["INTERFACE"] = f"vif{d}.{n}-emu"
        e.update(env or {})
        return self.d0(os.path.join(SCRIPTS, script), action, f"type_if={type_if}", *args, env=e)


@pytest.fixture
def hp(topo, xsd, netd_factory):
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    return Hotplug(topo, xsd, netd)


def add_guest(topo, domid, mac=None):
    """A guest whose eth0 has the MAC its vif's backend says (hvsim's default
    00:16:3e:00:DD:00 unless given): netd's anti-spoofing holds it to that."""
    g = topo.add_guest(domid)
    topo.ip(g, f"link set eth0 address {mac or f'00:16:3e:00:{domid:02x}:00'}")
    return g


def port_of(topo, name):
    link = topo.link(topo.d0, name)
    return link.get("master") if link else None


def vif_list(netd):
    return {v["vif"]: v for v in netd.request({"cmd": "vif-list"})["result"]["vifs"]}


# ---- the scripts ---------------------------------------------------------

def test_vif_bridge_plugs_and_reports_connected(topo, hp):
    g = add_guest(topo, 5, "00:16:3e:00:00:05")
    r = hp.vif_add("5.0", "mac=00:16:3e:00:00:05")
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'exit 0, hotplug-status "connected"' in r.stdout
    assert hp.xsd.status(5) == "connected"
    assert hp.xsd.error(5) is None
    link = topo.link(topo.d0, "vif5.0")
    assert link["master"] == "xenbr0"
    assert "UP" in link["flags"]
    assert link["mtu"] == 1500
    assert link["address"] == "fe:ff:ff:ff:ff:ff"
    # vif-bridge's set_mtu: the frontend is told the MTU its backend got
    assert hp.xsd.read("/local/domain/5/device/vif/0/mtu") == "1500"
    assert vif_list(hp.netd)["5.0"]["ifname"] == "vif5.0"
    topo.wait_carrier(g, "eth0")
    assert topo.ping(g, "192.0.2.1")

    # xl network-detach: online=0, the script's offline, directories removed
    r = hp.vif_del("5.0")
    assert r.returncode == 0, r.stdout + r.stderr
    link = topo.link(topo.d0, "vif5.0")
    assert "master" not in link and "UP" not in link["flags"]
    assert "5.0" not in vif_list(hp.netd)
    assert not topo.ping(g, "192.0.2.1", timeout=1)


def test_mtu_key_and_frontend_mtu(topo, hp):
    topo.add_guest(5)
    r = hp.vif_add("5.0", "mtu=1400")
    assert r.returncode == 0, r.stdout + r.stderr
    assert topo.link(topo.d0, "vif5.0")["mtu"] == 1400
    assert topo.link(topo.d0, "xenbr0")["mtu"] == 1500
    assert hp.xsd.read("/local/domain/5/device/vif/0/mtu") == "1400"


def ip_d_link(topo, name):
    """`ip -d link show NAME` as text, None when there is no such interface."""
    r = topo.ip(topo.d0, f"-d link show dev {name}", check=False)
    return r.stdout if r.returncode == 0 else None


def test_vifname_renames_and_offline_gives_the_name_back(topo, hp):
    """vifname=web5 renames vif5.0 (marked with netd's alias); a normal
    offline unplugs it and gives it the backend's name back, down, with the
    alias cleared: the interface is as the backend made it (vifback's TAP
    and a sandbox veth outlive the unplug), and a plug renames it again."""
    g = add_guest(topo, 5)
    r = hp.vif_add("5.0", "vifname=web5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert hp.xsd.status(5) == "connected"
    assert topo.link(topo.d0, "vif5.0") is None
    assert port_of(topo, "web5") == "xenbr0"
    assert "alias netd: renamed from vif5.0" in ip_d_link(topo, "web5")
    assert vif_list(hp.netd)["5.0"]["ifname"] == "web5"
    topo.wait_carrier(g, "eth0")
    assert topo.ping(g, "192.0.2.1")
    assert hp.vif_del("5.0").returncode == 0
    assert ip_d_link(topo, "web5") is None
    shown = ip_d_link(topo, "vif5.0")
    assert shown is not None and "master" not in shown and "alias" not in shown, shown
    assert "UP" not in topo.link(topo.d0, "vif5.0")["flags"]
    assert vif_list(hp.netd) == {}
    # the same vif plugged again is renamed again
    assert hp.vif_add("5.0", "vifname=web5").returncode == 0
    assert port_of(topo, "web5") == "xenbr0"
    assert "alias netd: renamed from vif5.0" in ip_d_link(topo, "web5")


def test_vifname_taken_is_refused_and_touches_nothing(topo, hp):
    topo.add_guest(6)
    topo.add_guest(7)
    assert hp.vif_add("6.0", "vifname=web6").returncode == 0
    before = topo.snapshot()
    r = hp.vif_add("7.0", "vifname=web6")
    assert r.returncode == 1
    assert hp.xsd.status(7) == "error"
    assert hp.xsd.error(7) == "vifname web6 already exists"
    assert "vifname web6 already exists" in r.stderr
    # the other guest's vif (and everything else) exactly as it was
    topo.assert_snapshot_equal(before)
    assert set(vif_list(hp.netd)) == {"6.0"}


def test_vifname_rename_is_undone_when_the_plug_fails(topo, hp):
    topo.add_guest(5)
    topo.ip(topo.d0, "link add br9 type bridge")
    topo.ip(topo.d0, "link set vif5.0 master br9")
    topo.ip(topo.d0, "link set vif5.0 up")
    before = topo.snapshot()
    r = hp.vif_add("5.0", "vifname=web5")
    assert r.returncode == 1
    assert hp.xsd.status(5) == "error"
    assert "already a port of br9" in hp.xsd.error(5)
    # renamed to web5 for the plug, and back when the bridge refused it
    topo.assert_snapshot_equal(before)
    assert topo.link(topo.d0, "web5") is None
    assert vif_list(hp.netd) == {}


BAD_VALUES = [
    ("mac", "00:16:3e:zz:00:05", "mac: '00:16:3e:zz:00:05': expected six hex byte pairs"),
    ("mac", "01:00:5e:00:00:05", "multicast address"),
    ("ip", "192.0.2.300", "ip: '192.0.2.300': not an IPv4 or IPv6 address"),
    ("ip", "192.0.2.0/24", "only host addresses"),
    ("rate", "lots", "rate"),
    ("rate", "0,50000", "rate"),
    ("rate_in", "fast", "rate_in: 'fast': expected N[GMK]{B|b}/s"),
    ("rate_in", "0,50000", "rate_in: '0,50000': bytes and interval must be non-zero"),
    ("mtu", "9x", "mtu: '9x': not a decimal number"),
    ("mtu", "70000", "mtu: '70000': out of range"),
    ("vifname", "web/5", "vifname: 'web/5': not a valid interface name"),
    ("vifname", "x\ny", "vifname: 'x\\x0ay'"),
    ("vifname", "a-very-long-vifname", "longer than 15"),
    # another vif's name: when domain 7 came, its plug would find guest 5's interface
    ("vifname", "vif7.0", "vifname: 'vif7.0': the name of vif 7.0's interface, not this vif's (vif5.0)"),
    ("vifname", "vif5.1-emu", "vifname: 'vif5.1-emu': the name of vif 5.1's interface"),
    ("ip", "192.0.2.1", "vif5.0: ip 192.0.2.1 refused: it is a gateway Dom0 routes through"),
    ("ip", "192.0.2.25 fe80::5", "ip: 'fe80::5': link-local address"),
    ("handle", "3", "handle: '3': does not match devid 0"),
    ("frontend-id", "6", "frontend-id: '6': does not match domid 5"),
    ("bridge", "xenbr9", "unknown bridge 'xenbr9'"),
    ("bridge", "br 0", "bridge: 'br 0'"),
]


@pytest.mark.parametrize("key,value,reason", BAD_VALUES,
                         ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_backend_value_is_an_error_and_changes_nothing(topo, hp, key, value, reason):
    topo.add_guest(5)
    assert hp.vif_add("5.0", keys_only=True).returncode == 0
    hp.xsd.write(f"{BE}/5/0/{key}", value)
    before = topo.snapshot()
    r = hp.script("online", 5)
    assert r.returncode == 1, r.stderr
    assert hp.xsd.status(5) == "error"
    assert reason in hp.xsd.error(5)
    assert reason in r.stderr
    topo.assert_snapshot_equal(before)
    assert vif_list(hp.netd) == {}


def test_rate_in_in_the_backend_dir_shapes_the_vif(topo, hp):
    """netd's own backend key rate_in (beside libxl's rate) shapes what the
    guest receives; offline removes it."""
    topo.add_guest(5)
    assert hp.vif_add("5.0", keys_only=True).returncode == 0
    hp.xsd.write(f"{BE}/5/0/rate_in", "10Mb/s@20ms")
    r = hp.script("online", 5)
    assert r.returncode == 0, r.stderr
    assert hp.xsd.status(5) == "connected"
    (q,) = [q for q in json.loads(topo.run(topo.d0, "tc -j qdisc show dev vif5.0").stdout)
            if q.get("root")]
    assert (q["kind"], q["handle"], q["options"]["rate"]) == ("tbf", "4e44:", 1_250_000), q
    assert hp.script("offline", 5).returncode == 0
    (q,) = [q for q in json.loads(topo.run(topo.d0, "tc -j qdisc show dev vif5.0").stdout)
            if q.get("root")]
    assert q["kind"] == "noqueue", q


@pytest.mark.parametrize("key", ["mac", "frontend-id", "handle"])
def test_missing_key_is_an_error(topo, hp, key):
    topo.add_guest(5)
    assert hp.vif_add("5.0", keys_only=True).returncode == 0
    hp.xsd.rm(f"{BE}/5/0/{key}")
    before = topo.snapshot()
    r = hp.script("online", 5)
    assert r.returncode == 1
    assert hp.xsd.status(5) == "error"
    assert f"missing key '{key}'" in hp.xsd.error(5)
    topo.assert_snapshot_equal(before)


def test_frontend_values_are_never_read(topo, hp):
    """The guest owns its frontend dir: a bridge or mtu written there is ignored."""
    topo.add_guest(5)
    assert hp.vif_add("5.0", "mtu=1400", keys_only=True).returncode == 0
    hp.xsd.write("/local/domain/5/device/vif/0/bridge", "evil0",
                 "/local/domain/5/device/vif/0/mtu", "9000",
                 "/local/domain/5/device/vif/0/vifname", "eth0")
    r = hp.script("online", 5)
    assert r.returncode == 0, r.stderr
    assert port_of(topo, "vif5.0") == "xenbr0"
    assert topo.link(topo.d0, "vif5.0")["mtu"] == 1400


def test_no_backend_directory_and_mismatched_names(topo, hp):
    topo.add_guest(5)
    r = hp.script("online", 5)
    assert r.returncode == 1 and "no backend directory" in r.stderr
    assert hp.xsd.read(f"{BE}/5/0") is None  # nothing created to report into
    assert hp.vif_add("5.0", keys_only=True).returncode == 0
    r = hp.script("online", 5, env={"vif": "vif6.0"})
    assert r.returncode == 1 and "vif=vif6.0 does not match XENBUS_PATH" in r.stderr
    r = hp.script("online", 5, env={"XENBUS_PATH": "backend/vbd/5/0"})
    assert r.returncode == 1 and "is not backend/vif/DOMID/DEVID" in r.stderr
    assert port_of(topo, "vif5.0") is None


def waiting_to_be_accepted(topo, sock):
    """Connections to the listening socket sock (in dom0's namespace) that
    its server has not accepted yet."""
    out = sh(f"ip netns exec {topo.d0} ss -xlH").stdout
    return sum(int(line.split()[2]) for line in out.splitlines() if sock in line.split())


@contextlib.contextmanager
def script_waiting_on_a_stopped_netd(topo, hp):
    """Guest 5's vif 5.0 (its keys only) and vif-bridge online for it with
    netd stopped: yields the script once it has read the backend directory
    and waits for netd's answer; netd goes on at the end of the block."""
    topo.add_guest(5)
    assert hp.vif_add("5.0", "mac=00:16:3e:00:00:05", keys_only=True).returncode == 0
    netd = hp.netd.proc.pid
    sigstop(netd)
    try:
        script = subprocess.Popen(
            ["ip", "netns", "exec", topo.d0, os.path.join(SCRIPTS, "vif-bridge"), "online",
             "type_if=vif"],
            env=hp.env(vif="vif5.0", XENBUS_PATH="backend/vif/5/0"), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        # the directory read first, then netd asked
        wait_for(lambda: script.poll() is not None or
                 waiting_to_be_accepted(topo, hp.netd.sock) > 0, 10,
                 what="the script waiting for netd")
        assert script.poll() is None, script.communicate()
        yield script
    finally:
        os.kill(netd, signal.SIGCONT)


@pytest.mark.parametrize("then", ["removed", "added_again"])
def test_a_directory_removed_while_being_plugged_is_not_made_again(topo, hp, then):
    """The toolstack removes a vif's backend directory (xl destroy,
    network-detach) while its script waits for netd's plug. The report
    (hotplug-status) is one transaction that finds the directory gone and
    writes nothing: a plain write would make the directory again, if only
    until it was taken back, and whoever watches it (libxl, netback, netd's
    own watch) would see a vif come back. A directory added again meanwhile
    (another device of the same number, here with another MAC) is not told
    "connected" for the old one's plug either. Made deterministic by
    stopping netd: the script has read the directory and waits for netd's
    answer while the directory goes."""
    with script_waiting_on_a_stopped_netd(topo, hp) as script:
        watch = subprocess.Popen(["xenstore-watch", f"{BE}/5"], env=hp.xsd.env(),
                                 stdout=subprocess.PIPE, text=True)
        assert watch.stdout.readline() == f"{BE}/5\n"  # fires once as it is set
        hp.xsd.rm(f"{BE}/5/0")
        if then == "added_again":
            assert hp.vif_add("5.0", "mac=00:16:3e:00:00:55", keys_only=True).returncode == 0
    out, err = script.communicate(timeout=30)
    time.sleep(0.3)  # the events of a late write, if any
    watch.terminate()
    events = watch.communicate(timeout=5)[0].split()
    assert script.returncode == 1, out + err
    if then == "removed":
        assert "vif5.0: backend directory removed while being plugged" in err, err
        assert hp.xsd.read(f"{BE}/5/0") is None, hp.xsd.ls(f"{BE}/5/0")
        # never made again, not even for a moment: the removal was the last event
        assert events == [f"{BE}/5/0"], events
    else:
        assert "vif5.0: backend directory changed since it was read" in err, err
        # the new device waits for its own plug
        assert hp.xsd.status(5) == "", hp.xsd.status(5)
        assert hp.xsd.read(f"{BE}/5/0/mac") == "00:16:3e:00:00:55"
        # its only hotplug-status write is the toolstack's own ""
        assert events.count(f"{BE}/5/0/hotplug-status") == 1, events


@pytest.mark.parametrize("key,value,stale", [("rate", "1250000,20000", False),
                                             ("rate_in", "10Mb/s", False),
                                             ("ip", "192.0.2.55", True),
                                             ("mac", "00:16:3e:00:00:55", True)])
def test_a_key_changed_while_being_plugged(topo, hp, key, value, stale):
    """A key the toolstack changes while the script waits for netd: the
    report writes "connected" unless the key is one of the device's identity
    (docs/xen.md: what the plug was made from, but for rate and rate_in,
    shaping netback and netd read at connect and at plug, which never say
    which device this is). Before, any key but online and hotplug-status
    failed the script: `xl` changing the rate made the attach fail."""
    with script_waiting_on_a_stopped_netd(topo, hp) as script:
        hp.xsd.write(f"{BE}/5/0/{key}", value)
    out, err = script.communicate(timeout=30)
    if stale:
        assert script.returncode == 1, out + err
        assert "vif5.0: backend directory changed since it was read" in err, err
        assert hp.xsd.status(5) == ""
    else:
        assert script.returncode == 0, out + err
        assert hp.xsd.status(5) == "connected"
        assert port_of(topo, "vif5.0") == "xenbr0"


def test_a_report_xenstored_refuses_for_a_while_is_written_again(topo, hp):
    """The script's report (hotplug-status, and hotplug-error with it) whose
    transaction xenstored refuses for a while, here conflicting 16 times
    (NETD_FAULT=xs-tx-conflict:16 in the script's environment: the first
    try's 8 commits and the second's), is written again after 50 ms,
    doubling, as netd's own watch writes its reports. Before, the script
    exited 1 at the first 8 conflicts: libxl failed the attach and the
    guest lost its vif for a refusal that cleared at once."""
    topo.add_guest(5)
    assert hp.vif_add("5.0", "mac=00:16:3e:00:00:05", keys_only=True).returncode == 0
    r = hp.script("online", 5, env={"NETD_FAULT": "xs-tx-conflict:16"})
    assert r.returncode == 0, r.stderr
    assert ("vif5.0: backend/vif/5/0: its report conflicted 8 times: "
            "hotplug-status written again in 50 ms") in r.stderr, r.stderr
    assert "hotplug-status written again in 100 ms" in r.stderr, r.stderr
    assert "5.0: hotplug-status written (try 3)" in r.stderr, r.stderr
    assert hp.xsd.status(5) == "connected"
    assert port_of(topo, "vif5.0") == "xenbr0"
    # a refusal's report too: hotplug-error reaches libxl, the exit is 1
    topo.add_guest(6)
    assert hp.vif_add("6.0", keys_only=True).returncode == 0
    r = hp.script("online", 6, script="vif-route", env={"NETD_FAULT": "xs-tx-conflict:8"})
    assert r.returncode == 1, r.stderr
    assert "hotplug-status written (try 2)" in r.stderr, r.stderr
    assert hp.xsd.status(6) == "error"
    assert hp.xsd.error(6) == "vif6.0: a vif-route script cannot plug into xenbr0, a bridge network"


def test_a_report_xenstored_always_refuses_is_given_up_within_libxls_time(topo, hp):
    """A report refused at every try is given up after 13 tries (about 15 s,
    within libxl's 40 s for a script): exit 1, saying why."""
    topo.add_guest(5)
    assert hp.vif_add("5.0", keys_only=True).returncode == 0
    t = time.monotonic()
    r = hp.script("online", 5, env={"NETD_FAULT": "xs-tx-conflict:1000000"})
    took = time.monotonic() - t
    assert r.returncode == 1, r.stderr
    assert ("vif5.0: backend/vif/5/0: its report conflicted 8 times: "
            "hotplug-status not written, given up after 13 tries") in r.stderr, r.stderr
    assert 10 < took < 35, took
    assert hp.xsd.status(5) in (None, "")


class SlowXenstored:
    """A proxy in front of a xenstored that passes each write of a client
    on after `delay` seconds, replies at once: a xenstored too slow for
    its clients (a loaded Dom0), each request answered well within a
    batch's timeout."""

    def __init__(self, upstream, delay):
        self.upstream, self.delay = upstream, delay
        self.dir = tempfile.mkdtemp(prefix="xs-slow.")
        self.sock = os.path.join(self.dir, "socket")
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.sock)
        self.srv.listen(8)
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            u.connect(self.upstream)
            self.conns += [c, u]
            threading.Thread(target=self.pipe, args=(c, u, self.delay), daemon=True).start()
            threading.Thread(target=self.pipe, args=(u, c, 0), daemon=True).start()

    @staticmethod
    def pipe(src, dst, delay):
        while True:
            try:
                chunk = src.recv(65536)
                if not chunk:
                    break
                time.sleep(delay)
                dst.sendall(chunk)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def env(self, **kw):
        return dict(os.environ, XENSTORED_PATH=self.sock, **kw)

    def close(self):
        self.srv.close()
        for c in self.conns:
            c.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_a_report_against_a_slow_xenstored_ends_before_libxl_gives_up(topo, hp):
    """Every request to xenstored answered after 1 s (a loaded Dom0), and
    the report's transaction conflicting at every commit: one try of the
    report is 8 commits of 3 round trips, 24 s. The script ends (exit 1,
    saying why and when) 36 s after its start, before libxl's 40 s
    hotplug timeout, whose own error would replace ours. Before, a second
    try begun at 27 s (no try was begun past 32 s) ran on to about 51 s:
    libxl had killed the script by then."""
    topo.add_guest(5)
    assert hp.vif_add("5.0", keys_only=True).returncode == 0
    slow = SlowXenstored(hp.xsd.sock, 1.0)
    real, hp.xsd = hp.xsd, slow  # env() takes XENSTORED_PATH from here
    try:
        t = time.monotonic()
        r = hp.script("online", 5, env={"NETD_FAULT": "xs-tx-conflict:1000000"})
        took = time.monotonic() - t
    finally:
        hp.xsd = real
        slow.close()
    assert r.returncode == 1, r.stderr
    assert took < 38, (took, r.stderr)
    assert "hotplug-status written again in 50 ms" in r.stderr, r.stderr  # a second try
    assert "hotplug-status not written, given up 36." in r.stderr, r.stderr
    assert "after the script's start (libxl gives a script 40 s)" in r.stderr, r.stderr


def test_usage_errors(hp):
    for args, msg in [((), "no command"), (("plug",), "invalid command 'plug'"),
                      (("online", "type_if=xyz"), "unknown interface type"),
                      (("online", "mode=switch"), "mode 'switch'"),
                      (("online", "colour=red"), "unrecognized argument 'colour'"),
                      (("online", "mtu=abc"), "mtu: 'abc'")]:
        r = hp.d0(NETDCTL, "hotplug", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert msg in r.stderr, (args, r.stderr)


def test_route_script_on_a_bridge_network_is_refused(topo, hp):
    topo.add_guest(5)
    before = topo.snapshot()
    r = hp.vif_add("5.0", script="vif-route")
    assert r.returncode == 1
    assert hp.xsd.status(5) == "error"
    assert hp.xsd.error(5) == "vif5.0: a vif-route script cannot plug into xenbr0, a bridge network"
    topo.assert_snapshot_equal(before)


def test_netd_unreachable(topo, hp):
    topo.add_guest(5)
    assert hp.vif_add("5.0", keys_only=True).returncode == 0
    r = hp.script("online", 5, env={"NETD_SOCKET": "/nonexistent/netd.sock"})
    assert r.returncode == 1
    assert hp.xsd.status(5) == "error"
    assert "cannot reach netd at /nonexistent/netd.sock" in hp.xsd.error(5)
    r = hp.script("offline", 5, env={"NETD_SOCKET": "/nonexistent/netd.sock"})
    assert r.returncode == 1 and "cannot reach netd" in r.stderr


def test_offline_of_an_unknown_vif_succeeds(topo, hp):
    topo.add_guest(5)
    assert hp.vif_add("5.0", keys_only=True).returncode == 0
    before = topo.snapshot()
    r = hp.script("offline", 5)
    assert r.returncode == 0, r.stderr
    assert "nothing to unplug" in r.stderr
    topo.assert_snapshot_equal(before)
    # online twice: the second is a no-op that still reports connected
    assert hp.script("online", 5).returncode == 0
    hp.xsd.write(f"{BE}/5/0/hotplug-status", "")
    assert hp.script("online", 5).returncode == 0
    assert hp.xsd.status(5) == "connected"
    assert port_of(topo, "vif5.0") == "xenbr0"


def add_tap(topo, domid, name=None):
    """qemu's tap for an HVM guest's emulated NIC: vifD.0-emu in dom0."""
    g = topo.guests[domid]
    sh(f"ip link add {name or f'vif{domid}.0-emu'} netns {topo.d0} type veth "
       f"peer name eth1 netns {g}")


def test_tap_add_remove_alongside_the_pv_vif(topo, hp):
    topo.add_guest(5)
    add_tap(topo, 5)
    assert hp.vif_add("5.0", "type=ioemu", keys_only=True).returncode == 0
    before = topo.snapshot()
    # as vif-common.sh: online/offline are for the vif, add/remove for the tap
    assert hp.script("online", 5, type_if="tap").returncode == 0
    assert hp.script("add", 5, type_if="vif").returncode == 0
    topo.assert_snapshot_equal(before)
    assert hp.xsd.status(5) == ""

    r = hp.script("add", 5, type_if="tap")
    assert r.returncode == 0, r.stderr
    assert port_of(topo, "vif5.0-emu") == "xenbr0"
    assert hp.xsd.status(5) == ""  # the tap never reports (vif-bridge: vif online only)
    r = hp.script("online", 5)
    assert r.returncode == 0, r.stderr
    assert port_of(topo, "vif5.0") == "xenbr0"
    assert hp.xsd.status(5) == "connected"
    assert set(vif_list(hp.netd)) == {"5.0", "5.0-emu"}

    # the guest's PV driver took over: qemu's NIC goes away, the vif stays
    r = hp.script("remove", 5, type_if="tap")
    assert r.returncode == 0, r.stderr
    assert port_of(topo, "vif5.0-emu") is None
    assert port_of(topo, "vif5.0") == "xenbr0"
    assert set(vif_list(hp.netd)) == {"5.0"}


def test_tap_with_vifname(topo, hp):
    topo.add_guest(5)
    add_tap(topo, 5)
    assert hp.vif_add("5.0", "type=ioemu,vifname=web5", keys_only=True).returncode == 0
    assert hp.script("add", 5, type_if="tap").returncode == 0
    assert topo.link(topo.d0, "vif5.0-emu") is None
    assert port_of(topo, "web5-emu") == "xenbr0"
    assert vif_list(hp.netd)["5.0-emu"]["ifname"] == "web5-emu"
    assert "alias netd: renamed from vif5.0-emu" in ip_d_link(topo, "web5-emu")
    assert hp.script("remove", 5, type_if="tap").returncode == 0
    # QEMU's tap has its own name back, unmarked and no port
    assert ip_d_link(topo, "web5-emu") is None
    shown = ip_d_link(topo, "vif5.0-emu")
    assert shown is not None and "master" not in shown and "alias" not in shown, shown


def test_installed_scripts_find_netdctl(topo, hp, tmp_path):
    """scripts/install.sh into a DESTDIR: the copy in etc/xen/scripts keeps
    Xen's original beside it and finds netdctl on PATH, without $NETDCTL."""
    topo.add_guest(5)
    dest = tmp_path / "dest"
    xen_dir = dest / "etc/xen/scripts"
    xen_dir.mkdir(parents=True)
    (xen_dir / "vif-bridge").write_text("#!/bin/sh\n# Xen's own\nexit 1\n")
    env = dict(os.environ, DESTDIR=str(dest))
    r = subprocess.run([os.path.join(SCRIPTS, "install.sh"), BUILD], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert (dest / "usr/sbin/netd").exists() and (dest / "usr/sbin/netdctl").exists()
    unit = (dest / "lib/systemd/system/netd.service").read_text()
    assert "Type=notify" in unit and "ExecStart=/usr/sbin/netd -f" in unit
    assert (xen_dir / "vif-bridge.xen").read_text().startswith("#!/bin/sh\n# Xen's own")
    for s in ("vif-bridge", "vif-route", "vif-nat"):
        assert os.access(xen_dir / s, os.X_OK), s
    # dpswitch (built here: make deps installs DPDK), its unit and its man
    # page, as the package xen-netfabric-dpswitch places them
    assert os.access(os.path.join(BUILD, "bin", "dpswitch"), os.X_OK), "dpswitch not built"
    assert os.access(dest / "usr/sbin/dpswitch", os.X_OK)
    unit_dir = dest / "lib/systemd/system"
    dps_unit = (unit_dir / "dpswitch@.service").read_text()
    assert "ExecStart=/usr/sbin/dpswitch --bridge %i" in dps_unit
    for page in ("man8/netd.8", "man8/netdctl.8", "man5/netd.conf.5", "man8/vifback.8",
                 "man8/dpswitch.8"):
        assert (dest / "usr/share/man" / page).is_file(), page
    with open(os.path.join(os.path.dirname(SCRIPTS), "man", "dpswitch.8")) as f:
        assert (dest / "usr/share/man/man8/dpswitch.8").read_text() == f.read()
    # the unit as installed verifies: its ExecStart= pointed where it was
    # staged (what PREFIX does), and no xenstored.service, as on Debian 12
    # (it only Wants= it)
    units = tmp_path / "units"
    units.mkdir()
    (units / "dpswitch@.service").write_text(
        dps_unit.replace("/usr/sbin/", f"{dest}/usr/sbin/"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", "dpswitch@dps0.service"],
                       env=dict(os.environ, SYSTEMD_UNIT_PATH=f"{units}:"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    # again: Xen's copy stays Xen's
    assert subprocess.run([os.path.join(SCRIPTS, "install.sh"), BUILD], env=env,
                          capture_output=True, timeout=30).returncode == 0
    assert "Xen's own" in (xen_dir / "vif-bridge.xen").read_text()
    # no DESTDIR and no --system: refused, nothing touched
    r = subprocess.run([os.path.join(SCRIPTS, "install.sh"), BUILD], capture_output=True,
                       text=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if k != "DESTDIR"})
    assert r.returncode == 2 and "--system" in r.stderr

    env = hp.env()
    del env["NETDCTL"]
    env["PATH"] = f"{dest / 'usr/sbin'}:{env['PATH']}"
    r = hp.d0(HVSIM, "vif", "add", "5.0", f"script={xen_dir / 'vif-bridge'}", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert port_of(topo, "vif5.0") == "xenbr0"


def test_source_tree_script_finds_its_build(topo, hp, tmp_path):
    """Run from a source tree (or through a symlink into one, as
    /etc/xen/scripts/vif-bridge -> tree/scripts/vif-bridge): ../build/bin."""
    topo.add_guest(5)
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    (tree / "build/bin").mkdir(parents=True)
    shutil.copy(os.path.join(SCRIPTS, "vif-bridge"), tree / "scripts/vif-bridge")
    os.symlink(NETDCTL, tree / "build/bin/netdctl")
    link = tmp_path / "etc-xen-scripts"
    link.mkdir()
    os.symlink(tree / "scripts/vif-bridge", link / "vif-bridge")
    env = hp.env()
    del env["NETDCTL"]
    env["PATH"] = "/usr/bin:/bin"  # no netdctl there
    r = hp.d0(HVSIM, "vif", "add", "5.0", f"script={link / 'vif-bridge'}", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert port_of(topo, "vif5.0") == "xenbr0"


def test_100_concurrent_hotplugs(topo, hp):
    n = 100
    gs = topo.add_ns(f"{topo.prefix}-gs")
    batch = "".join(f"link add vif{d}.0 netns {topo.d0} type veth peer name e{d} netns {gs}\n"
                    for d in range(1, n + 1))
    subprocess.run(["ip", "-b", "-"], input=batch, text=True, check=True, timeout=60)
    for d in range(1, n + 1):
        assert hp.vif_add(f"{d}.0", f"mac=00:16:3e:00:01:{d:02x}",
                          keys_only=True).returncode == 0
    script = os.path.join(SCRIPTS, "vif-bridge")
    # all at once, as xl would for a domain with many vifs or many domains
    loop = (f"for d in $(seq 1 {n}); do vif=vif$d.0 XENBUS_PATH=backend/vif/$d/0 "
            f"{script} online type_if=vif 2>/dev/null || echo \"fail $d\" & done; wait")
    r = hp.d0("sh", "-c", loop, timeout=120)
    assert "fail" not in r.stdout, r.stdout
    links = topo.links(topo.d0)
    for d in range(1, n + 1):
        assert hp.xsd.status(d) == "connected", d
        assert links[f"vif{d}.0"].get("master") == "xenbr0", d
        assert "UP" in links[f"vif{d}.0"]["flags"], d
    assert len(vif_list(hp.netd)) == n


# ---- Xen's own script, for comparison ------------------------------------

def view(topo, xsd, name, d):
    link = topo.link(topo.d0, name)
    return {"master": link.get("master"), "mtu": link["mtu"], "address": link["address"],
            "up": "UP" in link["flags"], "status": xsd.status(d),
            "frontend-mtu": xsd.read(f"/local/domain/{d}/device/vif/0/mtu")}


@pytest.mark.parametrize("spec", ["", "mtu=1400"])
def test_same_end_state_as_xens_vif_bridge(topo, hp, spec):
    assert XEN_SCRIPTS, "Xen's hotplug scripts not found (scripts/deps.sh unpacks them)"
    topo.add_guest(5)
    topo.add_guest(6)
    xen = os.path.join(XEN_SCRIPTS, "vif-bridge")
    # Xen's script only ever sees dom0's namespace and a private /var/log.
    run = (f"mount -t tmpfs tmpfs /var/log && mkdir /var/log/xen && "
           f"exec {HVSIM} vif add 5.0 script={xen}{',' if spec else ''}{spec}")
    r = hp.d0("unshare", "-m", "--propagation", "private", "sh", "-c", run)
    assert r.returncode == 0, r.stdout + r.stderr
    r = hp.vif_add("6.0", spec)
    assert r.returncode == 0, r.stdout + r.stderr
    xen_view, our_view = view(topo, hp.xsd, "vif5.0", 5), view(topo, hp.xsd, "vif6.0", 6)
    assert xen_view == our_view
    assert our_view["master"] == "xenbr0" and our_view["status"] == "connected"

    # and both take them out of the bridge on offline
    assert hp.d0("unshare", "-m", "--propagation", "private", "sh", "-c",
                 f"mount -t tmpfs tmpfs /var/log && mkdir /var/log/xen && "
                 f"exec {HVSIM} vif del 5.0").returncode == 0
    assert hp.vif_del("6.0").returncode == 0
    for name in ("vif5.0", "vif6.0"):
        link = topo.link(topo.d0, name)
        assert "master" not in link and "UP" not in link["flags"], name


# ---- no fork: netd watches xenstore ---------------------------------------

def watching_netd(xsd, netd_factory, fault=None, wait=True):
    """netd on bridge_conf("modern") with xenstore_watch = yes on xsd's
    socket (NETD_FAULT=fault if given), started; once its watch is on,
    if wait."""
    env = {"XENSTORED_PATH": xsd.sock}
    if fault:
        env["NETD_FAULT"] = fault
    netd = netd_factory(bridge_conf("modern"), env=env)
    netd.write_conf(bridge_conf("modern"), netd_section="xenstore_watch = yes\n")
    netd.start()
    if wait:
        wait_for(lambda: "xenstore watch on" in netd.read_log(), 5, what="xenstore watch")
    return netd


def toolstack_vif_add(xsd, vif="5.0"):
    """The toolstack's keys of vif (hvsim's, its script /bin/true), no
    backend waited for."""
    r = subprocess.run([HVSIM, "vif", "add", "-n", vif, "script=/bin/true"],
                       env=xsd.env(), capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def watcher(topo, xsd, netd_factory):
    return Hotplug(topo, xsd, watching_netd(xsd, netd_factory))


def plugged_lines(netd, name):
    return [line for line in netd.read_log().splitlines()
            if f"{name} plugged into" in line]


def test_watch_plugs_without_a_script(topo, watcher):
    g = add_guest(topo, 5, "00:16:3e:00:00:05")
    # keys only, and a script that does nothing: netd does the work
    r = watcher.vif_add("5.0", "mac=00:16:3e:00:00:05", script="/bin/true", keys_only=True)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: watcher.xsd.status(5) == "connected", 5, what="hotplug-status")
    assert port_of(topo, "vif5.0") == "xenbr0"
    assert watcher.xsd.read("/local/domain/5/device/vif/0/mtu") == "1500"
    topo.wait_carrier(g, "eth0")
    assert topo.ping(g, "192.0.2.1")
    # a dozen nodes in one transaction: one plug, and our own status write
    # (which fires the watch again) does not plug twice
    time.sleep(0.3)
    assert len(plugged_lines(watcher.netd, "vif5.0")) == 1

    r = watcher.vif_del("5.0", keys_only=True)
    assert r.returncode == 0
    wait_for(lambda: port_of(topo, "vif5.0") is None, 5, what="unplug")
    assert "5.0" not in vif_list(watcher.netd)


def test_watch_unplugs_when_the_directory_vanishes(topo, watcher):
    topo.add_guest(5)
    assert watcher.vif_add("5.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: port_of(topo, "vif5.0") == "xenbr0", 5, what="plug")
    watcher.xsd.rm(f"{BE}/5")
    wait_for(lambda: port_of(topo, "vif5.0") is None, 5, what="unplug")


def test_watch_waits_out_a_closed_backend_with_no_interface(topo, watcher):
    """A vif's directory made again at once (removed and added) may carry
    the old backend's Closed (6) until the new one's probe writes InitWait
    (netback/xenbus.c's renew): with no interface there yet, netd waits
    for InitWait (libxl runs hotplug there) rather than plug, fail "no
    such interface" and answer hotplug-status error. Then it plugs."""
    assert watcher.vif_add("5.0", script="/bin/true", keys_only=True).returncode == 0
    watcher.xsd.write(f"{BE}/5/0/state", "6")
    # a vif after it, ready: once it is answered, 5.0's events were looked at
    topo.add_guest(6)
    assert watcher.vif_add("6.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: watcher.xsd.status(6) == "connected", 5, what="vif6.0 plugged")
    assert not watcher.xsd.status(5), watcher.netd.read_log()  # unanswered
    assert "no such interface" not in watcher.netd.read_log()
    topo.add_guest(5)
    watcher.xsd.write(f"{BE}/5/0/state", "2")
    wait_for(lambda: watcher.xsd.status(5) == "connected", 5,
             what=lambda: f"vif5.0 plugged: {watcher.netd.read_log()}")
    assert port_of(topo, "vif5.0") == "xenbr0"


def test_watch_vifname_and_errors(topo, watcher):
    for d in (5, 6, 7):
        topo.add_guest(d)
    assert watcher.vif_add("5.0", "vifname=web5", script="/bin/true",
                           keys_only=True).returncode == 0
    wait_for(lambda: watcher.xsd.status(5) == "connected", 5, what="plug")
    assert port_of(topo, "web5") == "xenbr0"
    before = topo.snapshot()
    # a bad value, written as a careless toolstack would: key by key, the
    # gate keys (online, hotplug-status) last
    d = f"{BE}/6/0"
    watcher.xsd.write(f"{d}/frontend-id", "6", f"{d}/handle", "0", f"{d}/bridge", "xenbr0",
                      f"{d}/mac", "00:16:3e:00:00:zz", f"{d}/script", "/bin/true",
                      f"{d}/hotplug-status", "", f"{d}/online", "1")
    wait_for(lambda: watcher.xsd.status(6) == "error", 5, what="error status")
    assert "mac: '00:16:3e:00:00:zz'" in watcher.xsd.error(6)
    # a vif-route script's vif on a bridge network
    assert watcher.vif_add("7.0", script="/etc/xen/scripts/vif-route",
                           keys_only=True).returncode == 0
    wait_for(lambda: watcher.xsd.status(7) == "error", 5, what="error status")
    assert "a vif-route script cannot plug into xenbr0" in watcher.xsd.error(7)
    # vifname taken
    assert watcher.vif_add("6.0", "vifname=web5", script="/bin/true",
                           keys_only=True).returncode == 0
    wait_for(lambda: watcher.xsd.status(6) == "error", 5, what="error status")
    assert watcher.xsd.error(6) == "vifname web5 already exists"
    topo.assert_snapshot_equal(before)


CONTROL_VALUES = [
    ("online", "2", "vif5.0: online: '2': expected '0' or '1'"),
    ("online", "1 ", "vif5.0: online: '1 ': expected '0' or '1'"),
    ("online", "", "vif5.0: online: '': expected '0' or '1'"),
    ("script", "", "vif5.0: script: empty, expected the hotplug script's path"),
]


@pytest.mark.parametrize("key,value,reason", CONTROL_VALUES,
                         ids=[f"{k}={v!r}" for k, v, _ in CONTROL_VALUES])
def test_watch_answers_a_directory_it_cannot_plug(topo, watcher, key, value, reason):
    """A backend directory whose online or script no plug can come of is
    answered with hotplug-error naming the key and value: libxl would wait
    40 s for nothing. Nothing on the host changes."""
    topo.add_guest(5)
    topo.settle()
    before = topo.snapshot()
    keys = {"frontend-id": "5", "handle": "0", "mac": "00:16:3e:00:00:05",
            "bridge": "xenbr0", "script": "/bin/true", "online": "1"}
    keys[key] = value
    # online last, as a toolstack's transaction makes it appear at once
    order = [k for k in keys if k != "online"] + ["online"]
    watcher.xsd.write(*[x for k in order for x in (f"{BE}/5/0/{k}", keys[k])])
    wait_for(lambda: watcher.xsd.status(5) == "error", 5, what="hotplug-status error")
    assert watcher.xsd.error(5) == reason
    topo.assert_snapshot_equal(before)
    assert vif_list(watcher.netd) == {}
    assert watcher.netd.alive()


def test_watch_plugs_vifs_written_before_netd_started(topo, xsd, netd_factory):
    topo.add_guest(5)
    hp = Hotplug(topo, xsd, None)
    toolstack_vif_add(xsd)
    watching_netd(xsd, netd_factory, wait=False)
    wait_for(lambda: xsd.status(5) == "connected", 5, what="plug at start")
    assert port_of(topo, "vif5.0") == "xenbr0"
    del hp


def test_watch_plugs_at_start_a_vif_among_1000_domains(topo, xsd, netd_factory):
    """The backend root with 1000 other domains' directories (some 5000
    bytes of names: more than one reply of xenstored's 4096, which answers
    E2BIG to the listing) and vif 5.0 there before netd starts: the watch
    lists the root in parts (DIRECTORY_PART, as libxenstore does) and
    plugs it. Before, the listing was refused and every vif missed until
    it changed."""
    topo.add_guest(5)
    hp = Hotplug(topo, xsd, None)
    xsd.write(*[x for d in range(1000, 2000) for x in (f"{BE}/{d}", "")])
    assert len(xsd.ls(BE)) == 1000
    toolstack_vif_add(xsd)
    netd = watching_netd(xsd, netd_factory, wait=False)
    wait_for(lambda: xsd.status(5) == "connected", 5, what="plug at start")
    assert port_of(topo, "vif5.0") == "xenbr0"
    assert "E2BIG" not in netd.read_log() and "Argument list too long" not in netd.read_log()
    del hp


def test_watch_lists_again_a_listing_xenstored_refused(topo, xsd, netd_factory):
    """vif 5.0 there before netd starts, and xenstored refusing netd's first
    three listings of the backend root (NETD_FAULT=xs-list-refused:3: EIO,
    as xenstored answers EACCES, ENOMEM, EDQUOT...): the watch lists the
    root again with backoff (50, 100, 200 ms) and plugs the vif, with no
    further xenstore event to bring it; one warning for the run of
    refusals. Before, the refusal was only logged and the vif missed until
    its directory changed: the guest's vif never plugged."""
    topo.add_guest(5)
    toolstack_vif_add(xsd)
    netd = watching_netd(xsd, netd_factory, fault="xs-list-refused:3", wait=False)
    wait_for(lambda: xsd.status(5) == "connected", 5,
             what=lambda: f"plug at start: {netd.read_log()}")
    assert port_of(topo, "vif5.0") == "xenbr0"
    log = netd.read_log()
    warned = [line for line in log.splitlines() if "listed again, with backoff" in line]
    assert len(warned) == 1, log
    assert f"list {BE}: Input/output error" in warned[0], log
    assert f"xenstore watch: {BE} listed (try 4)" in log, log
    assert "given up" not in log, log


def test_watch_gives_up_a_listing_always_refused_until_it_changes(topo, xsd, netd_factory):
    """A listing xenstored refuses every time is given up after 13 tries
    (about 15 s of backoff), saying so once; the next event of the
    directory lists it again, and a vif there is plugged."""
    xsd.write(f"{BE}/1000", "")  # a root to list (an absent one is no refusal)
    w = watcher_faulted(topo, xsd, netd_factory, "xs-list-refused:13")
    wait_for(lambda: "refused 13 times in a row, given up until it changes" in w.netd.read_log(),
             25, what=lambda: f"given up: {w.netd.read_log()}")
    log = w.netd.read_log()
    assert log.count("listed again, with backoff") == 1, log
    topo.add_guest(5)
    assert w.vif_add("5.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: xsd.status(5) == "connected", 5, what="plug after the refusals")
    assert w.netd.request({"cmd": "vif-list"})["ok"]


def watcher_faulted(topo, xsd, netd_factory, fault):
    return Hotplug(topo, xsd, watching_netd(xsd, netd_factory, fault=fault))


def test_watch_writes_a_conflicted_report_again(topo, xsd, netd_factory):
    """A report whose transaction conflicted 8 times (the toolstack writing
    the directory without pause; here NETD_FAULT=xs-tx-conflict:16 makes
    the first 16 commits conflict, the first report's 8 and its first
    retry's 8) is written again later, on netd's loop, until it lands.
    Before, it was only logged: the vif stayed plugged with no
    hotplug-status (nothing else comes to change the directory), and libxl
    would have failed the guest's start at its timeout."""
    w = watcher_faulted(topo, xsd, netd_factory, "xs-tx-conflict:16")
    topo.add_guest(5)
    assert w.vif_add("5.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: xsd.status(5) == "connected", 5, what="hotplug-status written again")
    assert port_of(topo, "vif5.0") == "xenbr0"
    log = w.netd.read_log()
    assert "vif5.0: /local/domain/0/backend/vif/5/0: its report conflicted 8 times: " \
           "hotplug-status written again in 50 ms" in log, log
    # try 3, or try 2 when the transaction's events came in two reads and
    # the second's look plugged it again (and reported: 8 more conflicts)
    assert re.search(r"vif5\.0: hotplug-status written \(try [23]\)", log), log
    assert "unplugged" not in log, log


def test_watch_report_written_again_for_a_vif_unplugged_meanwhile_is_an_error(
        topo, xsd, netd_factory):
    """A vif unplugged by hand while its "connected" waits to be written
    again is told hotplug-status error instead: libxl is not told a vif
    netd no longer has is connected. (xs-tx-conflict:56: the report lands
    at its sixth try, about 1.5 s after the plug.)"""
    w = watcher_faulted(topo, xsd, netd_factory, "xs-tx-conflict:56")
    topo.add_guest(5)
    assert w.vif_add("5.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: "hotplug-status written again in 50 ms" in w.netd.read_log(), 5,
             what="a report to write again")
    w.netd.ctl("vif", "offline", "5.0")
    wait_for(lambda: xsd.status(5) == "error", 10, what="hotplug-status error")
    assert "vif5.0: unplugged while its hotplug-status waited to be written" in xsd.error(5)
    assert port_of(topo, "vif5.0") is None


def test_watch_gives_up_a_report_that_always_conflicts(topo, xsd, netd_factory):
    """A report that conflicts on every retry is given up after 13 tries
    (about 15 s of backoff), with a line naming the vif; netd stays up."""
    w = watcher_faulted(topo, xsd, netd_factory, "xs-tx-conflict:1000000")
    topo.add_guest(5)
    assert w.vif_add("5.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: "hotplug-status not written, given up after 13 tries" in w.netd.read_log(),
             25, what="given up")
    line = next(x for x in w.netd.read_log().splitlines() if "given up after" in x)
    assert "vif5.0:" in line and "conflicted" in line, line
    assert xsd.status(5) in (None, "")
    assert w.netd.request({"cmd": "vif-list"})["ok"]


def test_watch_survives_xenstored_going_away(topo, xsd, watcher):
    topo.add_guest(5)
    topo.add_guest(6)
    assert watcher.vif_add("5.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: xsd.status(5) == "connected", 5, what="plug")
    xsd.stop()
    wait_for(lambda: "connection to xenstored lost" in watcher.netd.read_log(), 5,
             what="netd to notice")
    # netd serves its socket meanwhile, and the vif stays plugged
    assert watcher.netd.alive()
    assert port_of(topo, "vif5.0") == "xenbr0"
    time.sleep(0.5)
    xsd.start()  # an empty store, as after a restart of xenstored
    wait_for(lambda: watcher.netd.read_log().count("xenstore watch on") == 2, 10,
             what="reconnect")
    assert watcher.vif_add("6.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: xsd.status(6) == "connected", 5, what="plug after reconnect")
    assert port_of(topo, "vif6.0") == "xenbr0"
    # vif5.0's directory is gone with the old store, but netd saw it: unplugged
    wait_for(lambda: port_of(topo, "vif5.0") is None, 5, what="unplug of the vanished vif")


class HungXenstored:
    """A xenstored that answers WATCH, fires the watch once for vif 5.0, and
    then never answers again (alive, socket open): what libxenstore would
    wait on for ever."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xs-hung.")
        self.sock = os.path.join(self.dir, "socket")
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.sock)
        self.srv.listen(8)
        self.conns, self.requests = [], []
        self.stop_flag = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.srv.settimeout(0.2)
        while not self.stop_flag:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        buf = b""
        while not self.stop_flag:
            try:
                chunk = c.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 16:
                mtype, req, tx, n = struct.unpack_from("<IIII", buf)
                if len(buf) < 16 + n:
                    break
                self.requests.append(mtype)
                if mtype == 4:  # WATCH: answered, and fired once
                    token = buf[16:16 + n].split(b"\0")[1]
                    ev = f"{BE}/5/0".encode() + b"\0" + token + b"\0"
                    c.sendall(struct.pack("<IIII", 4, req, tx, 3) + b"OK\0" +
                              struct.pack("<IIII", 15, 0, 0, len(ev)) + ev)
                buf = buf[16 + n:]

    def env(self, **kw):
        return dict(os.environ, XENSTORED_PATH=self.sock, **kw)

    def close(self):
        self.stop_flag = True
        self.srv.close()
        for c in self.conns:
            c.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def hung_xsd():
    x = HungXenstored()
    try:
        yield x
    finally:
        x.close()


def test_watch_gives_up_on_a_hung_xenstored(topo, hung_xsd, netd_factory):
    """A xenstored that stops answering holds netd for at most the request
    timeout (2 s); netd keeps serving its socket and tries again."""
    netd = watching_netd(hung_xsd, netd_factory, wait=False)
    wait_for(lambda: "no reply within 2000 ms" in netd.read_log(), 10,
             what="netd to give up on the unanswered batch")
    # Served again (a netd still stuck on xenstored would not answer before
    # the request's own timeout); how fast is bench/hotplug's business.
    assert netd.request({"cmd": "status"})["ok"], netd.read_log()
    # and it reconnects (its backoff), asking again: a new WATCH
    wait_for(lambda: netd.read_log().count("xenstore watch on") >= 2, 10, what="reconnect")
    assert netd.alive()


def test_script_gives_up_on_a_hung_xenstored(topo, hung_xsd, hp):
    """`netdctl hotplug` against a xenstored that never answers exits 1
    with the reason, within its timeout, instead of hanging libxl (a script
    that hung would hit hp.script's own timeout and fail the test)."""
    topo.add_guest(5)
    hp.xsd = hung_xsd  # env() takes XENSTORED_PATH from here
    r = hp.script("online", 5)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no reply within 5000 ms" in r.stderr, r.stderr
    assert port_of(topo, "vif5.0") is None


def test_watch_does_not_touch_vifs_plugged_by_hand(topo, watcher):
    topo.add_guest(5)
    watcher.netd.ctl("vif", "online", "5.0")
    topo.add_guest(6)
    assert watcher.vif_add("6.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: watcher.xsd.status(6) == "connected", 5, what="plug")
    watcher.xsd.rm(f"{BE}/6")
    wait_for(lambda: port_of(topo, "vif6.0") is None, 5, what="unplug")
    assert port_of(topo, "vif5.0") == "xenbr0"
    assert set(vif_list(watcher.netd)) == {"5.0"}


def test_watch_plugs_an_hvm_guests_emulated_nic(topo, watcher):
    """An HVM guest's emulated NIC is QEMU's tap vifD.N-emu (renamed NAME-emu
    for vifname=NAME, as vif-common.sh does): with no scripts, netd plugs it
    like its vif, whether it appears before or after the vif is connected,
    and unplugs it when it goes or its vif does."""
    topo.add_guest(5)
    topo.ip(topo.d0, "tuntap add vif5.0-emu mode tap")  # before the vif
    assert watcher.vif_add("5.0", script="/bin/true", keys_only=True).returncode == 0
    wait_for(lambda: watcher.xsd.status(5) == "connected", 5, what="plug")
    wait_for(lambda: port_of(topo, "vif5.0-emu") == "xenbr0", 5, what="tap plugged")
    assert set(vif_list(watcher.netd)) == {"5.0", "5.0-emu"}
    assert topo.link(topo.d0, "vif5.0-emu")["address"] == "fe:ff:ff:ff:ff:ff"
    # QEMU drops the tap (the guest's PV driver took over)
    topo.ip(topo.d0, "link del vif5.0-emu")
    wait_for(lambda: set(vif_list(watcher.netd)) == {"5.0"}, 5, what="tap unplugged")

    topo.add_guest(6)
    assert watcher.vif_add("6.0", "vifname=web6", script="/bin/true",
                           keys_only=True).returncode == 0
    wait_for(lambda: watcher.xsd.status(6) == "connected", 5, what="plug")
    topo.ip(topo.d0, "tuntap add vif6.0-emu mode tap")  # after; QEMU's name, renamed
    wait_for(lambda: port_of(topo, "web6-emu") == "xenbr0", 5,
             what=lambda: "named tap plugged: " + watcher.netd.read_log())
    assert vif_list(watcher.netd)["6.0-emu"]["ifname"] == "web6-emu"
    # the domain goes: its vif and its tap are unplugged
    watcher.xsd.rm(f"{BE}/6")
    wait_for(lambda: set(vif_list(watcher.netd)) == {"5.0"}, 5, what="both unplugged")
    assert port_of(topo, "web6-emu") is None and port_of(topo, "web6") is None


def test_watch_and_script_together_converge(topo, watcher):
    """xenstore_watch = yes while libxl still runs our vif-bridge: whichever
    comes first plugs, the other finds it done."""
    topo.add_guest(5)
    r = watcher.vif_add("5.0", "vifname=web5")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: watcher.xsd.status(5) == "connected", 5, what="plug")
    assert port_of(topo, "web5") == "xenbr0"
    assert json.dumps(vif_list(watcher.netd)["5.0"]["ifname"]) == '"web5"'


def test_watch_full_state_dir_answers_error_not_connected(topo, xsd, netd_factory, tmp_path):
    """No-fork mode with the state directory full: a vif whose state netd
    cannot save gets hotplug-status error (and is not a port), never
    "connected"; every vif told "connected" is remembered by the netd
    started after kill -9."""
    state = tmp_path / "state"
    state.mkdir()
    sh(f"mount -t tmpfs -o size=16k,mode=0700 netd-test-state {state}")
    try:
        netd = watching_netd(xsd, netd_factory, wait=False)
        n = 90
        for d in range(1, n + 1):
            topo.ip(topo.d0, f"link add vif{d}.0 type veth peer name g{d}")
        hp = Hotplug(topo, xsd, netd)
        for d in range(1, n + 1):
            assert hp.vif_add(f"{d}.0", script="/bin/true", keys_only=True).returncode == 0
        wait_for(lambda: all(xsd.status(d) in ("connected", "error") for d in range(1, n + 1)),
                 30, what="every vif answered")
        connected = {f"{d}.0" for d in range(1, n + 1) if xsd.status(d) == "connected"}
        failed = [d for d in range(1, n + 1) if xsd.status(d) == "error"]
        assert connected and failed, (connected, failed)  # the directory did fill up
        for d in failed:
            assert "state cannot be saved" in xsd.error(d), xsd.error(d)
            assert port_of(topo, f"vif{d}.0") is None
        assert set(vif_list(netd)) == connected
        netd.stop(signal.SIGKILL)
        netd.start()
        assert set(vif_list(netd)) == connected
        sh(f"mount -o remount,size=1m {state}")  # room for the restore
        netd.stop()
    finally:
        sh(f"umount -l {state}", check=False)


def test_watch_reload_keeps_vifs_connected_or_says_why_not(topo, watcher):
    """No-fork mode: a reload of a changed network plugs its vifs again, so
    "connected" stays true; a vif that cannot be plugged again (its interface
    gone) is told hotplug-status error with the reason, not left
    "connected"."""
    for d in (5, 6):
        add_guest(topo, d)
        assert watcher.vif_add(f"{d}.0", script="/bin/true", keys_only=True).returncode == 0
        wait_for(lambda: watcher.xsd.status(d) == "connected", 5, what="plug")
    netd = watcher.netd
    netd.write_conf(bridge_conf("modern") + "antispoof = no\n",
                    netd_section="xenstore_watch = yes\n")
    netd.ctl("reload")
    assert set(vif_list(netd)) == {"5.0", "6.0"}
    assert port_of(topo, "vif5.0") == port_of(topo, "vif6.0") == "xenbr0"
    assert watcher.xsd.status(5) == watcher.xsd.status(6) == "connected"
    topo.ip(topo.d0, "link del vif6.0")
    netd.write_conf(bridge_conf("modern"), netd_section="xenstore_watch = yes\n")
    r = netd.ctl("reload", check=False)
    assert r.returncode == 1 and "vif6.0" in r.stderr, r.stderr
    assert set(vif_list(netd)) == {"5.0"}
    assert port_of(topo, "vif5.0") == "xenbr0"
    assert watcher.xsd.status(5) == "connected"
    wait_for(lambda: watcher.xsd.status(6) == "error", 5, what="error status")
    assert "not plugged again after a reload" in watcher.xsd.error(6)
