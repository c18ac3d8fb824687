"""netd's record and the host agree: a plug cut short by kill -9 is undone by
the next netd (its intent was journalled before it touched the kernel); what
netd owns on the host but no record tells of (a guest port of its bridge, an
element of its netd_as tables, a route carrying its protocol mark) is swept
at start; a plug whose state cannot be saved (a full state directory) is
refused and leaves nothing behind, so every plug answered ok is remembered
by the next netd, and `down` then removes everything."""
import json
import os
import signal
import time

import pytest

from conftest import add_eth1, bridge_conf, route_conf, sh, tcpdump, terminate, wait_for

NETD_PROTO = 78  # the routing protocol number of netd's routes (lib/nl_route.h)


def nft_vifs(topo, family):
    """The names in `vifs` of table <family> netd_as; None without the table."""
    r = topo.run(topo.d0, f"nft -j list set {family} netd_as vifs", check=False)
    if r.returncode:
        return None
    names = set()
    for o in json.loads(r.stdout)["nftables"]:
        for e in o.get("set", {}).get("elem", []):
            names.add(e if isinstance(e, str) else e["elem"]["val"])
    return names


def nft_keys(topo, family, ifname):
    """How many elements of the table are keyed by ifname (any set)."""
    r = topo.run(topo.d0, f"nft -j list table {family} netd_as", check=False)
    if r.returncode:
        return 0
    n = 0
    for o in json.loads(r.stdout)["nftables"]:
        for e in o.get("set", {}).get("elem", []):
            k = e["elem"]["val"] if isinstance(e, dict) and "elem" in e else e
            if isinstance(k, dict) and "concat" in k:
                k = k["concat"][0]
            n += k == ifname
    return n


def netd_tables(topo):
    out = topo.run(topo.d0, "nft list tables").stdout
    return [l for l in out.splitlines() if "netd_as" in l]


def netd_routes(topo):
    """dom0's main-table routes carrying netd's mark, v4 and v6."""
    out = []
    for fam in ("-4", "-6"):
        out += [r for r in json.loads(topo.ip(topo.d0, f"-j {fam} route show proto "
                                                        f"{NETD_PROTO}").stdout)]
    return out


def routes_via(topo, dev):
    """Routes through dev, the kernel's own (link-local prefix) aside."""
    return sorted(r["dst"] for fam in ("-4", "-6") for r in topo.routes(topo.d0, fam)
                  if r.get("dev") == dev and r.get("protocol") != "kernel")


def listed(netd):
    return sorted(v["vif"] for v in netd.request({"cmd": "vif-list"})["result"]["vifs"])


def crash_plug(netd, *args):
    """vif online with netd set to SIGKILL itself at a step of the plug."""
    r = netd.ctl("vif", "online", *args, check=False)
    assert r.returncode != 0
    netd.crashed()


def add_vif(topo, domid, addr):
    """vif<domid>.0 in dom0, its guest end eth0 in a namespace of its own."""
    g = topo.add_guest(domid, addr=addr)
    return g


@pytest.mark.parametrize("lose_journal", [False, True], ids=["journal", "no-record"])
def test_crash_between_port_and_filter(topo, netd_factory, lose_journal):
    """kill -9 after the vif became a port of the bridge and before its
    anti-spoofing elements: the crash leaves a port that is up and
    unfiltered. The next netd unplugs it: from the plug's journal record, or
    (record lost) because it is a guest's vif on netd's bridge that no
    network remembers. A plug afterwards works and is filtered."""
    netd = netd_factory(bridge_conf("modern"), env={"NETD_FAULT": "vif-antispoof:crash"})
    netd.start()
    add_vif(topo, 1, "192.0.2.11/24")
    crash_plug(netd, "1.0", "ip=192.0.2.11")
    vif = topo.link(topo.d0, "vif1.0")
    assert vif.get("master") == "xenbr0" and "UP" in vif["flags"]  # what the crash left
    assert "vif1.0" not in (nft_vifs(topo, "bridge") or set())
    if lose_journal:
        os.unlink(os.path.join(netd.state, "xenbr0.vifs"))
    netd.start()
    vif = topo.link(topo.d0, "vif1.0")
    assert vif.get("master") is None, netd.read_log()
    assert "UP" not in vif["flags"]
    assert listed(netd) == []
    log = netd.read_log()
    if lose_journal:
        assert "vif1.0: a port of xenbr0, but netd does not remember plugging it" in log
    else:
        assert "vif1.0 was being plugged when netd stopped; undoing" in log
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    assert "vif1.0" in nft_vifs(topo, "bridge")
    assert listed(netd) == ["1.0"]


@pytest.mark.parametrize("conf,step", [(bridge_conf("modern"), "vif-renamed"),
                                       (bridge_conf("modern"), "vif-antispoof"),
                                       (route_conf(), "vif-antispoof")],
                         ids=["bridge-renamed", "bridge-port", "route-routed"])
def test_crash_mid_plug_with_vifname_gives_the_name_back(topo, netd_factory, conf, step):
    """vifname=web1 renames vif1.0 before the mode plugs it; kill -9 right
    after the rename, or once the mode plugged it: the next netd undoes the
    plug and gives the interface its backend name back, as a failed plug
    does, so the toolstack's vif1.0 is there again and the same plug works."""
    netd = netd_factory(conf, env={"NETD_FAULT": f"{step}:crash"})
    netd.start()
    add_vif(topo, 1, "192.0.2.20/24")
    before = topo.link(topo.d0, "vif1.0")
    crash_plug(netd, "1.0", "ip=192.0.2.20", "vifname=web1")
    assert topo.link(topo.d0, "web1")["ifindex"] == before["ifindex"]  # what the crash left
    netd.start()
    assert topo.link(topo.d0, "web1") is None, netd.read_log()
    vif = topo.link(topo.d0, "vif1.0")
    assert vif and vif["ifindex"] == before["ifindex"], netd.read_log()
    assert vif.get("master") is None and "UP" not in vif["flags"]
    assert not vif.get("ifalias")  # as before the plug: netd's mark goes with the name
    assert routes_via(topo, "vif1.0") == [] and netd_routes(topo) == []
    assert listed(netd) == []
    assert "web1: renamed back to vif1.0" in netd.read_log()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20", "vifname=web1")
    assert topo.link(topo.d0, "web1")["ifindex"] == before["ifindex"]
    assert listed(netd) == ["1.0"]


def lose_records(netd, vif, net="xenbr0"):
    """Every journal record of vif (D.N) in net gone, as if lost."""
    journal = os.path.join(netd.state, f"{net}.vifs")
    with open(journal) as f:
        lines = f.readlines()
    kept = [l for l in lines if f'"id":"{vif}"' not in l]
    assert len(kept) < len(lines)
    with open(journal, "w") as f:
        f.writelines(kept)


def test_record_lost_port_and_elements_are_swept(topo, netd_factory):
    """A vif fully plugged whose record is gone (its journal deleted while
    netd was dead): the next netd neither lists it nor leaves it a port
    with filters; vifs it remembers stay as they are."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    add_vif(topo, 1, "192.0.2.11/24")
    add_vif(topo, 2, "192.0.2.12/24")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    netd.ctl("vif", "online", "2.0", "ip=192.0.2.12")
    assert nft_vifs(topo, "bridge") == {"vif1.0", "vif2.0"}
    netd.stop(signal.SIGKILL)
    lose_records(netd, "2.0")  # while netd is dead
    netd.start()
    assert listed(netd) == ["1.0"]
    assert topo.link(topo.d0, "vif2.0").get("master") is None
    assert nft_keys(topo, "bridge", "vif2.0") == 0
    assert nft_vifs(topo, "bridge") == {"vif1.0"}
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    assert nft_keys(topo, "bridge", "vif1.0") > 0
    # the last vif going takes the table with it: nothing netd's is left
    netd.ctl("vif", "offline", "1.0")
    assert netd_tables(topo) == []


def test_record_lost_renamed_vif_is_swept_and_the_operators_ports_stay(topo, netd_factory):
    """The same with vifname=web2: the vif's name is not vifD.N, but netd
    renamed it and marked it so (its alias). The next netd unplugs it and
    gives it its backend name back, so the toolstack's same plug works
    again. The operator's own ports of the bridge stay, whatever their name
    (one renamed by hand from a vif, one with an alias of its own)."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    add_vif(topo, 1, "192.0.2.11/24")
    add_vif(topo, 2, "192.0.2.12/24")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11", "vifname=web1")
    netd.ctl("vif", "online", "2.0", "ip=192.0.2.12", "vifname=web2")
    before = topo.link(topo.d0, "web2")
    assert before["master"] == "xenbr0" and nft_keys(topo, "bridge", "web2") > 0
    assert before["ifalias"] == "netd: renamed from vif2.0"  # the mark
    # the operator's: a veth renamed by hand, one with an alias
    sh(f"ip -n {topo.d0} link add vif9.0 type veth peer name op9")
    sh(f"ip -n {topo.d0} link set vif9.0 name mine0")
    sh(f"ip -n {topo.d0} link add op1 type veth peer name op2")
    sh(f"ip -n {topo.d0} link set op1 alias 'vif8.0 uplink'")
    for port in ("mine0", "op1"):
        sh(f"ip -n {topo.d0} link set {port} master xenbr0 up")
    netd.stop(signal.SIGKILL)
    lose_records(netd, "2.0")
    netd.start()
    assert listed(netd) == ["1.0"]
    assert topo.link(topo.d0, "web2") is None, netd.read_log()
    vif = topo.link(topo.d0, "vif2.0")
    assert vif and vif["ifindex"] == before["ifindex"]
    assert vif.get("master") is None and "UP" not in vif["flags"]
    assert not vif.get("ifalias")
    assert nft_keys(topo, "bridge", "web2") == 0
    log = netd.read_log()
    assert "web2: a port of xenbr0, but netd does not remember plugging it" in log
    assert "web2: renamed back to vif2.0" in log
    # what netd remembers, and what is not netd's, stay as they were
    assert topo.link(topo.d0, "web1").get("master") == "xenbr0"
    assert nft_keys(topo, "bridge", "web1") > 0
    for port in ("mine0", "op1"):
        assert topo.link(topo.d0, port).get("master") == "xenbr0", port
    assert topo.link(topo.d0, "op1")["ifalias"] == "vif8.0 uplink"
    # the toolstack's plug of vif 2.0 works again
    netd.ctl("vif", "online", "2.0", "ip=192.0.2.12", "vifname=web2")
    assert topo.link(topo.d0, "web2")["master"] == "xenbr0"
    assert listed(netd) == ["1.0", "2.0"]


def test_record_lost_nat_ports_are_swept(topo, netd_factory):
    """nat mode's private bridge is swept the same way: a vif and a renamed
    one whose records are lost go, the one remembered stays."""
    from nat_util import nat_conf, nat_guest
    netd = netd_factory(nat_conf(dhcp_range=None))
    netd.start()
    for d in (1, 2, 3):
        nat_guest(topo, d)
    netd.ctl("vif", "online", "1.0", "bridge=virbr0", "ip=203.0.113.6")
    netd.ctl("vif", "online", "2.0", "bridge=virbr0", "ip=203.0.113.7")
    netd.ctl("vif", "online", "3.0", "bridge=virbr0", "ip=203.0.113.8", "vifname=web3")
    assert all(topo.link(topo.d0, p)["master"] == "virbr0" for p in ("vif1.0", "vif2.0", "web3"))
    netd.stop(signal.SIGKILL)
    lose_records(netd, "2.0", net="virbr0")
    lose_records(netd, "3.0", net="virbr0")
    netd.start()
    assert listed(netd) == ["1.0"]
    assert topo.link(topo.d0, "vif2.0").get("master") is None, netd.read_log()
    assert topo.link(topo.d0, "web3") is None
    assert topo.link(topo.d0, "vif3.0").get("master") is None
    assert topo.link(topo.d0, "vif1.0").get("master") == "virbr0"
    assert nft_keys(topo, "bridge", "vif1.0") > 0
    assert nft_keys(topo, "bridge", "vif2.0") == 0 and nft_keys(topo, "bridge", "web3") == 0


@pytest.mark.parametrize("step,left", [("vif-route6", ["192.0.2.20"]),
                                       ("vif-antispoof", ["192.0.2.20", "2001:db8::20"])])
def test_crash_mid_routed_plug_is_undone(topo, netd_factory, step, left):
    """Route mode, kill -9 once the guest's IPv4 route is in (before its
    IPv6 one), or once both are (before its filters): the next netd removes
    the routes (they carry netd's mark) and the guest's proxy entry, and
    lists nothing."""
    netd = netd_factory(route_conf(), env={"NETD_FAULT": f"{step}:crash"})
    netd.start()
    add_vif(topo, 1, "192.0.2.20/24")
    crash_plug(netd, "1.0", "ip=192.0.2.20 2001:db8::20")
    assert routes_via(topo, "vif1.0") == left
    # marked as netd's
    assert sorted(r["dst"] for r in netd_routes(topo) if r["dev"] == "vif1.0") == left
    netd.start()
    assert routes_via(topo, "vif1.0") == []
    assert netd_routes(topo) == []
    # the vif as it was: without Dom0's address, down
    assert topo.addrs(topo.d0, "vif1.0") == []
    assert "UP" not in topo.link(topo.d0, "vif1.0")["flags"]
    assert "2001:db8::20" not in topo.ip(topo.d0, "-6 neigh show proxy").stdout
    assert listed(netd) == []
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20")
    assert routes_via(topo, "vif1.0") == ["192.0.2.20"]
    assert "vif1.0" in nft_vifs(topo, "inet")


def test_crash_mid_replug_leaves_no_stray_route(topo, netd_factory):
    """A re-plug adding addresses killed half-way: the vif stays plugged as
    remembered, and the route the cut re-plug added (no record has it) is
    swept; the remembered one stays."""
    netd = netd_factory(route_conf(), env={"NETD_FAULT": "vif-route6:crash"})
    netd.start()
    add_vif(topo, 1, "192.0.2.20/24")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20")  # v4 only: no vif-route6 step
    crash_plug(netd, "1.0", "ip=192.0.2.20 192.0.2.21 2001:db8::20")
    assert routes_via(topo, "vif1.0") == ["192.0.2.20", "192.0.2.21"]
    netd.start()
    assert listed(netd) == ["1.0"]
    assert routes_via(topo, "vif1.0") == ["192.0.2.20"]
    assert "192.0.2.21/32 dev vif1.0" in netd.read_log()
    netd.ctl("vif", "offline", "1.0")
    assert netd_routes(topo) == []


@pytest.fixture
def small_state(tmp_path):
    """A state directory on a tmpfs of 16 KiB besides the page of netd's lock
    file (20 KiB): it fills after a few dozen vifs."""
    d = tmp_path / "state"
    d.mkdir()
    sh(f"mount -t tmpfs -o size=20k,mode=0700 netd-test-state {d}")
    try:
        yield d
    finally:
        sh(f"umount -l {d}", check=False)


@pytest.mark.parametrize("mode", ["bridge", "route"])
def test_full_state_dir_refuses_plugs_it_cannot_remember(topo, netd_factory, small_state, mode):
    """With the state directory full, a plug is refused (an error naming the
    state) and leaves nothing on the host; every plug answered ok is listed
    by the netd started after kill -9, and `down` then leaves no port, no
    route of netd's and no netd_as table."""
    conf = bridge_conf("modern") if mode == "bridge" else route_conf()
    netd = netd_factory(conf)
    assert netd.state == str(small_state)
    netd.start()
    n = 90
    for d in range(1, n + 1):
        topo.ip(topo.d0, f"link add vif{d}.0 type veth peer name g{d}")
    ok, refused = [], []
    for d in range(1, n + 1):
        ip = f"198.51.100.{d} 2001:db8:5::{d:x}" if mode == "route" else f"198.51.100.{d}"
        r = netd.ctl("vif", "online", f"{d}.0", f"ip={ip}", f"mac=00:16:3e:00:00:{d:02x}",
                     check=False)
        if r.returncode == 0:
            ok.append(f"{d}.0")
        else:
            assert "state cannot be saved" in r.stderr, r.stderr
            refused.append(d)
    assert ok and refused, (ok, refused)  # the directory did fill up
    for d in refused:
        assert topo.link(topo.d0, f"vif{d}.0").get("master") is None
        assert routes_via(topo, f"vif{d}.0") == []
    fam = "bridge" if mode == "bridge" else "inet"
    assert nft_vifs(topo, fam) == {f"vif{v[:-2]}.0" for v in ok}
    assert listed(netd) == sorted(ok)

    netd.stop(signal.SIGKILL)
    netd.start()
    assert listed(netd) == sorted(ok)
    assert nft_vifs(topo, fam) == {f"vif{v[:-2]}.0" for v in ok}
    if mode == "route":
        assert len(netd_routes(topo)) == 2 * len(ok)
    # down rewrites the sysctl registry (route mode): the operator makes room
    sh(f"mount -o remount,size=1m {small_state}")
    r = netd.ctl("down", check=False)
    assert r.returncode == 0, r.stderr
    assert netd_routes(topo) == []
    assert netd_tables(topo) == []
    assert [l for l, v in topo.links(topo.d0).items() if v.get("master")] == []
    netd.stop()


def sends_from(topo, g, src, dst="192.0.2.1"):
    """Does a ping from guest g with source address src reach dst?"""
    return topo.run(g, f"ping -n -q -c 1 -W 1 -I {src} {dst}", check=False).returncode == 0


def guarded(topo, family, ifname):
    r = topo.run(topo.d0, f"nft -j list set {family} netd_as guard", check=False)
    if r.returncode:
        return False
    return any(e == ifname for o in json.loads(r.stdout)["nftables"]
               for e in o.get("set", {}).get("elem", []))


def test_reload_replugs_the_vifs_of_a_changed_network(topo, netd_factory):
    """reload of a changed bridge network (antispoof yes -> no -> yes, then
    style modern -> classic) re-applies it and plugs its guests again, with
    the same records: they keep their traffic, `vif list` lists them, and
    the filters follow the setting (a forged source passes only with
    antispoof = no)."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    guests = {d: topo.add_guest(d) for d in (1, 2)}
    for d, g in guests.items():
        topo.ip(g, f"addr add 192.0.2.{90 + d}/24 dev eth0")  # a forged source
        netd.ctl("vif", "online", f"{d}.0", f"ip=192.0.2.{10 + d}")
        topo.wait_carrier(g, "eth0")

    def check(antispoof, style):
        assert listed(netd) == ["1.0", "2.0"]
        for d, g in guests.items():
            assert topo.link(topo.d0, f"vif{d}.0").get("master") == "xenbr0"
            wait_for(lambda: sends_from(topo, g, f"192.0.2.{10 + d}"), 10,
                     what=f"guest {d}'s traffic ({style}, antispoof {antispoof})")
            assert guarded(topo, "bridge", f"vif{d}.0") == antispoof
            assert sends_from(topo, g, f"192.0.2.{90 + d}") == (not antispoof)
        assert netd.request({"cmd": "status"})["result"]["networks"][0]["details"]["style"] \
            == style

    check(True, "modern")
    for antispoof, style in ((False, "modern"), (True, "modern"), (True, "classic")):
        netd.write_conf(bridge_conf(style) + f"antispoof = {'yes' if antispoof else 'no'}\n")
        r = netd.ctl("reload", check=False)
        assert r.returncode == 0, r.stderr
        check(antispoof, style)
    # the records are the ones the next netd adopts
    netd.stop(signal.SIGKILL)
    netd.start()
    check(True, "classic")


def test_reload_replugs_routed_vifs(topo, netd_factory):
    """The same in route mode: routes and filters come back with the new
    setting, and a vif that cannot be plugged into the new network is
    named in reload's error."""
    netd = netd_factory(route_conf())
    netd.start()
    add_vif(topo, 1, "192.0.2.20/24")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    netd.write_conf(route_conf() + "antispoof = no\n")
    netd.ctl("reload")
    assert listed(netd) == ["1.0"]
    assert routes_via(topo, "vif1.0") == ["192.0.2.20", "2001:db8::20"]
    assert not guarded(topo, "inet", "vif1.0")
    netd.write_conf(route_conf())
    netd.ctl("reload")
    assert routes_via(topo, "vif1.0") == ["192.0.2.20", "2001:db8::20"]
    assert guarded(topo, "inet", "vif1.0")
    # a metric the guest's routes must follow
    netd.write_conf(route_conf(metric=7))
    netd.ctl("reload")
    assert sorted(r["metric"] for fam in ("-4", "-6") for r in topo.routes(topo.d0, fam)
                  if r.get("dev") == "vif1.0" and r.get("protocol") != "kernel") == [7, 7]
    # the vif is gone while netd reloads: the error names it
    topo.ip(topo.d0, "link del vif1.0")
    netd.write_conf(route_conf())
    r = netd.ctl("reload", check=False)
    assert r.returncode == 1
    assert "vif1.0" in r.stderr and "not plugged again" in r.stderr, r.stderr
    assert listed(netd) == []


def state_file(netd, net="xenbr0"):
    return os.path.join(netd.state, f"{net}.json")


def without(snapshot, name):
    """A host snapshot without the lines of link name (a guest's vif, whose
    up flag a plug leaves as it is)."""
    return [x for x in snapshot if f'"{name}"' not in x]


def assert_restored_but_vif(topo, before, vif="vif1.0", timeout=3):
    """The host as before, links settling for up to timeout; vif aside."""
    try:
        wait_for(lambda: without(topo.snapshot(), vif) == without(before, vif), timeout)
    except AssertionError:
        now, was = without(topo.snapshot(), vif), without(before, vif)
        raise AssertionError("host not restored\nmissing:\n  " +
                             "\n  ".join(x for x in was if x not in now) + "\nextra:\n  " +
                             "\n  ".join(x for x in now if x not in was)) from None


def net_status(netd, net="xenbr0"):
    doc = json.loads(netd.ctl("--json", "status").stdout)
    return next(n for n in doc["result"]["networks"] if n["name"] == net)


def net_state(netd, net="xenbr0"):
    return net_status(netd, net)["state"]


def spoil_record(record, doc, key="physdev"):
    """netd's state file at record written as doc without its
    mode_state[key]: a file that parses and its mode cannot read."""
    del doc["mode_state"][key]
    with open(record, "w") as f:
        json.dump(doc, f)


@pytest.mark.parametrize("mode,key,addr,why", [
    ("bridge", "physdev", "192.0.2.11", "bridge mode state incomplete"),
    ("route", "physdev", "192.0.2.11", "route mode state incomplete"),
    ("nat", "address", "203.0.113.11", "nat mode state incomplete"),
], ids=["bridge", "route", "nat"])
def test_a_state_file_its_mode_cannot_read_is_moved_aside(topo, netd_factory, mode, key, addr,
                                                           why):
    """A state file that parses, of the network's mode and version, whose
    mode_state the mode cannot read (here its physdev record gone), with
    the host as before the network was up. It cannot undo anything, and
    kept, it failed every up the same way (netd did not start at all)
    until removed by hand. Now it is moved aside to <file>.bad with its vif
    journal, the log naming both and what is not undone, and the network is
    applied afresh, its own transaction, the vif the record lists (the
    guest still running) plugged again: listed, a port of the bridge or
    routed, in the new record. Before, it was left unplugged until its
    next hotplug, the guest cut off. The stop restores the host."""
    from nat_util import nat_conf
    conf, net = {"bridge": (bridge_conf("modern"), "xenbr0"), "route": (route_conf(), "routed"),
                 "nat": (nat_conf(), "virbr0")}[mode]
    add_vif(topo, 1, None)  # the guest sends nothing: its end as topo makes it
    before = topo.snapshot()
    netd = netd_factory(conf)
    netd.start()
    netd.ctl("vif", "online", "1.0", f"ip={addr}")
    record = state_file(netd, net)
    journal = os.path.join(netd.state, f"{net}.vifs")
    doc = json.load(open(record))
    vifs = open(journal).read() if os.path.exists(journal) else None
    assert netd.stop() == 0, netd.read_log()
    assert_restored_but_vif(topo, before)
    spoil_record(record, doc, key)
    if vifs is not None:
        with open(journal, "w") as f:
            f.write(vifs)
    netd.start()
    log = netd.read_log()
    assert (f"{net}: its state file {record} cannot be read (unreadable state: ") in log, log
    assert (f"{why}): moved aside to {record}.bad, with its vif journal; what a previous netd "
            "recorded there is not undone (check the host against it); applying the network "
            "afresh, plugging its 1 vif again") in log, log
    assert json.load(open(record + ".bad")) == doc
    assert not os.path.exists(journal) or vifs is None
    assert net_state(netd, net) == "up" and listed(netd) == ["1.0"], log
    if mode == "route":
        assert routes_via(topo, "vif1.0") == [addr], log
    else:
        assert topo.link(topo.d0, "vif1.0").get("master") == net, log
    assert json.load(open(record))["mode_state"][key]
    assert [v["id"] for v in json.load(open(record))["vifs"]] == ["1.0"]
    assert netd.stop() == 0, netd.read_log()
    assert_restored_but_vif(topo, before)
    assert not os.path.exists(record) and os.path.exists(record + ".bad")


def test_an_unreadable_state_file_s_vif_gone_from_the_host_is_not_plugged_again(
        topo, netd_factory):
    """The record set aside lists two vifs; one of them (its guest gone
    meanwhile) is no longer on the host: the other is plugged again, the
    gone one dropped, named in the log, and not listed."""
    add_vif(topo, 1, None)
    add_vif(topo, 2, None)
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    netd.ctl("vif", "online", "2.0", "ip=192.0.2.12")
    record, journal = state_file(netd), os.path.join(netd.state, "xenbr0.vifs")
    doc, vifs = json.load(open(record)), open(journal).read()
    assert netd.stop() == 0, netd.read_log()
    spoil_record(record, doc)
    with open(journal, "w") as f:
        f.write(vifs)
    topo.ip(topo.d0, "link del vif2.0")
    netd.start()
    log = netd.read_log()
    assert ("xenbr0: vif2.0, of the state file set aside, is gone from the host: not plugged "
            "again") in log, log
    assert "applying the network afresh, plugging its 1 vif again" in log, log
    assert listed(netd) == ["1.0"], log
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    assert "vif1.0" in nft_vifs(topo, "bridge")
    assert netd.stop() == 0, netd.read_log()


def test_an_unreadable_state_file_s_vif_another_network_holds_stays_there(topo, netd_factory):
    """Two networks; the record of the second, unreadable by its mode and
    set aside when it comes up, lists a vif the first holds now: that vif
    stays where it is, plugged into the first and listed by it alone, the
    log naming the holder, and the second's new record without it. Before,
    the second took it as its own too (its plug tried again, refused as
    a port of the first in nat mode): one vif listed by two networks and
    recorded by both."""
    from nat_util import nat_conf
    conf = (nat_conf(address="203.0.113.1/25", dhcp_range=None)
            + nat_conf(name="virbr1", address="203.0.113.129/25", dhcp_range=None))
    add_vif(topo, 1, None)
    netd = netd_factory(conf)
    netd.start()
    netd.ctl("vif", "online", "1.0", "bridge=virbr0", "ip=203.0.113.11")
    # vif1.0 as virbr0's record has it: its entry, in the vif journal
    held = open(os.path.join(netd.state, "virbr0.vifs")).read()
    record = state_file(netd, "virbr1")
    doc = json.load(open(record))
    netd.ctl("down", "virbr1")
    spoil_record(record, doc, "address")
    with open(os.path.join(netd.state, "virbr1.vifs"), "w") as f:
        f.write(held)
    netd.ctl("up", "virbr1")
    log = netd.read_log()
    assert "virbr1: its state file" in log and f"moved aside to {record}.bad" in log, log
    assert ("virbr1: vif1.0, of the state file set aside, is network virbr0's now: not plugged "
            "again") in log, log
    assert topo.link(topo.d0, "vif1.0").get("master") == "virbr0", log
    assert [(v["vif"], v["network"]) for v in
            netd.request({"cmd": "vif-list"})["result"]["vifs"]] == [("1.0", "virbr0")], log
    assert json.load(open(record))["vifs"] == [], log
    assert netd.stop() == 0, netd.read_log()


def test_a_state_file_that_is_not_json_is_moved_aside_not_overwritten(topo, netd_factory):
    """A state file that does not parse (here cut short) and the vif
    journal beside it: nothing in them can be read, and the network is
    applied afresh as before, but both are moved aside to .bad for the
    operator, logged, rather than overwritten by the new record (the
    journal removed): the evidence is not lost."""
    add_vif(topo, 1, None)
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    record, journal = state_file(netd), os.path.join(netd.state, "xenbr0.vifs")
    text, vifs = open(record).read(), open(journal).read()
    assert netd.stop() == 0, netd.read_log()
    with open(record, "w") as f:
        f.write(text[:len(text) // 2])
    with open(journal, "w") as f:
        f.write(vifs)
    netd.start()
    log = netd.read_log()
    assert open(record + ".bad").read() == text[:len(text) // 2], log
    assert open(journal + ".bad").read() == vifs, log
    assert (f"xenbr0: its state file {record} is not one (line 1: ") in log, log
    assert (f"moved aside to {record}.bad, with its vif journal; what a previous netd recorded "
            "there is not undone, nor its vifs plugged again (check the host against it); "
            "applying the network afresh") in log, log
    assert net_state(netd) == "up" and json.load(open(record))["phase"] == "applied"
    assert netd.stop() == 0, netd.read_log()


def test_an_unreadable_state_file_that_cannot_be_moved_aside_says_which_and_what_to_do(
        topo, netd_factory):
    """The same record where <file>.bad cannot be made (here a directory of
    that name): the error names the file, why it is unreadable and what to
    do, the file stays as it was, and the host is untouched."""
    before = topo.snapshot()
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    record = state_file(netd)
    doc = json.load(open(record))
    assert netd.stop() == 0, netd.read_log()
    spoil_record(record, doc)
    os.makedirs(record + ".bad/x")
    r = netd.run_once()
    assert r.returncode == 1, r.stderr
    journal = os.path.join(netd.state, "xenbr0.vifs")
    assert (f"xenbr0: its state file {record} cannot be read (unreadable state: state: bridge "
            "mode state incomplete), nor set aside (Is a directory): check the host against it, "
            f"remove it and its vif journal {journal}, then `netdctl up xenbr0`") in r.stderr, \
        r.stderr
    assert "its state file stays: the host is not as before" not in r.stderr, r.stderr
    assert json.load(open(record)) == doc
    topo.assert_snapshot_equal(before)


def test_an_unreadable_state_file_set_aside_again_gets_no_journal_of_the_first(
        topo, netd_factory):
    """Twice a state file the mode cannot read: the first with a vif
    journal, the second (of a netd that plugged nothing) without one. The
    second <file>.bad replaces the first, and the <journal>.bad beside it
    must not be the first file's journal, which the log and netd(8) call
    its own (its records are of that file's vifs): the operator would
    check the host against vifs the second file never had. The first pair
    is not lost: kept as <file>.bad.1 and <journal>.bad.1, logged (before,
    the second set-aside replaced it, silently); a third set-aside
    replaces that older pair, and says so."""
    add_vif(topo, 1, None)
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.ctl("vif", "online", "1.0")
    record = state_file(netd)
    journal = os.path.join(netd.state, "xenbr0.vifs")
    doc = json.load(open(record))
    vifs = open(journal).read()
    assert netd.stop() == 0, netd.read_log()
    spoil_record(record, doc)
    with open(journal, "w") as f:
        f.write(vifs)
    netd.start()
    assert open(journal + ".bad").read() == vifs, netd.read_log()
    first = json.load(open(record + ".bad"))
    assert netd.stop() == 0, netd.read_log()
    doc["vifs"] = []
    with open(record, "w") as f:
        json.dump(doc, f)
    assert not os.path.exists(journal)
    netd.start()
    log = netd.read_log()
    assert json.load(open(record + ".bad")) == doc, log
    assert not os.path.exists(journal + ".bad"), log
    assert json.load(open(record + ".bad.1")) == first, log
    assert open(journal + ".bad.1").read() == vifs, log
    assert (f"xenbr0: {record}.bad, of a state file set aside before, kept as "
            f"{record}.bad.1") in log, log
    assert net_state(netd) == "up"
    assert netd.stop() == 0, netd.read_log()
    with open(record, "w") as f:
        json.dump(doc, f)
    netd.start()
    log = netd.read_log()
    assert (f"xenbr0: {record}.bad.1, of a state file set aside before the last, is replaced "
            f"by the last one ({record}.bad)") in log, log
    assert json.load(open(record + ".bad.1")) == doc, log
    assert not os.path.exists(journal + ".bad.1"), log
    assert netd.stop() == 0, netd.read_log()


def test_an_unreadable_state_file_of_a_network_no_longer_configured_is_moved_aside(
        topo, netd_factory):
    """The same record of a network the config no longer has: nothing in it
    can be undone, so it is moved aside, logged, rather than tried (and
    failed, logged) at every start; the networks configured go up."""
    before = topo.snapshot()
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    record = state_file(netd)
    doc = json.load(open(record))
    assert netd.stop() == 0, netd.read_log()
    spoil_record(record, doc)
    netd.write_conf(route_conf())
    netd.start()
    log = netd.read_log()
    assert (f"xenbr0: its state file {record} cannot be read (unreadable state: state: bridge "
            f"mode state incomplete): moved aside to {record}.bad, with its vif journal; what a "
            "previous netd recorded there is not undone (check the host against it); nothing "
            "more to undo") in log, log
    assert "could not restore it" not in log, log
    assert not os.path.exists(record) and os.path.exists(record + ".bad")
    assert net_state(netd, "routed") == "up"
    assert netd.stop() == 0, netd.read_log()
    topo.assert_snapshot_equal(before)


@pytest.mark.parametrize("style", ["classic", "modern"])
def test_up_again_repairs_a_bridge_deleted_by_hand(topo, netd_factory, style):
    """`ip link del xenbr0` behind netd's back (which, modern, takes eth0's
    addresses and routes with it), then `netdctl up xenbr0`: the setup is
    applied again from the first up's record, the remembered vif a port
    again, and a netd killed then adopts it; its stop puts eth0 back as it
    was, addresses and routes too (a new snapshot of the damaged host
    restored an eth0 without them, or the up failed and dropped the
    record)."""
    g = add_vif(topo, 1, "192.0.2.11/24")
    before, eth0_routes = topo.snapshot(), routes_via(topo, "eth0")
    netd = netd_factory(bridge_conf(style))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    topo.ip(topo.d0, "link del xenbr0")
    netd.ctl("up", "xenbr0")
    assert topo.link(topo.d0, "xenbr0")["linkinfo"]["info_kind"] == "bridge", netd.read_log()
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    host = "eth0" if style == "classic" else "xenbr0"
    assert "192.0.2.2/24" in topo.addrs(topo.d0, host)
    assert routes_via(topo, host) == eth0_routes
    assert listed(netd) == ["1.0"] and net_state(netd) == "up"
    assert "xenbr0: the bridge setup is no longer what netd applied" in netd.read_log()
    topo.settle()
    assert topo.ping(g, "192.0.2.1")
    netd.stop(signal.SIGKILL)
    netd.start()
    assert "adopted the running bridge setup of a previous netd" in netd.read_log()
    assert listed(netd) == ["1.0"]
    netd.stop()
    assert_restored_but_vif(topo, before)
    assert not os.path.exists(state_file(netd))


@pytest.mark.parametrize("style", ["classic", "modern"])
def test_start_that_rolls_back_a_setup_plugs_its_vifs_again(topo, netd_factory, style):
    """netd killed (-9) with a vif plugged, then xenbr0 deleted by hand: the
    next netd rolls the setup back and applies it again, and the vif it
    remembers is a port of the new bridge again, filtered, the guest
    reaching the LAN, as nat and ovs mode do. Before, the vif stayed
    remembered (vif-list) but was a port of nothing: the guest cut off."""
    g = add_vif(topo, 1, "192.0.2.11/24")
    netd = netd_factory(bridge_conf(style))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    netd.stop(signal.SIGKILL)
    topo.ip(topo.d0, "link del xenbr0")
    netd.start()
    log = netd.read_log()
    assert "previous netd left a applied setup; rolling it back first" in log, log
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0", log
    assert "vif1.0" in nft_vifs(topo, "bridge")
    assert listed(netd) == ["1.0"] and net_state(netd) == "up"
    topo.settle()
    assert topo.ping(g, "192.0.2.1")


def test_route_start_that_rolls_back_a_setup_routes_its_vifs_again(topo, netd_factory):
    """Route mode's twin of the test above. netd killed (-9) with a vif
    routed (IPv4 and IPv6); the config now says physdev eth1. The next
    netd rolls the setup on eth0 back (the vif's routes, addresses and
    proxy entries go with it) and applies it on eth1, and the vif it
    remembers is routed again: host routes in Dom0, the guest's proxy
    entry on eth1, its filters, the guest reaching Dom0; its stop removes
    them. Before, the vif stayed remembered (vif-list) with no route: the
    guest cut off."""
    add_eth1(topo)
    g = add_vif(topo, 1, "192.0.2.20/24")
    netd = netd_factory(route_conf())
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    assert routes_via(topo, "vif1.0") == ["192.0.2.20", "2001:db8::20"]
    netd.stop(signal.SIGKILL)
    netd.write_conf(route_conf(physdev="eth1"))
    netd.start()
    log = netd.read_log()
    assert "routed: previous netd left a applied route setup on eth0; rolling it back" in log
    assert listed(netd) == ["1.0"] and net_state(netd, "routed") == "up"
    assert routes_via(topo, "vif1.0") == ["192.0.2.20", "2001:db8::20"], log
    assert "203.0.113.2/32" in topo.addrs(topo.d0, "vif1.0")
    assert "2001:db8::20 dev eth1 proxy" in topo.ip(topo.d0, "-6 neigh show proxy").stdout
    assert "vif1.0" in nft_vifs(topo, "inet")
    with open(state_file(netd, "routed")) as f:
        assert [v["ifname"] for v in json.load(f)["mode_state"]["vifs"]] == ["vif1.0"]
    topo.settle()
    assert topo.ping(g, "192.0.2.2")  # Dom0's eth0, answered through the host route
    netd.stop()
    assert netd_routes(topo) == [] and routes_via(topo, "vif1.0") == []
    assert "2001:db8::20" not in topo.ip(topo.d0, "-6 neigh show proxy").stdout


def test_route_start_killed_routing_its_vifs_again_is_finished_by_the_next(topo, netd_factory):
    """As above, the netd that rolls back and applies on eth1 killed (-9)
    while it routes the vif again, its IPv4 route made, not its IPv6 one:
    its state file says `applied`, and does not have the vif's routes yet.
    The netd after it adopts the setup and routes the vif again, both
    routes recorded, so that its stop removes them. Before, it adopted the
    setup as it was: the vif listed, its IPv4 route swept as no record's,
    its IPv6 one never made."""
    add_eth1(topo)
    g = add_vif(topo, 1, "192.0.2.20/24")
    netd = netd_factory(route_conf())
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    netd.stop(signal.SIGKILL)
    netd.write_conf(route_conf(physdev="eth1"))
    netd.run_crashed("vif-route6")
    assert routes_via(topo, "vif1.0") == ["192.0.2.20"]  # what the kill left
    netd.start()
    log = netd.read_log()
    assert listed(netd) == ["1.0"] and net_state(netd, "routed") == "up"
    assert routes_via(topo, "vif1.0") == ["192.0.2.20", "2001:db8::20"], log
    assert "2001:db8::20 dev eth1 proxy" in topo.ip(topo.d0, "-6 neigh show proxy").stdout
    with open(state_file(netd, "routed")) as f:
        assert [v["ifname"] for v in json.load(f)["mode_state"]["vifs"]] == ["vif1.0"]
    topo.settle()
    assert topo.ping(g, "192.0.2.2")
    netd.stop()
    assert netd_routes(topo) == [] and routes_via(topo, "vif1.0") == []
    assert "203.0.113.2/32" not in topo.addrs(topo.d0, "vif1.0")


def bridge_ports(topo, br="xenbr0"):
    """`ip link show master BR`: the names of the bridge's ports."""
    return sorted(l["ifname"] for l in json.loads(topo.ip(topo.d0, f"-j link show master {br}")
                                                  .stdout))


@pytest.mark.parametrize("how", ["up", "start"])
def test_kill9_mid_repair_ends_with_every_vif_plugged(topo, netd_factory, how):
    """netd killed while it plugs the vifs again into a bridge it made
    again (a repair after `ip link del xenbr0`; or a start after the bridge
    was deleted while no netd ran, which rolls back and applies): one vif a
    port, the other not yet. Started again, every remembered vif is a port
    with its anti-spoofing elements, vif-list lists both, and the guests
    reach the LAN. Before, the state file said `applied` as soon as the
    bridge was there, so the next netd adopted it as it was: one guest
    without its port."""
    g1, g2 = add_vif(topo, 1, "192.0.2.11/24"), add_vif(topo, 2, "192.0.2.12/24")
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    netd.ctl("vif", "online", "2.0", "ip=192.0.2.12")
    netd.stop(signal.SIGKILL)
    crash = {"NETD_FAULT": "vif-antispoof:crash"}
    if how == "up":
        netd.start(env=crash)  # adopts: plugs nothing
        topo.ip(topo.d0, "link del xenbr0")
        assert netd.ctl("up", "xenbr0", check=False).returncode != 0
    else:
        topo.ip(topo.d0, "link del xenbr0")
        netd.start(env=crash, wait=False)
    netd.crashed()
    assert len(bridge_ports(topo)) == 2, netd.read_log()  # eth0 and one vif: what the crash left
    netd.start()
    log = netd.read_log()
    assert bridge_ports(topo) == ["eth0", "vif1.0", "vif2.0"], log
    assert {"vif1.0", "vif2.0"} <= nft_vifs(topo, "bridge"), log
    assert nft_keys(topo, "bridge", "vif1.0") and nft_keys(topo, "bridge", "vif2.0")
    assert listed(netd) == ["1.0", "2.0"] and net_state(netd) == "up"
    topo.settle()
    assert topo.ping(g1, "192.0.2.1") and topo.ping(g2, "192.0.2.1")
    netd.ctl("down", "xenbr0")
    assert topo.link(topo.d0, "xenbr0") is None


@pytest.mark.parametrize("mode", ["bridge", "nat"])
def test_an_applied_checkpoint_that_fails_takes_the_replugged_vifs_filters_with_it(
        topo, netd_factory, mode):
    """netd killed (-9) with a vif plugged, its bridge deleted by hand: the
    next netd rolls back, applies again and plugs the vif again (its port,
    its anti-spoofing elements) before the `applied` checkpoint, which
    then fails (NETD_FAULT=txn-applied: a full disk). The undo takes the
    bridge, the port with it, and the vif's elements too: no netd_as table
    is left. Before, the elements stayed, filters of a port of nothing,
    until some later start swept them."""
    from nat_util import nat_conf
    conf, net, addr = {"bridge": (bridge_conf("modern"), "xenbr0", "192.0.2.11"),
                       "nat": (nat_conf(), "virbr0", "203.0.113.11")}[mode]
    add_vif(topo, 1, None)
    netd = netd_factory(conf)
    netd.start()
    netd.ctl("vif", "online", "1.0", f"ip={addr}")
    assert nft_keys(topo, "bridge", "vif1.0")
    netd.stop(signal.SIGKILL)
    topo.ip(topo.d0, f"link del {net}")
    r = netd.run_once(env={"NETD_FAULT": "txn-applied"})
    assert r.returncode == 1, r.stderr
    assert f"{net}: fault injected at step 'txn-applied' (host restored)" in r.stderr, r.stderr
    assert topo.link(topo.d0, net) is None
    assert topo.link(topo.d0, "vif1.0").get("master") is None
    assert nft_keys(topo, "bridge", "vif1.0") == 0, r.stderr
    assert netd_tables(topo) == [], r.stderr


@pytest.mark.parametrize("style", ["classic", "modern"])
def test_repair_after_the_physdev_changed_applies_on_the_new_one(topo, netd_factory, style):
    """netd killed (-9) with xenbr0 on eth0; the config now says eth1; the
    next netd rolls the setup on eth0 back (as route and nat mode do a
    setup not the config's) and applies it on eth1, the vif a port again.
    xenbr0 deleted by hand, then `up`: the setup is applied again on eth1,
    with eth1's own addresses, names and snapshot; eth0 is as before, and
    the stop leaves both as before. Before, the start adopted the setup on
    eth0 (status saying eth1), and the repair took the config's names
    (classic: peth1) with eth0's snapshot: eth0 was enslaved again (or
    renamed peth1) and eth1 left out."""
    add_eth1(topo, ipv6=False)
    add_vif(topo, 1, "192.0.2.11/24")
    before = topo.snapshot()
    ifindex = {n: topo.link(topo.d0, n)["ifindex"] for n in ("eth0", "eth1")}
    netd = netd_factory(bridge_conf(style))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    netd.stop(signal.SIGKILL)
    netd.write_conf(bridge_conf(style, physdev="eth1"))
    netd.start()
    assert (f"xenbr0: previous netd left a {style} setup on eth0, the config is {style} on "
            f"eth1; rolling it back first") in netd.read_log()
    assert "192.0.2.2/24" in topo.addrs(topo.d0, "eth0")
    assert net_status(netd)["details"]["physdev"] == "eth1"
    topo.ip(topo.d0, "link del xenbr0")
    netd.ctl("up", "xenbr0")
    log = netd.read_log()
    port, host = ("peth1", "eth1") if style == "classic" else ("eth1", "xenbr0")
    # the devices themselves (by ifindex): classic's rename dance makes
    # names alone prove nothing
    assert topo.link(topo.d0, port)["ifindex"] == ifindex["eth1"], log
    assert topo.link(topo.d0, port).get("master") == "xenbr0", log
    assert "203.0.113.2/24" in topo.addrs(topo.d0, host), log
    eth0 = topo.link(topo.d0, "eth0")
    assert eth0["ifindex"] == ifindex["eth0"] and eth0.get("master") is None, log
    assert eth0["address"] == topo.eth0_mac
    assert "192.0.2.2/24" in topo.addrs(topo.d0, "eth0")
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    assert listed(netd) == ["1.0"] and net_state(netd) == "up"
    netd.stop()
    assert_restored_but_vif(topo, before)
    assert not os.path.exists(state_file(netd))


@pytest.mark.parametrize("crash", [False, True], ids=["failed", "killed"])
def test_failed_repair_keeps_the_record_to_restore_the_host(topo, netd_factory, crash):
    """The repair of a damaged classic setup fails (or netd is killed) once
    the host is restored and before the setup is applied again: the
    network keeps its state file and vif, so `down` (or the next netd,
    which applies it again, then `down`) brings eth0 back as before.
    Before, the failed up removed the state file and forgot the vifs of a
    network left up on the host. `status` says the network failed, and
    why, and a plug into it is refused saying so: before, it said `up`
    with no bridge on the host."""
    add_vif(topo, 1, "192.0.2.11/24")
    before = topo.snapshot()
    fault = "bridge-repair:crash" if crash else "bridge-repair"
    netd = netd_factory(bridge_conf("classic"), env={"NETD_FAULT": fault})
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    topo.ip(topo.d0, "link del xenbr0")
    r = netd.ctl("up", "xenbr0", check=False)
    assert r.returncode != 0
    if crash:
        netd.crashed()
        assert os.path.exists(state_file(netd))
        netd.start()
        assert topo.link(topo.d0, "xenbr0")["linkinfo"]["info_kind"] == "bridge"
    else:
        why = ("xenbr0: cannot repair the bridge setup; `netdctl down xenbr0` restores eth0: "
               "fault injected at step 'bridge-repair'")
        assert why in r.stderr, r.stderr
        assert net_state(netd) == "failed"
        assert net_status(netd)["error"] == why
        lines = netd.ctl("status").stdout.splitlines()
        assert lines[1].split()[:3] == ["xenbr0", "bridge", "failed"], lines
        assert lines[2] == f"  error: {why}", lines
        r = netd.ctl("vif", "online", "2.0", check=False)
        assert r.returncode != 0
        assert ("vif2.0: network xenbr0 is not applied, its repair failed (`netdctl up xenbr0` "
                f"tries again): {why}") in r.stderr, r.stderr
        assert os.path.exists(state_file(netd))
    assert listed(netd) == ["1.0"]
    netd.ctl("down", "xenbr0")
    assert net_state(netd) == "down"
    assert_restored_but_vif(topo, before)
    assert not os.path.exists(state_file(netd))


@pytest.mark.parametrize("how", ["no-interface", "mode-refused"])
def test_refused_plug_leaves_nothing_for_the_next_netd_to_undo(topo, netd_factory, how):
    """A plug refused with the host as before it (vif2.0 to be renamed web2
    does not exist; or the bridge's filter fails after netd renamed it and
    made it a port, all undone) cancels its journal intent. A netd killed
    then and started again undoes no plug: before, it ran the mode's
    vif_offline with the refused plug's keys, unplugging whatever held them
    by then (here the operator's own port web2), and on dpdk a port
    dpswitch held. The vif plugged before stays plugged and filtered."""
    add_vif(topo, 1, "192.0.2.11/24")
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    if how == "mode-refused":
        add_vif(topo, 2, "192.0.2.12/24")
        netd.stop(signal.SIGKILL)
        netd.env = {"NETD_FAULT": "vif-antispoof"}
        netd.start()
    r = netd.ctl("vif", "online", "2.0", "ip=192.0.2.12", "vifname=web2", check=False)
    assert r.returncode != 0
    if how == "mode-refused":
        assert "fault injected" in r.stderr, r.stderr
        vif = topo.link(topo.d0, "vif2.0")
        assert vif and vif.get("master") is None  # its name back, not a port
    else:
        assert "no such interface (to be renamed web2)" in r.stderr, r.stderr
    # The operator's own port of the bridge, named as the refused plug's vif.
    topo.ip(topo.d0, "link add web2 type veth peer name web2p")
    topo.ip(topo.d0, "link set web2 master xenbr0 up")
    netd.stop(signal.SIGKILL)
    netd.env = {}
    netd.start()
    log = netd.read_log()
    assert "was being plugged when netd stopped" not in log, log
    assert topo.link(topo.d0, "web2").get("master") == "xenbr0", log
    assert listed(netd) == ["1.0"]
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    assert "vif1.0" in nft_vifs(topo, "bridge")


@pytest.mark.parametrize("step", ["create-bridge", "pending-undo"])
def test_a_crash_before_a_cut_plug_is_undone_keeps_its_intent(topo, netd_factory, step):
    """kill -9 mid-plug (vif1.0 renamed web1, not yet a port). The next
    netd finds xenbr0 deleted meanwhile, rolls back and applies again, which
    writes the state file and folds the journal, and is killed before it
    undid the plug (mid-apply, or once up). The netd after it still undoes
    the plug: web1 is vif1.0 again. Before, the fold dropped the intent and
    web1 stayed renamed, forgotten."""
    netd = netd_factory(bridge_conf("modern"), env={"NETD_FAULT": "vif-renamed:crash"})
    netd.start()
    add_vif(topo, 1, "192.0.2.20/24")
    crash_plug(netd, "1.0", "ip=192.0.2.20", "vifname=web1")
    assert topo.link(topo.d0, "web1")  # what the crash left
    topo.ip(topo.d0, "link del xenbr0")
    netd.run_crashed(step)
    assert topo.link(topo.d0, "web1"), netd.read_log()  # the plug still not undone
    netd.start()
    log = netd.read_log()
    assert "web1 was being plugged when netd stopped; undoing" in log, log
    assert topo.link(topo.d0, "web1") is None
    assert topo.link(topo.d0, "vif1.0").get("master") is None
    assert listed(netd) == []
    assert not os.path.exists(os.path.join(netd.state, "xenbr0.vifs"))


def failed_start_after_a_cut_plug(topo, netd_factory):
    """netd killed in its plug of vif1.0 renamed web1 (a fault at
    vif-renamed), xenbr0 deleted by hand, then a netd whose first up fails
    (a fault at create-bridge) and exits. Returns that netd."""
    netd = netd_factory(bridge_conf("modern"), env={"NETD_FAULT": "vif-renamed:crash"})
    netd.start()
    add_vif(topo, 1, "192.0.2.20/24")
    crash_plug(netd, "1.0", "ip=192.0.2.20", "vifname=web1")
    topo.ip(topo.d0, "link del xenbr0")
    netd.run_faulted("create-bridge")
    return netd


def test_a_failed_start_keeps_the_intent_of_a_cut_plug(topo, netd_factory):
    """kill -9 mid-plug (vif1.0 renamed web1, not yet a port). The next
    netd finds xenbr0 deleted meanwhile, rolls the setup back, and its
    apply fails (a fault at create-bridge): it exits with the host
    restored, its state file gone, but the plug's intent kept in the
    journal (after a record naming bridge mode, datapath kernel, as
    theirs). The netd after it brings the network up afresh and undoes
    the plug: web1 is vif1.0 again. Before, the failed start removed the
    journal with the state file and web1 stayed renamed, forgotten."""
    netd = failed_start_after_a_cut_plug(topo, netd_factory)
    assert not os.path.exists(state_file(netd))
    assert topo.link(topo.d0, "web1")  # the plug still not undone
    with open(os.path.join(netd.state, "xenbr0.vifs")) as f:
        lines = f.read().splitlines()
    # whose plugs they are (the state file that said so is gone), then the intent
    assert [l[:1] for l in lines] == ["=", "~"]
    assert json.loads(lines[0][1:]) == {"mode": "bridge", "datapath": "kernel"}
    netd.start()
    log = netd.read_log()
    assert "web1 was being plugged when netd stopped; undoing" in log, log
    assert topo.link(topo.d0, "web1") is None
    assert topo.link(topo.d0, "vif1.0").get("master") is None
    assert listed(netd) == [] and net_state(netd) == "up"
    assert not os.path.exists(os.path.join(netd.state, "xenbr0.vifs"))


def test_reload_repairs_a_damaged_bridge_and_keeps_its_record(topo, netd_factory):
    """A reload with the config unchanged brings up every network it keeps:
    a classic bridge whose xenbr0 was deleted by hand is repaired, its vif
    a port again, and the reload succeeds; SIGTERM then restores eth0 as
    it was. Before, the up failed (vif0.0 exists), and the state file and
    the vif went while the network stayed half-applied on the host."""
    add_vif(topo, 1, "192.0.2.11/24")
    before = topo.snapshot()
    netd = netd_factory(bridge_conf("classic"))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    topo.ip(topo.d0, "link del xenbr0")
    r = netd.ctl("reload", check=False)
    assert r.returncode == 0, r.stderr + netd.read_log()
    assert topo.link(topo.d0, "xenbr0")["linkinfo"]["info_kind"] == "bridge"
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    assert listed(netd) == ["1.0"] and os.path.exists(state_file(netd))
    netd.stop()
    assert_restored_but_vif(topo, before)
    assert not os.path.exists(state_file(netd))


def test_a_mode_changed_over_a_leftover_state_file_restores_the_old_setup_first(
        topo, netd_factory):
    """xenbr0, a modern bridge, left by a netd killed (-9); the config now
    makes xenbr0 a route-mode network on eth0. The next netd restores the
    bridge from its state file (xenbr0 gone, eth0's addresses back) before
    it applies route mode; its stop leaves the host as before. Before, the
    bridge's file was ignored as foreign and the bridge stayed for good."""
    before = topo.snapshot()
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.stop(signal.SIGKILL)
    netd.write_conf(route_conf(name="xenbr0"))
    netd.start()
    log = netd.read_log()
    assert topo.link(topo.d0, "xenbr0") is None, log
    assert "192.0.2.2/24" in topo.addrs(topo.d0, "eth0")
    assert ("xenbr0: now route (datapath kernel), its state file is of bridge (datapath "
            "kernel); restoring what that changed first") in log, log
    assert net_state(netd) == "up"
    with open(state_file(netd)) as f:
        assert json.load(f)["mode"] == "route"
    netd.stop()
    topo.assert_snapshot_equal(before)


@pytest.mark.parametrize("how", ["mode-changed", "removed"])
def test_an_old_setup_rolled_back_whose_second_apply_fails_counts_as_restored(
        topo, netd_factory, how):
    """As above (or with xenbr0 no longer configured, a route network
    beside it), with xenbr0 deleted by hand meanwhile: the restore cannot
    adopt the bridge setup, so it rolls it back (eth0 as before) and
    applies it again to take it down, and that apply fails (a fault at
    create-bridge, a step route mode does not have) and is undone. Nothing
    of the bridge is left: netd says so and applies route mode. Before, it
    refused the network saying the setup was `not undone` of a host it had
    restored (or logged `could not restore it`)."""
    before = topo.snapshot()
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.stop(signal.SIGKILL)
    topo.ip(topo.d0, "link del xenbr0")
    net = "xenbr0" if how == "mode-changed" else "routed"
    netd.write_conf(route_conf(name=net))
    netd.env = {"NETD_FAULT": "create-bridge"}
    netd.start()
    log = netd.read_log()
    assert ("xenbr0: the bridge setup a previous netd left is undone; applying it again, to "
            "take it down, failed and was undone too: xenbr0: step create-bridge: fault "
            "injected at step 'create-bridge' (host restored)") in log, log
    assert "not undone" not in log and "could not restore" not in log, log
    assert topo.link(topo.d0, "xenbr0") is None
    assert "192.0.2.2/24" in topo.addrs(topo.d0, "eth0")
    assert net_state(netd, net) == "up"
    with open(state_file(netd, net)) as f:
        assert json.load(f)["mode"] == "route"
    if how == "removed":
        assert not os.path.exists(state_file(netd))
    netd.stop()
    topo.assert_snapshot_equal(before)


def test_an_old_setup_that_cannot_be_restored_names_the_network_once(topo, netd_factory):
    """As above, but the bridge's state file no longer holds its config
    (so it cannot be restored): netd refuses the route network, keeps the
    file for a later try, and its error names the network once, then
    says why. Before, it read `xenbr0: not applied: ...: xenbr0: its state
    file ...`."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.stop(signal.SIGKILL)
    with open(state_file(netd)) as f:
        doc = json.load(f)
    del doc["conf"]
    with open(state_file(netd), "w") as f:
        json.dump(doc, f)
    netd.write_conf(route_conf(name="xenbr0"))
    r = netd.run_once()
    assert r.returncode == 1
    assert (f"netd: xenbr0: not applied: the bridge (datapath kernel) setup a previous netd "
            f"left is not undone: its state file {state_file(netd)} does not say how to undo "
            f"it; left as it is") in r.stderr.splitlines(), r.stderr
    assert os.path.exists(state_file(netd))
    assert topo.link(topo.d0, "xenbr0")["linkinfo"]["info_kind"] == "bridge"


def test_a_start_whose_rollback_fails_keeps_the_record_to_retry_it(topo, netd_factory):
    """A netd killed (-9) left xenbr0, a modern bridge; deleted by hand
    meanwhile, so the next netd cannot adopt it and rolls it back, and that
    rollback fails (a fault at rollback-previous): it exits saying so and
    keeps the state file, eth0 still without its addresses. The netd after
    it rolls the setup back from that file and applies it; its stop leaves
    the host as before. Before, the failed start removed the file: the
    record of eth0's addresses was lost, and that netd applied (and its
    stop restored) eth0 without them."""
    before = topo.snapshot()
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    netd.stop(signal.SIGKILL)
    topo.ip(topo.d0, "link del xenbr0")
    r = netd.run_once(env={"NETD_FAULT": "rollback-previous"})
    assert r.returncode == 1, r.stderr
    assert "xenbr0: cannot roll back the previous setup: fault injected" in r.stderr, r.stderr
    assert ("xenbr0: its state file stays: the host is not as before the network was up, "
            "the next up restores it") in r.stderr, r.stderr
    with open(state_file(netd)) as f:
        assert json.load(f)["phase"] == "applied"
    assert "192.0.2.2/24" not in topo.addrs(topo.d0, "eth0")
    netd.start()
    assert "previous netd left a applied setup; rolling it back first" in netd.read_log()
    assert net_state(netd) == "up"
    assert "192.0.2.2/24" in topo.addrs(topo.d0, "xenbr0")
    netd.stop()
    topo.assert_snapshot_equal(before)


def test_a_failed_start_whose_undo_did_not_complete_keeps_its_record(topo, netd_factory):
    """netd's first apply fails at its last step (move-routes) and its undo
    does not complete (a fault at txn-undo: nothing undone): it exits saying
    `rollback incomplete` and keeps the state file its `applying`
    checkpoint wrote. The next netd rolls that half-done setup back from it
    and applies the network; its stop leaves the host as before. Before,
    the file went: the next netd knew nothing of xenbr0 or of eth0's
    addresses on it."""
    before = topo.snapshot()
    netd = netd_factory(bridge_conf("modern"))
    r = netd.run_once(env={"NETD_FAULT": "move-routes,txn-undo"})
    assert r.returncode == 1, r.stderr
    assert "(rollback incomplete: fault injected at step 'txn-undo')" in r.stderr, r.stderr
    with open(state_file(netd)) as f:
        assert json.load(f)["phase"] == "applying"
    assert topo.link(topo.d0, "xenbr0")
    netd.start()
    assert "previous netd left a applying setup; rolling it back first" in netd.read_log()
    assert net_state(netd) == "up"
    netd.stop()
    topo.assert_snapshot_equal(before)


@pytest.mark.parametrize("was,now", [("modern", "classic"), ("classic", "modern")])
def test_a_start_with_another_style_rolls_the_old_setup_back(topo, netd_factory, was, now):
    """netd killed (-9) with xenbr0 in one style, its vif a port; the
    config now says the other. The next netd rolls the old setup back and
    applies the config's (classic: eth0 is the veth, peth0 the port), the
    vif a port again, status showing the style on the host; its stop
    leaves the host as before. Before, it adopted the old setup and status
    said the config's style of a host in the other."""
    add_vif(topo, 1, "192.0.2.11/24")
    before = topo.snapshot()
    netd = netd_factory(bridge_conf(was))
    netd.start()
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    netd.stop(signal.SIGKILL)
    netd.write_conf(bridge_conf(now))
    netd.start()
    log = netd.read_log()
    assert (f"xenbr0: previous netd left a {was} setup on eth0, the config is {now} on eth0; "
            f"rolling it back first") in log, log
    assert "adopted" not in log
    assert (topo.link(topo.d0, "peth0") is not None) == (now == "classic"), log
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    st = dict(net_status(netd)["details"], state=net_state(netd))
    assert (st["state"], st["style"], st["physdev"]) == ("up", now, "eth0"), st
    netd.stop()
    assert_restored_but_vif(topo, before)


def test_a_lone_journal_of_a_network_no_longer_configured_is_undone_and_removed(
        topo, netd_factory):
    """As in test_a_failed_start_keeps_the_intent_of_a_cut_plug: a failed
    start leaves xenbr0.vifs alone, with the intent of a plug cut short
    (vif1.0 renamed web1). Then the config no longer has xenbr0 (a route
    network instead): the next netd undoes what is left of that plug (web1
    is vif1.0 again, down) and removes the journal, saying so. Before, it
    looked at .json files only: the journal stayed for good, web1 too."""
    netd = failed_start_after_a_cut_plug(topo, netd_factory)
    journal = os.path.join(netd.state, "xenbr0.vifs")
    assert os.path.exists(journal) and not os.path.exists(state_file(netd))
    netd.write_conf(route_conf())
    netd.start()
    log = netd.read_log()
    assert (f"xenbr0: no longer configured; its vif journal {journal}, with 1 plug(s) a "
            f"previous netd cut short, is undone and removed") in log, log
    assert "xenbr0: web1: renamed back to vif1.0" in log, log
    assert not os.path.exists(journal)
    assert topo.link(topo.d0, "web1") is None
    assert "UP" not in topo.link(topo.d0, "vif1.0")["flags"]
    assert net_state(netd, "routed") == "up"


def test_a_lone_journal_of_another_mode_undoes_only_what_is_left_beside_it(topo, netd_factory):
    """A failed start leaves xenbr0.vifs alone (as in
    test_a_failed_start_keeps_the_intent_of_a_cut_plug), with the intent
    of a bridge plug cut short: vif1.0 renamed web1, for 2001:db8:1::20.
    The config then makes xenbr0 a route network on eth1, beside `routed`
    (also on eth1), whose guest vif2.0 has 2001:db8:1::20 by now. The next
    netd undoes what is left of the bridge plug (web1 is vif1.0 again)
    and nothing route mode would do: routed's guest keeps the proxy entry
    on eth1 that answers the LAN for it. Before, the journal did not say
    which mode wrote it: route mode's vif offline ran on web1, with
    eth1 as its physdev, and deleted routed's proxy entry."""
    add_eth1(topo)
    netd = netd_factory(bridge_conf("modern") + route_conf(physdev="eth1"))
    netd.start()
    add_vif(topo, 2, "192.0.2.21/24")
    netd.ctl("vif", "online", "2.0", "bridge=routed", "ip=2001:db8:1::20")
    netd.stop(signal.SIGKILL)
    netd.start(env={"NETD_FAULT": "vif-renamed:crash"})
    add_vif(topo, 1, "192.0.2.20/24")
    crash_plug(netd, "1.0", "bridge=xenbr0", "ip=192.0.2.20 2001:db8:1::20", "vifname=web1")
    topo.ip(topo.d0, "link del xenbr0")
    # xenbr0's apply fails (and keeps failing: the fault stays); routed
    # comes up beside it, and is left as a kill leaves it
    netd.start(env={"NETD_FAULT": "create-bridge"})
    assert net_state(netd) == "failed" and net_state(netd, "routed") == "up"
    why = net_status(netd, "xenbr0")["error"]
    assert "step create-bridge: fault injected" in why and "(host restored)" in why, why
    netd.stop(signal.SIGKILL)
    journal = os.path.join(netd.state, "xenbr0.vifs")
    assert os.path.exists(journal) and not os.path.exists(state_file(netd))
    proxy = "2001:db8:1::20 dev eth1 proxy"
    assert proxy in topo.ip(topo.d0, "-6 neigh show proxy").stdout
    netd.write_conf(route_conf(physdev="eth1") + route_conf(physdev="eth1", name="xenbr0"))
    netd.start()
    log = netd.read_log()
    assert proxy in topo.ip(topo.d0, "-6 neigh show proxy").stdout, log
    assert (f"xenbr0: now route (datapath kernel), its vif journal {journal} holds 1 plug(s) a "
            f"previous netd cut short in its bridge (datapath kernel) setup, which is gone: "
            f"only what is left of them beside it is undone") in log, log
    assert "web1 was being plugged when netd stopped; undoing what was done" not in log, log
    assert routes_via(topo, "vif2.0") == ["2001:db8:1::20"]
    assert topo.link(topo.d0, "web1") is None
    assert "UP" not in topo.link(topo.d0, "vif1.0")["flags"]
    assert listed(netd) == ["2.0"]
    assert net_state(netd, "routed") == "up" and net_state(netd) == "up"
    assert not os.path.exists(journal)


def test_a_lone_journal_of_a_kernel_bridge_is_not_left_to_a_dpdk_network(topo, netd_factory,
                                                                         tmp_path):
    """As above, the config now making xenbr0 a bridge with datapath = dpdk,
    its dpswitch not there yet (the network up, waiting). The kernel
    bridge's cut plug is undone at once, as far as it is left (web1 is
    vif1.0 again), and the journal no longer holds its intent. Before, the
    dpdk network took it as its own, kept it while waiting, web1 still
    renamed, for a port-del to dpswitch of vif 1.0 once dpswitch answered:
    a port dpswitch may hold for another network by then."""
    netd = failed_start_after_a_cut_plug(topo, netd_factory)
    journal = os.path.join(netd.state, "xenbr0.vifs")
    assert os.path.exists(journal) and topo.link(topo.d0, "web1")
    netd.write_conf("[xenbr0]\nmode = bridge\ndatapath = dpdk\n"
                    f"dpdk_socket = {tmp_path}/dpswitch.sock\n")
    netd.start()
    log = netd.read_log()
    assert topo.link(topo.d0, "web1") is None, log
    assert "UP" not in topo.link(topo.d0, "vif1.0")["flags"]
    assert ("xenbr0: now bridge (datapath dpdk), its vif journal "
            f"{journal} holds 1 plug(s) a previous netd cut short in its bridge (datapath "
            "kernel) setup, which is gone: only what is left of them beside it is undone") in log
    assert not os.path.exists(journal) or "~" not in open(journal).read()
    assert listed(netd) == []


def dom0_v6_off(topo, dev):
    """Dom0's IPv6 off on dev (its disable_ipv6), and no address of it there."""
    r = topo.run(topo.d0, f"sysctl -n net.ipv6.conf.{dev.replace('.', '/')}.disable_ipv6")
    addrs = [a["local"] for lk in json.loads(topo.ip(topo.d0, f"-j -6 addr show dev {dev}").stdout)
             for a in lk.get("addr_info", [])]
    return r.stdout.strip() == "1" and addrs == []


def ipv6_on_as_an_older_netd_left_it(topo, dev):
    """A port plugged by a netd that left Dom0's IPv6 on: a link-local there."""
    topo.run(topo.d0, f"sysctl -qw net.ipv6.conf.{dev.replace('.', '/')}.disable_ipv6=0")
    wait_for(lambda: not dom0_v6_off(topo, dev), what=f"{dev} with IPv6 on")


def test_restarted_netd_turns_ipv6_off_on_the_ports_it_adopts(topo, netd_factory):
    """The next netd adopts the ports the previous one plugged, Dom0's IPv6
    on them included: a port a netd before this one plugged with IPv6 on
    has it off once adopted, as a plug leaves it; so does a `vif online`
    that finds the vif a port already."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    add_vif(topo, 1, "192.0.2.11/24")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    assert dom0_v6_off(topo, "vif1.0")
    ipv6_on_as_an_older_netd_left_it(topo, "vif1.0")
    netd.stop(signal.SIGKILL)
    netd.start()
    assert listed(netd) == ["1.0"]
    assert topo.link(topo.d0, "vif1.0").get("master") == "xenbr0"
    assert dom0_v6_off(topo, "vif1.0")
    ipv6_on_as_an_older_netd_left_it(topo, "vif1.0")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.11")
    assert dom0_v6_off(topo, "vif1.0")


def test_reload_from_bridge_to_route_mode_gives_the_vifs_ipv6_back(topo, netd_factory):
    """A network reloaded from bridge mode (Dom0's IPv6 off on its ports) to
    route mode under the same name: its vifs are plugged again with their
    IPv6 host routes, which need Dom0's IPv6 on the vif (the kernel refuses
    a route through a device with IPv6 disabled)."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    add_vif(topo, 1, "192.0.2.20/24")
    netd.ctl("vif", "online", "1.0", "ip=192.0.2.20 2001:db8::20")
    assert dom0_v6_off(topo, "vif1.0")
    netd.write_conf(route_conf(name="xenbr0"))
    r = netd.ctl("reload", check=False)
    assert r.returncode == 0, r.stderr
    assert listed(netd) == ["1.0"]
    assert routes_via(topo, "vif1.0") == ["192.0.2.20", "2001:db8::20"]


def test_reload_that_plugs_into_a_switch_again_sends_no_ipv6_of_dom0s(topo, netd_factory,
                                                                     tmp_path):
    """A reload that plugs the vifs into a bridge again (antispoof flipped)
    leaves Dom0's IPv6 off on them throughout: the guest gets no MLD
    report, router solicitation or DAD from its port meanwhile."""
    netd = netd_factory(bridge_conf("modern"))
    netd.start()
    g = add_vif(topo, 3, "192.0.2.13/24")
    netd.ctl("vif", "online", "3.0", "ip=192.0.2.13")
    topo.wait_carrier(g, "eth0")
    out = tmp_path / "dump"
    with open(out, "w") as f:
        cap = tcpdump(g, ["-l", "-n", "-e", "-i", "eth0", "ip6 and ether src fe:ff:ff:ff:ff:ff"], f)
        try:
            netd.write_conf(bridge_conf("modern") + "antispoof = no\n")
            netd.ctl("reload")
            time.sleep(2)  # Dom0's MLD reports and solicitation come within 1 s
        finally:
            terminate(cap)
    assert listed(netd) == ["3.0"]
    assert dom0_v6_off(topo, "vif3.0")
    assert out.read_text().strip() == ""
