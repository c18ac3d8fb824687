"""The control socket under bad input: every bad message gets an error reply
and the daemon keeps serving; only root (or group netd) may talk to it."""
import json
import os
import resource
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import NETD, NETDCTL, bridge_conf, wait_for


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


def test_supplementary_group_member_allowed(topo, netd_factory):
    """socket_group is honoured as a supplementary group too (usermod -aG):
    a throwaway user whose primary group is nogroup gets in through it, and
    is refused once it has shed its groups."""
    grp, user = f"ntg{os.getpid()}", f"ntu{os.getpid()}"
    subprocess.run(["groupadd", grp], check=True)
    try:
        subprocess.run(["useradd", "-M", "-N", "-g", "nogroup", "-G", grp, "-s",
                        "/usr/sbin/nologin", user], check=True)
        d = tempfile.mkdtemp(prefix="netd-peer-")
        os.chmod(d, 0o755)
        netd = netd_factory(bridge_conf("modern"))
        netd.sock = os.path.join(d, "netd.sock")
        netd.write_conf(bridge_conf("modern"), netd_section=f"socket_group = {grp}")
        netd.start()
        as_user = ["setpriv", f"--reuid={user}", "--regid=nogroup"]
        r = subprocess.run(as_user + ["--init-groups", NETDCTL, "--socket", netd.sock, "status"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "xenbr0" in r.stdout
        # SO_PEERCRED and SO_PEERGROUPS themselves: the file mode lets anyone in
        os.chmod(netd.sock, 0o666)
        r = subprocess.run(as_user + ["--clear-groups", NETDCTL, "--socket", netd.sock, "status"],
                           capture_output=True, text=True)
        assert r.returncode == 1 and f"root or group {grp} only" in r.stderr, r.stderr
        r = subprocess.run(as_user + ["--init-groups", NETDCTL, "--socket", netd.sock, "status"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        netd.stop()
        os.rmdir(d)
    finally:
        subprocess.run(["userdel", user], check=False)
        subprocess.run(["groupdel", grp], check=False)


def test_netdctl_usage_errors(netd):
    for args in (["fly"], ["up", "a", "b"], ["vif"], ["vif", "online"], ["vif", "online", "1.0", "novalue"],
                 []):
        r = subprocess.run([NETDCTL, "--socket", netd.sock, *args], capture_output=True, text=True)
        assert r.returncode == 2, (args, r.stderr)
    r = subprocess.run([NETDCTL, "--socket", "/nonexistent/sock", "status"], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot reach netd" in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["forward", "list"], "forward-list: no network in nat mode"),
    (["forward", "add", "tcp:8080:192.0.2.10:80"], "forward-add: no network in nat mode"),
    (["forward", "del", "tcp:8080"], "forward-del: no network in nat mode"),
    (["forward", "list", "xenbr0"], "forward-list: network xenbr0 is in bridge mode, not nat"),
    (["forward", "list", "nope"], "no network named 'nope'"),
])
def test_nat_command_without_a_nat_network_says_why(netd, topo, args, msg):
    """netd with a bridge network only: a nat command is not an "unknown
    command" but one with no network to carry it out, and netdctl fails
    with that line."""
    snap = topo.snapshot()
    r = subprocess.run([NETDCTL, "--socket", netd.sock, *args], capture_output=True, text=True)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"netdctl: {msg}\n")
    assert netd.alive()
    assert topo.snapshot() == snap


def test_netdctl_takes_a_reply_of_any_size(tmp_path):
    """A big host's status (thousands of vifs, or of a dpswitch's ports)
    passes 1 MiB: netdctl reads it whole. A stand-in for netd serves it,
    as making one that large would take thousands of vifs."""
    path = str(tmp_path / "big.sock")
    result = {"networks": [{"name": "big", "ports": [f"vif{d}.0" for d in range(4000)],
                            "port_counters": [f"vif{d}.0:rx=1/60B:tx=2/120B" + "x" * 500
                                              for d in range(4000)]}]}
    reply = json.dumps({"version": 1, "ok": True, "result": result}).encode() + b"\n"
    assert len(reply) > 2 << 20

    def serve(ls):
        c, _ = ls.accept()
        with c:
            c.makefile("rb").readline()
            c.sendall(reply)

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as ls:
        ls.bind(path)
        ls.listen(1)
        t = threading.Thread(target=serve, args=(ls,), daemon=True)
        t.start()
        r = subprocess.run([NETDCTL, "--socket", path, "--json", "status"], capture_output=True,
                           text=True, timeout=30)
        t.join(10)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["result"] == result


def _unknown_cmd(i, width=500):
    """A request netd answers cheaply with an error quoting its long 'cmd'
    (a reply of ~570 bytes): a way to make many bytes of replies."""
    return (json.dumps({"version": 1, "cmd": f"{i:06d}" + "x" * width}) + "\n").encode()


def _read_replies(s, want):
    """Replies read from s until want lines, EOF or a reset."""
    f = s.makefile("rb")
    replies = []
    try:
        while len(replies) < want:
            line = f.readline()
            if not line:
                break
            replies.append(json.loads(line))
    except (ConnectionResetError, socket.timeout):
        pass
    return replies


def _send_in_background(socks, data):
    """sendall on each socket from a thread of its own (netd may stop reading
    a client for a while); returns the threads."""
    def send(s):
        try:
            s.sendall(data)
        except OSError:
            pass
    threads = [threading.Thread(target=send, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    return threads


def test_clients_that_do_not_read_do_not_stall_others(netd):
    """Five clients send requests whose replies (~450 KB each) outgrow their
    socket buffers and read nothing: netd keeps their replies queued, serves
    netdctl meanwhile, and each slow client gets every reply once it reads."""
    n = 800
    burst = b"".join(_unknown_cmd(i) for i in range(n))
    slow = []
    for _ in range(5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(netd.sock)
        slow.append(s)
    try:
        for t in _send_in_background(slow, burst):
            t.join(60)
        r = netd.ctl("status")
        assert "xenbr0" in r.stdout
        for s in slow:
            replies = _read_replies(s, n)
            assert len(replies) == n
            assert all(not r["ok"] and "unknown command" in r["error"] for r in replies)
            # in order: each reply quotes its own request's number
            assert [r["error"].split("'")[1][:6] for r in replies] == [f"{i:06d}" for i in range(n)]
    finally:
        for s in slow:
            s.close()
    assert netd.alive()


def test_client_that_never_reads_is_dropped(netd):
    """More than 1 MiB of replies unread: that client is dropped, with a log
    line naming it, and everyone else is served."""
    n = 4000  # ~2.3 MB of replies
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(netd.sock)
        for t in _send_in_background([s], b"".join(_unknown_cmd(i) for i in range(n))):
            t.join(60)
        assert netd.alive()
        assert len(_read_replies(s, n)) < n
    wait_for(lambda: "bytes of replies unread" in netd.read_log(), 10, what="the drop logged")
    log = netd.read_log()
    assert f"dropping client pid {os.getpid()} uid 0: more than 1048576 bytes of replies unread" in log, log
    assert netd.alive()


def test_client_that_half_closes_still_gets_its_reply(netd):
    """A client may shutdown(SHUT_WR) after its request (as socat does):
    a queued reply still reaches it."""
    n = 600
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(netd.sock)
        for t in _send_in_background([s], b"".join(_unknown_cmd(i) for i in range(n))):
            t.join(60)
        s.shutdown(socket.SHUT_WR)
        assert len(_read_replies(s, n)) == n
        assert s.recv(1) == b""  # then netd closes


def test_idle_client_is_dropped(topo, netd_factory):
    """A client silent for the idle timeout (30 s; 2 s here) is dropped; one
    that keeps talking is served for longer than that."""
    netd = netd_factory(bridge_conf("modern"), env={"NETD_CTL_IDLE_TIMEOUT_S": "2"})
    netd.start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as busy:
        idle.settimeout(60)
        idle.connect(netd.sock)
        idle.sendall(b"{\"version\":1,")  # half a request, then nothing
        busy.settimeout(30)
        busy.connect(netd.sock)
        f = busy.makefile("rb")
        end = time.monotonic() + 5
        answered = 0
        while time.monotonic() < end:
            busy.sendall(b"{\"version\":1,\"cmd\":\"status\"}\n")
            assert json.loads(f.readline())["ok"] is True
            answered += 1
            time.sleep(0.3)
        assert answered > 5
        assert idle.recv(1) == b""
    assert "idle for 2 s" in netd.read_log()
    assert netd.alive()


def test_bad_idle_timeout_stops_netd_before_it_touches_the_host(topo, netd_factory):
    """NETD_CTL_IDLE_TIMEOUT_S that is not 1..3600 plain digits: netd does
    not start and names it. It says so before it touches the host: a netd
    started again over networks a previous one left up (restore_on_exit =
    no, its guests plugged) leaves them as they are, state file included,
    rather than bringing them up, then down on the way out."""
    netd = netd_factory("")
    netd.write_conf(bridge_conf("modern"), "restore_on_exit = no")
    netd.start()
    assert netd.request({"cmd": "status"})["ok"]
    assert netd.stop() == 0
    before = topo.snapshot()
    state = os.path.join(netd.state, "xenbr0.json")
    assert os.path.exists(state)
    for bad in ("0", "030", "30s"):
        r = netd.run_once(env={"NETD_CTL_IDLE_TIMEOUT_S": bad})
        assert r.returncode == 1, r.stderr
        assert f"NETD_CTL_IDLE_TIMEOUT_S: expected seconds, 1..3600, got '{bad}'" in r.stderr, \
            r.stderr
        assert "host restored" not in r.stderr, r.stderr
        topo.assert_snapshot_equal(before)
        assert os.path.exists(state), r.stderr
    netd.start()
    assert "adopted" in netd.read_log()


def test_many_connections_then_a_request_is_served(topo, netd_factory):
    """1100 connections that say nothing, to a netd with 1024 descriptors:
    netd serves at most 256 at once (no EMFILE busy loop), makes room by
    dropping the quietest, and a normal request is still answered."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    netd = netd_factory(bridge_conf("modern"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        netd.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft < 4096 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    conns = []
    try:
        failed = 0
        while len(conns) < 1100 and failed < 5:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            # A full backlog makes a blocking connect() wait, up to SO_SNDTIMEO.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 5, 0))
            try:
                s.connect(netd.sock)
            except (BlockingIOError, InterruptedError):
                s.close()
                failed += 1
                continue
            conns.append(s)
        assert len(conns) == 1100
        # as netdctl and the hotplug scripts do: a blocking connect, which
        # waits for room in the backlog
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 60, 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 60, 0))
            s.connect(netd.sock)
            s.sendall(b"{\"version\":1,\"cmd\":\"status\"}\n")
            assert json.loads(s.makefile("rb").readline())["ok"] is True
        r = netd.ctl("status")
        assert "xenbr0" in r.stdout
    finally:
        for s in conns:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "256 clients connected" in netd.read_log()
    assert netd.alive()


def test_second_netd_on_the_same_state_dir_touches_nothing(topo, netd):
    """A second netd with the same config (started by hand next to the service)
    stops before it touches the host: it would otherwise adopt the first one's
    networks and, unable to take the socket, restore the host under it."""
    before = topo.snapshot()
    second = netd.run_once()
    assert second.returncode != 0
    assert f"another netd (pid {netd.proc.pid}) uses state_dir {netd.state}" in second.stderr, \
        second.stderr
    assert netd.alive()
    assert netd.request({"cmd": "status"})["ok"]
    topo.assert_snapshot_equal(before)


def test_second_netd_on_the_same_socket_is_refused(topo, netd, tmp_path):
    """Another state_dir but the same socket: the live socket is not stolen."""
    other = tmp_path / "other"
    other.mkdir()
    conf = other / "netd.conf"
    conf.write_text(f"[netd]\nsocket = {netd.sock}\nstate_dir = {other / 'state'}\n")
    r = subprocess.run(["ip", "netns", "exec", topo.d0, NETD, "-c", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "another netd is listening there" in r.stderr, r.stderr
    assert netd.alive()
