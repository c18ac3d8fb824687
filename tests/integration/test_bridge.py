"""Bridge mode in namespaces: Xen's classic renaming dance, the modern style,
exact undo, rollback at every step, crash recovery, idempotence, vif plugging."""
import glob
import json
import os
import re
import signal

import pytest

from conftest import ROOT, bridge_conf, sh, wait_for

STYLES = ["classic", "modern"]


def nft_table(topo, table="bridge netd_as"):
    """Our anti-spoofing table as nft prints it ("" when it is gone)."""
    return topo.run(topo.d0, f"nft list table {table}", check=False).stdout


def check_classic(topo, mac):
    links = topo.links(topo.d0)
    for name in ("xenbr0", "peth0", "eth0", "vif0.0"):
        assert name in links, f"{name} missing: {sorted(links)}"
    assert links["xenbr0"]["linkinfo"]["info_kind"] == "bridge"
    assert links["eth0"]["linkinfo"]["info_kind"] == "veth"
    assert links["peth0"]["address"] == "fe:ff:ff:ff:ff:ff"
    assert "NOARP" in links["peth0"]["flags"]
    assert links["peth0"].get("master") == "xenbr0"
    assert links["vif0.0"].get("master") == "xenbr0"
    assert links["eth0"]["address"] == mac
    assert "master" not in links["eth0"]
    for name in ("peth0", "vif0.0", "xenbr0", "eth0"):
        assert "UP" in links[name]["flags"], name
    assert topo.addrs(topo.d0, "eth0")[:2] == ["192.0.2.2/24", "2001:db8::2/64"]
    assert not [a for a in topo.addrs(topo.d0, "peth0") if not a.startswith("fe80")]
    return "eth0"


def check_modern(topo, mac):
    links = topo.links(topo.d0)
    assert links["xenbr0"]["linkinfo"]["info_kind"] == "bridge"
    assert links["eth0"].get("master") == "xenbr0"
    assert links["xenbr0"]["address"] == mac
    assert "peth0" not in links and "vif0.0" not in links
    assert topo.addrs(topo.d0, "xenbr0")[:2] == ["192.0.2.2/24", "2001:db8::2/64"]
    assert not [a for a in topo.addrs(topo.d0, "eth0") if not a.startswith("fe80")]
    return "xenbr0"


def check_routes(topo, dev):
    v4 = {(r["dst"], r.get("gateway"), r.get("metric")): r["dev"] for r in topo.routes(topo.d0)}
    assert v4[("default", "192.0.2.1", 100)] == dev
    assert v4[("198.51.100.0/24", "192.0.2.1", 5)] == dev
    v6 = [r for r in topo.routes(topo.d0, "-6") if r["dst"] == "default"]
    assert [(r["gateway"], r["dev"]) for r in v6] == [("2001:db8::1", dev)]


CHECK = {"classic": check_classic, "modern": check_modern}


@pytest.mark.parametrize("style", STYLES)
def test_up_down_restores_exactly(topo, netd_factory, style):
    before = topo.snapshot()
    netd = netd_factory(bridge_conf(style))
    netd.start()
    dev = CHECK[style](topo, topo.eth0_mac)
    check_routes(topo, dev)
    topo.wait_carrier(topo.d0, dev)
    assert topo.ping(topo.d0, "192.0.2.1")
    assert topo.ping(topo.d0, "2001:db8::1")
    netd.ctl("down")
    topo.assert_snapshot_equal(before)
    assert netd.proc.poll() is None, "netd must keep running after down"
    netd.ctl("up")
    CHECK[style](topo, topo.eth0_mac)
    assert netd.stop() == 0
    topo.assert_snapshot_equal(before)


@pytest.mark.parametrize("style", STYLES)
def test_status_and_json(topo, netd_factory, style):
    netd = netd_factory(bridge_conf(style))
    netd.start()
    out = netd.ctl("status").stdout
    assert "xenbr0" in out and "bridge" in out and "up" in out and f"style={style}" in out
    doc = json.loads(netd.ctl("--json", "status").stdout)
    assert doc["ok"] is True
    net = doc["result"]["networks"][0]
    assert (net["name"], net["mode"], net["state"]) == ("xenbr0", "bridge", "up")
    assert net["details"]["physdev"] == "eth0"
    expected_ports = {"peth0", "vif0.0"} if style == "classic" else {"eth0"}
    assert set(net["details"]["ports"]) == expected_ports


@pytest.mark.parametrize("style", STYLES)
def test_up_twice_is_a_noop(topo, netd_factory, style):
    netd = netd_factory(bridge_conf(style))
    netd.start()
    topo.settle()
    links = {n: l["ifindex"] for n, l in topo.links(topo.d0).items()}
    snap = topo.snapshot()
    netd.ctl("up")
    netd.ctl("up", "xenbr0")
    assert {n: l["ifindex"] for n, l in topo.links(topo.d0).items()} == links
    topo.assert_snapshot_equal(snap)


@pytest.mark.parametrize("style", STYLES)
def test_fault_at_every_step_rolls_back(topo, netd_factory, style):
    before = topo.snapshot()
    netd = netd_factory(bridge_conf(style))
    steps = netd.steps()
    assert len(steps) >= (14 if style == "classic" else 6)
    for step in steps:
        netd.run_faulted(step)
        topo.assert_snapshot_equal(before)
    # And with no fault the same config applies cleanly.
    netd.start()
    CHECK[style](topo, topo.eth0_mac)


def fault_points_in_code():
    """(points named with FAULT_POINT/FAULT_NAME/FAULT_DECLARE or in a FAULT_TABLE, bare
    fault_check("...") calls) in netd's C sources: not the backends' (netback/,
    vifback/, dpswitch/, hypervisor/), whose points (vif-look) netd does not have."""
    named, bare = set(), []
    other = ("netback", "vifback", "dpswitch", "hypervisor")
    for path in glob.glob(os.path.join(ROOT, "*", "**", "*.c"), recursive=True):
        rel = os.path.relpath(path, ROOT)
        if rel.startswith(("build", "tests" + os.sep)) or rel.split(os.sep)[0] in other:
            continue
        with open(path) as f:
            text = f.read()
        named |= set(re.findall(r'FAULT_(?:POINT|NAME)\("([^"]+)"\)', text))
        named |= set(re.findall(r'FAULT_DECLARE\(\w+, "([^"]+)"\)', text))
        for table in re.findall(r"FAULT_TABLE\s*=\s*\{(.*?)\};", text, re.S):
            named |= set(re.findall(r'"([^"]+)"', table))
        bare += [f"{rel}: {m}" for m in re.findall(r'fault_check\("[^"]*"\)', text)]
    return named, bare


def test_list_steps_names_every_fault_point(netd_factory):
    """`netd --list-steps` lists the network's up steps, then every other
    fault point NETD_FAULT can name: each one the code has, no other. Before,
    the list was the up steps alone, and bridge-repair, nat-repair and
    pending-undo (vif-antispoof, vif-renamed, journal-fold too), which the
    tests inject, were in no list."""
    netd = netd_factory(bridge_conf("modern"))
    r = netd.run_once(args=["--list-steps"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["xenbr0:", *netd.steps()]
    listed = lines[-1].split(": ", 1)[1].split() if len(lines) > 1 else []
    assert {"bridge-repair", "nat-repair", "pending-undo"} <= set(listed), r.stdout
    assert lines[1:] == ["other fault points: " + " ".join(sorted(listed))], r.stdout
    named, bare = fault_points_in_code()
    assert bare == [], "fault points not registered (use FAULT_POINT): " + ", ".join(bare)
    assert set(listed) == named


@pytest.mark.parametrize("style", STYLES)
def test_crash_at_every_step_recovers(topo, netd_factory, style):
    before = topo.snapshot()
    netd = netd_factory(bridge_conf(style))
    for step in netd.steps():
        netd.run_crashed(step)
        # A new netd rolls back the half-done setup, applies it afresh...
        netd.start()
        CHECK[style](topo, topo.eth0_mac)
        # ...and down restores the original host.
        assert netd.stop() == 0
        topo.assert_snapshot_equal(before)


@pytest.mark.parametrize("style", STYLES)
def test_kill9_adopts_without_disturbing(topo, netd_factory, style):
    before = topo.snapshot()
    netd = netd_factory(bridge_conf(style))
    netd.start()
    g = topo.add_guest(1)
    netd.ctl("vif", "online", "1.0")
    topo.wait_carrier(g, "eth0")
    assert topo.ping(g, "192.0.2.1")
    links = {n: l["ifindex"] for n, l in topo.links(topo.d0).items()}
    # Traffic flows while netd dies and a new one starts.
    out = netd.kill9_restart_under_ping(g, "192.0.2.1")
    assert " 0% packet loss" in out, out
    assert {n: l["ifindex"] for n, l in topo.links(topo.d0).items()} == links
    assert "adopted" in netd.read_log()
    assert "1.0" in netd.ctl("vif", "list").stdout
    netd.ctl("down")
    topo.ip(topo.d0, "link del vif1.0")
    topo.assert_snapshot_equal(before)


def test_restore_on_exit_no_leaves_setup(topo, netd_factory):
    netd = netd_factory("")
    netd.write_conf(bridge_conf("classic"), "restore_on_exit = no")
    before = topo.snapshot()
    netd.start()
    assert netd.stop() == 0
    check_classic(topo, topo.eth0_mac)
    netd.start()
    assert "adopted" in netd.read_log()
    netd.ctl("down")
    topo.assert_snapshot_equal(before)


def test_plugged_vifs_survive_kill9_through_the_journal(topo, netd_factory):
    """Each plug or unplug appends one record to <state_dir>/xenbr0.vifs
    instead of rewriting the state file; the journal is folded into the
    state file once it outgrows the vifs; a netd started after kill -9 knows
    exactly the vifs that were plugged, and keeps journalling after it."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    n = 150
    sh(f"ip -n {topo.d0} -b -",
       input="".join(f"link add vif{d}.0 type veth peer name p{d}\n" for d in range(1, n + 1)))
    journal = os.path.join(netd.state, "xenbr0.vifs")

    def records():
        if not os.path.exists(journal):
            return 0
        with open(journal) as f:
            return sum(1 for _ in f)

    for d in range(1, n + 1):
        assert netd.request({"cmd": "vif-online", "vif": f"{d}.0"})["ok"]
    assert 0 < records() <= 64 + 2 * n
    for d in range(1, n + 1, 2):
        assert netd.request({"cmd": "vif-offline", "vif": f"{d}.0"})["ok"]
    # 225 changes so far: the journal was folded in on the way
    assert 0 < records() <= 64 + 2 * (n // 2)
    want = {f"{d}.0" for d in range(2, n + 1, 2)}

    def plugged():
        return {v["vif"] for v in netd.request({"cmd": "vif-list"})["result"]["vifs"]}

    assert plugged() == want
    netd.stop(signal.SIGKILL)
    netd.start()
    assert "adopted" in netd.read_log()
    assert plugged() == want
    assert netd.request({"cmd": "vif-offline", "vif": "2.0"})["ok"]
    assert netd.request({"cmd": "vif-online", "vif": "1.0"})["ok"]
    netd.stop(signal.SIGKILL)
    netd.start()
    assert plugged() == (want - {"2.0"}) | {"1.0"}
    ports = {name for name, l in topo.links(topo.d0).items() if l.get("master") == "xenbr0"}
    assert {f"vif{v[:-2]}.0" for v in plugged()} <= ports
    netd.ctl("down")
    assert not os.path.exists(journal)


def test_journal_fold_interrupted_by_a_crash_loses_no_unplug(topo, netd_factory):
    """The journal is folded into the state file when it outgrows the vifs.
    Killed between writing the new state file and removing the journal, the
    next netd replays the old records over the new file: they must end where
    the file does, not bring back the vif whose unplug caused the fold."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start(env={"NETD_FAULT": "journal-fold:crash"})
    sh(f"ip -n {topo.d0} link add vif1.0 type veth peer name p1")
    sh(f"ip -n {topo.d0} link add vif2.0 type veth peer name p2")
    assert netd.request({"cmd": "vif-online", "vif": "1.0"})["ok"]
    # A plug writes 2 records (its intent, then the vif), an unplug 1:
    # 2 + 3 * 21 records with one vif plugged, and the 66th, with none, folds
    for _ in range(21):
        assert netd.request({"cmd": "vif-online", "vif": "2.0"})["ok"]
        assert netd.request({"cmd": "vif-offline", "vif": "2.0"})["ok"]
    with pytest.raises(Exception):
        netd.request({"cmd": "vif-offline", "vif": "1.0"}, timeout=5)
    wait_for(lambda: netd.proc.poll() is not None, 5, what="netd killed at journal-fold")
    assert os.path.exists(os.path.join(netd.state, "xenbr0.vifs"))  # the window
    netd.start()
    assert netd.request({"cmd": "vif-list"})["result"]["vifs"] == []


@pytest.mark.parametrize("style", STYLES)
def test_vif_online_offline(topo, netd_factory, style):
    netd = netd_factory(bridge_conf(style))
    netd.start()
    g1, g2 = topo.add_guest(1), topo.add_guest(2)
    r = netd.ctl("vif", "online", "1.0")
    assert "vif1.0 plugged into xenbr0" in r.stdout
    netd.ctl("vif", "online", "2.0", "bridge=xenbr0", "mtu=1400")
    v1, v2 = topo.link(topo.d0, "vif1.0"), topo.link(topo.d0, "vif2.0")
    assert v1["master"] == "xenbr0" and v2["master"] == "xenbr0"
    assert v1["mtu"] == topo.link(topo.d0, "xenbr0")["mtu"] == 1500
    assert v2["mtu"] == 1400
    assert "UP" in v1["flags"] and "UP" in v2["flags"]
    assert v1["address"] == "fe:ff:ff:ff:ff:ff"
    for g in (g1, g2):
        topo.wait_carrier(g, "eth0")
    assert topo.ping(g1, "192.0.2.12")
    assert topo.ping(g1, "192.0.2.1")
    assert topo.ping(g2, "192.0.2.2")
    listing = netd.ctl("vif", "list").stdout
    assert "1.0" in listing and "vif2.0" in listing
    # online again: idempotent
    netd.ctl("vif", "online", "1.0")
    netd.ctl("vif", "offline", "1.0")
    v1 = topo.link(topo.d0, "vif1.0")
    assert "master" not in v1 and "UP" not in v1["flags"]
    assert topo.link(topo.d0, "vif2.0")["master"] == "xenbr0"
    assert "vif1.0" not in netd.ctl("vif", "list").stdout


def dom0_ipv6_on(topo, dev):
    """Dom0's own IPv6 on dev, as `ip` shows it: its addresses, and the
    routes (every table: fe80::/64, multicast, local) that are there on its
    account."""
    addrs = [a["local"] for a in json.loads(topo.ip(topo.d0, f"-j -6 addr show dev {dev}").stdout)
             for a in (a.get("addr_info", []) if isinstance(a, dict) else [])]
    routes = [f"{r['dst']} table {r.get('table', 'main')}"
              for r in json.loads(topo.ip(topo.d0, "-j -6 route show table all").stdout)
              if r.get("dev") == dev]
    return addrs + routes


@pytest.mark.parametrize("style", STYLES)
def test_bridge_port_has_no_ipv6_of_dom0_and_guests_ipv6_crosses(topo, netd_factory, style):
    """A vif is only a bridge port: Dom0 gets no link-local address on it, no
    fe80::/64 route per port, sends nothing from it; the guests' own IPv6
    still crosses the bridge, to each other, to the LAN and to Dom0. Out of
    the bridge, the vif has IPv6 again (as a new interface would)."""
    netd = netd_factory(bridge_conf(style))
    netd.start()
    g1, g2 = topo.add_guest(1), topo.add_guest(2)
    for g, a in ((g1, "2001:db8::11"), (g2, "2001:db8::12")):
        topo.ip(g, f"addr add {a}/64 dev eth0 nodad")
    netd.ctl("vif", "online", "1.0")
    netd.ctl("vif", "online", "2.0", "mtu=1400")
    for g in (g1, g2):
        topo.wait_carrier(g, "eth0")
    assert topo.ping(g1, "2001:db8::12", timeout=5)
    assert topo.ping(g2, "2001:db8::1", timeout=5)
    dom0 = "2001:db8::2"
    assert topo.ping(g1, dom0, timeout=5)
    assert dom0_ipv6_on(topo, "vif1.0") == []
    assert dom0_ipv6_on(topo, "vif2.0") == []
    netd.ctl("vif", "offline", "1.0")
    r = topo.run(topo.d0, "sysctl -n net.ipv6.conf.vif1/0.disable_ipv6")
    assert r.stdout.strip() == "0"
    topo.ip(topo.d0, "link set vif1.0 up")
    wait_for(lambda: any(a.startswith("fe80:") for a in dom0_ipv6_on(topo, "vif1.0")),
             what="vif1.0's own link-local address once out of the bridge")


def test_offline_whose_ipv6_cannot_be_given_back_still_unplugs(topo, netd_factory):
    """A vif off the bridge whose Dom0 IPv6 cannot then be given back (the
    sysctl write refused; NETD_FAULT=vif-ipv6-restore stands for it) is
    unplugged all the same, logged: its `vif offline` (the hotplug's)
    succeeds, the vif no longer a port nor listed, and it can be plugged
    again. Before, the offline failed with the vif already off the
    bridge, still listed as plugged."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start(env={"NETD_FAULT": "vif-ipv6-restore"})
    topo.add_guest(1)
    netd.ctl("vif", "online", "1.0")
    r = netd.ctl("vif", "offline", "1.0", check=False)
    assert r.returncode == 0, r.stderr
    v = topo.link(topo.d0, "vif1.0")
    assert "master" not in v and "UP" not in v["flags"]
    assert "vif1.0" not in netd.ctl("vif", "list").stdout
    assert ("vif1.0: cannot give Dom0's IPv6 back to it: fault injected at step "
            "'vif-ipv6-restore' (unplugged from xenbr0 all the same)") in netd.read_log()
    netd.ctl("vif", "online", "1.0")
    assert topo.link(topo.d0, "vif1.0")["master"] == "xenbr0"


@pytest.mark.parametrize("suffix", ["web-emu", "vif{d}.0-emu"])
def test_pv_vif_named_like_a_tap_stays_a_pv_vif(topo, netd_factory, suffix):
    """What a vif is (a PV vif, or the tap of an HVM guest's emulated NIC) is
    data in its record, not read from its name: a PV vif given a vifname that
    ends in -emu is listed as D.0 and goes offline as D.0 (port and filters
    removed), also after kill -9 when netd knows it from its journal."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    names = {d: suffix.format(d=d).replace("web", f"web{d}") for d in (1, 2)}
    for d in (1, 2):
        topo.add_guest(d)
        netd.ctl("vif", "online", f"{d}.0", f"vifname={names[d]}")
        assert topo.link(topo.d0, names[d])["master"] == "xenbr0"
    listing = {v["vif"]: v["ifname"] for v in netd.request({"cmd": "vif-list"})["result"]["vifs"]}
    assert listing == {"1.0": names[1], "2.0": names[2]}
    assert names[1] in nft_table(topo)

    netd.ctl("vif", "offline", "1.0")
    # unplugged, and named as its backend named it (vif1.0, a PV vif's name)
    assert topo.link(topo.d0, names[1]) is None
    assert "master" not in topo.link(topo.d0, "vif1.0")
    assert names[1] not in nft_table(topo) and names[2] in nft_table(topo)
    netd.stop(signal.SIGKILL)
    netd.start()
    assert [v["vif"] for v in netd.request({"cmd": "vif-list"})["result"]["vifs"]] == ["2.0"]
    netd.ctl("vif", "offline", "2.0")
    assert topo.link(topo.d0, names[2]) is None
    assert "master" not in topo.link(topo.d0, "vif2.0")
    assert names[2] not in nft_table(topo)
    assert netd.request({"cmd": "vif-list"})["result"]["vifs"] == []


def test_online_of_an_interface_another_vif_has_is_refused(topo, netd_factory):
    """A vif netd knows under another vif's name (recorded by a netd from
    before vifnames were checked: `vif online 5.0 vifname=vif7.0`) keeps its
    interface: plugging vif 7.0 would give guest 5's interface to guest 7,
    and unplugging 7.0 would unplug guest 5."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    topo.add_guest(5)
    netd.ctl("vif", "online", "5.0")
    netd.stop(signal.SIGKILL)
    for cmd in ("link set vif5.0 down", "link set vif5.0 name vif7.0", "link set vif7.0 up"):
        topo.ip(topo.d0, cmd)
    with open(os.path.join(netd.state, "xenbr0.vifs"), "a") as f:
        f.write('+{"id":"5.0","vifname":"vif7.0"}\n')
    netd.start()
    assert netd.request({"cmd": "vif-list"})["result"]["vifs"] == [
        {"vif": "5.0", "ifname": "vif7.0", "network": "xenbr0"}]
    topo.settle()
    snap = topo.snapshot()
    for args in (["7.0"], ["7.0", "vifname=web7"]):
        r = netd.ctl("vif", "online", *args, check=False)
        assert r.returncode == 1, (args, r.stderr)
        assert "interface vif7.0 belongs to vif 5.0 (in xenbr0)" in r.stderr, (args, r.stderr)
        topo.assert_snapshot_equal(snap)
    assert [v["vif"] for v in netd.request({"cmd": "vif-list"})["result"]["vifs"]] == ["5.0"]
    netd.ctl("vif", "offline", "5.0")
    assert "master" not in topo.link(topo.d0, "vif7.0")


def test_duplicate_or_dom0_mac_is_refused(topo, netd_factory):
    """Guests on one bridge each have their own MAC (either could take the
    other's traffic through learning), and none has Dom0's. An HVM guest's
    emulated NIC and PV vif share theirs, as libxl gives them: allowed."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    g1 = topo.add_guest(1)
    topo.add_guest(2)
    sh(f"ip link add vif1.0-emu netns {topo.d0} type veth peer name emu0 netns {g1}")
    topo.ip(g1, "link set emu0 up")
    mac = "00:16:3e:00:00:01"
    netd.ctl("vif", "online", "1.0", f"mac={mac}")
    netd.ctl("vif", "online", "1.0-emu", f"mac={mac}")
    topo.settle()
    snap = topo.snapshot()
    cases = [
        (mac, f"vif2.0: mac {mac} refused: it is already vif 1.0"),
        (topo.eth0_mac, f"vif2.0: mac {topo.eth0_mac} refused: it is Dom0's (xenbr0)"),
        ("fe:ff:ff:ff:ff:ff", "vif2.0: mac fe:ff:ff:ff:ff:ff refused: it is the MAC of Dom0's side "
                              "of every vif"),
    ]
    for m, msg in cases:
        r = netd.ctl("vif", "online", "2.0", f"mac={m}", check=False)
        assert r.returncode == 1, (m, r.stderr)
        assert msg in r.stderr, (m, r.stderr)
        topo.assert_snapshot_equal(snap)
    # The PV vif gone, its emulated NIC still has the MAC; then neither.
    netd.ctl("vif", "offline", "1.0")
    r = netd.ctl("vif", "online", "2.0", f"mac={mac}", check=False)
    assert r.returncode == 1
    assert f"vif2.0: mac {mac} refused: it is already vif 1.0-emu's (vif1.0-emu) in xenbr0" in r.stderr
    netd.ctl("vif", "offline", "1.0-emu")
    netd.ctl("vif", "online", "2.0", f"mac={mac}")
    assert topo.link(topo.d0, "vif2.0")["master"] == "xenbr0"
    # A re-plug with another MAC: the old one is free, the new one is taken.
    netd.ctl("vif", "online", "2.0", "mac=00:16:3e:00:00:22")
    netd.ctl("vif", "online", "1.0", f"mac={mac}")
    r = netd.ctl("vif", "online", "1.0", "mac=00:16:3e:00:00:22", check=False)
    assert r.returncode == 1
    assert "mac 00:16:3e:00:00:22 refused: it is already vif 2.0" in r.stderr


def test_vif_errors_change_nothing(topo, netd_factory):
    netd = netd_factory(bridge_conf("classic"))
    netd.start()
    topo.add_guest(3)
    topo.ip(topo.d0, "link add br9 type bridge")
    topo.ip(topo.d0, "link set vif3.0 master br9")
    topo.add_guest(4)
    topo.settle()
    snap = topo.snapshot()
    cases = [
        (["vif", "online", "4.0", "bridge=xenbr7"], "unknown bridge 'xenbr7'"),
        (["vif", "online", "5.0"], "vif5.0: no such interface"),
        (["vif", "online", "3.0"], "vif3.0: already a port of br9"),
        (["vif", "online", "4.0", "mtu=abc"], "mtu"),
        (["vif", "online", "x.0"], "x.0"),
        (["vif", "offline", "4.0"], "vif 4.0 is not online"),
        (["vif", "online", "4.0", "vifname=vif6.0"],
         "vif 4.0: vifname: 'vif6.0': the name of vif 6.0's interface, not this vif's (vif4.0)"),
        # The LAN's gateway and Dom0's own addresses are no guest's to claim.
        (["vif", "online", "4.0", "ip=192.0.2.1"],
         "vif4.0: ip 192.0.2.1 refused: it is a gateway Dom0 routes through"),
        (["vif", "online", "4.0", "ip=192.0.2.24 2001:db8::2"],
         "vif4.0: ip 2001:db8::2 refused: it is Dom0's own address"),
        (["vif", "online", "4.0", "ip=192.0.2.255"],
         "vif4.0: ip 192.0.2.255 refused: it is the broadcast address of a subnet Dom0 is on (eth0)"),
        (["vif", "online", "4.0", "ip=192.0.2.0"],
         "vif4.0: ip 192.0.2.0 refused: it is the network address of 192.0.2.0/24 (on eth0)"),
        (["vif", "online", "4.0", "ip=2001:db8::"],
         "vif4.0: ip 2001:db8:: refused: it is the subnet-router anycast address of 2001:db8::/64 (on eth0)"),
    ]
    for args, msg in cases:
        r = netd.ctl(*args, check=False)
        assert r.returncode == 1, (args, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
        topo.assert_snapshot_equal(snap)
    r = netd.ctl("vif", "bogus", check=False)
    assert r.returncode == 2
    assert netd.alive()


def test_guest_frame_leaves_peth0_with_its_own_mac(topo, netd_factory):
    """Scapy on the LAN side of peth0: the guest's frame arrives unchanged, and
    ARP for Dom0's address is answered with eth0's original MAC."""
    netd = netd_factory(bridge_conf("classic"))
    netd.start()
    g = topo.add_guest(1)
    netd.ctl("vif", "online", "1.0")
    topo.wait_carrier(g, "eth0")
    gmac = topo.link(g, "eth0")["address"]
    script = f"""
import sys
from scapy.all import AsyncSniffer, Ether, ARP, srp, conf
conf.verb = 0
import subprocess
import threading
# "started" once its socket captures (filter attached); "seen" counts frames
started, seen = threading.Event(), threading.Semaphore(0)
sn = AsyncSniffer(iface="up0", filter="udp and port 7321", store=True,
                  started_callback=started.set, prn=lambda p: seen.release())
sn.start()
assert started.wait(10), "sniffer did not start"
subprocess.run(["ip", "netns", "exec", "{g}", "/usr/bin/python3", "-c",
  "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'hello', ('192.0.2.1', 7321))"], check=True)
seen.acquire(timeout=10)  # the guest's datagram (after its ARP)
pk = sn.stop()
print("SRC", pk[0][Ether].src if pk else "none")
ans, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff")/ARP(pdst="192.0.2.2", psrc="192.0.2.1"), iface="up0", timeout=2)
print("ARP", ",".join(r[ARP].hwsrc for _, r in ans))
"""
    r = topo.python(topo.up, script)
    lines = dict(l.split(" ", 1) for l in r.stdout.strip().splitlines())
    assert lines["SRC"] == gmac
    assert lines["ARP"] == topo.eth0_mac


def test_reload_reapplies_changed_networks(topo, netd_factory):
    before = topo.snapshot()
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    check_modern(topo, topo.eth0_mac)
    netd.write_conf(bridge_conf("classic"))
    netd.ctl("reload")
    check_classic(topo, topo.eth0_mac)
    # A bad config is refused and the running setup stays.
    netd.write_conf("[xenbr0]\nmode = bridge\n")
    r = netd.ctl("reload", check=False)
    assert r.returncode == 1 and "reload refused" in r.stderr and "physdev" in r.stderr
    check_classic(topo, topo.eth0_mac)
    # SIGHUP reloads too; a network removed from the config goes down.
    netd.write_conf("")
    netd.proc.send_signal(signal.SIGHUP)
    topo.assert_snapshot_equal(before)
    assert netd.alive()


def test_sd_notify_ready(topo, netd_factory, tmp_path):
    import socket as s
    path = str(tmp_path / "notify.sock")
    sock = s.socket(s.AF_UNIX, s.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    netd = netd_factory(bridge_conf("modern"), env={"NOTIFY_SOCKET": path})
    netd.start(wait=False)
    msg = sock.recv(4096).decode()
    assert "READY=1" in msg
    # READY comes after the network is applied and the socket serves.
    check_modern(topo, topo.eth0_mac)
    assert netd.alive()
    netd.stop()
    assert "STOPPING=1" in sock.recv(4096).decode()
    sock.close()


@pytest.mark.parametrize("style", STYLES)
def test_network_removed_while_netd_was_dead_is_restored(topo, netd_factory, style):
    """kill -9, the network leaves the config, netd starts again: the host
    goes back to how it was before that network, and its state file goes."""
    import os
    before = topo.snapshot()
    netd = netd_factory(bridge_conf(style))
    netd.start()
    CHECK[style](topo, topo.eth0_mac)
    netd.stop(signal.SIGKILL)
    assert os.path.exists(os.path.join(netd.state, "xenbr0.json"))
    netd.write_conf("")
    netd.start()
    topo.assert_snapshot_equal(before)
    assert "xenbr0: no longer configured; restoring" in netd.read_log()
    assert not os.path.exists(os.path.join(netd.state, "xenbr0.json"))
    assert netd.alive()
