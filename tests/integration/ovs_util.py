"""Open vSwitch (and OVN) daemons for the tests and benches, each inside a
network namespace with run, db and log directories of its own, started in
the foreground (the PID we hold is the daemon's: `ip netns exec` execs) and
stopped by that PID. Nothing here touches the host's own OVS files: every
tool gets OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR/OVS_SYSCONFDIR of the instance,
and talks to its sockets by path.

The kernel of the test machines has no openvswitch module: bridges use the
userspace datapath (datapath_type=netdev)."""
import json
import os
import shutil
import subprocess

from conftest import terminate, wait_for

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
OVN_NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
OVN_SB_SCHEMA = "/usr/share/ovn/ovn-sb.ovsschema"


TX_CSUM_OFF = r"""
import ctypes, fcntl, socket, struct, sys
# ethtool -K DEV tx off, through SIOCETHTOOL (ETHTOOL_STXCSUM): no ethtool here
val = ctypes.create_string_buffer(struct.pack("II", 0x17, 0))
buf = bytearray(struct.pack("16sP", sys.argv[1].encode(), 0))
struct.pack_into("P", buf, 16, ctypes.addressof(val))
fcntl.ioctl(socket.socket(), 0x8946, bytes(buf))
"""


def tx_csum_off(ns, dev):
    """A veth hands its peer partial checksums, and OVS's userspace datapath
    reads its system ports with AF_PACKET, which cannot tell: it forwards
    them as they are and the receiver drops them. A NIC's wire carries whole
    ones; so does a veth that completes its checksums."""
    subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", TX_CSUM_OFF, dev],
                   check=True, timeout=30)


def have_ovs():
    return shutil.which("ovs-vswitchd") is not None and os.path.exists(SCHEMA)


def have_ovn():
    return have_ovs() and shutil.which("ovn-controller") is not None and \
        shutil.which("ovn-northd") is not None and os.path.exists(OVN_NB_SCHEMA)


def _env(d):
    return dict(os.environ, OVS_RUNDIR=d, OVS_DBDIR=d, OVS_LOGDIR=d, OVS_SYSCONFDIR=d,
                OVN_RUNDIR=d, OVN_DBDIR=d, OVN_LOGDIR=d, OVN_SYSCONFDIR=d)


class Daemons:
    """Processes started in the foreground, stopped by PID in reverse order."""

    def __init__(self, ns, d):
        self.ns, self.dir, self.env = ns, d, _env(d)
        self.procs = []
        os.makedirs(d, exist_ok=True)

    def spawn(self, name, argv, ready=None, timeout=15):
        log = open(os.path.join(self.dir, f"{name}.out"), "a")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], stdout=log,
                             stderr=log, env=self.env, cwd=self.dir)
        log.close()
        self.procs.append((name, p))
        if ready:
            def ok():
                assert p.poll() is None, f"{name} exited {p.returncode}: {self.tail(name)}"
                return ready()
            wait_for(ok, timeout, what=f"{name} to start")
        return p

    def tail(self, name, n=20):
        for f in (f"{name}.out", f"{name}.log"):
            path = os.path.join(self.dir, f)
            if os.path.exists(path):
                with open(path) as fh:
                    return "".join(fh.readlines()[-n:])
        return ""

    def stop(self):
        for _, p in reversed(self.procs):
            terminate(p, 10)
        self.procs = []

    def run(self, *argv, check=True, timeout=30, input=None):
        r = subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True,
                           text=True, env=self.env, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr}")
        return r


class Ovs(Daemons):
    """ovsdb-server and ovs-vswitchd of one (simulated) host."""

    def __init__(self, ns, d, vswitchd=True):
        super().__init__(ns, d)
        self.db = os.path.join(d, "db.sock")
        self.db_remote = f"unix:{self.db}"
        subprocess.run(["ovsdb-tool", "create", os.path.join(d, "conf.db"), SCHEMA], check=True,
                       env=self.env)
        self.spawn("ovsdb-server", ["ovsdb-server", os.path.join(d, "conf.db"),
                                    f"--remote=punix:{self.db}",
                                    f"--unixctl={d}/ovsdb-server.ctl",
                                    f"--log-file={d}/ovsdb-server.log", "-vconsole:off"],
                   ready=lambda: os.path.exists(self.db))
        self.vsctl("--no-wait", "init")
        if vswitchd:
            self.spawn("ovs-vswitchd", ["ovs-vswitchd", self.db_remote,
                                        f"--unixctl={d}/ovs-vswitchd.ctl",
                                        f"--log-file={d}/ovs-vswitchd.log", "-vconsole:off"],
                       ready=lambda: os.path.exists(f"{d}/ovs-vswitchd.ctl"))
            # cur_cfg catches up with next_cfg once vswitchd has read the db
            self.vsctl("--timeout=10", "set", "Open_vSwitch", ".", "external_ids:netd-test=1")

    def vsctl(self, *args, check=True):
        return self.run("ovs-vsctl", f"--db={self.db_remote}", *args, check=check).stdout

    def mgmt(self, bridge):
        return f"unix:{self.dir}/{bridge}.mgmt"

    def ofctl(self, cmd, bridge, *args, check=True):
        return self.run("ovs-ofctl", cmd, self.mgmt(bridge), *args, check=check).stdout

    def get(self, table, record, column, check=True):
        r = self.run("ovs-vsctl", f"--db={self.db_remote}", "--format=json", "--data=json",
                     "--columns", column, "list", table, record, check=check)
        if r.returncode != 0:
            return None
        doc = json.loads(r.stdout)
        return decode(doc["data"][0][0]) if doc["data"] else None

    def ports(self, bridge):
        out = self.vsctl("list-ports", bridge, check=False)
        return sorted(out.split())

    def all_ports(self):
        r = self.run("ovs-vsctl", f"--db={self.db_remote}", "--format=json", "--data=json",
                     "--columns=name", "list", "Port")
        return sorted(row[0] for row in json.loads(r.stdout)["data"])

    def bridges(self):
        return sorted(self.vsctl("list-br").split())


def decode(v):
    """An OVSDB JSON value as Python: maps to dicts, sets to lists."""
    if isinstance(v, list) and len(v) == 2 and v[0] == "map":
        return {k: decode(x) for k, x in v[1]}
    if isinstance(v, list) and len(v) == 2 and v[0] == "set":
        return [decode(x) for x in v[1]]
    if isinstance(v, list) and len(v) == 2 and v[0] in ("uuid", "named-uuid"):
        return v[1]
    return v


class OvnCentral(Daemons):
    """The NB and SB databases and ovn-northd, in the central namespace."""

    def __init__(self, ns, d, sb_addr):
        super().__init__(ns, d)
        self.nb = os.path.join(d, "nb.sock")
        self.sb_local = os.path.join(d, "sb.sock")
        self.sb_remote = f"tcp:{sb_addr}:6642"
        for name, schema in (("nb", OVN_NB_SCHEMA), ("sb", OVN_SB_SCHEMA)):
            subprocess.run(["ovsdb-tool", "create", os.path.join(d, f"{name}.db"), schema],
                           check=True, env=self.env)
        self.spawn("ovsdb-nb", ["ovsdb-server", os.path.join(d, "nb.db"),
                                f"--remote=punix:{self.nb}", f"--unixctl={d}/nb.ctl",
                                f"--log-file={d}/ovsdb-nb.log", "-vconsole:off"],
                   ready=lambda: os.path.exists(self.nb))
        self.spawn("ovsdb-sb", ["ovsdb-server", os.path.join(d, "sb.db"),
                                f"--remote=punix:{self.sb_local}",
                                f"--remote=ptcp:6642:{sb_addr}", f"--unixctl={d}/sb.ctl",
                                f"--log-file={d}/ovsdb-sb.log", "-vconsole:off"],
                   ready=lambda: os.path.exists(self.sb_local))
        self.spawn("ovn-northd", ["ovn-northd", f"--ovnnb-db=unix:{self.nb}",
                                  f"--ovnsb-db=unix:{self.sb_local}",
                                  f"--unixctl={d}/ovn-northd.ctl",
                                  f"--log-file={d}/ovn-northd.log", "-vconsole:off"],
                   ready=lambda: os.path.exists(f"{d}/ovn-northd.ctl"))

    def nbctl(self, *args, check=True):
        return self.run("ovn-nbctl", f"--db=unix:{self.nb}", *args, check=check).stdout

    def sbctl(self, *args, check=True):
        return self.run("ovn-sbctl", f"--db=unix:{self.sb_local}", *args, check=check).stdout


def start_ovn_controller(ovs, system_id, encap_ip, sb_remote, encap="geneve"):
    """ovn-controller on the host of ovs, its integration bridge br-int on the
    userspace datapath."""
    ovs.vsctl("set", "Open_vSwitch", ".",
              f"external_ids:system-id={system_id}",
              f"external_ids:ovn-remote={sb_remote}",
              f"external_ids:ovn-encap-type={encap}",
              f"external_ids:ovn-encap-ip={encap_ip}",
              "external_ids:ovn-bridge=br-int",
              "external_ids:ovn-bridge-datapath-type=netdev")
    d = ovs.dir
    # no --unixctl here: its control socket is OVN_RUNDIR/ovn-controller.PID.ctl
    return ovs.spawn("ovn-controller", ["ovn-controller", ovs.db_remote,
                                        f"--log-file={d}/ovn-controller.log", "-vconsole:off"],
                     ready=lambda: any(f.startswith("ovn-controller.") and f.endswith(".ctl")
                                       for f in os.listdir(d)))
