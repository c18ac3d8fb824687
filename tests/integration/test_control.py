"""The control socket under bad input: every bad message gets an error reply
and the daemon keeps serving; only root (or group netd) may talk to it."""
import json
import os
import socket
import subprocess
import tempfile

import pytest

from conftest import NETDCTL, bridge_conf


@pytest.fixture
def netd(topo, netd_factory):
    n = netd_factory(bridge_conf("modern"))
    n.start()
    return n


def raw(netd, data, timeout=10):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(netd.sock)
        try:
            s.sendall(data)
        except BrokenPipeError:
            pass
        buf = b""
        while b"\n" not in buf:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    return json.loads(buf.split(b"\n")[0])


@pytest.mark.parametrize("data,msg", [
    (b"garbage\n", "malformed JSON"),
    (b"{\"cmd\": \"status\"\n", "malformed JSON"),
    (b"[1, 2, 3]\n", "request must be a JSON object"),
    (b"{\"version\": 1, \"cmd\": \"fly\"}\n", "unknown command 'fly'"),
    (b"{\"version\": 1, \"cmd\": 42}\n", "'cmd' must be a string"),
    (b"{\"version\": 1, \"cmd\": \"up\", \"net\": 7}\n", "'net' and 'vif' strings"),
    (b"{\"version\": 2, \"cmd\": \"status\"}\n", "unsupported protocol version"),
    (b"{\"version\": \"1\", \"cmd\": \"status\"}\n", "unsupported protocol version"),
    (b"{\"version\": 1, \"cmd\": \"vif-online\"}\n", "needs a 'vif' string"),
    (b"{\"version\": 1, \"cmd\": \"vif-online\", \"vif\": \"1.0\", \"args\": [1]}\n",
     "'args' must be an object"),
    (b"{\"version\": 1, \"cmd\": \"vif-online\", \"vif\": \"1.0\", \"args\": {\"mtu\": 9000}}\n",
     "value of 'mtu' must be a string"),
    (b"{\"version\": 1, \"cmd\": \"vif-online\", \"vif\": \"99999999.0\"}\n", "99999999"),
    (b"{\"version\": 1, \"cmd\": \"status\", \"cmd\": \"down\"}\n", "malformed JSON"),
    (b"{\"version\": 1, \"cmd\": \"up\", \"net\": \"nope\"}\n", "no network named 'nope'"),
    (b"\x00\xff\xfe\n", "malformed JSON"),
    # jansson quotes the bad bytes in its message: the reply must still be JSON
    (b"{\"veb&\\\xd1\x93\xfe\x7f\x00\x00riharsion\":0}\n", "malformed JSON"),
])
def test_bad_messages_get_error_replies(netd, topo, data, msg):
    snap = topo.snapshot()
    r = raw(netd, data)
    assert r["version"] == 1 and r["ok"] is False
    assert msg in r["error"], r
    assert netd.alive()
    assert topo.snapshot() == snap


def test_oversized_line(netd):
    r = raw(netd, b"{" + b"x" * (1 << 20) + b"}\n")
    assert r["ok"] is False and "longer than 65536" in r["error"]
    assert netd.alive()


def test_many_requests_on_one_connection_and_blank_lines(netd):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(netd.sock)
        s.sendall(b"\n" + b"{\"version\":1,\"cmd\":\"status\"}\n" * 3 + b"nope\n")
        f = s.makefile("rb")
        replies = [json.loads(f.readline()) for _ in range(4)]
    assert [r["ok"] for r in replies] == [True, True, True, False]


def test_client_that_disconnects_mid_message(netd):
    for _ in range(20):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(netd.sock)
            s.sendall(b"{\"version\":1,\"cmd\":")
    assert netd.alive()


def test_unprivileged_peer_refused(topo, netd_factory):
    # A socket directory others may enter, so the peer reaches connect().
    d = tempfile.mkdtemp(prefix="netd-peer-")
    os.chmod(d, 0o755)
    netd = netd_factory(bridge_conf("modern"))
    netd.sock = os.path.join(d, "netd.sock")
    netd.write_conf(bridge_conf("modern"))
    netd.start()
    snap = topo.snapshot()
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        NETDCTL, "--socket", netd.sock, "down"], capture_output=True, text=True)
    assert r.returncode == 1
    # Either the socket's mode (0660) or SO_PEERCRED stops it.
    assert "permission denied" in r.stderr.lower() or "Permission denied" in r.stderr
    assert topo.snapshot() == snap
    # SO_PEERCRED itself: loosen the file mode and try again.
    os.chmod(netd.sock, 0o666)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        NETDCTL, "--socket", netd.sock, "down"], capture_output=True, text=True)
    assert r.returncode == 1 and "root or group netd only" in r.stderr
    assert topo.snapshot() == snap
    assert netd.alive()
    netd.stop()
    os.rmdir(d)


def test_netdctl_usage_errors(netd):
    for args in (["fly"], ["up", "a", "b"], ["vif"], ["vif", "online"], ["vif", "online", "1.0", "novalue"],
                 []):
        r = subprocess.run([NETDCTL, "--socket", netd.sock, *args], capture_output=True, text=True)
        assert r.returncode == 2, (args, r.stderr)
    r = subprocess.run([NETDCTL, "--socket", "/nonexistent/sock", "status"], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot reach netd" in r.stderr
