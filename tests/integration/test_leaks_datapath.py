"""The data path's daemons under ASan/UBSan/LeakSanitizer, as test_leaks.py
runs netd: vifback (supervisor, spawner, per-domain seccomp-confined
workers), dpswitch (DPDK with --no-huge, alone and under --supervise) and
hvsim (its xenstored with the grant and event channel broker, `hvsim
guest` netfronts, the hostile frontends and the toolstack commands), all
from the sanitized build named by NETD_ASAN_BUILD. Each cycle starts every
daemon, does real work with it (guests connect through the xenbus
handshake, ping and a TCP transfer each way, a vif removed and added
again, hostile rings and bad requests answered, a worker or switch killed
and restarted), then stops them with SIGTERM: each must exit 0, and no
process's output may hold a sanitizer report. Reports go to stderr, which
the rigs write to files: a worker's to vifback's (a confined worker could
not open a log_path file; vifback/sanitizer.c readies what else a report
needs before the seccomp filter). A worker is SIGKILLed when its work
ends, so LeakSanitizer never runs in one; its reports of memory errors and
undefined behaviour do reach the log, and the test fails on any worker
death but the one it caused.

Needs: $NETD_BUILD (netdctl, for the hotplug script) and $NETD_ASAN_BUILD
with vifback, dpswitch and hvsim; root."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

import conftest
import test_dpswitch
import test_vifback
from conftest import Xsd, wait_for
from test_leaks import ASAN_BUILD, AsanNetd, clean

# Reports go to each process's stderr, which the rigs write to files.
# tests/lsan.supp: leaks inside third-party libraries, each with its reason.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "LSAN_OPTIONS": ("suppressions=" + os.path.join(conftest.ROOT, "tests", "lsan.supp")
                     + ":print_suppressions=0"),
}
HVSIM = os.path.join(ASAN_BUILD, "hvsim")
VIFBACK = os.path.join(ASAN_BUILD, "bin", "vifback")
DPSWITCH = os.path.join(ASAN_BUILD, "bin", "dpswitch")
RINGPAIR = os.path.join(ASAN_BUILD, "ringpair")
XS_SMOKE = os.path.join(ASAN_BUILD, "xs-smoke")


def need(*paths):
    """The sanitized binaries a test runs: required, a missing one fails."""
    for path in paths:
        assert os.access(path, os.X_OK), \
            f"no sanitized {path}: build it (make asan) or set NETD_ASAN_BUILD"


class AsanXsd(Xsd):
    """hvsim xenstored from the sanitized build (the asan fixture's); its
    stop() checks the exit status and the log, its hvsim() the command's
    output."""

    def stop(self):
        p = self.proc
        super().stop()
        if p is not None:
            assert p.returncode == 0, f"xenstored exited {p.returncode}: {self.read_log()}"
            clean(self.read_log(), "xenstored")

    def hvsim(self, *args, check=True):
        r = super().hvsim(*args, check=check)
        clean(r.stderr, f"hvsim {' '.join(args)}")
        return r

    def read_log(self):
        with open(os.path.join(self.dir, "log")) as f:
            return f.read()


@pytest.fixture
def asan(monkeypatch):
    """The helpers of test_vifback, test_dpswitch, test_simguest and
    test_xenstored run the sanitized binaries (required, never skipped),
    every process with the sanitizers' options."""
    import test_simguest
    import test_xenstored
    need(HVSIM)
    monkeypatch.setattr(conftest, "HVSIM", HVSIM)
    monkeypatch.setattr(test_simguest, "HVSIM", HVSIM)
    monkeypatch.setattr(test_simguest, "RINGPAIR", RINGPAIR)
    monkeypatch.setattr(test_xenstored, "HVSIM", HVSIM)
    monkeypatch.setattr(test_xenstored, "XS_SMOKE", XS_SMOKE)
    monkeypatch.setattr(test_vifback, "HVSIM", HVSIM)
    monkeypatch.setattr(test_vifback, "VIFBACK", VIFBACK)
    monkeypatch.setattr(test_dpswitch, "HVSIM", HVSIM)
    monkeypatch.setattr(test_dpswitch, "DPSWITCH", DPSWITCH)
    for k, v in SANITIZER_ENV.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def axsd(asan):
    x = AsanXsd()
    try:
        yield x
    finally:
        if x.proc:
            x.proc.kill()  # a failed test: its status is not the point
            x.proc.wait()
            x.proc = None
        x.close()


def sigterm(proc, who, log, timeout=20):
    """SIGTERM proc; it must exit 0 within timeout, its log clean."""
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout)
    assert rc == 0, f"{who} exited {rc}:\n{log()}"
    clean(log(), who)


def guest_log(dir, d):
    with open(dir / f"guest{d}.log") as f:
        return f.read()


def stop_guests(rig, dir):
    for d, p in sorted(rig.guests.items()):
        sigterm(p, f"hvsim guest {d}.0", lambda d=d: guest_log(dir, d))
        p.stdout.close()
    rig.guests = {}


def mib_each_way(pairs):
    """1 MiB over TCP for each (sender, receiver, address), checksums compared."""
    for src, dst, addr in pairs:
        test_dpswitch.tcp_whole(src, dst, addr, 1 << 20)


def stop_switch(rig, dir, xsd):
    """The guests, dpswitch, xenstored: each exits 0 on SIGTERM, its log clean."""
    stop_guests(rig, dir)
    sigterm(rig.proc, "dpswitch", rig.read_log, timeout=30)
    rig.proc = None
    xsd.stop()


def hostile(xsd, d, case):
    """`hvsim guest D.0 --hostile CASE`: its report; its run clean."""
    r = subprocess.run([HVSIM, "guest", f"{d}.0", "--hostile", case, "--wait", "1"],
                       capture_output=True, text=True, env=xsd.env(), timeout=60)
    assert r.returncode == 0, r.stderr
    clean(r.stderr, f"hvsim guest --hostile {case}")
    return json.loads(r.stdout)


LAN = test_vifback.LAN


def test_vifback_cycles_are_clean(topo, axsd, tmp_path):
    """Two cycles of xenstored, netd (plugging by the hotplug script, then
    by its own xenstore watch), vifback and two guests: connect, ping,
    1 MiB each way, a vif removed and added again, two hostile rings and a
    bad frontend key answered, a worker killed and replaced (no other
    worker dies: a sanitizer's report ends a worker), then SIGTERM to
    each."""
    from test_vifback import BAD_FRONTEND, FE, HOSTILE, Rig, backend_counters
    need(VIFBACK)
    netd = AsanNetd(topo, tmp_path, conftest.bridge_conf("modern"),
                    env={"XENSTORED_PATH": axsd.sock})
    rig = None
    killed = set()
    try:
        for cycle in range(2):
            no_fork = cycle == 1
            if cycle:
                axsd.start()
                netd.write_conf(conftest.bridge_conf("modern"),
                                netd_section="xenstore_watch = yes\n")
            netd.start()
            rig = Rig(topo, axsd, netd, tmp_path)
            rig.attach(5, "ip=192.0.2.15", script=not no_fork)
            rig.attach(6, "ip=192.0.2.16", script=not no_fork)
            g5 = rig.guest(5, "192.0.2.15")
            g6 = rig.guest(6, "192.0.2.16")
            assert topo.ping(g5, LAN, count=2), rig.read_log()
            assert topo.ping(g5, "192.0.2.16"), rig.read_log()
            workers = rig.workers()
            assert len(workers) == 2, workers  # one per domain
            mib_each_way(((g5, topo.up, LAN), (topo.up, g5, "192.0.2.15")))
            # the worker's counters, as netd shows them, saw the megabytes
            wait_for(lambda: all((backend_counters(rig, "vif5.0") or {}).get(k, 0) >= 1 << 20
                                 for k in ("rx_bytes", "tx_bytes")), 10, step=0.2,
                     what=lambda: f"vif5.0's counters ({backend_counters(rig, 'vif5.0')})")
            # removed and added again: a new TAP, the guest reconnects
            test_vifback.hvsim(rig, "vif", "del", "-n", "6.0")
            wait_for(lambda: topo.link(topo.d0, "vif6.0") is None, 10, what="vif6.0 removed")
            if no_fork:
                # netd plugs it at once, and the running guest connects:
                # past the InitWait attach() would wait for
                test_vifback.hvsim(rig, "vif", "add", "-n", "6.0",
                                   "mac=00:16:3e:00:00:06,ip=192.0.2.16,script=/bin/true")
            else:
                rig.attach(6, "ip=192.0.2.16")
            rig.wait_states(6, 4, 4)
            topo.wait_carrier(g6, "eth0")
            wait_for(lambda: topo.ping(g6, LAN), 10, what="guest 6 pings after re-attach")
            # hostile rings: an error answer, then a vif closed
            rig.attach(7, script=not no_fork)
            for case in ("gref-bogus", "offset-cross"):
                rep = hostile(axsd, 7, case)
                assert rep["backend_state"] == HOSTILE[case][0], (case, rep)
            # a bad frontend key, written by the guest itself
            rig.attach(8, script=not no_fork)
            keys, error = BAD_FRONTEND[3]  # tx-ring-ref '0x10'
            fe = FE.format(d=8, n=0)
            good = {"tx-ring-ref": "8", "rx-ring-ref": "9", "event-channel": "3",
                    "request-rx-copy": "1", **keys, "state": "4"}
            subprocess.run(["xenstore-write", *[x for k, v in good.items()
                                                for x in (f"{fe}/{k}", v)]],
                           env=dict(os.environ, XENSTORED_PATH=axsd.sock + ".d8"),
                           check=True, timeout=5)
            rig.wait_states(8, 5)
            err = axsd.read("/local/domain/0/error/backend/vif/8/0/error")
            assert err and error in err, err
            # a worker of domain 5 or 6 killed: the supervisor starts
            # another, both guests ping again
            w = workers[0]
            n = len(rig.workers())
            os.kill(w, signal.SIGKILL)
            wait_for(lambda: w not in rig.workers() and len(rig.workers()) == n, 10,
                     what="a new worker")
            for g in (g5, g6):
                wait_for(lambda: topo.ping(g, LAN), 15, what=f"{g} pings after the kill")
            killed.add(w)
            died = set(re.findall(r"worker \(pid (\d+)\) killed by signal (\d+)",
                                  rig.read_log()))
            assert died == {(str(p), "9") for p in killed}, rig.read_log()
            stop_guests(rig, tmp_path)
            sigterm(rig.vb, "vifback", rig.read_log)
            rig.vb = None
            assert netd.stop() == 0, netd.read_log()
            axsd.stop()
        clean(netd.read_log(), "netd")
        # both cycles served: two starts, two clean stops
        assert rig.read_log().count("vifback: serving") == 2, rig.read_log()
    finally:
        if rig:
            rig.close()
        netd.stop(signal.SIGKILL)


def test_dpswitch_cycles_are_clean(topo, axsd, tmp_path):
    """Two cycles of xenstored, dpswitch (the second under --supervise) and
    two guests: connect, ping the LAN and each other, 1 MiB each way, a
    port unplugged and plugged, a vif removed and added again, two hostile
    rings and bad control requests answered, (supervised) the switch
    killed and restarted, then SIGTERM to each."""
    from test_dpswitch import BAD_REQUESTS, LAN as DLAN, Rig, addr_of, mac_of
    from test_vifback import HOSTILE
    need(DPSWITCH)
    rig = Rig(topo, axsd, tmp_path)
    try:
        for cycle in range(2):
            if cycle:
                axsd.start()
                rig.domains = set()
            rig.start(*(["--supervise", "--state", str(tmp_path / "plugs")] if cycle else []))
            # bad requests, while vif 5.0 waits to be plugged
            rig.attach(5, plug=False)
            for raw, error in BAD_REQUESTS:
                r = rig.request(raw=raw)
                assert r["ok"] is False and error in r["error"], (raw, r)
            r = rig.request(raw="x" * 70000)
            assert r["ok"] is False and "longer than" in r["error"], r
            rig.plug(5)
            rig.attach(6)
            g5, g6 = rig.guest(5), rig.guest(6)
            assert topo.ping(g5, DLAN, count=2), rig.read_log()
            assert topo.ping(g5, addr_of(6)), rig.read_log()
            mib_each_way(((g5, rig.lan, DLAN), (rig.lan, g5, addr_of(5))))
            p5 = rig.port("vif5.0")
            assert p5["rx_packets"] > 100 and p5["tx_packets"] > 100, p5
            # unplugged and plugged again
            assert rig.request({"cmd": "port-del", "vif": "6.0"})["ok"]
            assert not topo.ping(g6, DLAN)
            assert rig.request({"cmd": "port-add", "vif": "6.0",
                                "keys": {"mac": mac_of(6), "ip": addr_of(6)}})["ok"]
            # removed and added again: the guest reconnects
            axsd.hvsim("vif", "del", "-n", "6.0")
            wait_for(lambda: rig.port("vif6.0") is None, 10, what="vif6.0 gone")
            rig.attach(6)
            rig.wait_states(6, 4, 4)
            wait_for(lambda: topo.ping(g6, DLAN), 10, what="guest 6 pings after re-attach")
            # hostile rings: an error answer, then a vif closed
            rig.attach(7)
            for case in ("gref-foreign", "offset-cross"):
                rep = hostile(axsd, 7, case)
                assert rep["backend_state"] == HOSTILE[case][0], (case, rep)
            if cycle:
                # the supervisor restarts a killed switch, which plugs from its state
                (old,) = [int(x) for x in conftest.sh(f"ps -o pid= --ppid {rig.proc.pid}",
                                                      check=False).stdout.split()]
                served = rig.read_log().count("dpswitch: serving /local")
                os.kill(old, signal.SIGKILL)
                wait_for(lambda: rig.read_log().count("dpswitch: serving /local") == served + 1, 20,
                         what="the restarted dpswitch serving")
                rig.wait_states(5, 4, 4, timeout=20)
                wait_for(lambda: topo.ping(g5, DLAN), 15, what="guest 5 pings after the kill")
            stop_switch(rig, tmp_path, axsd)
        assert rig.read_log().count("dpswitch: stopping") == 2, rig.read_log()
    finally:
        rig.stop()


def test_dpswitch_kernel_port_is_clean(topo, axsd, tmp_path):
    """dpswitch's own AF_PACKET port (--kernel-port) instead of an ethdev,
    one cycle: TCP each way with GSO packets (whole into the kernel; the
    LAN's cut for a guest without GSO), a guest's hostile GSO metadata
    dropped or mended, then SIGTERM."""
    from test_dpswitch import LAN as DLAN, TSO_HOSTILE, Rig, addr_of
    need(DPSWITCH)
    rig = Rig(topo, axsd, tmp_path, uplink="kernel")
    try:
        rig.start()
        rig.attach(5)
        rig.attach(6)
        g5, g6 = rig.guest(5), rig.guest(6, "--no-gso")
        assert topo.ping(g5, DLAN, count=2), rig.read_log()
        mib_each_way(((g5, rig.lan, DLAN), (rig.lan, g6, addr_of(6))))
        rig.attach(7, antispoof=False)
        for case in sorted(TSO_HOSTILE):
            assert hostile(axsd, 7, case)["backend_state"] == 4, case
        malformed = sum(m for _, m, _ in TSO_HOSTILE.values())
        assert rig.port("vif7.0")["drops"]["malformed"] == malformed, rig.port("vif7.0")
        stop_switch(rig, tmp_path, axsd)
    finally:
        rig.stop()


def test_dpswitch_af_xdp_port_is_clean(topo, axsd, tmp_path):
    """dpswitch with an af_xdp ethdev (what a NIC without vfio may use
    besides af_packet), one cycle: ping and 1 MiB each way, SIGTERM."""
    from test_dpswitch import LAN as DLAN, Rig, addr_of
    need(DPSWITCH)
    rig = Rig(topo, axsd, tmp_path, uplink="af_xdp")
    try:
        rig.start()
        rig.attach(5)
        g5 = rig.guest(5)
        assert topo.ping(g5, DLAN, count=2), rig.read_log()
        mib_each_way(((g5, rig.lan, DLAN), (rig.lan, g5, addr_of(5))))
        assert rig.port("nic0")["rx_packets"] > 100, rig.port("nic0")
        stop_switch(rig, tmp_path, axsd)
    finally:
        rig.stop()


def test_hvsim_cycles_are_clean(topo, axsd, tmp_path):
    """hvsim on its own: two cycles of xenstored and two `hvsim guest`
    netfronts wired ring to ring by ringpair (test_simguest's smallest
    backend): ping and 1 MiB each way, then SIGTERM to each; and a
    xenstored put through test_xenstored's libxenstore client, bad and
    truncated messages, transactions and its limits, then SIGTERM."""
    import test_xenstored
    from test_simguest import Vif, stats
    need(RINGPAIR, XS_SMOKE)
    for cycle in range(2):
        if cycle:
            axsd.start()
        a, b = Vif(axsd, topo, 5), Vif(axsd, topo, 6)
        rp = None
        try:
            a.start()
            b.start()
            with open(tmp_path / "ringpair.log", "a") as log:
                rp = subprocess.Popen([RINGPAIR, "5.0", "6.0"], env=axsd.env(),
                                      stdout=subprocess.PIPE, stderr=log)
            assert rp.stdout.readline() == b"ready\n", (tmp_path / "ringpair.log").read_text()
            for v, last in ((a, 5), (b, 6)):
                wait_for(v.carrier, 5, what=f"carrier on guest {v.d}")
                topo.ip(v.ns, f"addr add 192.0.2.{last}/24 dev eth0")
            before = stats(topo, a.ns)["tx"]["packets"]
            topo.run(a.ns, "ping -c 2 -W 2 192.0.2.6")
            mib_each_way((src.ns, dst.ns, f"192.0.2.{dst.d}") for src, dst in ((a, b), (b, a)))
            assert stats(topo, a.ns)["tx"]["packets"] - before > 2 + 10
            sigterm(rp, "ringpair", lambda: (tmp_path / "ringpair.log").read_text())
            for v in (a, b):
                sigterm(v.proc, f"hvsim guest {v.d}.0",
                        lambda v=v: v.proc.stderr.read().decode())
        finally:
            if rp and rp.poll() is None:
                rp.kill()
                rp.wait()
            for v in (a, b):
                v.stop()
            if rp:
                rp.stdout.close()
        axsd.stop()
        for ns in (a.ns, b.ns):  # Vif makes its namespace anew each cycle
            conftest.sh(f"ip netns del {ns}")
            topo.namespaces.remove(ns)
    d = tempfile.mkdtemp(prefix="xsd", dir="/tmp")
    x = test_xenstored.Xenstored(d)
    try:
        for check in ("test_xs_smoke_libxenstore", "test_malformed_messages",
                      "test_transactions_raw", "test_resource_limits"):
            getattr(test_xenstored, check)(x)
        assert x.stop() == 0, x.log()
        clean(x.log(), "xenstored")
    finally:
        if x.proc.poll() is None:
            x.proc.kill()
            x.proc.wait()
        shutil.rmtree(d, ignore_errors=True)
