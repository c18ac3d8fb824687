"""NAT behind Xen's classic bridge with br_netfilter on: the nat network's uplink
is the classic eth0 (a veth whose peer vif0.0 is a port of xenbr0, with peth0),
and the namespace's net.bridge.bridge-nf-call-ip(6)tables are 1, their default
where the kernel has br_netfilter. Upstream's packet for eth0's address first
crosses xenbr0, where br_netfilter runs the IP prerouting hook with iif xenbr0;
a port forward must still reach the guest (issue 12, tests/realxen/README.md)."""
import json

import pytest

from conftest import bridge_conf, wait_for
from nat_util import (TABLE, UPLINK6, UPSTREAM6, canon, connect, eui64, global6, guest6, mac_of,
                      nat6_conf, nft, plug, servers6)  # noqa: F401 (servers6: fixture)

pytestmark = pytest.mark.usefixtures("no_leftover_dnsmasq")

# An operator's stateful forward filter, as firewalld has: with br_netfilter it
# also sees bridged packets, so a bridged packet that conntrack calls invalid
# (a SYN-ACK whose SYN it never saw) is dropped.
OPERATOR_FW = """table inet operatorfw {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state invalid counter drop
	}
}
"""


def br_netfilter_on(topo):
    """The kernel has br_netfilter and the test's namespace hands bridged IPv4
    and IPv6 to the IP hooks (the per-namespace default; never set here)."""
    vals = []
    for fam in ("iptables", "ip6tables"):
        path = f"/proc/sys/net/bridge/bridge-nf-call-{fam}"
        r = topo.run(topo.d0, f"cat {path}", check=False)
        vals.append(r.stdout.strip() if r.returncode == 0 else None)
    return vals


@pytest.mark.parametrize("operator_fw", [False, True], ids=["plain", "stateful-operator-fw"])
def test_forward_through_classic_eth0_with_br_netfilter(topo, netd_factory, servers6, tmp_path,
                                                         operator_fw):
    vals = br_netfilter_on(topo)
    if vals == [None, None]:
        pytest.skip("this kernel has no br_netfilter (no /proc/sys/net/bridge): "
                    "bridged frames never reach the IP hooks, the case cannot arise")
    assert vals == ["1", "1"], f"bridge-nf-call-ip(6)tables in a new namespace: {vals}"
    g = guest6(topo, 5)  # 203.0.113.10, SLAAC in 2001:db8:1::/64
    mine = canon(eui64(mac_of(topo, g)))
    conf = bridge_conf("classic") + "\n" + nat6_conf(
        forwards=["tcp:8080:203.0.113.10:80", f"tcp:8080:[{mine}]:80"])
    netd = netd_factory(conf)
    netd.start()
    links = topo.links(topo.d0)
    assert links["eth0"]["linkinfo"]["info_kind"] == "veth"
    assert links["vif0.0"]["master"] == "xenbr0" and links["peth0"]["master"] == "xenbr0"
    if operator_fw:
        (tmp_path / "operatorfw.nft").write_text(OPERATOR_FW)
        nft(topo, f"-f {tmp_path / 'operatorfw.nft'}")
    plug(netd, topo, 5)
    wait_for(lambda: mine in global6(topo, g), 15, what="SLAAC address")
    servers6(g, "g5")
    # The namespace's sysctls are as they were: netd does not change them.
    assert br_netfilter_on(topo) == ["1", "1"]
    # Upstream reaches the guest through eth0's addresses, and the guest sees
    # upstream's own address (the dual-stack server names IPv4 peers mapped).
    for _ in range(2):  # a second connection: nothing stale from the first
        assert connect(topo, topo.up, "192.0.2.2", 8080) == "g5 ::ffff:192.0.2.1"
        assert connect(topo, topo.up, UPLINK6, 8080) == f"g5 {UPSTREAM6}"
    # A forward added at run time works the same (one element each in the map
    # and in the set of forwarded ports), and is gone once deleted.
    netd.ctl("forward", "add", "tcp:9090:203.0.113.10:80")
    assert connect(topo, topo.up, "192.0.2.2", 9090) == "g5 ::ffff:192.0.2.1"
    netd.ctl("forward", "del", "tcp:9090")
    assert connect(topo, topo.up, "192.0.2.2", 9090).startswith("ERR")
    # Only forwarded ports: eth0's own port 8081 is Dom0's (no listener).
    assert connect(topo, topo.up, "192.0.2.2", 8081).startswith("ERR")
    # The guest still reaches upstream masqueraded, through the same bridge.
    assert topo.ping(g, "192.0.2.1")


def test_first_forward_added_at_run_time_through_classic_eth0(topo, netd_factory, servers6):
    """A network without forwards has no bridged chain (nat/ruleset.h); the
    first forward added at run time brings it, in each family, and the
    forward works through the classic eth0; the last one deleted takes it."""
    if br_netfilter_on(topo) == [None, None]:
        pytest.skip("this kernel has no br_netfilter (no /proc/sys/net/bridge)")
    g = guest6(topo, 5)  # 203.0.113.10, SLAAC in 2001:db8:1::/64
    mine = canon(eui64(mac_of(topo, g)))
    netd = netd_factory(bridge_conf("classic") + "\n" + nat6_conf())
    netd.start()
    plug(netd, topo, 5)
    wait_for(lambda: mine in global6(topo, g), 15, what="SLAAC address")
    servers6(g, "g5")
    assert "bridged" not in chains(topo, "ip") and "bridged" not in chains(topo, "ip6")
    netd.ctl("forward", "add", "tcp:9090:203.0.113.10:80")
    netd.ctl("forward", "add", f"tcp:9090:[{mine}]:80")
    assert "bridged" in chains(topo, "ip") and "bridged" in chains(topo, "ip6")
    for _ in range(2):
        assert connect(topo, topo.up, "192.0.2.2", 9090) == "g5 ::ffff:192.0.2.1"
        assert connect(topo, topo.up, UPLINK6, 9090) == f"g5 {UPSTREAM6}"
    netd.ctl("forward", "del", "tcp:9090")
    assert "bridged" not in chains(topo, "ip") and "bridged" not in chains(topo, "ip6")
    assert connect(topo, topo.up, "192.0.2.2", 9090).startswith("ERR")
    assert connect(topo, topo.up, UPLINK6, 9090).startswith("ERR")
    assert topo.ping(g, "192.0.2.1")


def chains(topo, fam):
    doc = json.loads(nft(topo, f"-j list table {fam} {TABLE}").stdout)
    return {o["chain"]["name"] for o in doc["nftables"] if "chain" in o}
