"""benchlib: what every benchmark in bench/ shares.

- paths found relative to the repository (NETD_BUILD overrides the build);
- a Bench: its namespaces, temp dir on tmpfs, processes, cleanup on any
  exit (error, SIGTERM, ^C), and its targets;
- netd started in a namespace with a persistent control-socket connection;
- timing, statistics and one table layout with the baseline and the
  kernel's floor beside netd;
- targets: each scored on ONE statistic, the median, fixed here and not
  per run; a missed target makes the bench exit 1.

Exit status of a bench: 0 every target met, 1 a target missed or the bench
failed, 2 it cannot run here (not root, something not built), 130
interrupted. bench/lib/run_all runs them all (`make bench`)."""
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
BUILD = os.environ.get("NETD_BUILD") or os.path.join(ROOT, "build")
NETD = os.path.join(BUILD, "bin", "netd")
NETDCTL = os.path.join(BUILD, "bin", "netdctl")
HVSIM = os.path.join(BUILD, "hvsim")
STATISTIC = "median"  # the one statistic every target is scored on
# The TCP sender's congestion control, the same on every path and every machine: a
# namespace inherits the host's default (bbr on some), and bbr paces, which turns a
# throughput figure into one of timer wake-ups. cubic is Linux's and Debian's default.
# Set per socket (iperf3 -C, root may use one the host does not allow).
TCP_CC = os.environ.get("BENCH_TCP_CC", "cubic")


class BenchError(Exception):
    """The bench could not measure (setup failed, netd misbehaved): exit 1."""


class Unavailable(Exception):
    """The bench cannot run on this machine: exit 2."""


def env_int(name, default, lo, hi):
    """An integer knob from the environment, clamped so a run stays bounded."""
    return max(lo, min(int(os.environ.get(name, default)), hi))


def env_float(name, default, lo, hi):
    return max(lo, min(float(os.environ.get(name, default)), hi))


# ---- processes and timing -------------------------------------------------

def sh(*argv, check=True, timeout=60, stdin=None, env=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin, env=env)
    if check and r.returncode:
        raise BenchError(f"{' '.join(argv)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def clock():
    return time.perf_counter_ns()


def since(t):
    """Milliseconds since clock() returned t."""
    return (time.perf_counter_ns() - t) / 1e6


def timed(*argv, stdin=None, timeout=30):
    """Run argv once; milliseconds from fork to exit (fails loudly)."""
    t = clock()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin)
    ms = since(t)
    if r.returncode:
        raise BenchError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return ms


def timed_call(fn, *args, **kw):
    """fn(*args, **kw) once; milliseconds."""
    t = clock()
    fn(*args, **kw)
    return since(t)


def wait(pred, what, timeout=10, step=0.02):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise BenchError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


# ---- statistics -------------------------------------------------------------

def median(xs):
    return statistics.median(xs)


def pct(xs, p):
    """The p-th percentile, nearest rank."""
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, -(-p * len(s) // 100) - 1))]


# ---- files --------------------------------------------------------------------

def fstype(path):
    return sh("stat", "-f", "-c", "%T", path).stdout.strip()


def tmpfs_base():
    """netd's default state dir is /run/netd, on tmpfs: benches put theirs on
    tmpfs too (/run if it is one, else /dev/shm), BENCH_TMPDIR overrides."""
    if os.environ.get("BENCH_TMPDIR"):
        return os.environ["BENCH_TMPDIR"]
    for d in ("/run", "/dev/shm"):
        if fstype(d) == "tmpfs":
            return d
    return tempfile.gettempdir()


def atomic_write_ms(d, n=30):
    """Median cost of one atomic state-file write (write, fsync, rename,
    fsync of the directory) in d: what netd pays per state-file change."""
    blob, xs = b"x" * 8192, []
    fd_dir = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(n):
            t = clock()
            with open(os.path.join(d, "probe.tmp"), "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.rename(os.path.join(d, "probe.tmp"), os.path.join(d, "probe"))
            os.fsync(fd_dir)
            xs.append(since(t))
        os.unlink(os.path.join(d, "probe"))
    finally:
        os.close(fd_dir)
    return median(xs)


# ---- the bench ----------------------------------------------------------------

class Target:
    def __init__(self, what, value, op, limit, unit, stat):
        self.what, self.value, self.op, self.limit, self.unit = what, value, op, limit, unit
        self.stat = stat
        self.met = value <= limit if op == "<=" else value >= limit

    def line(self):
        return (f"target: {self.what}: {self.stat} {self.value:.3f}{self.unit} {self.op} "
                f"{self.limit:g}{self.unit} -> {'met' if self.met else 'MISSED'}")


class Bench:
    """One benchmark run. Everything it makes is its own and goes at the end:
    namespaces <prefix>-<pid>-*, a temp dir, the processes it started
    (stopped by pid)."""

    def __init__(self, name, prefix):
        self.name = name
        self.prefix = f"{prefix}-{os.getpid()}"
        self.namespaces = []
        self.procs = []
        self.targets = []
        self.t0 = time.monotonic()
        self.tmp = None

    # setup
    def require(self, *paths, root=True, tools=()):
        if root and os.geteuid():
            raise Unavailable("needs root (network namespaces)")
        for p in paths:
            if not os.access(p, os.X_OK):
                raise Unavailable(f"{p} missing (make build, or set NETD_BUILD)")
        for t in tools:
            if not shutil.which(t):
                raise Unavailable(f"{t} missing (scripts/deps.sh installs it)")

    def make_tmp(self):
        self.tmp = tempfile.mkdtemp(prefix=f"netd-{os.path.basename(self.name)}.", dir=tmpfs_base())
        return self.tmp

    def ns(self, suffix):
        """A namespace of this run, loopback up, no DAD (addresses usable at once)."""
        name = f"{self.prefix}-{suffix}"
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "netns", "exec", name, "sysctl", "-qw",
           "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        self._no_pacing(name)
        return name

    @staticmethod
    def _no_pacing(name):
        """A TCP socket starts with its namespace's default congestion control and
        iperf3 sets TCP_CC (-C) only once connected: a default of bbr has run its
        init by then, which asks for TCP's internal pacing, and that outlives the
        switch (sk_pacing_status), so the sender is paced by a timer either way. The
        namespace's default is TCP_CC, or reno where TCP_CC is not one a namespace may
        take (net.ipv4.tcp_allowed_congestion_control): neither paces."""
        for cc in (TCP_CC, "reno"):
            if sh("ip", "netns", "exec", name, "sysctl", "-qw",
                  f"net.ipv4.tcp_congestion_control={cc}", check=False).returncode == 0:
                return

    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def elapsed(self):
        return time.monotonic() - self.t0

    # scoring
    def target(self, what, value, op, limit, unit=" ms", stat=STATISTIC):
        """Scores value, the median of what's samples (or a ratio of medians),
        against limit. stat names another statistic only for a quantity
        measured once by design (a burst's total)."""
        assert op in ("<=", ">=")
        self.targets.append(Target(what, value, op, limit, unit, stat))

    def finish(self):
        print()
        for t in self.targets:
            print(t.line())
        missed = sum(not t.met for t in self.targets)
        print(f"{self.name}: {len(self.targets) - missed} of {len(self.targets)} targets met "
              f"({self.elapsed():.1f} s)")
        return 1 if missed or not self.targets else 0

    # teardown
    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for n in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
        self.namespaces = []
        if self.tmp and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, main):
        """main(self) returns nothing; its targets decide the exit status."""
        def _sig(signo, _frame):
            raise KeyboardInterrupt(signal.Signals(signo).name)

        signal.signal(signal.SIGTERM, _sig)
        signal.signal(signal.SIGINT, _sig)
        rc = 1
        try:
            main(self)
            rc = self.finish()
        except Unavailable as e:
            print(f"{self.name}: cannot run: {e}", file=sys.stderr)
            rc = 2
        except BenchError as e:
            print(f"{self.name}: FAILED: {e}", file=sys.stderr)
        except KeyboardInterrupt as e:
            print(f"{self.name}: interrupted ({e})", file=sys.stderr)
            rc = 130
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.cleanup()
        sys.exit(rc)


# ---- netd ------------------------------------------------------------------------

class Ctl:
    """One persistent connection to netd's control socket, JSON lines."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def call(self, cmd, check=True, **kw):
        """(reply, ms)"""
        line = json.dumps({"version": 1, "cmd": cmd, **kw}, separators=(",", ":")).encode() + b"\n"
        t = clock()
        self.s.sendall(line)
        reply = self.f.readline()
        ms = since(t)
        if not reply:
            raise BenchError(f"{cmd}: netd closed the connection")
        reply = json.loads(reply)
        if check and not reply.get("ok"):
            raise BenchError(f"{cmd} {kw}: {reply.get('error')}")
        return reply, ms

    def close(self):
        self.f.close()
        self.s.close()


class Netd:
    """netd in namespace ns with its own socket and state dir under the
    bench's temp dir; self.ctl is a connection once it serves."""

    def __init__(self, bench, ns, body, tag="netd", netd_section="", env=None, timeout=10):
        d = bench.tmp
        self.sock = os.path.join(d, f"{tag}.sock")
        self.state = os.path.join(d, f"state-{tag}")
        self.log = os.path.join(d, f"{tag}.log")
        self.conf = os.path.join(d, f"{tag}.conf")
        # nat's dnsmasq reads its host files as its own user (dnsmasq_dir):
        # the temp dir must let it through (it lists nothing there).
        os.chmod(d, 0o711)
        with open(self.conf, "w") as f:
            f.write(f"[netd]\nsocket = {self.sock}\nstate_dir = {self.state}\n"
                    f"dnsmasq_dir = {d}/dnsmasq-{tag}\n{netd_section}\n{body}")
        with open(self.log, "w") as lf:
            # ip netns exec execs netd: the pid is netd's.
            self.p = bench.popen(["ip", "netns", "exec", ns, NETD, "-c", self.conf],
                                 stdout=lf, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, **(env or {})))
        self.ctl = None
        end = time.monotonic() + timeout
        while True:
            if self.p.poll() is not None:
                raise BenchError(f"netd ({tag}) exited at start: {self.logtext()}")
            try:
                self.ctl = Ctl(self.sock)
                self.ctl.call("status")
                return
            except (OSError, BenchError):
                if self.ctl:
                    self.ctl.close()
                    self.ctl = None
                if time.monotonic() > end:
                    raise BenchError(f"netd ({tag}) socket did not come up: {self.logtext()}")
                time.sleep(0.05)

    def logtext(self):
        with open(self.log) as f:
            return f.read().strip()

    def stop(self, timeout=30):
        if self.ctl:
            self.ctl.close()
            self.ctl = None
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise BenchError(f"netd ignored SIGTERM for {timeout} s")
        if self.p.returncode:
            raise BenchError(f"netd exited with {self.p.returncode}: {self.logtext()}")


# ---- tables ------------------------------------------------------------------------

class Table:
    """One layout for every bench: netd's median and p99 per operation, the
    baseline (what one would do without netd, e.g. Xen's way) and the floor
    (the kernel's own cost of the same change, raw netlink in this process),
    each measured in the same run; ratios are netd / baseline and netd / floor."""

    def __init__(self, title, unit="ms"):
        self.title, self.unit, self.rows = title, unit, []

    def row(self, op, xs, base=None, base_label="", floor=None):
        self.rows.append((op, xs, base, base_label, floor))

    def print(self):
        hdr = (f"{'operation':<34}{'n':>5}{'median':>9}{'p99':>9}  {'baseline':<27}{'median':>9}"
               f"{'ratio':>8}  {'kernel floor':>12}{'ratio':>8}")
        print()
        print(f"{self.title} ({self.unit})")
        print(hdr)
        print("-" * len(hdr))
        for op, xs, base, bl, floor in self.rows:
            m = median(xs)
            line = f"{op:<34}{len(xs):>5}{m:>9.3f}{pct(xs, 99):>9.3f}  "
            if base:
                bm = median(base)
                line += f"{bl:<27}{bm:>9.3f}{m / bm:>7.2f}x  "
            else:
                line += f"{'-':<27}{'':>9}{'':>8}  "
            if floor:
                fm = median(floor)
                line += f"{fm:>12.3f}{m / fm:>7.1f}x"
            else:
                line += f"{'-':>12}"
            print(line.rstrip())
        print("-" * len(hdr))


# ---- traffic ------------------------------------------------------------------------

def build_flood(bench):
    """bench/lib/udpflood.c compiled into the bench's temp dir: the one UDP
    generator every packet-rate bench drives (`udpflood ADDR SECONDS`)."""
    out = os.path.join(bench.tmp, "udpflood")
    sh("cc", "-O2", "-Wall", "-o", out, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                                     "udpflood.c"))
    return out


# The receiving end of every packet-rate bench: what arrives for udp port 9 is
# counted and dropped before anything else in the namespace sees it.
SINK = """table inet sink {
	chain c {
		type filter hook prerouting priority -300; policy accept;
		udp dport 9 counter drop
	}
}
"""


def sink_install(ns):
    """The counting sink (SINK) in namespace ns."""
    sh("ip", "netns", "exec", ns, "nft", "-f", "-", stdin=SINK)


def sink_received(ns):
    """Packets ns's sink has counted so far."""
    out = json.loads(sh("ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet",
                        "sink").stdout)
    return sum(x["counter"]["packets"] for o in out["nftables"] if "rule" in o
               for x in o["rule"]["expr"] if "counter" in x)


def rt_prefix():
    """argv prefix that runs a traffic generator alone on the last CPU, as a
    real-time (SCHED_FIFO 1) task: other processes of a shared machine then
    neither take its CPU nor its caches for the run, and what a packet costs
    shows in the rate instead of how busy the machine is. Bounded: the
    kernel keeps 5% of that CPU for others (sched_rt_runtime_us), the other
    CPUs are left alone, and the generators stop after seconds."""
    return ["taskset", "-c", str((os.cpu_count() or 1) - 1), "chrt", "-f", "1"]


def flood_rate(flood, src, sink, addr, seconds, cpu=False, prefix=()):
    """One bounded flood (build_flood's generator) from namespace src to addr for
    seconds, counted by sink's SINK: (received/s, sent/s). A short flood first
    warms ARP and the bridges' FDBs; what is still queued is let arrive.
    cpu: also the frames received per CPU-second the generator used, the
    softirq work it ran for them (the whole path, on its CPU) included: less
    sensitive to other load than frames per second of wall time. prefix: argv
    to run the generator under (rt_prefix())."""
    sh("ip", "netns", "exec", src, flood, addr, "0.2")
    time.sleep(0.2)
    r0 = sink_received(sink)
    u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    sent = int(sh("ip", "netns", "exec", src, *prefix, flood, addr, str(seconds),
                  timeout=seconds + 30).stdout)
    dur = time.perf_counter() - t
    u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(0.3)
    got = sink_received(sink) - r0
    if not cpu:
        return got / dur, sent / dur
    used = (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime)
    return got / dur, sent / dur, got / used if used > 0 else 0.0


# The nftables chain entry points perf names, by the family they run for.
NFT_FAMILIES = (("nft_do_chain_bridge", "bridge"), ("nft_do_chain_ipv4", "ip"),
                ("nft_do_chain_ipv6", "ip6"), ("nft_do_chain_inet", "inet"),
                ("nft_do_chain_netdev", "netdev"))


def flood_profile(bench, flood, src, addr, seconds, prefix=()):
    """One flood (build_flood's generator) from namespace src to addr for seconds
    under `perf record -g` (cpu-clock samples on every CPU): {"samples": n, and
    per family in NFT_FAMILIES: samples inside its nftables chains}, counting only
    the generator's samples, which include the softirq work it runs for its
    frames (the whole path). A share of samples needs no quiet machine: other
    load and a preempted VCPU stretch every part of a frame's path alike, so
    shares stay put where rates swing by tens of percent. None when perf is
    missing or cannot sample here."""
    if not shutil.which("perf"):
        return None
    data = os.path.join(bench.tmp, "perf.data")
    sh("ip", "netns", "exec", src, flood, addr, "0.2")
    r = sh("perf", "record", "-q", "-o", data, "-e", "cpu-clock", "-F", "4999", "-g", "-a", "--",
           "ip", "netns", "exec", src, *prefix, flood, addr, str(seconds), check=False,
           timeout=seconds + 60)
    if r.returncode:
        return None
    out = sh("perf", "script", "-i", data, "-F", "comm,ip,sym", timeout=300).stdout
    os.unlink(data)
    comm = os.path.basename(flood)[:15]
    got = {"samples": 0, **{fam: 0 for _, fam in NFT_FAMILIES}}
    for block in out.split("\n\n"):
        lines = block.strip().split("\n")
        if lines[0].strip() != comm:
            continue
        got["samples"] += 1
        syms = [ln.split()[1] for ln in lines[1:] if len(ln.split()) > 1]
        for fn, fam in NFT_FAMILIES:
            if fn in syms:
                got[fam] += 1
                break
    return got if got["samples"] else None


def iperf(bench, src, dst, addr, seconds, port=5201, prefix=(), cpu=None, rate=None):
    """Gbit/s the receiver in dst got from one TCP stream of seconds from src to
    addr (iperf3). iperf3 now and then reports an error in its JSON (a control
    connection reset under load): up to 3 attempts, each with a fresh server.
    prefix: argv to run both ends under. The sender uses TCP_CC; rate (iperf3's
    -b, "3G") paces it. cpu: a dict to store the CPU seconds each end spent in
    ("sender", "receiver"; iperf3's own account, getrusage over the test: what
    the stack did in its system calls and in the softirqs that ran on its time
    included)."""
    err = ""
    for _ in range(3):
        srv = bench.popen(["ip", "netns", "exec", dst, *prefix, "iperf3", "-s", "-1", "-B", addr,
                           "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(50):  # the server listens within a few ms
                c = sh("ip", "netns", "exec", src, *prefix, "iperf3", "-c", addr, "-p", str(port), "-t",
                       str(seconds), "-C", TCP_CC, "-J", *(("-b", rate) if rate else ()),
                       check=False, timeout=seconds + 30)
                try:
                    out = json.loads(c.stdout)
                except ValueError:
                    out = {"error": c.stderr.strip()}
                if c.returncode == 0 and "sum_received" in out.get("end", {}):
                    end = out["end"]
                    if cpu is not None:
                        u = end.get("cpu_utilization_percent", {})
                        dur = end["sum_received"].get("seconds", seconds)
                        cpu["sender"] = u.get("host_total", 0.0) / 100 * dur
                        cpu["receiver"] = u.get("remote_total", 0.0) / 100 * dur
                    return end["sum_received"]["bits_per_second"] / 1e9
                err = out.get("error", "") or c.stderr.strip()
                if "connect" not in err:  # not "unable to connect": a failed test
                    break
                time.sleep(0.05)
        finally:
            if srv.poll() is None:
                srv.terminate()
            srv.wait(10)
    raise BenchError(f"iperf3 {src} -> {addr}: {err}")
