"""The simulated xenstored (hvsim xenstored) against Debian's unchanged
xenstore-utils, libxenstore (xs-smoke) and a raw-socket client.

A test acts as guest domain D by introducing D (``hvsim domain add D`` or a
raw INTRODUCE) and then connecting to ``$XENSTORED_PATH.d<D>``: requests
there run as domain D, unprivileged.

Needs: $NETD_BUILD (default: build/ in the repository) with hvsim and
xs-smoke, xenstore-utils (all required). No root, no namespaces.
"""
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, HVSIM

XS_SMOKE = os.path.join(BUILD, "xs-smoke")


# xs_wire.h message types
DIRECTORY, READ, GET_PERMS, WATCH, UNWATCH = 1, 2, 3, 4, 5
TRANSACTION_START, TRANSACTION_END, INTRODUCE, RELEASE = 6, 7, 8, 9
GET_DOMAIN_PATH, WRITE, MKDIR, RM, SET_PERMS = 10, 11, 12, 13, 14
WATCH_EVENT, ERROR, IS_DOMAIN_INTRODUCED = 15, 16, 17

HDR = struct.Struct("<IIII")


class Raw:
    """A bare xenstore wire client, to send what libxenstore never would."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(2)
        self.s.connect(path)
        self.events = []

    def close(self):
        self.s.close()

    def send(self, mtype, payload=b"", req_id=0, tx_id=0, length=None):
        n = len(payload) if length is None else length
        self.s.sendall(HDR.pack(mtype, req_id, tx_id, n) + payload)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("xenstored closed the connection")
            buf += chunk
        return buf

    def recv_any(self):
        mtype, req_id, tx_id, n = HDR.unpack(self._recv_exact(HDR.size))
        return mtype, req_id, tx_id, self._recv_exact(n)

    def recv(self):
        """The next reply; watch events are stashed in self.events."""
        while True:
            msg = self.recv_any()
            if msg[0] != WATCH_EVENT:
                return msg
            self.events.append(msg[3])

    def event(self):
        if self.events:
            return self.events.pop(0)
        mtype, _, _, payload = self.recv_any()
        assert mtype == WATCH_EVENT, (mtype, payload)
        return payload

    def call(self, mtype, *args, tx_id=0, req_id=1):
        """Request with NUL-terminated string args; (type, payload)."""
        payload = b"".join(a.encode() + b"\0" for a in args)
        self.send(mtype, payload, req_id=req_id, tx_id=tx_id)
        rtype, rreq, rtx, body = self.recv()
        assert rreq == req_id and rtx == tx_id
        return rtype, body

    def ok(self, mtype, *args, tx_id=0):
        rtype, body = self.call(mtype, *args, tx_id=tx_id)
        assert rtype == mtype, body
        return body

    def err(self, mtype, *args, tx_id=0):
        rtype, body = self.call(mtype, *args, tx_id=tx_id)
        assert rtype == ERROR, (rtype, body)
        return body.rstrip(b"\0").decode()

    def write(self, path, value, tx_id=0):
        self.send(WRITE, path.encode() + b"\0" + value.encode(), req_id=1,
                  tx_id=tx_id)
        return self.recv()


class Xenstored:
    def __init__(self, tmp):
        self.dir = tmp
        self.sock = os.path.join(tmp, "socket")
        self.pid_file = os.path.join(tmp, "pid")
        self.env = dict(os.environ, XENSTORED_PATH=self.sock)
        self.proc = subprocess.Popen(
            [HVSIM, "xenstored", "-p", self.pid_file], env=self.env,
            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "log"), "w"))
        ready, _, _ = select.select([self.proc.stdout], [], [], 5)
        assert ready and self.proc.stdout.readline() == b"ready\n", \
            "hvsim xenstored did not become ready: " + self.log()
        with open(self.pid_file) as f:
            self.pid = int(f.read())

    def log(self):
        with open(os.path.join(self.dir, "log")) as f:
            return f.read()

    def sock_for(self, dom):
        return self.sock if dom is None else f"{self.sock}.d{dom}"

    def xs(self, cmd, *args, dom=None, check=True):
        env = dict(self.env, XENSTORED_PATH=self.sock_for(dom))
        r = subprocess.run([f"xenstore-{cmd}", *args], env=env,
                           capture_output=True, text=True, timeout=5)
        if check:
            assert r.returncode == 0, f"xenstore-{cmd} {args}: {r.stderr}"
        return r

    def hvsim(self, *args, check=True):
        r = subprocess.run([HVSIM, *args], env=self.env, capture_output=True,
                           text=True, timeout=5)
        if check:
            assert r.returncode == 0, f"hvsim {args}: {r.stderr}"
        return r

    def raw(self, dom=None):
        return Raw(self.sock_for(dom))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.proc.stdout.close()
        return rc


@pytest.fixture
def xsd():
    # Short path: sockaddr_un holds 108 bytes, and guests add ".d<D>".
    tmp = tempfile.mkdtemp(prefix="xsd", dir="/tmp")
    d = Xenstored(tmp)
    try:
        yield d
    finally:
        rc = d.stop()
        log = d.log()
        shutil.rmtree(tmp, ignore_errors=True)
        # A clean SIGTERM exit; under ASan a leak makes this non-zero.
        assert rc == 0, f"xenstored exit {rc}:\n{log}"


def test_utils_round_trip(xsd):
    xsd.xs("write", "/vm/a", "1", "/vm/b/c", "two words")
    assert xsd.xs("read", "/vm/a").stdout == "1\n"
    assert xsd.xs("read", "/vm/b/c").stdout == "two words\n"
    assert xsd.xs("list", "/vm").stdout.split() == ["a", "b"]
    ls = xsd.xs("ls", "/vm").stdout
    assert 'a = "1"' in ls and 'c = "two words"' in ls
    assert xsd.xs("exists", "/vm/b/c").returncode == 0
    assert xsd.xs("exists", "/vm/nope", check=False).returncode != 0
    xsd.xs("rm", "/vm/b")
    assert xsd.xs("exists", "/vm/b", check=False).returncode != 0
    assert xsd.xs("list", "/vm").stdout.split() == ["a"]
    # The initial tree, owned by dom0.
    assert set(xsd.xs("list", "/").stdout.split()) >= {"local", "tool", "vm"}
    assert xsd.xs("list", "/local/domain").stdout.split() == ["0"]


def test_chmod_and_perms_format(xsd):
    xsd.xs("write", "/be/vif/5/0/mac", "00:16:3e:00:00:05")
    xsd.xs("chmod", "-r", "/be/vif/5", "n0", "r5")
    assert "(n0,r5)" in xsd.xs("ls", "-p", "/be/vif/5/0").stdout
    c = xsd.raw()
    assert c.ok(GET_PERMS, "/be/vif/5/0/mac") == b"n0\0r5\0"
    # A new child inherits its parent's permissions.
    c.write("/be/vif/5/0/bridge", "xenbr0")
    assert c.ok(GET_PERMS, "/be/vif/5/0/bridge") == b"n0\0r5\0"
    assert c.err(SET_PERMS, "/be/vif/5", "x0") == "EINVAL"
    assert c.err(GET_PERMS, "/be/none") == "ENOENT"
    c.close()


def test_guest_write_to_backend_refused(xsd):
    assert xsd.hvsim("domain", "add", "5").stdout.strip() == xsd.sock + ".d5"
    xsd.xs("write", "/local/domain/0/backend/vif/5/0/mac", "00:16:3e:00:00:05")
    xsd.xs("chmod", "-r", "/local/domain/0/backend/vif/5", "n0", "r5")

    r = xsd.xs("write", "/local/domain/0/backend/vif/5/0/mac", "evil", dom=5,
               check=False)
    assert r.returncode != 0
    r = xsd.xs("write", "/local/domain/0/backend/vif/5/0/new", "x", dom=5,
               check=False)
    assert r.returncode != 0
    assert xsd.xs("read", "/local/domain/0/backend/vif/5/0/mac").stdout == \
        "00:16:3e:00:00:05\n"
    assert xsd.xs("exists", "/local/domain/0/backend/vif/5/0/new",
                  check=False).returncode != 0
    # Read access (r5) still works for the guest.
    assert xsd.xs("read", "/local/domain/0/backend/vif/5/0/mac",
                  dom=5).stdout == "00:16:3e:00:00:05\n"

    g = xsd.raw(dom=5)
    rtype, _, _, body = g.write("/local/domain/0/backend/vif/5/0/mac", "evil")
    assert (rtype, body) == (ERROR, b"EACCES\0")
    assert g.err(RM, "/local/domain/0/backend/vif/5/0") == "EACCES"
    assert g.err(SET_PERMS, "/local/domain/0/backend/vif/5/0", "b5") == \
        "EACCES"
    assert g.err(INTRODUCE, "9", "0", "1") == "EACCES"
    g.close()


def test_guest_read_without_permission_refused(xsd):
    xsd.hvsim("domain", "add", "5")
    xsd.xs("write", "/secret/key", "s3cr3t")
    r = xsd.xs("read", "/secret/key", dom=5, check=False)
    assert r.returncode != 0 and "s3cr3t" not in r.stdout
    g = xsd.raw(dom=5)
    assert g.err(READ, "/secret/key") == "EACCES"
    assert g.err(DIRECTORY, "/secret") == "EACCES"
    assert g.err(GET_PERMS, "/secret/key") == "EACCES"
    # Absent below an unreadable node: EACCES, not ENOENT (no probing).
    assert g.err(READ, "/secret/none") == "EACCES"
    # Its own home is readable; other domains' are not.
    assert g.ok(READ, "domid") == b"5"
    assert g.err(DIRECTORY, "/local/domain") == "EACCES"
    g.close()


def test_guest_relative_paths_and_ownership(xsd):
    xsd.hvsim("domain", "add", "5")
    xsd.xs("write", "device/vif/0/state", "1", dom=5)
    assert xsd.xs("read", "/local/domain/5/device/vif/0/state").stdout == "1\n"
    c = xsd.raw()
    # Created by the guest: the guest owns it.
    assert c.ok(GET_PERMS, "/local/domain/5/device/vif/0/state")[:3] == b"n5\0"
    assert c.ok(GET_DOMAIN_PATH, "5") == b"/local/domain/5\0"
    assert c.ok(IS_DOMAIN_INTRODUCED, "5") == b"T\0"
    assert c.ok(IS_DOMAIN_INTRODUCED, "6") == b"F\0"
    g = xsd.raw(dom=5)
    # A guest may not give its node away.
    assert g.err(SET_PERMS, "device/vif/0/state", "n0") == "EPERM"
    g.ok(SET_PERMS, "device/vif/0/state", "n5", "r0")
    g.close()
    c.close()


def test_guest_node_quota(xsd):
    """A guest owns at most 1000 nodes (xenstored's quota-nbentry): past it
    its writes fail with ENOSPC and the daemon keeps serving; dom0 has no
    quota and the store holds far more than the old 16384-node cap."""
    xsd.hvsim("domain", "add", "5")
    g = xsd.raw(dom=5)
    n, err = 0, None
    for i in range(1100):
        g.send(WRITE, f"data/n{i}".encode() + b"\0", req_id=1)
        mtype, _, _, body = g.recv_any()
        if mtype == ERROR:
            err = body.rstrip(b"\0").decode()
            break
        n += 1
    assert err == "ENOSPC"
    assert 990 <= n < 1000  # the domain's own directory nodes count too
    assert g.err(WRITE, "data/more") == "ENOSPC"
    # a value change adds no node; a removal frees quota
    assert g.write("data/n0", "changed")[0] == WRITE
    g.ok(RM, "data/n1")
    assert g.write("data/again", "x")[0] == WRITE
    g.close()
    # dom0: 20000 more nodes, in one client, while the guest is at its quota
    c = xsd.raw()
    for k in range(0, 20000, 200):  # pipelined, a batch at a time
        for i in range(k, k + 200):
            c.send(WRITE, f"/tool/q/{i // 200}/{i % 200}".encode() + b"\0", req_id=1)
        for i in range(k, k + 200):
            assert c.recv_any()[0] == WRITE
    c.close()
    assert xsd.xs("read", "/tool/q/99/199").returncode == 0
    assert xsd.xs("read", "/local/domain/5/data/again").stdout == "x\n"
    assert xsd.alive()


def test_xenstore_watch_tool(xsd):
    env = dict(xsd.env)
    w = subprocess.Popen(["xenstore-watch", "-n", "2", "/w"], env=env,
                         stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([w.stdout], [], [], 2)
        assert ready and w.stdout.readline() == "/w\n"  # fires on register
        xsd.xs("write", "/w/x", "1")
        assert w.wait(timeout=2) == 0
        assert w.stdout.read() == "/w/x\n"
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
        w.stdout.close()


def test_watch_semantics_raw(xsd):
    c = xsd.raw()
    c.write("/p/c/d", "v")
    c.ok(WATCH, "/p", "parent")
    assert c.event() == b"/p\0parent\0"
    c.ok(WATCH, "/p/c/d", "leaf")
    assert c.event() == b"/p/c/d\0leaf\0"
    # A change below fires the ancestor's watch with the changed path.
    c.write("/p/c/d", "w")
    got = {c.event(), c.event()}
    assert got == {b"/p/c/d\0parent\0", b"/p/c/d\0leaf\0"}
    # RM fires the parent's watch, and a watch on a removed descendant.
    c.ok(RM, "/p/c")
    got = {c.event(), c.event()}
    assert got == {b"/p/c\0parent\0", b"/p/c/d\0leaf\0"}
    assert c.err(WATCH, "/p", "parent") == "EEXIST"
    c.ok(UNWATCH, "/p", "parent")
    assert c.err(UNWATCH, "/p", "parent") == "ENOENT"
    c.close()


def test_watch_permissions_and_relative(xsd):
    xsd.hvsim("domain", "add", "5")
    c = xsd.raw()
    g = xsd.raw(dom=5)
    g.ok(WATCH, "device", "rel")
    assert g.event() == b"device\0rel\0"  # relative in, relative out
    g.ok(WATCH, "/hidden", "abs")
    assert g.event() == b"/hidden\0abs\0"
    c.write("/local/domain/5/device/x", "1")
    assert g.event() == b"device/x\0rel\0"
    c.write("/hidden/y", "secret")  # unreadable for dom5: no event
    c.write("/local/domain/5/device/z", "2")
    assert g.event() == b"device/z\0rel\0"
    g.close()
    c.close()


def test_special_watches_and_guest_socket(xsd):
    c = xsd.raw()
    c.ok(WATCH, "@introduceDomain", "in")
    assert c.event() == b"@introduceDomain\0in\0"
    c.ok(WATCH, "@releaseDomain", "out")
    assert c.event() == b"@releaseDomain\0out\0"
    xsd.hvsim("domain", "add", "7")
    assert c.event() == b"@introduceDomain\0in\0"
    assert os.path.exists(xsd.sock + ".d7")
    g = xsd.raw(dom=7)
    assert g.ok(READ, "name") == b"hvsim-dom7"
    xsd.hvsim("domain", "del", "7")
    assert c.event() == b"@releaseDomain\0out\0"
    assert not os.path.exists(xsd.sock + ".d7")
    # The released domain's connections are gone.
    with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
        g.call(READ, "name")
    g.close()
    assert c.err(RELEASE, "7") == "ENOENT"
    assert c.err(INTRODUCE, "0", "0", "1") == "EINVAL"
    c.close()


def test_xs_smoke_libxenstore(xsd):
    r = subprocess.run([XS_SMOKE], env=xsd.env, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout


def test_transactions_raw(xsd):
    c = xsd.raw()
    c.write("/t/a", "0")
    tx = int(c.ok(TRANSACTION_START, "").rstrip(b"\0"))
    assert tx != 0
    assert c.ok(READ, "/t/a", tx_id=tx) == b"0"
    c.write("/t/b", "in", tx_id=tx)
    assert c.err(READ, "/t/b") == "ENOENT"  # isolated until commit
    c.write("/t/a", "1")  # conflicts with the transaction's read
    assert c.ok(READ, "/t/a", tx_id=tx) == b"0"  # snapshot
    assert c.err(TRANSACTION_END, "T", tx_id=tx) == "EAGAIN"
    assert c.err(READ, "/t/b") == "ENOENT"
    assert c.err(READ, "/t/a", tx_id=tx) == "ENOENT"  # id is gone

    # Non-conflicting concurrent writes elsewhere do not matter.
    tx = int(c.ok(TRANSACTION_START, "").rstrip(b"\0"))
    c.write("/t/c", "in", tx_id=tx)
    c.ok(RM, "/t/a", tx_id=tx)
    c.write("/other", "x")
    c.ok(TRANSACTION_END, "T", tx_id=tx)
    assert c.ok(READ, "/t/c") == b"in"
    assert c.err(READ, "/t/a") == "ENOENT"
    assert c.err(TRANSACTION_END, "T", tx_id=tx) == "ENOENT"  # ended
    tx = int(c.ok(TRANSACTION_START, "").rstrip(b"\0"))
    assert c.err(TRANSACTION_END, "X", tx_id=tx) == "EINVAL"
    assert c.err(TRANSACTION_START, "", tx_id=tx) == "EBUSY"  # no nesting
    c.ok(TRANSACTION_END, "F", tx_id=tx)
    assert c.err(TRANSACTION_START, "", tx_id=4242) == "ENOENT"
    c.close()



def test_transactions_serialise_concurrent_increments(xsd):
    """Read-modify-write in transactions from several clients at once:
    with real isolation and EAGAIN on conflict, no increment is lost."""
    import threading

    xsd.raw().write("/counter", "0")
    errors = []

    def worker():
        c = xsd.raw()
        try:
            for _ in range(25):
                while True:
                    tx = int(c.ok(TRANSACTION_START, "").rstrip(b"\0"))
                    v = int(c.ok(READ, "/counter", tx_id=tx))
                    assert c.write("/counter", str(v + 1), tx_id=tx)[0] == WRITE
                    rtype, body = c.call(TRANSACTION_END, "T", tx_id=tx)
                    if rtype == TRANSACTION_END:
                        break
                    assert body == b"EAGAIN\0", body
        except Exception as e:  # reported by the main thread
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors, errors
    assert xsd.xs("read", "/counter").stdout == "100\n"

def test_malformed_messages(xsd):
    c = xsd.raw()
    c.send(999, b"x\0", req_id=3)
    assert c.recv() == (ERROR, 3, 0, b"ENOSYS\0")
    c.send(WATCH_EVENT, b"/a\0t\0", req_id=4)  # reply-only type
    assert c.recv()[0] == ERROR
    c.send(READ, b"/local", req_id=5)  # no NUL
    assert c.recv() == (ERROR, 5, 0, b"EINVAL\0")
    c.send(READ, b"/local\0extra\0", req_id=6)
    assert c.recv() == (ERROR, 6, 0, b"EINVAL\0")
    c.send(WRITE, b"no-nul-anywhere", req_id=7)
    assert c.recv() == (ERROR, 7, 0, b"EINVAL\0")
    assert c.err(READ, "/bad//path") == "EINVAL"
    assert c.err(READ, "/bad/") == "EINVAL"
    assert c.err(READ, "/bad path") == "EINVAL"
    assert c.err(READ, "/local", tx_id=77) == "ENOENT"  # unknown tx
    assert c.err(RM, "/") == "EINVAL"
    assert c.ok(READ, "/local") == b""  # still in sync
    c.close()

    # Oversized length: E2BIG, then the connection is dropped.
    c = xsd.raw()
    c.send(WRITE, b"", length=1 << 20)
    assert c.recv_any() == (ERROR, 0, 0, b"E2BIG\0")
    with pytest.raises(EOFError):
        c.recv_any()
    c.close()

    # Truncated header, then gone; and gone half-way through a payload,
    # leaving a watch and a transaction behind for the daemon to free.
    c = xsd.raw()
    c.s.sendall(HDR.pack(READ, 1, 0, 6)[:7])
    c.close()
    c = xsd.raw()
    c.ok(WATCH, "/", "leak?")
    c.ok(TRANSACTION_START, "")
    c.s.sendall(HDR.pack(WRITE, 1, 0, 100) + b"/half")
    c.close()

    time.sleep(0.05)
    assert xsd.alive()
    assert xsd.xs("read", "/local").returncode == 0


def test_resource_limits(xsd):
    c = xsd.raw()
    for i in range(128):
        c.ok(WATCH, f"/w{i}", "t")
        c.event()
    assert c.err(WATCH, "/w128", "t") == "ENOSPC"
    # Open transactions: a guest's connection 16; dom0 none (C
    # xenstored's quota is never the privileged domain's), past the
    # guests' store-wide 64 too.
    for i in range(80):
        c.ok(TRANSACTION_START, "")
    xsd.hvsim("domain", "add", "5")
    g = xsd.raw(dom=5)
    for i in range(16):
        g.ok(TRANSACTION_START, "")
    assert g.err(TRANSACTION_START, "") == "ENOSPC"
    g.close()
    c.close()
    # A path at the limit works, one byte more does not.
    c = xsd.raw()
    long_path = "/" + "a" * 3071
    assert c.write(long_path, "v")[0] == WRITE
    assert c.err(READ, long_path + "b") == "EINVAL"
    c.close()


def test_long_directory_uses_directory_part(xsd):
    c = xsd.raw()
    names = [f"child-with-a-rather-long-name-{i:04d}" for i in range(200)]
    for n in names:
        assert c.write(f"/big/{n}", "")[0] == WRITE
    assert c.err(DIRECTORY, "/big") == "E2BIG"
    c.close()
    # libxenstore falls back to DIRECTORY_PART and still gets them all.
    assert xsd.xs("list", "/big").stdout.split() == names


HOTPLUG_SCRIPT = """#!/bin/sh
# Records how it was called, then answers like Xen's vif scripts do.
{ echo "$*"; env | grep -E '^(vif|XENBUS_PATH|XENBUS_TYPE|XENBUS_BASE_PATH|script|netdev)=' | sort; } > "$0.$1"
if [ "$1" = online ]; then
    [ "$(xenstore-read "$XENBUS_PATH/bridge")" = xenbr1 ] || exit 3
    xenstore-write "$XENBUS_PATH/hotplug-status" connected
fi
"""


def test_vif_add_del_like_libxl(xsd):
    script = os.path.join(xsd.dir, "vif-rec")
    with open(script, "w") as f:
        f.write(HOTPLUG_SCRIPT)
    os.chmod(script, 0o755)
    xsd.hvsim("domain", "add", "3")
    r = xsd.hvsim("vif", "add", "3.0",
                  f"mac=00:16:3e:aa:bb:cc,bridge=xenbr1,ip=192.0.2.5,"
                  f"rate=10Mb/s@20ms,mtu=9000,script={script},"
                  "gatewaydev=eth9")
    assert 'exit 0, hotplug-status "connected"' in r.stdout
    with open(script + ".online") as f:
        call = f.read().splitlines()
    assert call[0] == "online type_if=vif"
    assert sorted(call[1:]) == sorted([
        "XENBUS_BASE_PATH=backend", "XENBUS_PATH=backend/vif/3/0",
        "XENBUS_TYPE=vif", "netdev=eth9", f"script={script}", "vif=vif3.0"])

    be, fe = "/local/domain/0/backend/vif/3/0", "/local/domain/3/device/vif/0"
    want_be = {"frontend": fe, "frontend-id": "3", "online": "1",
               "state": "1", "script": script, "mac": "00:16:3e:aa:bb:cc",
               "ip": "192.0.2.5", "bridge": "xenbr1", "rate": "25000,20000",
               "mtu": "9000", "handle": "0", "type": "vif",
               "gatewaydev": "eth9", "hotplug-status": "connected"}
    for k, v in want_be.items():
        assert xsd.xs("read", f"{be}/{k}").stdout == v + "\n", k
    want_fe = {"backend": be, "backend-id": "0", "state": "1", "handle": "0",
               "mac": "00:16:3e:aa:bb:cc", "trusted": "1", "mtu": "9000"}
    for k, v in want_fe.items():
        assert xsd.xs("read", f"{fe}/{k}").stdout == v + "\n", k
    c = xsd.raw()
    assert c.ok(GET_PERMS, be) == b"n0\0r3\0"
    assert c.ok(GET_PERMS, fe) == b"n3\0r0\0"
    assert c.ok(GET_PERMS, fe + "/mtu") == b"n0\0r3\0"  # read-only to guest
    c.close()
    # The guest reads its backend but cannot change it.
    assert xsd.xs("read", f"{be}/mac", dom=3).returncode == 0
    assert xsd.xs("write", f"{be}/ip", "192.0.2.99", dom=3,
                  check=False).returncode != 0

    r = xsd.hvsim("vif", "del", "3.0")
    assert "offline: exit 0" in r.stdout
    with open(script + ".offline") as f:
        assert f.readline() == "offline type_if=vif\n"
    assert xsd.xs("exists", be, check=False).returncode != 0
    assert xsd.xs("exists", fe, check=False).returncode != 0
    assert xsd.xs("exists", "/local/domain/3/device").returncode == 0


def detach_waiting(xsd, d, script):
    """`hvsim vif del -w D.0` of a vif added with `script`, which records
    its calls, and no backend: the running detach once it wrote Closing."""
    with open(script, "w") as f:
        f.write(HOTPLUG_SCRIPT)
    os.chmod(script, 0o755)
    xsd.hvsim("domain", "add", str(d))
    xsd.hvsim("vif", "add", f"{d}.0", f"bridge=xenbr1,script={script}")
    p = subprocess.Popen([HVSIM, "vif", "del", "-w", f"{d}.0"], env=xsd.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    be = f"/local/domain/0/backend/vif/{d}/0"
    deadline = time.monotonic() + 5
    while xsd.xs("read", f"{be}/state").stdout != "5\n":
        assert time.monotonic() < deadline, "no Closing written"
        time.sleep(0.05)
    return p, be, f"/local/domain/{d}/device/vif/0"


def wait_gone(xsd, path, timeout):
    deadline = time.monotonic() + timeout
    while xsd.xs("exists", path, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"{path} still there"
        time.sleep(0.1)


def test_vif_del_w_forces_then_gives_up_as_libxl(xsd):
    """libxl's detach waits 10 s for Closed (6); on timeout it forces the
    removal (the frontend's directory goes, Closing is written again) and
    waits 10 s more; a backend that never closes fails the detach, whose
    keys are removed without the hotplug script's offline step."""
    script = os.path.join(xsd.dir, "vif-rec")
    p, be, fe = detach_waiting(xsd, 3, script)
    t0 = time.monotonic()
    wait_gone(xsd, fe, 12)
    assert time.monotonic() - t0 >= 9, "forced before libxl's 10 s"
    assert xsd.xs("read", f"{be}/state").stdout == "5\n"
    assert p.poll() is None, "the detach ended at the first timeout"
    _, err = p.communicate(timeout=15)
    assert p.returncode == 1, err
    assert "did not reach Closed (6) in 10 s (state 5); forcing the removal" in err
    assert "removing the vif without its script" in err
    assert not os.path.exists(script + ".offline")
    assert xsd.xs("exists", be, check=False).returncode != 0


def test_vif_del_w_closed_after_the_forced_remove_runs_the_script(xsd):
    """A backend that closes during the forced wait ends the detach as a
    normal one: offline script run, keys removed, exit 0."""
    script = os.path.join(xsd.dir, "vif-rec")
    p, be, fe = detach_waiting(xsd, 4, script)
    wait_gone(xsd, fe, 12)
    xsd.xs("write", f"{be}/state", "6")
    out, err = p.communicate(timeout=5)
    assert p.returncode == 0, err
    assert "offline: exit 0" in out
    with open(script + ".offline") as f:
        assert f.readline() == "offline type_if=vif\n"
    assert xsd.xs("exists", be, check=False).returncode != 0


def test_vif_del_of_a_backend_without_state_cleans_up_as_libxl(xsd):
    """libxl's remove finds no backend `state` (the backend gone): it writes
    nothing, waits for nothing and runs no script, removes the device's
    keys and succeeds ("backend ... already removed, cleanup frontend
    only")."""
    script = os.path.join(xsd.dir, "vif-rec")
    with open(script, "w") as f:
        f.write(HOTPLUG_SCRIPT)
    os.chmod(script, 0o755)
    xsd.hvsim("domain", "add", "5")
    xsd.hvsim("vif", "add", "5.0", f"bridge=xenbr1,script={script}")
    be = "/local/domain/0/backend/vif/5/0"
    xsd.xs("rm", f"{be}/state")
    t0 = time.monotonic()
    r = subprocess.run([HVSIM, "vif", "del", "-w", "5.0"], env=xsd.env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 5, "waited for a backend that is gone"
    assert not os.path.exists(script + ".offline")
    assert xsd.xs("exists", be, check=False).returncode != 0
    assert xsd.xs("exists", "/local/domain/5/device/vif/0", check=False).returncode != 0


def test_vif_add_script_failure_reported(xsd):
    script = os.path.join(xsd.dir, "vif-fail")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nxenstore-write \"$XENBUS_PATH/hotplug-error\" "
                "'no bridge'\nxenstore-write \"$XENBUS_PATH/hotplug-status\" "
                "error\nexit 1\n")
    os.chmod(script, 0o755)
    r = xsd.hvsim("vif", "add", "4.1", f"script={script}", check=False)
    assert r.returncode == 1
    assert 'exit 1, hotplug-status "error", hotplug-error "no bridge"' in \
        r.stdout
    assert xsd.hvsim("vif", "add", "4.x", check=False).returncode == 2
    assert xsd.hvsim("vif", "add", "-n", "4.2").returncode == 0
    assert xsd.xs("read", "/local/domain/0/backend/vif/4/2/bridge").stdout \
        == "xenbr0\n"
