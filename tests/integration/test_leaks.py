"""The daemon under ASan/UBSan/LeakSanitizer: start, work, stop cycles must end
with exit 0 and no sanitizer report. Uses the sanitized build named by
NETD_ASAN_BUILD (default build-asan/ in the repository; make check builds it).
A missing sanitized build fails the tests."""
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import ROOT, Netd, bridge_conf

ASAN_BUILD = os.environ.get("NETD_ASAN_BUILD", os.path.join(ROOT, "build-asan"))


def clean(text, who):
    """No sanitizer report in text (a process's output), nor a warning of
    theirs ("==PID==WARNING: ...": one says false reports may follow).
    test_leaks_datapath checks its daemons' output with this too."""
    assert ("Sanitizer" not in text and "runtime error" not in text
            and not re.search(r"^==\d+==WARNING", text, re.M)), f"{who}:\n{text}"


@pytest.fixture(autouse=True)
def _sanitized_build():
    """Required, not optional: a missing sanitized build fails, never skips."""
    netd = os.path.join(ASAN_BUILD, "bin", "netd")
    assert os.access(netd, os.X_OK), \
        f"no sanitized netd at {netd}: build it (make asan) or set NETD_ASAN_BUILD"


class AsanNetd(Netd):
    def start(self, env=None, wait=True):
        import conftest
        saved = conftest.NETD
        conftest.NETD = os.path.join(ASAN_BUILD, "bin", "netd")
        try:
            return super().start(env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                                      "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
                                      **(env or {})}, wait=wait)
        finally:
            conftest.NETD = saved


@pytest.fixture
def asan_netd(topo, tmp_path):
    """AsanNetd(topo, tmp_path, conf) that a failing test cannot leave
    running: killed at teardown, before topo's namespaces go (a netd left
    alive keeps its namespace, and the next tests meet it)."""
    made = []

    def make(conf):
        made.append(AsanNetd(topo, tmp_path, conf))
        return made[-1]
    yield make
    for n in made:
        n.stop(signal.SIGKILL)


CONFS = {
    "classic": bridge_conf("classic"),
    "modern": bridge_conf("modern"),
    "route": "[routed]\nmode = route\nphysdev = eth0\n",
    "nat": ("[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = eth0\n"
            "dhcp_range = 203.0.113.100-203.0.113.150\nforward = tcp:8080:203.0.113.11:80\n"),
}
VIF_ARGS = {"route": ["ip=192.0.2.11"], "nat": ["ip=203.0.113.11", "mac=00:16:3e:00:00:01"]}


@pytest.mark.parametrize("mode", sorted(CONFS))
def test_start_work_stop_cycles_are_clean(topo, tmp_path, mode, asan_netd):
    topo.add_guest(1)
    netd = asan_netd(CONFS[mode])
    for cycle in range(3):
        netd.start()
        netd.ctl("vif", "online", "1.0", "mtu=1400", *VIF_ARGS.get(mode, []))
        if mode == "nat":
            netd.ctl("forward", "add", "udp:5353:203.0.113.11:53")
            netd.ctl("forward", "list")
            netd.ctl("forward", "del", "udp:5353:203.0.113.11:53")
        netd.ctl("status")
        netd.ctl("--json", "vif", "list")
        netd.ctl("vif", "online", "9.0", check=False)
        netd.request({"cmd": "nope"})
        netd.request({}, raw=b"{" + b"x" * 70000 + b"}\n")
        netd.ctl("reload")
        netd.ctl("vif", "offline", "1.0")
        netd.ctl("down")
        netd.ctl("up")
        if cycle == 1:
            # SIGKILL mid-life, then a clean adoption by the next start.
            netd.stop(signal.SIGKILL)
            continue
        assert netd.stop() == 0, netd.read_log()
    log = netd.read_log()
    # every cycle really brought the network up (or adopted it)
    assert len(re.findall(r"(bridge|route|nat) mode.* up\b|adopted", log)) >= 3, log
    clean(log, "netd")


def test_a_degraded_start_is_clean(topo, tmp_path, asan_netd):
    """A network failing at start (its physdev missing) beside one that
    serves, under the sanitizers: its retries (timer), a refused plug into
    it, `netdctl up` of it failing and then succeeding, a reload keeping
    it failed, and stops with it failed, up and held (its undo incomplete:
    NETD_FAULT=create-bridge:1,txn-undo:1, so its `up` after succeeds)."""
    from conftest import wait_for
    body = bridge_conf("modern") + bridge_conf("modern", physdev="eth1", name="xenbr1")
    topo.add_guest(1)
    netd = asan_netd(body)
    netd.start()
    wait_for(lambda: "xenbr1: trying again" in netd.read_log(), 5, what="a retry")
    netd.ctl("vif", "online", "1.0", "bridge=xenbr1", check=False)
    netd.ctl("up", "xenbr1", check=False)
    netd.ctl("reload")
    netd.ctl("status")
    assert netd.stop() == 0, netd.read_log()
    subprocess.run(["ip", "-n", topo.d0, "link", "add", "eth1", "type", "veth", "peer", "name",
                    "eth1p"], check=True)
    netd.start(env={"NETD_FAULT": "create-bridge:1,txn-undo:1"})
    netd.ctl("status")
    netd.ctl("vif", "online", "1.0", "bridge=xenbr1", check=False)
    netd.ctl("up", "xenbr1", check=False)
    netd.ctl("vif", "online", "1.0", "bridge=xenbr1")
    assert netd.stop() == 0, netd.read_log()
    clean(netd.read_log(), "netd")


def test_xenstore_watch_cycles_are_clean(topo, tmp_path, asan_netd):
    """No-fork mode under the sanitizers: plugs from xenstore (a PV vif and an
    HVM guest's tap), unplug, xenstored dying and coming back, stop."""
    from conftest import wait_for
    from test_hotplug import BE, HVSIM, Xsd
    topo.add_guest(1)
    xsd = Xsd()
    netd = asan_netd(bridge_conf("modern"))
    netd.write_conf(bridge_conf("modern"), netd_section="xenstore_watch = yes\n")
    try:
        for cycle in range(2):
            netd.start(env={"XENSTORED_PATH": xsd.sock})
            r = subprocess.run(["ip", "netns", "exec", topo.d0, HVSIM, "vif", "add", "-n", "1.0",
                                "script=/bin/true"], env=xsd.env(), capture_output=True,
                               text=True, timeout=10)
            assert r.returncode == 0, r.stderr
            wait_for(lambda: xsd.read(f"{BE}/1/0/hotplug-status") == "connected", 10,
                     what="plug")
            topo.ip(topo.d0, "tuntap add vif1.0-emu mode tap")
            wait_for(lambda: "vif1.0-emu plugged" in netd.read_log(), 10, what="tap plug")
            topo.ip(topo.d0, "link del vif1.0-emu")
            xsd.stop()
            wait_for(lambda: "xenstored lost" in netd.read_log(), 10, what="xenstored gone")
            xsd.start()
            wait_for(lambda: netd.read_log().count("xenstore watch on") == 2 * cycle + 2, 10,
                     what="reconnect")
            assert netd.stop() == 0, netd.read_log()
    finally:
        xsd.stop()
        shutil.rmtree(xsd.dir, ignore_errors=True)
    log = netd.read_log()
    clean(log, "netd")


def test_xenstore_watch_reports_written_again_are_clean(topo, tmp_path, asan_netd):
    """No-fork mode under the sanitizers with every report conflicting
    (NETD_FAULT=xs-tx-conflict:N, N never reached): a report kept to be
    written again, dropped when xenstored goes, kept again after the
    new xenstored has the vif again, and freed at stop."""
    from conftest import wait_for
    from test_hotplug import HVSIM, Xsd
    topo.add_guest(1)
    xsd = Xsd()
    netd = asan_netd(bridge_conf("modern"))
    netd.write_conf(bridge_conf("modern"), netd_section="xenstore_watch = yes\n")
    again = "hotplug-status written again in 50 ms"
    try:
        netd.start(env={"XENSTORED_PATH": xsd.sock, "NETD_FAULT": "xs-tx-conflict:1000000"})
        for n in (1, 2):  # a new xenstored starts empty: the vif added again
            r = subprocess.run(["ip", "netns", "exec", topo.d0, HVSIM, "vif", "add", "-n",
                                "1.0", "script=/bin/true"], env=xsd.env(),
                               capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, r.stderr
            if n == 1:
                wait_for(lambda: again in netd.read_log(), 10, what="a report to write again")
                xsd.stop()
                # the loss in whatever words came first: the read's
                # "connection to xenstored lost" or a report's write failing
                wait_for(lambda: "; reconnecting" in netd.read_log(), 10, what="xenstored gone")
                xsd.start()
                wait_for(lambda: netd.read_log().count("xenstore watch on") == 2, 10,
                         what="reconnect")
        wait_for(lambda: netd.read_log().count(again) >= 2, 10, what="written again, again")
        assert netd.stop() == 0, netd.read_log()
    finally:
        xsd.stop()
        shutil.rmtree(xsd.dir, ignore_errors=True)
    clean(netd.read_log(), "netd")


def test_emulated_nic_refused_by_a_dpdk_network_is_clean(topo, tmp_path, asan_netd):
    """An HVM guest's emulated NIC (its tap, vifD.N-emu) cannot join a
    datapath = dpdk network: each refusal, as the hotplug script gets it at
    every HVM boot, leaves nothing behind. dpswitch is a stand-in here that
    answers every request ok (netd asks it its status at up)."""
    import socket
    import threading
    sock_path = str(tmp_path / "dps.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(16)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            with c:
                c.settimeout(2)
                buf = b""
                try:
                    while not stop.is_set():
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                        while b"\n" in buf:
                            _, buf = buf.split(b"\n", 1)
                            c.sendall(b'{"version":1,"ok":true,"ports":[]}\n')
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        topo.ip(topo.d0, "tuntap add vif1.0-emu mode tap")
        netd = asan_netd(f"[dps0]\nmode = bridge\ndatapath = dpdk\n"
                         f"dpdk_socket = {sock_path}\n")
        netd.start()
        for _ in range(3):
            r = netd.ctl("vif", "online", "1.0-emu", "bridge=dps0", check=False)
            assert r.returncode == 1 and "cannot join datapath dpdk" in r.stderr, r.stderr
        assert netd.stop() == 0, netd.read_log()
        clean(netd.read_log(), "netd")
    finally:
        stop.set()
        t.join(5)
        srv.close()


def test_dpdk_plugs_left_unanswered_are_clean(topo, tmp_path, asan_netd):
    """Plugs into a datapath = dpdk network whose port-add dpswitch never
    answers (its connection closed without a reply, as a dpswitch killed
    after reading it): each is remembered (the watch's list, the journal's
    intents kept at a fold), one plugged later ends its own, and a netd
    stopped then leaves nothing behind. dpswitch is a stand-in that
    answers everything else ok."""
    import json
    import socket
    import threading
    sock_path = str(tmp_path / "dps.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(16)
    dying = {"6.0", "7.0"}

    def client(c):
        with c, c.makefile("rwb") as f:
            for line in f:
                req = json.loads(line)
                if req["cmd"] == "port-add" and req["vif"] in dying:
                    return
                f.write(b'{"version":1,"ok":true,"ports":[]}\n')
                f.flush()

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=client, args=(c,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        netd = asan_netd(f"[dps0]\nmode = bridge\ndatapath = dpdk\n"
                         f"dpdk_socket = {sock_path}\n")
        netd.start()
        for vif in ("6.0", "7.0", "6.0"):
            r = netd.ctl("vif", "online", vif, "bridge=dps0", check=False)
            assert r.returncode == 1 and "closed without a reply" in r.stderr, r.stderr
        dying.discard("7.0")
        netd.ctl("vif", "online", "7.0", "bridge=dps0")
        # enough plugs again of 7.0 to fold the journal, 6.0's intent kept
        for _ in range(40):
            netd.ctl("vif", "online", "7.0", "bridge=dps0")
        with open(os.path.join(netd.state, "dps0.vifs")) as f:
            assert [l for l in f if l.startswith("~") and '"6.0"' in l], "6.0's intent"
        assert netd.stop() == 0, netd.read_log()
        clean(netd.read_log(), "netd")
    finally:
        srv.close()
