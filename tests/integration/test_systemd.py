"""netd.service, vifback.service and dpswitch@.service under a real systemd.

systemd-nspawn boots the host's own systemd as PID 1 in a throwaway
container: the host's /usr read-only, everything else a fresh tmpfs
(--volatile=yes), a private network namespace, no registration with a
machine manager. The packaged units (scripts/netd.service,
scripts/netd-dnsmasq@.service, scripts/vifback.service,
scripts/dpswitch@.service) go to /run/systemd/system unchanged, with drop-ins
that only point ExecStart at this build (and netd at a config with a nat
network, vifback and dpswitch at hvsim's xenstored, started by the test's
stand-in for Xen's units, in one of two layouts: upstream Xen's
xenstored.service and xendomains.service, or Debian 12's, which ships no
units but the init scripts /etc/init.d/xen (xenstored) and
/etc/init.d/xendomains, made into xen.service and xendomains.service by
systemd's sysv generator); the container's /etc/passwd and /etc/group
are the host's plus the package's sysusers.d file applied by
systemd-sysusers --root. systemd/check.sh
runs inside as the boot's target and writes PASS/FAIL lines; the container
powers itself off. Nothing of the host is touched but the temp dir."""
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest

from conftest import BUILD, HVSIM, NETD, NETDCTL, ROOT
from nat_util import UDHCPC_SCRIPT

HERE = os.path.dirname(os.path.abspath(__file__))
VIFBACK = os.path.join(BUILD, "bin", "vifback")
DPSWITCH = os.path.join(BUILD, "bin", "dpswitch")

NETD_CONF = """[virbr0]
mode = nat
address = 203.0.113.1/24
dhcp_range = 203.0.113.100-203.0.113.150
uplink = eth0
"""

DROPINS = {
    "netd.service.d/test.conf": """[Service]
ExecStart=
ExecStart=/run/netd-test/bin/netd -f -c /run/netd-test/netd.conf
""",
    "vifback.service.d/test.conf": """[Service]
Environment=XENSTORED_PATH=/run/xenstored/socket
ExecStart=
ExecStart=/run/netd-test/bin/vifback --hv sim
""",
    # Xen's xendomains.service stands after netd and takes its time to stop
    # (it shuts the guests down): at poweroff nat's dnsmasq unit, which
    # nothing orders, is stopped at once, netd only once this one is.
    "netd-after.service": """[Unit]
Description=stands for xendomains.service: after netd, slow to stop
After=netd.service
[Service]
ExecStart=/bin/sleep infinity
ExecStop=/bin/sleep 1.5
""",
    # Stopped once netd is (Before=): what netd logged at poweroff.
    "netd-journal.service": """[Unit]
Description=netd's journal at poweroff
Before=netd.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/sh -c 'journalctl -b -u netd.service -o json --no-pager > /run/out/poweroff.json'
""",
    "netd-test.service": """[Unit]
Description=the checks of test_systemd.py
After=basic.target
[Service]
Type=oneshot
ExecStart=/run/netd-test/check.sh
""",
    "netd-test.target": """[Unit]
Description=test_systemd.py
Requires=basic.target netd-test.service
After=basic.target netd-test.service
AllowIsolate=yes
""",
}

# xendomains' start, in either layout: what a guest started then finds
XENDOMAINS = """#!/bin/sh
[ "$1" = start ] || exit 0
for u in netd.service vifback.service dpswitch@dps0.service; do
	echo "$u $(systemctl show -p ActiveState --value $u) $(systemctl show -p NRestarts --value $u)"
done > /run/out/xendomains.txt
test -S /run/xenstored/socket && echo "xenstored up" >> /run/out/xendomains.txt
exit 0
"""

# Debian 12's /etc/init.d/xen (xen-utils-common) starts xenstored and
# xenconsoled; its LSB header as Debian's, xenstored hvsim's.
DEBIAN_XEN = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          xen
# Required-Start:    $syslog $remote_fs
# Required-Stop:     $syslog $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Xen daemons (the test's: hvsim's xenstored)
### END INIT INFO
case "$1" in
start)
	mkdir -p /run/xenstored
	/run/netd-test/bin/hvsim xenstored -s /run/xenstored/socket < /dev/null > /dev/null 2>&1 &
	echo $! > /run/xenstored/pid
	for i in $(seq 50); do test -S /run/xenstored/socket && exit 0; sleep 0.1; done
	exit 1 ;;
stop)
	pid=$(cat /run/xenstored/pid 2>/dev/null) && kill "$pid" &&
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	rm -rf /run/xenstored ;;
esac
exit 0
"""

# Debian 12's /etc/init.d/xendomains: its LSB header as Debian's.
DEBIAN_XENDOMAINS = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          xendomains
# Required-Start:    $syslog $network $remote_fs xen
# Required-Stop:     $syslog $network $remote_fs xen
# Should-Start:      drbd iscsi openvswitch-switch nfs-kernel-server
# Should-Stop:       drbd iscsi openvswitch-switch nfs-kernel-server
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Start/stop secondary xen domains (the test's)
### END INIT INFO
exec /run/netd-test/xendomains "$1"
"""

# Xen's units in each layout: units for /run/systemd/system, init scripts
# for /etc/init.d, and the unit that starts xenstored.
LAYOUTS = {
    "upstream": {
        "units": {
            "xenstored.service": """[Unit]
Description=hvsim xenstored (the test's Xen)
[Service]
ExecStart=/run/netd-test/bin/hvsim xenstored -s /run/xenstored/socket
RuntimeDirectory=xenstored
""",
            # upstream's ordering (its proc-xen.mount left out: no Xen here)
            "xendomains.service": """[Unit]
Description=stands for upstream Xen's xendomains.service
Requires=xenstored.service
After=xenstored.service network-online.target remote-fs.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/run/netd-test/xendomains start
""",
        },
        "init.d": {},
        "xs_unit": "xenstored.service",
    },
    "debian": {
        "units": {},
        "init.d": {"xen": DEBIAN_XEN, "xendomains": DEBIAN_XENDOMAINS},
        "xs_unit": "xen.service",
    },
    # Debian 12's with a network file system: its init script xen, after
    # $remote_fs, starts after the mount, which waits for the network
    # (network-online.target, after network.target, which netd comes
    # before). dpswitch ordered before netd closed the circle; systemd
    # broke it by dropping a job, and something did not start.
    "debian-netfs": {
        "units": {
            # what systemd-fstab-generator makes of an NFS line (a
            # service, not a mount: nothing to mount here)
            "netfs.service": """[Unit]
Description=stands for an NFS mount (after the network, before remote-fs.target)
Wants=network-online.target
After=network-online.target
Before=remote-fs.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
[Install]
WantedBy=remote-fs.target
""",
            # its [Install] enabled (a drop-in: the unit files are bound in)
            "remote-fs.target.d/netfs.conf": "[Unit]\nWants=netfs.service\n",
            # Debian's ifupdown, which pulls network.target in (no unit may
            # start that target by hand)
            "networking.service": """[Unit]
Description=stands for Debian's networking.service (ifupdown)
DefaultDependencies=no
Wants=network.target
After=local-fs.target network-pre.target
Before=network.target shutdown.target network-online.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
""",
        },
        "init.d": {"xen": DEBIAN_XEN, "xendomains": DEBIAN_XENDOMAINS},
        "xs_unit": "xen.service",
        # started with the fabric's units at boot, as multi-user.target
        # wants them
        "boot_units": "networking.service remote-fs.target",
        # and what they pull in, which must start too
        "boot_pulled": "netfs.service network.target network-online.target",
    },
}

CHECKS = ["netd_start", "netd_active", "netd_bridge", "netd_ctl", "dnsmasq_unit", "dnsmasq_user",
          "dnsmasq_files", "vif_online", "dnsmasq_leases", "vif_static", "dnsmasq_static_lease",
          "netd_restarted", "dnsmasq_adopted", "dnsmasq_same_lease", "dnsmasq_restarted",
          "dnsmasq_lease_kept",
          "netd_reload", "netd_active_after_reload", "netd_stop", "netd_stopped_cleanly",
          "netd_restored", "xenstored_start", "xenstored_socket", "vifback_start",
          "vifback_active", "vifback_stop", "vifback_stopped_cleanly", "dpswitch_start",
          "dpswitch_ready_at_start", "dpswitch_answers", "dpswitch_guest_ping", "dpswitch_restarted", "dpswitch_stop",
          "dpswitch_stopped_cleanly", "dpswitch_af_xdp_start", "dpswitch_af_xdp_guest_ping",
          "dpswitch_af_xdp_stop", "dpswitch_af_xdp_stopped_cleanly", "boot_start", "boot_order",
          "boot_xenstored", "boot_deps", "boot_vif", "poweroff_netd_start"]

UNITS = ("netd.service", "netd-dnsmasq@.service", "vifback.service", "dpswitch@.service")


def dpswitch_dropin():
    """dpswitch@.service's own ExecStart with this build's binary in place of
    /usr/sbin's, and hvsim's xenstored (its options come from the file the
    unit reads, /etc/dpswitch/NAME.conf, which check.sh writes)."""
    with open(os.path.join(ROOT, "scripts", "dpswitch@.service")) as f:
        (line,) = [l for l in f if l.startswith("ExecStart=")]
    assert line.startswith("ExecStart=/usr/sbin/dpswitch "), line
    return ("[Service]\nEnvironment=XENSTORED_PATH=/run/xenstored/socket\nExecStart=\n" +
            line.replace("/usr/sbin/dpswitch", "/run/netd-test/bin/dpswitch", 1))


def score(unit):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    return float(m.group(1))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_units_under_a_real_systemd(tmp_path, layout):
    """The units as shipped: netd.service (score <= 2.5) comes up, and
    nat's dnsmasq runs as the unit netd-dnsmasq@virbr0.service, as the
    package's user netd-dnsmasq (not root), with its own pid and lease files;
    it leases addresses, a static one after netd's reload of it; netd killed
    with -9 is restarted by systemd and adopts the same dnsmasq, which keeps
    its leases; a dnsmasq killed is started again by netd, the leases kept;
    reload works; netd stops cleanly and leaves nothing, dnsmasq's
    unit included. vifback.service comes up and stops cleanly too, and so
    does dpswitch@dps0.service with a kernel port, sandboxed as shipped: a
    guest behind it pings the LAN, and after dpswitch is killed with -9
    systemd restarts it and the guest, replugged from --state, reconnects
    and pings again; dpswitch@dps1.service with a net_af_xdp uplink and
    the drop-in the unit's comments prescribe for it comes up, a guest
    pings the LAN through it, and it stops cleanly. Started together as at
    boot, with Xen's units as upstream ships them (xenstored.service) or as
    Debian 12 does (init scripts: xen.service starts xenstored, no
    xenstored.service; and Debian's with a network file system, whose
    xen.service, after $remote_fs, comes after the mount, after the
    network), vifback and dpswitch pull in and wait for the
    unit that starts xenstored, xendomains.service starts only once netd,
    vifback and dpswitch are up, no dependency is missing and no ordering
    cycle is found (systemctl, systemd-analyze verify), and a guest's vif
    is served by vifback, plugged by netd and leases an address. At
    poweroff with netd up and a unit after it slow to stop (as
    xendomains.service), dnsmasq's unit stops first: netd does not try to
    start it again (systemd would refuse) and logs no error."""
    nspawn = shutil.which("systemd-nspawn")
    assert nspawn, "systemd-nspawn missing (Debian's systemd-container; make deps)"
    units, bindir, out = tmp_path / "units", tmp_path / "netd-test", tmp_path / "out"
    etc = tmp_path / "root" / "etc"
    for d in (units, bindir / "bin", out, etc):
        d.mkdir(parents=True)
    for src in (NETD, NETDCTL, VIFBACK, DPSWITCH, HVSIM):
        shutil.copy(src, bindir / "bin")
    shutil.copy(os.path.join(HERE, "systemd", "check.sh"), bindir / "check.sh")
    (bindir / "udhcpc.sh").write_text(UDHCPC_SCRIPT)
    (bindir / "udhcpc.sh").chmod(0o755)
    (bindir / "netd.conf").write_text(NETD_CONF)
    lay = LAYOUTS[layout]
    (bindir / "xs_unit").write_text(lay["xs_unit"])
    (bindir / "boot_units").write_text(lay.get("boot_units", ""))
    (bindir / "boot_pulled").write_text(lay.get("boot_pulled", ""))
    (bindir / "xendomains").write_text(XENDOMAINS)
    (bindir / "xendomains").chmod(0o755)
    initd = tmp_path / "init.d"
    initd.mkdir()
    for name, text in lay["init.d"].items():
        (initd / name).write_text(text)
        (initd / name).chmod(0o755)
    for unit in UNITS:
        shutil.copy(os.path.join(ROOT, "scripts", unit), units / unit)
        assert score(units / unit) <= 2.5, unit
    # the package's user, made as its postinst makes it
    for f in ("passwd", "group", "shadow", "gshadow"):
        if os.path.exists(f"/etc/{f}"):
            shutil.copy(f"/etc/{f}", etc / f)
    subprocess.run(["systemd-sysusers", f"--root={tmp_path / 'root'}",
                    os.path.join(ROOT, "debian", "xen-netfabric.sysusers")], check=True)
    assert "\nnetd-dnsmasq:" in "\n" + (etc / "passwd").read_text()
    for name, text in {**DROPINS, **lay["units"],
                       "dpswitch@.service.d/test.conf": dpswitch_dropin()}.items():
        (units / name).parent.mkdir(exist_ok=True)
        (units / name).write_text(text)
    os.chmod(tmp_path, 0o755)  # the container's users (netd-dnsmasq) walk through
    machine = f"netdtest-{uuid.uuid4().hex[:8]}"
    cmd = [nspawn, "-q", "--register=no", "--keep-unit", "-D", "/", "--volatile=yes",
           "--private-network", "-M", machine, f"--bind-ro={etc / 'passwd'}:/etc/passwd",
           f"--bind-ro={etc / 'group'}:/etc/group",
           f"--bind-ro={bindir}:/run/netd-test", f"--bind={out}:/run/out"]
    # DPDK's EAL fails without /sys/module (it looks for vfio there), which
    # nspawn's own /sys lacks
    cmd.append("--bind-ro=/sys/module")
    # what a host's systemd has and nspawn takes away, for the units to
    # keep or not as they say: the AF_XDP port's umem is locked memory
    # (CAP_IPC_LOCK, in the shipped unit), its XDP program needs bpf()
    # (the drop-in check.sh writes, as the unit's comments prescribe)
    cmd += ["--capability=CAP_IPC_LOCK", "--system-call-filter=bpf"]
    # nft resolves protocol names (the guests' anti-spoofing rules)
    cmd += [f"--bind-ro=/etc/{f}" for f in ("protocols", "services") if os.path.exists(f"/etc/{f}")]
    for name in [*DROPINS, *lay["units"]]:
        if "/" not in name:
            cmd.append(f"--bind-ro={units / name}:/run/systemd/system/{name}")
    # the layout's drop-ins (UNITS' are bound below)
    for d in sorted({name.split("/")[0] for name in lay["units"] if "/" in name}):
        cmd.append(f"--bind-ro={units / d}:/run/systemd/system/{d}")
    # made into units by systemd's sysv generator at boot, as on Debian
    cmd += [f"--bind-ro={initd / name}:/etc/init.d/{name}" for name in lay["init.d"]]
    for name in UNITS:
        cmd.append(f"--bind-ro={units / name}:/run/systemd/system/{name}")
        if (units / (name + ".d")).is_dir():
            cmd.append(f"--bind-ro={units / (name + '.d')}:/run/systemd/system/{name}.d")
    # no network manager: the interfaces are netd's and the test's
    cmd += ["--boot", "--", "systemd.unit=netd-test.target", "systemd.firstboot=off",
            "systemd.mask=systemd-networkd.service"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=200)
    finally:
        # nspawn leaves its (empty) propagation directory behind on a host
        # without systemd
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{machine}", ignore_errors=True)
    results = (out / "results.txt").read_text() if (out / "results.txt").exists() else ""
    journal = (out / "journal.txt").read_text() if (out / "journal.txt").exists() else ""
    lines = results.splitlines()
    assert lines and lines[-1] == "end", \
        f"the checks did not finish (nspawn {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}"
    failed = [l for l in lines if l.startswith("FAIL")]
    assert not failed, "\n".join(failed) + "\n--- journal:\n" + journal[-6000:]
    assert [l.split()[1] for l in lines if l.startswith("PASS")] == CHECKS
    assert r.returncode == 0, r.stderr
    # poweroff with netd up: its dnsmasq unit stops first, and netd neither
    # restarts it (the system is going down) nor logs an error
    pid = (out / "netd.pid").read_text().strip()
    recs = [json.loads(l) for l in (out / "poweroff.json").read_text().splitlines() if l]
    last = [(int(e.get("PRIORITY", 6)), e.get("MESSAGE", "")) for e in recs
            if e.get("_PID") == pid]
    text = "\n".join(f"<{p}>{m}" for p, m in last)
    assert any("dnsmasq (pid" in m and "the system is going down" in m for p, m in last), text
    assert not [m for p, m in last if p <= 3], text
    assert not any("dnsmasq restarted" in m for p, m in last), text
