"""Guest-bound shaping (rate_in): a token bucket filter netd puts at the root
of a vif's egress, from the vif's rate_in key (netdctl, xenstore backend dir)
or the network's default; measured with iperf3 both ways beside xl's rate=
(what the guest sends); removed on unplug and down, put back on adoption;
bad values refused."""
import json
import signal
import subprocess

import pytest

from conftest import bridge_conf, wait_for
from test_antispoof import plug, start

LAN = "192.0.2.1"
GUEST = "192.0.2.15"  # Topo.add_guest(5)
LIMIT_BPS = 20_000_000  # 20 Mb/s, the limit in each direction


def root_qdisc(topo, ns, dev):
    for q in json.loads(topo.run(ns, f"tc -j qdisc show dev {dev}").stdout):
        if q.get("root"):
            return q
    return None


def is_ours(q):
    return q and q["kind"] == "tbf" and q["handle"] == "4e44:"


def iperf(topo, server_ns, server_ip, client_ns, seconds=3):
    """TCP from client_ns to an iperf3 server in server_ns; bits/s the
    receiver counted. Both processes are ours, stopped by pid."""
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B",
                            server_ip], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def listening():
            return f"{server_ip}:5201" in topo.run(server_ns, "ss -Hltn").stdout
        wait_for(listening, 5, what="iperf3 listening")
        r = topo.run(client_ns, f"iperf3 -c {server_ip} -t {seconds} -J", timeout=seconds + 30)
        return json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"]
    finally:
        if srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            srv.wait(5)


def test_iperf3_both_ways_bounded_by_rate_and_rate_in(topo, netd_factory):
    """Unshaped first, then the same guest plugged with rate= (xl's: what it
    sends) and rate_in= (what it receives), both 20 Mb/s: each direction's
    TCP throughput stays within 1.5 times its limit and far below the
    unshaped one measured in the same test. A functional check of the
    shaping, not a benchmark."""
    g = topo.add_guest(5)
    netd = start(netd_factory, topo, "modern")
    plug(netd, topo, 5, ip=GUEST)
    assert not is_ours(root_qdisc(topo, topo.d0, "vif5.0"))
    free_in = iperf(topo, g, GUEST, topo.up)    # Dom0 -> guest
    free_out = iperf(topo, topo.up, LAN, g)     # guest -> Dom0
    plug(netd, topo, 5, ip=GUEST, rate="20Mb/s", rate_in="20Mb/s")
    q = root_qdisc(topo, topo.d0, "vif5.0")
    assert is_ours(q) and q["options"]["rate"] == 2_500_000, q
    shaped_in = iperf(topo, g, GUEST, topo.up)
    shaped_out = iperf(topo, topo.up, LAN, g)
    print(f"Dom0->guest {free_in / 1e6:.1f} -> {shaped_in / 1e6:.1f} Mb/s, "
          f"guest->Dom0 {free_out / 1e6:.1f} -> {shaped_out / 1e6:.1f} Mb/s")
    for name, free, shaped in (("rate_in", free_in, shaped_in), ("rate", free_out, shaped_out)):
        assert 0 < shaped <= 1.5 * LIMIT_BPS, (name, shaped)
        assert free > 3 * LIMIT_BPS, (name, free, "the unshaped path must be faster to tell")
        assert shaped < free / 3, (name, free, shaped)


def test_qdisc_follows_the_vif_and_the_network(topo, netd_factory):
    """The network's rate_in is the default; a vif's own wins; a re-plug
    without one goes back to the default; unplug and down remove netd's
    qdisc (the interface's own default comes back)."""
    topo.add_guest(5)
    topo.add_guest(6)
    netd = start(netd_factory, topo, "modern", extra="rate_in = 8Mb/s\n")
    plug(netd, topo, 5, ip=GUEST)
    plug(netd, topo, 6, ip="192.0.2.16", rate_in="1MB/s@20ms")
    q5, q6 = root_qdisc(topo, topo.d0, "vif5.0"), root_qdisc(topo, topo.d0, "vif6.0")
    assert is_ours(q5) and q5["options"]["rate"] == 1_000_000, q5
    assert is_ours(q6) and q6["options"]["rate"] == 1_000_000, q6
    assert q6["options"]["burst"] == 20000, q6  # one interval's bytes, as netback's credit
    plug(netd, topo, 6, ip="192.0.2.16", rate_in="40Mb/s")
    assert root_qdisc(topo, topo.d0, "vif6.0")["options"]["rate"] == 5_000_000
    plug(netd, topo, 6, ip="192.0.2.16")
    assert root_qdisc(topo, topo.d0, "vif6.0")["options"]["rate"] == 1_000_000
    netd.ctl("vif", "offline", "6.0")
    assert not is_ours(root_qdisc(topo, topo.d0, "vif6.0"))
    netd.ctl("down")
    assert not is_ours(root_qdisc(topo, topo.d0, "vif5.0"))
    assert topo.link(topo.d0, "vif5.0")["qdisc"] == topo.link(topo.d0, "vif6.0")["qdisc"] \
        == "noqueue"


def test_without_a_default_a_replug_without_rate_in_unshapes(topo, netd_factory):
    topo.add_guest(5)
    netd = start(netd_factory, topo, "modern")
    plug(netd, topo, 5, ip=GUEST, rate_in="10Mb/s")
    assert is_ours(root_qdisc(topo, topo.d0, "vif5.0"))
    plug(netd, topo, 5, ip=GUEST)
    assert not is_ours(root_qdisc(topo, topo.d0, "vif5.0"))


def test_adoption_puts_a_deleted_qdisc_back(topo, netd_factory):
    """kill -9, the qdisc deleted while netd is dead: the next netd shapes the
    vif it adopts again, from the rate_in its record kept."""
    topo.add_guest(5)
    netd = start(netd_factory, topo, "modern")
    plug(netd, topo, 5, ip=GUEST, rate_in="10Mb/s")
    netd.stop(signal.SIGKILL)
    topo.run(topo.d0, "tc qdisc del dev vif5.0 root")
    assert not is_ours(root_qdisc(topo, topo.d0, "vif5.0"))
    netd.start()
    q = root_qdisc(topo, topo.d0, "vif5.0")
    assert is_ours(q) and q["options"]["rate"] == 1_250_000, q
    assert netd.stop() == 0
    assert not is_ours(root_qdisc(topo, topo.d0, "vif5.0"))


def test_someone_elses_qdisc_is_not_replaced(topo, netd_factory):
    """A root qdisc netd did not make stays, and the plug is refused as a
    whole: the vif is not left in the bridge."""
    topo.add_guest(5)
    netd = start(netd_factory, topo, "modern")
    topo.run(topo.d0, "tc qdisc add dev vif5.0 root handle 1: pfifo limit 100")
    r = netd.ctl("vif", "online", "5.0", f"ip={GUEST}", "rate_in=10Mb/s", check=False)
    assert r.returncode == 1, r.stderr
    assert "vif5.0: cannot shape rate_in: its root qdisc is someone else's (pfifo, handle 1:)" \
        in r.stderr, r.stderr
    assert topo.link(topo.d0, "vif5.0").get("master") is None
    assert root_qdisc(topo, topo.d0, "vif5.0")["kind"] == "pfifo"
    assert json.loads(netd.ctl("--json", "vif", "list").stdout)["result"]["vifs"] == []


@pytest.mark.parametrize("value,msg", [
    ("fast", "rate_in: 'fast': expected N[GMK]{B|b}/s"),
    ("0Mb/s", "rate_in: '0Mb/s': the rate must be 1.."),
    ("10Mb/s@0ms", "rate_in: '10Mb/s@0ms'"),
    ("0,50000", "rate_in: '0,50000': bytes and interval must be non-zero"),
])
def test_bad_rate_in_is_refused(topo, netd_factory, value, msg):
    topo.add_guest(5)
    netd = start(netd_factory, topo, "modern")
    before = topo.snapshot()
    r = netd.ctl("vif", "online", "5.0", f"ip={GUEST}", f"rate_in={value}", check=False)
    assert r.returncode == 1 and msg in r.stderr, r.stderr
    topo.assert_snapshot_equal(before, timeout=0)
    r = netd_factory(bridge_conf("modern") + f"rate_in = {value}\n").run_once(args=["-n"])
    assert r.returncode == 1 and "key 'rate_in': " + msg.removeprefix("rate_in: ") in r.stderr, \
        r.stderr


def test_rate_in_in_nat_and_route_modes(topo, netd_factory):
    """The shaping is netd's, not a mode's: a nat guest and a routed guest
    get it the same way, and lose it with their network."""
    from conftest import route_conf
    from nat_util import BR, nat_conf, nat_guest
    nat_guest(topo, 5)
    topo.add_guest(6)
    netd = netd_factory(nat_conf() + route_conf(physdev="eth0"))
    netd.start()
    netd.ctl("vif", "online", "5.0", f"bridge={BR}", "ip=203.0.113.10", "rate_in=4Mb/s")
    netd.ctl("vif", "online", "6.0", "bridge=routed", "ip=192.0.2.16",
             "rate_in=16Mb/s")
    assert root_qdisc(topo, topo.d0, "vif5.0")["options"]["rate"] == 500_000
    assert root_qdisc(topo, topo.d0, "vif6.0")["options"]["rate"] == 2_000_000
    netd.ctl("down", BR)
    assert not is_ours(root_qdisc(topo, topo.d0, "vif5.0"))
    assert is_ours(root_qdisc(topo, topo.d0, "vif6.0"))
    assert netd.stop() == 0
    assert not is_ours(root_qdisc(topo, topo.d0, "vif6.0"))
