"""netd refuses bad configs with a precise error, exit 1, host untouched."""
import os
import re

import pytest

from conftest import bridge_conf

# Line numbers below count the body from line 5 (a 4-line [netd] section
# first); the fixture's [netd] section may be longer: body_lines() shifts them.
BAD = [
    ("[xenbr0]\nmode = bridgy\nphysdev = eth0\n", ":6: key 'mode'"),
    ("[xenbr0]\nmode = bridge\n", "physdev"),
    ("[xenbr0]\nmode = bridge\nphysdev = eth9\n", "physdev 'eth9' does not exist"),
    ("[averyveryverylongbr]\nmode = bridge\nphysdev = eth0\n", "averyveryverylongbr"),
    ("[xenbr0]\nmode = bridge\nphysdev = eth0\n[xenbr0]\nmode = bridge\nphysdev = eth0\n",
     ":8: duplicate section [xenbr0] (first at line 5)"),
    ("[xenbr0]\nmode = bridge\nphysdev = eth0\nphysdev = eth0\n", ":8: key 'physdev': duplicate key"),
    ("[xenbr0]\nmode = bridge\nphysdev = eth0\nthis is garbage\n", ":8: expected 'key = value'"),
    ("[xenbr0]\nmode = bridge\nphysdev = eth0\nstyle = fancy\n", ":8: key 'style': expected classic|modern, got 'fancy'"),
    ("[xenbr0\nmode = bridge\n", ":5: unterminated section header"),
    # the reason a prefix length is refused, as for every number netd reads
    ("[virbr0]\nmode = nat\naddress = 192.0.2.1/024\nuplink = eth0\n",
     ":7: key 'address': expected ADDRESS/PREFIX (e.g. 203.0.113.1/24), got '192.0.2.1/024': "
     "prefix length: expected 0..32, got '024' (no leading zero: octal to xl and to shell "
     "arithmetic)"),
]


def line_of(netd, text):
    """The line of the fixture's file where text starts."""
    with open(netd.conf, "rb") as f:
        data = f.read()
    return data[:data.index(text.encode("latin-1"))].count(b"\n") + 1


def body_lines(netd, body, msg):
    """msg with its line numbers (":N:", "line N") moved to where the
    fixture's file really has the body's lines."""
    with open(netd.conf) as f:
        text = f.read()
    shift = text[:text.rindex(body)].count("\n") - 4
    return re.sub(r"(:|line )(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) + shift}", msg)


@pytest.mark.parametrize("body,msg", BAD)
def test_bad_config_exits_1_and_changes_nothing(topo, netd_factory, body, msg):
    snap = topo.snapshot()
    netd = netd_factory(body)
    msg = body_lines(netd, body, msg)
    for args in ([], ["-n"]):
        r = netd.run_once(args=args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert msg in r.stderr, r.stderr
        assert "netd.conf" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    topo.assert_snapshot_equal(snap, timeout=0)


def test_check_mode_accepts_good_config(topo, netd_factory):
    snap = topo.snapshot()
    netd = netd_factory(bridge_conf("classic"))
    r = netd.run_once(args=["-n", "-v"])
    assert r.returncode == 0, r.stderr
    assert "[xenbr0]" in r.stdout and "classic" in r.stdout
    topo.assert_snapshot_equal(snap, timeout=0)


def test_second_network_failing_leaves_the_first_up_and_nothing_of_its_own(topo, netd_factory):
    """Two networks: the second cannot be applied (its physdev is another
    bridge's port). It fails alone: nothing of it on the host, the reason in
    `status`; the first is up and netd serves. Stopped, netd leaves the host
    as before. (Before, the first was restored too and netd exited 1.)"""
    topo.ip(topo.d0, "link add eth1 type veth peer name eth1p")
    topo.ip(topo.d0, "link add br5 type bridge")
    topo.ip(topo.d0, "link set eth1 master br5")   # physdev already a bridge port
    snap = topo.snapshot()
    netd = netd_factory(bridge_conf("classic") + bridge_conf("modern", physdev="eth1", name="xenbr1"))
    netd.start()
    nets = {n["name"]: n for n in netd.request({"cmd": "status"})["result"]["networks"]}
    assert nets["xenbr0"]["state"] == "up", nets
    assert nets["xenbr1"]["state"] == "failed", nets
    assert "xenbr1: physdev eth1 is already a port" in nets["xenbr1"]["error"], nets
    assert topo.link(topo.d0, "xenbr1") is None
    assert topo.link(topo.d0, "eth1")["master"] == "br5"
    assert "xenbr1: physdev eth1 is already a port" in netd.read_log()
    assert netd.stop() == 0, netd.read_log()
    topo.assert_snapshot_equal(snap)


def test_missing_physdev_of_one_network_does_not_stop_the_start(topo, netd_factory):
    """`netd -n` still refuses a config whose physdev is missing; a start
    with another network that can come up serves, the missing one failed
    with the config check's message, the host untouched by it."""
    netd = netd_factory(bridge_conf("modern") + bridge_conf("modern", physdev="eth9",
                                                             name="xenbr1"))
    r = netd.run_once(args=["-n"])
    assert r.returncode == 1 and "physdev 'eth9' does not exist" in r.stderr, r.stderr
    netd.start()
    st = {n["name"]: n for n in netd.request({"cmd": "status"})["result"]["networks"]}
    assert st["xenbr0"]["state"] == "up", st
    assert st["xenbr1"]["state"] == "failed", st
    assert body_lines(netd, "[xenbr1]", "section [xenbr1]") in st["xenbr1"]["error"]
    assert "physdev 'eth9' does not exist" in st["xenbr1"]["error"], st
    assert topo.link(topo.d0, "xenbr1") is None


@pytest.mark.parametrize("style", ["classic", "modern"])
def test_physdev_that_cannot_be_bridged(topo, netd_factory, style):
    """Checked when the network is applied (the kernel is the authority)."""
    snap = topo.snapshot()
    for physdev, msg in (("lo", "xenbr0: physdev lo is not an Ethernet device"),):
        netd = netd_factory(bridge_conf(style, physdev=physdev))
        r = netd.run_once()
        assert r.returncode == 1 and msg in r.stderr, r.stderr
    topo.ip(topo.d0, "link add xenbr0 type bridge")
    snap = topo.snapshot()
    r = netd_factory(bridge_conf(style)).run_once()
    assert r.returncode == 1
    assert "xenbr0: xenbr0 already exists; refusing to take it over" in r.stderr, r.stderr
    topo.assert_snapshot_equal(snap, timeout=0)


def test_unknown_socket_group_refused(topo, netd_factory):
    """A socket_group named in the file that the host does not have would
    quietly lock its members out: refused with file and line."""
    snap = topo.snapshot()
    netd = netd_factory(bridge_conf("modern"))
    netd.write_conf(bridge_conf("modern"), netd_section="socket_group = nosuchgroup9")
    for args in ([], ["-n"]):
        r = netd.run_once(args=args)
        assert r.returncode == 1, (args, r.stderr)
        line = line_of(netd, "socket_group = nosuchgroup9")
        assert f"netd.conf:{line}: key 'socket_group': no group 'nosuchgroup9' on this host" \
            in r.stderr, r.stderr
    topo.assert_snapshot_equal(snap, timeout=0)
    # the default group need not exist (then root only), nor an empty one
    for section in ("", "socket_group ="):
        netd.write_conf(bridge_conf("modern"), netd_section=section)
        r = netd.run_once(args=["-n"])
        assert r.returncode == 0, (section, r.stderr)


def test_non_ascii_network_name_refused(topo, netd_factory):
    """A name that is not printable ASCII would pass a check and then fail as
    "out of memory" when its state is written as JSON: refused at parse."""
    snap = topo.snapshot()
    netd = netd_factory("")
    with open(netd.conf, "ab") as f:
        f.write(b"[br\xff]\nmode = bridge\nphysdev = eth0\nstyle = modern\n")
    for args in ([], ["-n"]):
        r = netd.run_once(args=args)
        assert r.returncode == 1, (args, r.stderr)
        line = line_of(netd, "[br\xff]")
        assert f":{line}: section [br\\xff]: bad network name: an interface name must be " \
            "printable ASCII" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    topo.assert_snapshot_equal(snap, timeout=0)


def test_config_that_is_not_a_regular_file_refused(topo, netd_factory, tmp_path):
    """netd -n -c FIFO used to wait for a writer for ever."""
    netd = netd_factory(bridge_conf("modern"))
    fifo = str(tmp_path / "fifo.conf")
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO"), (str(tmp_path), "a directory")):
        netd.conf = path
        for args in ([], ["-n"]):
            r = netd.run_once(args=args)
            assert r.returncode == 1, (path, args, r.stderr)
            assert f"netd: {path}: not a regular file ({kind})" in r.stderr, r.stderr


NAT_IN_UPLINK = "[virbr0]\nmode = nat\naddress = 192.0.2.129/25\nuplink = eth0\n"


@pytest.mark.usefixtures("no_leftover_dnsmasq")
def test_nat_subnet_inside_the_uplinks_refused(topo, netd_factory):
    """Guests' private subnet inside the LAN's (eth0 is 192.0.2.2/24): netd -n
    says so when it can see the host, and netd refuses to apply it."""
    snap = topo.snapshot()
    netd = netd_factory(NAT_IN_UPLINK)
    for args in ([], ["-n"]):
        r = netd.run_once(args=args)
        assert r.returncode == 1, (args, r.stderr)
        assert f"netd.conf:{line_of(netd, '[virbr0]')}): address 192.0.2.129/25 overlaps the " \
            "subnet of uplink eth0 (192.0.2.2/24)" in r.stderr, r.stderr
    topo.assert_snapshot_equal(snap, timeout=0)


@pytest.mark.usefixtures("no_leftover_dnsmasq")
def test_nat_up_refused_once_the_uplink_joins_its_subnet(topo, netd_factory):
    """The uplink's subnet is only known at run time: an `up` after the uplink
    got an address inside the NAT subnet is refused, nothing changed."""
    netd = netd_factory("[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = eth0\n")
    netd.start()
    netd.ctl("down", "virbr0")
    topo.ip(topo.d0, "addr add 203.0.113.200/24 dev eth0")
    snap = topo.snapshot()
    r = netd.ctl("up", "virbr0", check=False)
    assert r.returncode == 1
    assert "virbr0: address 203.0.113.1/24 overlaps the subnet of uplink eth0 (203.0.113.200/24)" \
        in r.stderr, r.stderr
    topo.assert_snapshot_equal(snap, timeout=0)
    assert netd.alive()
