"""Shared fixtures for integration tests: throwaway network namespaces and a
netd running in them.

RULES for everyone writing tests or running netd by hand on these shared machines:
- run netd, nft, sysctl -w and ping only inside namespaces you created
  (`ip netns exec NS ...`); never on the host's own interfaces, routes, sysctls
  or firewall; delete your namespaces afterwards;
- stop only processes you started, by PID (never pkill/killall);
- several engineers share this checkout: commit only your own files
  (`git add <files>`, never `git add -A` or `git commit -a`). Nothing here touches the host's own network: every link,
address, route and rule lives in namespaces these fixtures create and delete.
Addresses come only from 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
2001:db8::/32."""
import importlib.util
import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("NETD_BUILD", os.path.join(ROOT, "build"))
NETD = os.path.join(BUILD, "bin", "netd")
NETDCTL = os.path.join(BUILD, "bin", "netdctl")
HVSIM = os.path.join(BUILD, "hvsim")

# In CI a skipped test is a failure: a suite that loses tests to a missing
# package or tool must not pass. Locally a skip stays a skip, its reason
# printed by `-rs` (make check passes it).
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _skip_reason(rep):
    lr = rep.longrepr
    return lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if CI and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = f"skipped in CI (CI={os.environ['CI']}), which fails: {_skip_reason(rep)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    if CI and rep.skipped:
        rep.outcome = "failed"
        rep.longrepr = f"skipped in CI (CI={os.environ['CI']}), which fails: {_skip_reason(rep)}"

_seq = itertools.count()


def sh(cmd, check=True, timeout=30, **kw):
    """Run a shell command; return CompletedProcess with text output."""
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"command failed ({r.returncode}): {cmd}\n{r.stdout}\n{r.stderr}")
    return r


def terminate(proc, timeout=10):
    """SIGTERM a process we started, SIGKILL if it has not ended by timeout."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tcpdump(ns, args, stdout, timeout=10):
    """tcpdump in ns (args: what follows the program's name), returned once it
    captures: its "listening on" line is read from stderr. A sleep instead
    misses the first frames on a loaded host, and a test that asserts no frame
    came would then pass for nothing."""
    p = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", *args], stdout=stdout,
                         stderr=subprocess.PIPE)
    end, seen = time.monotonic() + timeout, b""
    # the descriptor itself: a buffered readline could take both of
    # tcpdump's lines at once and leave select nothing to report
    fd = p.stderr.fileno()
    while time.monotonic() < end:
        if not select.select([fd], [], [], end - time.monotonic())[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
        if b"\nlistening on " in b"\n" + seen:
            return p
    terminate(p)
    raise AssertionError(f"tcpdump {' '.join(args)} in {ns} did not start capturing")


def _threads_stopped(pid):
    """Every thread of pid stopped (or gone): the state after the comm in
    each /proc/PID/task/TID/stat."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return True
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state not in "tTZX":
            return False
    return True


def sigstop(pid, timeout=5.0):
    """SIGSTOP pid and return once every thread of it has stopped. kill()
    returns before the stop reaches the threads: the one woken for it must
    be scheduled first, and on a loaded host another thread (dpswitch's
    loop) serves a request sent right after kill() returned, which the test
    meant to leave unread."""
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: _threads_stopped(pid), timeout=timeout, step=0.001,
             what=f"process {pid} to stop")


def wait_for(pred, timeout=5.0, step=0.02, what="condition"):
    """Poll pred() until it is true and return its value, or fail naming
    what. what is a string, or a callable giving one: use the callable
    whenever the message shows state (a log, a counter), so that it is read
    when the wait fails; an f-string is built before the wait, and would
    show the log as it was before whatever the test waited for."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


TCP_TRANSFER = r"""
import hashlib, os, socket, sys
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
if mode == "serve":
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(1); s.settimeout(30)
    print("listening", flush=True)
    c, _ = s.accept(); c.settimeout(30); h = hashlib.sha256(); got = 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b); got += len(b)
    print(got, h.hexdigest(), flush=True)
else:
    data = os.urandom(n)
    c = socket.create_connection((host, port), timeout=30)
    c.sendall(data); c.shutdown(socket.SHUT_WR); c.recv(1); c.close()
    print(n, hashlib.sha256(data).hexdigest(), flush=True)
"""


def tcp_sink(ns, addr, port=5001):
    """A TCP server on addr:port in namespace ns, listening when this
    returns, for one connection; it prints the bytes' count and sha256 once
    the sender closes (read them with .communicate())."""
    srv = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", TCP_TRANSFER,
                            "serve", addr, str(port), "0"], stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([srv.stdout], [], [], 10)
    if not (ready and srv.stdout.readline().strip() == "listening"):
        terminate(srv, 5)
        srv.stdout.close()
        raise AssertionError(f"no TCP sink on {addr}:{port} in {ns}")
    return srv


def tcp_transfer(src_ns, dst_ns, dst_addr, size, port=5001, timeout=120):
    """size random bytes from namespace src_ns to dst_addr:port, served in
    dst_ns, over one TCP connection; both ends' [count, sha256] (a user
    compares them: equal means every byte arrived, in order)."""
    srv = tcp_sink(dst_ns, dst_addr, port)
    try:
        cli = subprocess.run(["ip", "netns", "exec", src_ns, "/usr/bin/python3", "-c",
                              TCP_TRANSFER, "send", dst_addr, str(port), str(size)],
                             capture_output=True, text=True, timeout=timeout)
        assert cli.returncode == 0, cli.stderr
        out, _ = srv.communicate(timeout=60)
    finally:
        terminate(srv, 5)
        srv.stdout.close()
    return cli.stdout.split(), out.split()


def realxen_run():
    """tests/realxen/run.py (a script) as a module: the real-Xen tier drives
    it, and its snapshot rules are the ones this file's snapshot() keeps."""
    spec = importlib.util.spec_from_file_location(
        "realxen_run", os.path.join(ROOT, "tests", "realxen", "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


drop_timers = realxen_run().drop_timers


class Topo:
    """upstream (the LAN) <-veth-> dom0 eth0, plus guests behind vifD.0.

    upstream: up0 192.0.2.1/24, 2001:db8::1/64
    dom0:     eth0 192.0.2.2/24, 2001:db8::2/64; default via 192.0.2.1 metric 100,
              198.51.100.0/24 via 192.0.2.1 metric 5, v6 default via 2001:db8::1
    """

    def __init__(self):
        self.prefix = f"nt{os.getpid() % 100000}x{next(_seq)}"
        self.up = f"{self.prefix}-up"
        self.d0 = f"{self.prefix}-d0"
        self.guests = {}
        self.namespaces = []
        for ns in (self.up, self.d0):
            self.add_ns(ns)
        # No DAD: addresses must be usable (and snapshots stable) at once.
        self.sysctl(self.d0, "net.ipv6.conf.all.accept_dad", 0)
        self.sysctl(self.d0, "net.ipv6.conf.default.accept_dad", 0)
        sh(f"ip link add up0 netns {self.up} type veth peer name eth0 netns {self.d0}")
        self.ip(self.up, "addr add 192.0.2.1/24 dev up0")
        self.ip(self.up, "addr add 2001:db8::1/64 dev up0 nodad")
        self.ip(self.up, "link set up0 up")
        self.ip(self.d0, "addr add 192.0.2.2/24 dev eth0")
        self.ip(self.d0, "addr add 2001:db8::2/64 dev eth0 nodad")
        self.ip(self.d0, "link set eth0 up")
        self.ip(self.d0, "route add default via 192.0.2.1 metric 100")
        self.ip(self.d0, "route add 198.51.100.0/24 via 192.0.2.1 metric 5")
        self.ip(self.d0, "-6 route add default via 2001:db8::1")
        self.wait_carrier(self.d0, "eth0")
        self.eth0_mac = self.link(self.d0, "eth0")["address"]

    def add_ns(self, ns):
        sh(f"ip netns add {ns}")
        self.namespaces.append(ns)
        sh(f"ip -n {ns} link set lo up")
        return ns

    def ip(self, ns, args, check=True):
        return sh(f"ip -n {ns} {args}", check=check)

    def run(self, ns, cmd, check=True, timeout=30):
        return sh(f"ip netns exec {ns} {cmd}", check=check, timeout=timeout)

    def python(self, ns, script, timeout=30):
        """Run a Python script (Debian's python3, which has scapy) in ns."""
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(script)
        try:
            return self.run(ns, f"/usr/bin/python3 {f.name}", timeout=timeout)
        finally:
            os.unlink(f.name)

    def sysctl(self, ns, key, value):
        self.run(ns, f"sysctl -qw {key}={value}")

    def link(self, ns, name):
        r = self.ip(ns, f"-j -d link show dev {name}", check=False)
        return json.loads(r.stdout)[0] if r.returncode == 0 else None

    def links(self, ns):
        return {l["ifname"]: l for l in json.loads(self.ip(ns, "-j -d link show").stdout)}

    def addrs(self, ns, dev):
        r = json.loads(self.ip(ns, f"-j addr show dev {dev}").stdout)
        return [f"{a['local']}/{a['prefixlen']}" for a in r[0]["addr_info"]] if r else []

    def routes(self, ns, family="-4"):
        return json.loads(self.ip(ns, f"-j {family} route show").stdout)

    def wait_carrier(self, ns, dev, timeout=5):
        wait_for(lambda: "LOWER_UP" in (self.link(ns, dev) or {}).get("flags", []),
                 timeout, what=f"carrier on {dev}")

    def add_guest(self, domid, addr=None, vifname=None):
        """A guest namespace whose eth0 appears in dom0 as vif<domid>.0 (a veth
        stand-in for the backend's interface)."""
        g = self.add_ns(f"{self.prefix}-g{domid}")
        vif = vifname or f"vif{domid}.0"
        sh(f"ip link add {vif} netns {self.d0} type veth peer name eth0 netns {g}")
        self.sysctl(g, "net.ipv6.conf.all.accept_dad", 0)
        addr = addr or f"192.0.2.{10 + domid}/24"
        self.ip(g, f"addr add {addr} dev eth0")
        self.ip(g, "link set eth0 up")
        self.ip(g, "route add default via 192.0.2.1")
        self.guests[domid] = g
        return g

    def ping(self, ns, dst, count=1, timeout=2):
        fam = "-6" if ":" in dst else ""
        r = self.run(ns, f"ping {fam} -n -q -c {count} -W {timeout} -i 0.2 {dst}", check=False)
        return r.returncode == 0

    def snapshot(self, ns=None):
        """Links, addresses and routes (every table, v4 and v6) as `ip -j`
        shows them, minus what legitimately changes (ifindex, counters)."""
        ns = ns or self.d0
        self.wait_dad(ns)
        out = []
        for cmd in ("-d link show", "addr show", "-4 route show table all",
                    "-6 route show table all"):
            for o in json.loads(self.ip(ns, f"-j {cmd}").stdout):
                for k in ("ifindex", "stats", "stats64"):
                    o.pop(k, None)
                out.append(json.dumps(drop_timers(o), sort_keys=True))
        return sorted(out)

    def wait_dad(self, ns, timeout=30):
        """Until no address of a link that is up is still in duplicate address
        detection: its local route only appears when DAD ends, so a snapshot
        taken during it is not the settled state. DAD's work needs the RTNL,
        which namespace deletions elsewhere on the host hold for long: with
        several test runs at once a bridge's link-local was measured tentative
        for 26 s (3 s when quiet)."""
        def busy():
            return [f"{lk['ifname']} {a['local']}{' dadfailed' if a.get('dadfailed') else ''}"
                    for lk in json.loads(self.ip(ns, "-j addr show").stdout)
                    if "LOWER_UP" in lk.get("flags", [])
                    for a in lk.get("addr_info", []) if a.get("tentative")]
        # A wait that times out fails the test: a snapshot taken anyway would
        # compare an unsettled state and fail (or pass) for the wrong reason.
        wait_for(lambda: not busy(), timeout, step=0.05,
                 what=lambda: f"duplicate address detection to end in {ns}: {busy()}")

    def settle(self, ns=None, timeout=5):
        """Wait until every link that is up has its carrier (veth carrier and
        operstate follow an up by a few milliseconds); fails naming the links
        still without one."""
        ns = ns or self.d0

        def unsettled():
            return sorted(n for n, l in self.links(ns).items()
                          if "UP" in l["flags"] and "NO-CARRIER" in l["flags"])
        try:
            wait_for(lambda: not unsettled(), timeout)
        except AssertionError:
            raise AssertionError(f"{ns}: links up without carrier after {timeout} s: "
                                 f"{', '.join(unsettled())}") from None

    def assert_snapshot_equal(self, before, ns=None, timeout=3):
        """Links settle (carrier, operstate) shortly after a restore."""
        end = time.monotonic() + timeout
        while True:
            now = self.snapshot(ns)
            if now == before:
                return
            if time.monotonic() > end:
                missing = [x for x in before if x not in now]
                extra = [x for x in now if x not in before]
                raise AssertionError("host not restored\nmissing:\n  " + "\n  ".join(missing)
                                     + "\nextra:\n  " + "\n  ".join(extra))
            time.sleep(0.05)

    def close(self):
        for ns in reversed(self.namespaces):
            sh(f"ip netns del {ns}", check=False)


class Netd:
    """netd running in a topology's dom0 namespace, with its own socket and state dir."""

    def __init__(self, topo, tmp_path, conf_body, env=None):
        self.topo = topo
        self.dir = tmp_path
        self.sock = str(tmp_path / "netd.sock")
        self.state = str(tmp_path / "state")
        self.conf = str(tmp_path / "netd.conf")
        # vifback's per-vif counters (vifback --stats-dir): the test's own,
        # never what some other vifback on this host left in /run/vifback
        self.vifback_stats = str(tmp_path / "vifback-stats")
        # dnsmasq_dir: nat's dnsmasq reads its host files there as its own
        # user, so not under tmp_path (pytest makes it 0700); one per netd,
        # as tests run side by side; removed with the netd (netd_factory).
        self.dnsmasq_dir = tempfile.mkdtemp(prefix="netd-dm-", dir="/tmp")
        os.chmod(self.dnsmasq_dir, 0o755)
        weakref.finalize(self, shutil.rmtree, self.dnsmasq_dir, True)  # made outside netd_factory
        self.write_conf(conf_body)
        self.env = env or {}
        self.proc = None
        self.log = str(tmp_path / "netd.log")

    def write_conf(self, body, netd_section=""):
        with open(self.conf, "w") as f:
            f.write(f"[netd]\nsocket = {self.sock}\nstate_dir = {self.state}\n"
                    f"vifback_stats_dir = {self.vifback_stats}\n"
                    f"dnsmasq_dir = {self.dnsmasq_dir}\n{netd_section}\n{body}")

    def start(self, env=None, wait=True):
        e = dict(os.environ, **self.env, **(env or {}))
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.topo.d0, NETD, "-c", self.conf],
                                     stdout=logf, stderr=logf, env=e)
        logf.close()
        if wait:
            wait_for(lambda: self.proc.poll() is not None or self.alive(), 10,
                     what="netd to serve its socket")
            if self.proc.poll() is not None:
                raise AssertionError(f"netd exited {self.proc.returncode}: {self.read_log()}")
        return self.proc

    def run_once(self, env=None, args=()):
        """Run netd expecting it to exit (bad config, injected fault)."""
        e = dict(os.environ, **self.env, **(env or {}))
        return subprocess.run(["ip", "netns", "exec", self.topo.d0, NETD, "-c", self.conf, *args],
                              capture_output=True, text=True, env=e, timeout=30)

    def steps(self):
        """The steps of netd's up (`netd --list-steps`): where NETD_FAULT strikes."""
        r = self.run_once(args=["--list-steps"])
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()[0].split(":", 1)[1].split()

    def run_faulted(self, step):
        """netd with a fault injected at step: it must fail there, saying so,
        and say it restored the host (the caller checks the host)."""
        r = self.run_once(env={"NETD_FAULT": step})
        assert r.returncode == 1, (step, r.stderr)
        assert f"step {step}: fault injected" in r.stderr, r.stderr
        assert "host restored" in r.stderr
        return r

    def run_crashed(self, step):
        """netd killing itself (SIGKILL) at step, its work half-done."""
        r = self.run_once(env={"NETD_FAULT": f"{step}:crash"})
        assert r.returncode in (-9, 137), (step, r.returncode, r.stderr)
        return r

    def crashed(self):
        """netd killed itself (SIGKILL) at its NETD_FAULT step: waited for,
        and the next start() without the fault."""
        self.proc.wait(10)
        assert self.proc.returncode in (-9, 137), self.read_log()
        self.proc = None
        self.env = {}

    def read_log(self):
        with open(self.log) as f:
            return f.read()

    def alive(self):
        try:
            return self.request({"cmd": "status"}).get("ok", False)
        except OSError:
            return False

    def request(self, obj, raw=None, timeout=10):
        """One request on a fresh connection; returns the parsed reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(raw if raw is not None else (json.dumps({"version": 1, **obj}) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return json.loads(buf)

    def ctl(self, *args, check=True):
        r = subprocess.run([NETDCTL, "--socket", self.sock, *args], capture_output=True,
                           text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"netdctl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def kill9_restart_under_ping(self, ns, dst, between=None):
        """SIGKILL netd and start it again while ns pings dst every 50 ms;
        `between` runs while netd is dead. Returns ping's summary."""
        pinger = subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-n", "-q", "-i", "0.05",
                                   "-c", "40", "-W", "1", dst],
                                  stdout=subprocess.PIPE, text=True)
        self.stop(signal.SIGKILL)
        if between:
            between()
        self.start()
        out, _ = pinger.communicate(timeout=20)
        return out

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc


@pytest.fixture
def topo():
    t = Topo()
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def netd_factory(topo, tmp_path):
    started = []

    def make(conf_body, env=None):
        n = Netd(topo, tmp_path, conf_body, env)
        started.append(n)
        return n

    yield make
    for n in started:
        terminate(n.proc)  # leave nothing running
        shutil.rmtree(n.dnsmasq_dir, ignore_errors=True)


@pytest.fixture
def no_leftover_dnsmasq(tmp_path):
    """A failed test may leave the dnsmasq of a killed netd: stop it by PID."""
    yield
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read()
        except OSError:
            continue
        if args.startswith(b"dnsmasq\0") and str(tmp_path).encode() in args:
            try:
                os.kill(int(d), signal.SIGKILL)
            except ProcessLookupError:
                pass


def bridge_conf(style="classic", physdev="eth0", name="xenbr0"):
    return f"[{name}]\nmode = bridge\nphysdev = {physdev}\nstyle = {style}\n"


def route_conf(physdev="eth0", name="routed", metric=None, gatewayip=None, key="physdev"):
    body = f"[{name}]\nmode = route\n{key} = {physdev}\n"
    if metric is not None:
        body += f"metric = {metric}\n"
    if gatewayip:
        body += f"gatewayip = {gatewayip}\n"
    return body


def held_sysctls(netd):
    """netd's registry of held sysctls (<state_dir>/netd-sysctl-registry.json) as
    {path: {"orig": ..., "value": ..., "holders": [...]}}; {} when nothing is held."""
    path = os.path.join(netd.state, "netd-sysctl-registry.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        doc = json.load(f)
    assert doc["version"] == 1
    return doc["held"]


BE = "/local/domain/0/backend/vif"  # Dom0's vif backend directories


class Xsd:
    """hvsim xenstored (with its grant and event channel broker), its socket in
    a short temp dir; stop() and start() again give an empty store, as after a
    restart of xenstored."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xsd", dir="/tmp")
        self.sock = os.path.join(self.dir, "socket")
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen([HVSIM, "xenstored", "-s", self.sock],
                                     stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 5)
        assert ready and self.proc.stdout.readline() == b"ready\n", "xenstored not ready"

    def stop(self):
        terminate(self.proc, 5)
        if self.proc:
            self.proc.stdout.close()
            self.log.close()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self, **kw):
        return dict(os.environ, XENSTORED_PATH=self.sock, **kw)

    def hvsim(self, *args, check=True):
        r = subprocess.run([HVSIM, *args], env=self.env(), capture_output=True, text=True,
                           timeout=30)
        if check:
            assert r.returncode == 0, f"hvsim {args}: {r.stderr}"
        return r

    def read(self, path):
        r = subprocess.run(["xenstore-read", "-R", path], env=self.env(), capture_output=True,
                           text=True, timeout=5)
        return r.stdout.rstrip("\n") if r.returncode == 0 else None

    def ls(self, path):
        r = subprocess.run(["xenstore-list", path], env=self.env(), capture_output=True,
                           text=True, timeout=5)
        return r.stdout.split() if r.returncode == 0 else []

    def write(self, *pairs):
        subprocess.run(["xenstore-write", *[str(p) for p in pairs]], env=self.env(),
                       check=True, timeout=5)

    def rm(self, path):
        subprocess.run(["xenstore-rm", path], env=self.env(), check=True, timeout=5)

    def status(self, d, n=0):
        """vif d.n's hotplug-status, as the hotplug script or netd left it."""
        return self.read(f"{BE}/{d}/{n}/hotplug-status")

    def error(self, d, n=0):
        return self.read(f"{BE}/{d}/{n}/hotplug-error")


@pytest.fixture
def xsd():
    x = Xsd()
    try:
        yield x
    finally:
        x.close()


def add_eth1(topo, ipv6=True):
    """A second uplink: Dom0's eth1 (203.0.113.2/24, and 2001:db8:1::2/64)
    to up1 in the upstream namespace."""
    sh(f"ip link add up1 netns {topo.up} type veth peer name eth1 netns {topo.d0}")
    topo.ip(topo.d0, "addr add 203.0.113.2/24 dev eth1")
    if ipv6:
        topo.ip(topo.d0, "addr add 2001:db8:1::2/64 dev eth1 nodad")
    topo.ip(topo.d0, "link set eth1 up")
    topo.ip(topo.up, "link set up1 up")
