"""`netdctl metrics`: Prometheus text exposition, read back with the
Prometheus Python client's own parser (Debian's python3-prometheus-client),
the values compared with what the kernel and netd's status say."""
import re

from conftest import NETDCTL, bridge_conf, wait_for
from prometheus_client.parser import text_string_to_metric_families
from test_antispoof import plug, spoof_drops, wait_uplink


def scrape(topo, netd):
    r = topo.run(topo.d0, f"{NETDCTL} --socket {netd.sock} metrics")
    assert r.stderr == ""
    families = {f.name: f for f in text_string_to_metric_families(r.stdout)}
    # every family declared once, with HELP and TYPE (the parser accepts
    # a repeated family silently: count the TYPE lines)
    types = re.findall(r"^# TYPE (\S+) ", r.stdout, re.M)
    assert len(types) == len(set(types)), r.stdout
    return families, r.stdout


def sample(families, family, **labels):
    """The one sample of family whose labels include labels."""
    f = families[family]
    found = [s for s in f.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (family, labels, f.samples)
    return found[0].value


def test_metrics_parse_and_match_the_host(topo, netd_factory):
    netd = netd_factory(bridge_conf("classic"))
    netd.start()
    wait_uplink(topo, "classic")
    g1 = topo.add_guest(1)
    topo.add_guest(2)
    plug(netd, topo, 1, ip="192.0.2.11")
    plug(netd, topo, 2, ip="192.0.2.12")
    assert topo.ping(g1, "192.0.2.12", count=3)
    # a forged source address: dropped and counted by the vif's filter
    topo.ip(g1, "addr add 192.0.2.99/32 dev eth0")
    topo.run(g1, "ping -n -q -c 2 -W 1 -I 192.0.2.99 192.0.2.1", check=False)
    wait_for(lambda: (spoof_drops(netd, "vif1.0") or 0) >= 2, 5, what="spoof drops counted")
    # The guest's kernel may still send from the forged address (ARP probes of
    # its neighbour): remove it and let the counter settle, so the scrape and
    # the status read below see the same count.
    topo.ip(g1, "addr del 192.0.2.99/32 dev eth0")
    seen = []
    wait_for(lambda: seen.append(spoof_drops(netd, "vif1.0")) or seen[-3:] == [seen[-1]] * 3,
             5, step=0.3, what="spoof drop counter to settle")

    fams, text = scrape(topo, netd)
    # Prometheus' conventions: counters end in _total (the parser strips it
    # from the family name and keeps it on the sample)
    assert fams["netd_vif_rx_bytes"].type == "counter"
    assert fams["netd_network_up"].type == "gauge"
    assert sample(fams, "netd_network_up", network="xenbr0", mode="bridge") == 1
    assert sample(fams, "netd_network_vifs", network="xenbr0") == 2
    assert sample(fams, "netd_network_ports", network="xenbr0") == len(
        netd.request({"cmd": "status"})["result"]["networks"][0]["details"]["ports"])

    # per vif: labelled with the vif id, its interface and network
    assert sample(fams, "netd_vif_spoof_drop_packets", vif="1.0", ifname="vif1.0",
                  network="xenbr0") == spoof_drops(netd, "vif1.0") >= 2
    assert sample(fams, "netd_vif_spoof_drop_packets", vif="2.0") == 0
    # Dom0's receive side of vif1.0 is what guest 1 sent: at least the
    # pings, at most the kernel's counter read just after
    rx = sample(fams, "netd_vif_rx_packets", vif="1.0")
    kernel = int(topo.run(topo.d0, "cat /sys/class/net/vif1.0/statistics/rx_packets").stdout)
    assert 5 <= rx <= kernel
    assert sample(fams, "netd_vif_tx_bytes", vif="2.0") > 0
    # a rate-limited vif gets rate drop series; the others none
    assert not [s for s in fams["netd_vif_rate_drop_packets"].samples]

    # netd's own: two plugs answered, then a refused one counted by reason
    assert sample(fams, "netd_plugs") == 2
    assert fams["netd_plug_duration_seconds"].type == "histogram"
    assert sample(fams, "netd_plug_duration_seconds", le="+Inf") == 2
    assert not fams["netd_plug_errors"].samples
    r = netd.ctl("vif", "online", "7.0", check=False)
    assert r.returncode == 1, r.stderr
    fams, _ = scrape(topo, netd)
    assert sample(fams, "netd_plugs") == 3
    [err] = fams["netd_plug_errors"].samples
    assert err.value == 1 and re.fullmatch(r"E[A-Z0-9]+", err.labels["reason"]), err
    buckets = [s for s in fams["netd_plug_duration_seconds"].samples if s.name.endswith("_bucket")]
    assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative
    [count] = [s for s in fams["netd_plug_duration_seconds"].samples if s.name.endswith("_count")]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == count.value == 3
    assert sample(fams, "netd_xenstore_reconnects") == 0


def test_metrics_file_written_atomically_and_kept_current(topo, netd_factory, tmp_path):
    """metrics_file: written at start and every metrics_interval seconds by
    rename over the old file (a reader never sees a partial file, no temp
    file stays), its content the same text `netdctl metrics` prints."""
    out = tmp_path / "textfile"
    out.mkdir()
    prom = out / "netd.prom"
    netd = netd_factory(bridge_conf("classic"))
    netd.write_conf(bridge_conf("classic"), netd_section=f"metrics_file = {prom}\nmetrics_interval = 1")
    netd.start()
    wait_uplink(topo, "classic")
    wait_for(prom.exists, 5, what="metrics_file written")
    fams = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    assert sample(fams, "netd_network_up", network="xenbr0", mode="bridge") == 1
    assert oct(prom.stat().st_mode & 0o777) == oct(0o644)

    topo.add_guest(1)
    plug(netd, topo, 1, ip="192.0.2.11")

    def vifs_in_file():
        text = prom.read_text()  # whole at every read: parsed, never partial
        f = {f.name: f for f in text_string_to_metric_families(text)}
        assert text.endswith("\n") and "netd_vif_tx_bytes_total" in text, text
        return sample(f, "netd_network_vifs", network="xenbr0")

    wait_for(lambda: vifs_in_file() == 1, 5, what="metrics_file to show the plugged vif")
    assert sorted(p.name for p in out.iterdir()) == ["netd.prom"]
    assert netd.stop() == 0


def test_metrics_keys_checked(topo, netd_factory):
    netd = netd_factory(bridge_conf("classic"))
    for section, why in (("metrics_file = netd.prom", "key 'metrics_file': expected an absolute path, got 'netd.prom'"),
                         ("metrics_file = /x\nmetrics_interval = 0", "key 'metrics_interval': expected seconds 1..3600, got '0'"),
                         ("metrics_file = /x\nmetrics_interval = 1s", "key 'metrics_interval': expected seconds 1..3600, got '1s'")):
        netd.write_conf(bridge_conf("classic"), netd_section=section)
        r = netd.run_once(args=("-n",))
        assert r.returncode == 1 and why in r.stderr, r.stderr
    netd.write_conf(bridge_conf("classic"), netd_section="metrics_file = /run/x.prom")
    r = netd.run_once(args=("-n", "-v"))
    assert r.returncode == 0 and "metrics_file = /run/x.prom\nmetrics_interval = 15\n" in r.stdout
