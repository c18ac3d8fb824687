"""The simulated guest (`hvsim guest D.N --netns NS`): Xen's netfront as a
process, against hvsim's xenstored and grant/event-channel broker.

The handshake tests play the backend's xenstore side themselves (dom0 writes
feature keys and states the way Linux netback does) and check what a
backend would read from the frontend: ring references, event channels, the
queue layout, the features, and the state walk on connect, reconnect and
shutdown; and what a user of the guest sees: eth0 in the guest namespace
with the vif's MAC, carrier only while connected.

Needs: $NETD_BUILD with hvsim (built with the broker), root for the guest's
namespace and TAP."""
import json
import os
import select
import signal
import subprocess

import pytest

from conftest import BUILD, tcp_transfer, terminate, wait_for

HVSIM = os.path.join(BUILD, "hvsim")
BE = "/local/domain/0/backend/vif"
FE = "/local/domain/{d}/device/vif/{n}"

FEATURES = ("feature-sg", "feature-gso-tcpv4", "feature-gso-tcpv6",
            "feature-ipv6-csum-offload", "feature-rx-copy")


class Vif:
    """vif D.N's keys as libxl writes them (hvsim vif add -n), the test as
    its backend in xenstore, and the guest process."""

    def __init__(self, xsd, topo, d=5, n=0, plays_backend=True, spec=None):
        self.xsd, self.topo, self.d, self.n = xsd, topo, d, n
        self.plays_backend = plays_backend
        self.be = f"{BE}/{d}/{n}"
        self.fe = FE.format(d=d, n=n)
        self.ns = topo.add_ns(f"{topo.prefix}-g{d}")
        self.proc = None
        xsd.hvsim("domain", "add", str(d))
        xsd.hvsim("vif", "add", "-n", f"{d}.{n}", *([spec] if spec else []))

    def offer(self, split=False, max_queues=None, state=2):
        """netback_probe's feature keys, then InitWait."""
        pairs = []
        for k in FEATURES:
            pairs += [f"{self.be}/{k}", "1"]
        if split:
            pairs += [f"{self.be}/feature-split-event-channels", "1"]
        if max_queues:
            pairs += [f"{self.be}/multi-queue-max-queues", max_queues]
        self.xsd.write(*pairs)
        self.be_state(state)

    def be_state(self, s):
        self.xsd.write(f"{self.be}/state", s)

    def fe_state(self):
        v = self.xsd.read(f"{self.fe}/state")
        return int(v) if v is not None else None

    def wait_fe(self, s, timeout=5):
        wait_for(lambda: self.fe_state() == s, timeout, what=lambda: f"frontend state {s}, "
                 f"is {self.fe_state()}")

    def start(self, *args):
        self.proc = subprocess.Popen([HVSIM, "guest", f"{self.d}.{self.n}", "--netns",
                                      self.ns, *args], env=self.xsd.env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        assert ready and self.proc.stdout.readline() == b"ready\n", \
            f"guest not ready: {self.proc.stderr.read1().decode() if self.proc.poll() else ''}"

    def link(self):
        return self.topo.link(self.ns, "eth0")

    def carrier(self):
        l = self.link()
        return l is not None and "LOWER_UP" in l["flags"] and "NO-CARRIER" not in l["flags"]

    def stop(self):
        if self.proc:
            # A backend that has let go: the guest's orderly close (which
            # waits up to 5 s per step for the backend) ends at once.
            if self.plays_backend and self.proc.poll() is None:
                self.be_state(6)
            terminate(self.proc, 15)
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None


@pytest.fixture
def vif(xsd, topo):
    v = Vif(xsd, topo)
    try:
        yield v
    finally:
        v.stop()


def test_guest_connects_single_queue(vif, xsd):
    """One queue, one event channel: netfront's flat keys, the features it
    always writes, then Connected; eth0 has the vif's MAC, is up, and gets
    carrier only once the backend is Connected."""
    vif.start()
    link = vif.link()
    assert link["address"] == xsd.read(f"{vif.fe}/mac") == "00:16:3e:00:05:00"
    assert link["mtu"] == 1500 and "UP" in link["flags"]
    assert not vif.carrier()
    # Initialising until the backend says InitWait.
    assert vif.fe_state() == 1
    vif.offer()
    vif.wait_fe(4)
    keys = set(xsd.ls(vif.fe))
    for k in ("tx-ring-ref", "rx-ring-ref", "event-channel"):
        assert xsd.read(f"{vif.fe}/{k}").isdigit(), k
    assert xsd.read(f"{vif.fe}/tx-ring-ref") != xsd.read(f"{vif.fe}/rx-ring-ref")
    for k in ("request-rx-copy", "feature-rx-notify", "feature-sg", "feature-gso-tcpv4",
              "feature-gso-tcpv6", "feature-ipv6-csum-offload"):
        assert xsd.read(f"{vif.fe}/{k}") == "1", k
    # No multi-queue key without the backend's, no split channels unoffered.
    assert not keys & {"multi-queue-num-queues", "queue-0", "event-channel-tx"}
    assert not vif.carrier()
    vif.be_state(4)
    wait_for(vif.carrier, 5, what="carrier on eth0")


def test_guest_connects_multi_queue_split(vif, xsd):
    """Two queues with split event channels: queue-N/ subdirectories, no
    flat ring keys, every ref and port distinct."""
    vif.start("--queues", "2")
    vif.offer(split=True, max_queues=4)
    vif.wait_fe(4)
    assert xsd.read(f"{vif.fe}/multi-queue-num-queues") == "2"
    assert xsd.read(f"{vif.fe}/tx-ring-ref") is None
    assert xsd.read(f"{vif.fe}/event-channel") is None
    refs, ports = [], []
    for q in (0, 1):
        d = f"{vif.fe}/queue-{q}"
        assert sorted(xsd.ls(d)) == ["event-channel-rx", "event-channel-tx",
                                     "rx-ring-ref", "tx-ring-ref"]
        refs += [xsd.read(f"{d}/tx-ring-ref"), xsd.read(f"{d}/rx-ring-ref")]
        ports += [xsd.read(f"{d}/event-channel-tx"), xsd.read(f"{d}/event-channel-rx")]
    assert len(set(refs)) == 4 and len(set(ports)) == 4
    assert xsd.read(f"{vif.fe}/queue-2") is None


def test_guest_queues_capped_by_backend(vif, xsd):
    """The backend's multi-queue-max-queues caps what the guest asks for."""
    vif.start("--queues", "4")
    vif.offer(max_queues=1)
    vif.wait_fe(4)
    assert xsd.read(f"{vif.fe}/multi-queue-num-queues") == "1"
    assert xsd.read(f"{vif.fe}/tx-ring-ref").isdigit()
    assert xsd.read(f"{vif.fe}/queue-0") is None


def test_guest_follows_backend_close_and_reconnects(vif, xsd):
    """Backend Closing: the guest goes Closed and loses carrier; backend
    Closed with online=1: Initialising (netback's "prepare for reconnect");
    InitWait again: new rings, Connected, carrier back."""
    vif.start()
    vif.offer()
    vif.wait_fe(4)
    vif.be_state(4)
    wait_for(vif.carrier, 5, what="carrier")
    old_ref = xsd.read(f"{vif.fe}/tx-ring-ref")
    vif.be_state(5)
    vif.wait_fe(6)
    wait_for(lambda: not vif.carrier(), 5, what="carrier off")
    vif.be_state(6)
    vif.wait_fe(1)
    vif.be_state(2)
    vif.wait_fe(4)
    # Fresh grants: the old ones were revoked when the backend let go.
    new_ref = xsd.read(f"{vif.fe}/tx-ring-ref")
    assert new_ref.isdigit() and new_ref != old_ref
    vif.be_state(4)
    wait_for(vif.carrier, 5, what="carrier back")


def test_guest_stays_closed_when_toolstack_tears_down(vif, xsd):
    """libxl's detach (online=0, backend Closing then Closed): the guest goes
    Closed and stays there; it does not ask to reconnect."""
    vif.start()
    vif.offer()
    vif.wait_fe(4)
    vif.be_state(4)
    xsd.write(f"{vif.be}/online", 0)
    vif.be_state(5)
    vif.wait_fe(6)
    vif.be_state(6)
    # Give it every chance to (wrongly) write Initialising.
    with pytest.raises(AssertionError):
        vif.wait_fe(1, timeout=1)
    assert vif.proc.poll() is None


def test_guest_restarted_backend_gets_new_rings(vif, xsd):
    """A backend that restarts (Initialising, then InitWait) while the guest
    is connected: the guest drops its rings and connects afresh."""
    vif.start()
    vif.offer()
    vif.wait_fe(4)
    vif.be_state(4)
    old_ref = xsd.read(f"{vif.fe}/tx-ring-ref")
    vif.be_state(1)
    vif.wait_fe(1)
    vif.be_state(2)
    vif.wait_fe(4)
    assert xsd.read(f"{vif.fe}/tx-ring-ref") != old_ref


def test_guest_keeps_its_rings_when_a_restarted_backend_writes_initwait(vif, xsd):
    """A backend process that restarts writes InitWait over the Connected
    its predecessor wrote: the guest, as Linux netfront, keeps its rings
    and keys (the backend resumes on them) instead of granting new ones a
    backend might read too late; it stays Connected with its carrier."""
    vif.start()
    vif.offer()
    vif.wait_fe(4)
    vif.be_state(4)
    wait_for(vif.carrier, 5, what="carrier")
    keys = {k: xsd.read(f"{vif.fe}/{k}") for k in ("tx-ring-ref", "rx-ring-ref",
                                                    "event-channel-tx", "event-channel-rx")}
    vif.be_state(2)
    with pytest.raises(AssertionError):
        vif.wait_fe(1, timeout=1)
    assert xsd.read(f"{vif.fe}/state") == "4"
    assert {k: xsd.read(f"{vif.fe}/{k}") for k in keys} == keys
    vif.be_state(4)
    assert vif.carrier()


def test_guest_sigterm_closes_in_order(vif, xsd):
    """SIGTERM: Closing, wait for the backend, Closed, exit 0 (xennet_remove)."""
    vif.start()
    vif.offer()
    vif.wait_fe(4)
    vif.be_state(4)
    vif.proc.send_signal(signal.SIGTERM)
    vif.wait_fe(5)
    assert vif.proc.poll() is None  # still waiting for the backend
    vif.be_state(5)
    vif.wait_fe(6)
    vif.be_state(6)
    assert vif.proc.wait(10) == 0
    vif.proc.stdout.close()
    vif.proc.stderr.close()
    vif.proc = None
    # The TAP went with the process.
    assert vif.topo.link(vif.ns, "eth0") is None


def test_guest_errors(xsd, topo):
    """Bad use gets one clear line and a non-zero exit, nothing left behind."""
    xsd.hvsim("domain", "add", "7")
    ns = topo.add_ns(f"{topo.prefix}-g7")
    r = xsd.hvsim("guest", "7.0", "--netns", ns, check=False)
    assert r.returncode == 1
    assert "no such vif" in r.stderr
    xsd.hvsim("vif", "add", "-n", "7.0")
    r = xsd.hvsim("guest", "7.0", "--netns", f"{ns}-missing", check=False)
    assert r.returncode == 1 and "network namespace" in r.stderr
    for bad in ("70000", "x", ""):
        xsd.write(FE.format(d=7, n=0) + "/backend-id", bad)
        r = xsd.hvsim("guest", "7.0", "--netns", ns, check=False)
        assert r.returncode == 1 and "backend-id: not a domain id" in r.stderr, (bad, r.stderr)
    xsd.write(FE.format(d=7, n=0) + "/backend-id", "0")
    for bad in (["guest"], ["guest", "0.0"], ["guest", "7"], ["guest", "7.0", "--queues", "0"],
                ["guest", "7.0", "--hostile", "no-such-case"]):
        r = xsd.hvsim(*bad, check=False)
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.strip(), bad
    assert topo.link(ns, "eth0") is None
    r = xsd.hvsim("guest", "--hostile", "list")
    names = [l.split()[0] for l in r.stdout.splitlines()]
    for case in ("valid", "slots-N", "size-0", "size-64k", "offset-cross", "gref-foreign",
                 "gref-revoked", "gso-size-0", "gso-type-unknown", "extra-type-unknown",
                 "more-data-forever", "req-prod-overflow", "no-rx-buffers", "event-storm"):
        assert case in names


# ---- packets: two guests wired ring to ring -------------------------------
#
# ringpair (tests/tools/ringpair.c) is the smallest backend: the project's
# netif library on rings mapped through hv.h's sim kind, A's TX into B's RX.
# What these tests see is the guests' own traffic: ping, a TCP stream whose
# bytes are checked end to end, and eth0's counters.

RINGPAIR = os.path.join(BUILD, "ringpair")

@pytest.fixture
def make_pair(xsd, topo, tmp_path):
    """Guests 5 and 6 (192.0.2.5/6, 2001:db8::5/6) wired by a ringpair
    started with the given options."""
    made = []

    def make(*rp_args, spec=None):
        a, b = Vif(xsd, topo, 5, spec=spec), Vif(xsd, topo, 6, spec=spec)
        made.extend([a, b])
        a.start()
        b.start()
        rp = subprocess.Popen([RINGPAIR, *rp_args, "5.0", "6.0"], env=xsd.env(),
                              stdout=subprocess.PIPE,
                              stderr=open(tmp_path / "ringpair.log", "w"))
        made.append(rp)
        ready, _, _ = select.select([rp.stdout], [], [], 15)
        assert ready and rp.stdout.readline() == b"ready\n", \
            (tmp_path / "ringpair.log").read_text()
        for v, last in ((a, 5), (b, 6)):
            wait_for(v.carrier, 5, what=f"carrier on guest {v.d}")
            topo.ip(v.ns, f"addr add 192.0.2.{last}/24 dev eth0")
            topo.ip(v.ns, f"addr add 2001:db8::{last}/64 dev eth0 nodad")
        return a, b

    try:
        yield make
    finally:
        for m in made:
            if isinstance(m, Vif):
                m.stop()
            else:
                terminate(m, 5)
                m.stdout.close()


@pytest.fixture
def pair(make_pair):
    return make_pair()


def stats(topo, ns):
    r = topo.ip(ns, "-j -s link show dev eth0")
    return json.loads(r.stdout)[0]["stats64"]


ADDR = [lambda d: f"192.0.2.{d}", lambda d: f"2001:db8::{d}"]


def test_two_guests_ping(pair, topo):
    """ARP/ND and ICMP both ways, IPv4 and IPv6, over the rings."""
    a, b = pair
    topo.run(a.ns, "ping -c 2 -W 2 192.0.2.6")
    topo.run(b.ns, "ping -c 2 -W 2 192.0.2.5")
    topo.run(a.ns, "ping -6 -c 2 -W 2 2001:db8::6")
    # The neighbour each learnt is the other vif's MAC from xenstore.
    neigh = topo.ip(a.ns, "neigh show 192.0.2.6 dev eth0").stdout
    assert "00:16:3e:00:06:00" in neigh


def test_guest_eth0_queues_what_a_guest_holds_back(pair, topo):
    """A guest's netfront stops its queue when the ring is full (its qdisc
    and its senders wait); a TAP drops past txqueuelen instead, so eth0
    queues 4096 frames, not the TAP's default 1000."""
    a, b = pair
    for v in (a, b):
        assert v.link()["txqlen"] == 4096
    topo.run(a.ns, "ping -c 1 -W 2 192.0.2.6")


@pytest.mark.parametrize("addr_of", ADDR, ids=["ipv4", "ipv6"])
def test_two_guests_tcp_with_gso(pair, topo, tmp_path, addr_of):
    """16 MiB each way arrive intact, and in large frames: TSO on the
    sender's TAP, GSO extra info on its TX ring, GSO on the receiver's RX
    ring and TAP (without offloads eth0 would count ~11000 frames)."""
    a, b = pair
    size = 16 << 20
    for src, dst in ((a, b), (b, a)):
        before = stats(topo, src.ns)["tx"]
        sent, got = tcp_transfer(src.ns, dst.ns, addr_of(dst.d), size)
        assert sent == got and int(got[0]) == size
        after = stats(topo, src.ns)["tx"]
        frames = after["packets"] - before["packets"]
        assert after["bytes"] - before["bytes"] >= size
        assert frames < size // 4000, f"{frames} frames for {size} bytes: no GSO"



@pytest.mark.parametrize("addr_of", ADDR, ids=["ipv4", "ipv6"])
def test_two_guests_without_offloads(make_pair, topo, tmp_path, addr_of):
    """A backend offering no SG, no GSO and no IPv6 checksum offload: the
    guest's TAP hands it no TSO frames, every frame goes in one slot, and an
    IPv6 checksum left partial by the stack is completed by the guest. The
    receiver's kernel checks every checksum (ringpair drops data_validated),
    so 4 MiB each way arriving intact in MTU-sized frames means they were
    right."""
    a, b = make_pair("--offer", "feature-rx-copy", "--strip-validated")
    size = 4 << 20
    for src, dst in ((a, b), (b, a)):
        before = stats(topo, src.ns)["tx"]
        sent, got = tcp_transfer(src.ns, dst.ns, addr_of(dst.d), size)
        assert sent == got and int(got[0]) == size
        frames = stats(topo, src.ns)["tx"]["packets"] - before["packets"]
        assert frames >= size // 1500, f"{frames} frames for {size} bytes"



@pytest.mark.parametrize("offer,mtu", [("feature-rx-copy", 1500),
                                       ("feature-rx-copy,feature-sg", 9000)],
                         ids=["no-sg", "sg"])
def test_guest_mtu_follows_sg(make_pair, topo, offer, mtu):
    """mtu=9000 from the toolstack: kept when the backend takes slot chains,
    cut to 1500 without feature-sg (netfront's ETH_DATA_LEN) so no frame
    needs more than one slot; full-size pings pass either way."""
    a, b = make_pair("--offer", offer, spec="mtu=9000")
    for v in (a, b):
        wait_for(lambda: v.link()["mtu"] == mtu, 5, what=f"eth0 MTU {mtu}")
    topo.run(a.ns, f"ping -M do -s {mtu - 28} -c 2 -W 2 192.0.2.6")


# ---- the hostile frontend's report, against the netif library -------------

HOSTILE = [
    # case, backend state after, TX response statuses (status: count)
    ("valid", 4, {0: 1}),
    ("slots-19", 4, {0: 19}),       # 18 follow-on slots: netback's limit, taken
    ("slots-20", 4, {-1: 20}),      # 19 follow-on: dropped, every slot answered
    ("size-0", 4, {-1: 1}),
    ("size-64k", 4, {-1: 18}),
    ("offset-cross", 5, {}),        # fatal: Closing, nothing answered
    ("req-prod-overflow", 5, {}),
    ("event-storm", 4, {0: 1}),     # survives, then answers a good frame
]


@pytest.mark.parametrize("case,state,statuses", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_frontend_reports_backend_answer(xsd, topo, tmp_path, case, state, statuses):
    """`hvsim guest 5.0 --hostile CASE` connects, breaks the protocol once
    and prints what the backend (ringpair: the netif library) answered."""
    other = Vif(xsd, topo, 6)
    other.start()
    xsd.hvsim("domain", "add", "5")
    xsd.hvsim("vif", "add", "-n", "5.0")
    rp = subprocess.Popen([RINGPAIR, "5.0", "6.0"], env=xsd.env(), stdout=subprocess.DEVNULL,
                          stderr=open(tmp_path / "ringpair.log", "w"))
    try:
        r = xsd.hvsim("guest", "5.0", "--hostile", case, "--wait", "2", check=False)
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
    finally:
        terminate(rp, 5)
        other.stop()
    assert rep["case"] == case and rep["vif"] == "5.0"
    assert rep["backend_state"] == state, (rep, (tmp_path / "ringpair.log").read_text())
    got = {}
    for rsp in rep["tx_responses"]:
        got[rsp["status"]] = got.get(rsp["status"], 0) + 1
    assert got == statuses
    assert rep["tx_rsp_prod"] == sum(statuses.values())
    if case == "event-storm":
        assert rep["notifications"] >= 2
    # The tool closed its side when done.
    assert xsd.read(FE.format(d=5, n=0) + "/state") == "6"


# ---- through vifback: the guest and Dom0 ----------------------------------


def vifback_bin():
    for p in (os.path.join(BUILD, "bin", "vifback"), os.path.join(BUILD, "vifback")):
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise AssertionError(f"no vifback binary in {BUILD}")


@pytest.fixture
def vifback(xsd, topo, tmp_path):
    """vifback serving xsd's backends from the dom0 namespace (its TAPs
    vifD.N appear there)."""
    log = open(tmp_path / "vifback.log", "w")
    p = subprocess.Popen(["ip", "netns", "exec", topo.d0, vifback_bin(), "--hv", "sim",
                          "--stats-dir", str(tmp_path / "vifback-stats")],
                         env=xsd.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield tmp_path / "vifback.log"
    finally:
        terminate(p, 10)
        log.close()


def connected(g, vifback_log):
    try:
        wait_for(g.carrier, 10, what="guest carrier")
    except AssertionError as e:
        raise AssertionError(f"{e}\nvifback: {vifback_log.read_text()}") from None
    assert g.xsd.read(f"{g.be}/state") == "4" and g.fe_state() == 4


def dom0_side(topo, xsd, g):
    """What a hotplug script would do with vifback's vif5.0."""
    wait_for(lambda: topo.link(topo.d0, "vif5.0"), 10, what="vif5.0 from vifback")
    topo.ip(topo.d0, "addr add 198.51.100.1/24 dev vif5.0")
    topo.ip(topo.d0, "link set vif5.0 up")
    xsd.write(f"{g.be}/hotplug-status", "connected")


def test_guest_through_vifback(xsd, topo, vifback, tmp_path):
    """The one-liner a script uses: `hvsim vif add 5.0`, then `hvsim guest
    5.0 --netns NS`. With vifback as the backend and the test as the
    hotplug script (vif5.0 up with an address, hotplug-status connected),
    the guest pings Dom0 and back and 16 MiB go each way intact, in
    GSO-sized frames on the guest's eth0."""
    g = Vif(xsd, topo, 5, plays_backend=False)
    dom0_side(topo, xsd, g)
    try:
        g.start("--queues", "1")
        connected(g, vifback)
        topo.ip(g.ns, "addr add 198.51.100.50/24 dev eth0")
        topo.run(g.ns, "ping -c 3 -W 2 198.51.100.1")
        topo.run(topo.d0, "ping -c 3 -W 2 198.51.100.50")
        size = 16 << 20
        dom0 = type("Dom0", (), {"ns": topo.d0})
        for src, dst, addr in ((g, dom0, "198.51.100.1"), (dom0, g, "198.51.100.50")):
            before = stats(topo, g.ns)
            sent, got = tcp_transfer(src.ns, dst.ns, addr, size)
            assert sent == got and int(got[0]) == size
            after = stats(topo, g.ns)
            way = "tx" if src is g else "rx"
            frames = after[way]["packets"] - before[way]["packets"]
            assert frames < size // 4000, f"{way}: {frames} frames for {size} bytes"
    finally:
        g.stop()
    # The guest closed in order: the backend let go.
    wait_for(lambda: xsd.read(f"{g.be}/state") in ("5", "6"), 10, what="backend closed")


FLOWS_SINK = r"""
import hashlib, socket, sys, threading
n = int(sys.argv[2]); out = []
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5002)); s.listen(n); s.settimeout(30)
print("listening", flush=True)
def take(c):
    c.settimeout(30); h = hashlib.sha256()
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
    out.append(h.hexdigest()); c.close()
ts = [threading.Thread(target=take, args=(s.accept()[0],)) for _ in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
print(" ".join(sorted(out)), flush=True)
"""

FLOWS_SOURCE = r"""
import hashlib, os, socket, sys, threading
n, size = int(sys.argv[2]), int(sys.argv[3]); out = []
def give():
    data = os.urandom(size)
    c = socket.create_connection((sys.argv[1], 5002), timeout=30)
    c.sendall(data); c.shutdown(socket.SHUT_WR); c.recv(1); c.close()
    out.append(hashlib.sha256(data).hexdigest())
ts = [threading.Thread(target=give) for _ in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
print(" ".join(sorted(out)))
"""


def flows(topo, src_ns, dst_ns, addr, n, size, tmp_path):
    (tmp_path / "fsink.py").write_text(FLOWS_SINK)
    (tmp_path / "fsource.py").write_text(FLOWS_SOURCE)
    sink = subprocess.Popen(["ip", "netns", "exec", dst_ns, "/usr/bin/python3",
                             str(tmp_path / "fsink.py"), addr, str(n)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout.readline() == "listening\n"
        sent = topo.run(src_ns, f"/usr/bin/python3 {tmp_path / 'fsource.py'} {addr} {n} {size}",
                        timeout=90).stdout.split()
        got = sink.stdout.readline().split()
        assert sink.wait(30) == 0
    finally:
        terminate(sink, 5)
        sink.stdout.close()
    return sent, got


def test_guest_two_queues_through_vifback(xsd, topo, vifback, tmp_path):
    """Two queues with split event channels (vifback offers both): the
    guest's keys are per queue, its eth0 is a two-queue TAP, and eight
    TCP flows each way (spread over the queues by the TAP's and vifback's
    flow hashes) all arrive intact."""
    g = Vif(xsd, topo, 5, plays_backend=False)
    dom0_side(topo, xsd, g)
    try:
        g.start("--queues", "2")
        connected(g, vifback)
        assert xsd.read(f"{g.fe}/multi-queue-num-queues") == "2"
        for q in (0, 1):
            assert xsd.read(f"{g.fe}/queue-{q}/event-channel-rx").isdigit()
        assert "multi_queue numqueues 2 " in topo.ip(g.ns, "-d link show dev eth0").stdout
        topo.ip(g.ns, "addr add 198.51.100.50/24 dev eth0")
        topo.run(g.ns, "ping -c 2 -W 2 198.51.100.1")
        for src, dst, addr in ((g.ns, topo.d0, "198.51.100.1"),
                               (topo.d0, g.ns, "198.51.100.50")):
            sent, got = flows(topo, src, dst, addr, 8, 2 << 20, tmp_path)
            assert len(sent) == 8 and sent == got
    finally:
        g.stop()


def test_guest_killed_and_restarted_reconnects(xsd, topo, vifback):
    """kill -9 of a connected guest (no Closing, grants never revoked by
    it): a new `hvsim guest` for the same vif finds the backend Connected to
    rings it does not have, closes, and connects afresh; traffic flows."""
    g = Vif(xsd, topo, 5, plays_backend=False)
    dom0_side(topo, xsd, g)
    try:
        g.start()
        connected(g, vifback)
        topo.ip(g.ns, "addr add 198.51.100.50/24 dev eth0")
        topo.run(g.ns, "ping -c 1 -W 2 198.51.100.1")
        g.proc.kill()
        g.proc.wait(5)
        g.stop()
        g.start()
        connected(g, vifback)
        topo.ip(g.ns, "addr add 198.51.100.50/24 dev eth0")
        topo.run(g.ns, "ping -c 2 -W 2 198.51.100.1")
    finally:
        g.stop()
