"""netd.service and vifback.service under a real systemd.

systemd-nspawn boots the host's own systemd as PID 1 in a throwaway
container: the host's /usr read-only, everything else a fresh tmpfs
(--volatile=yes), a private network namespace, no registration with a
machine manager. The packaged units (scripts/netd.service,
scripts/vifback.service) go to /run/systemd/system unchanged, with drop-ins
that only point ExecStart at this build (and netd at a config with a nat
network, vifback at hvsim's xenstored, a unit of the test). systemd/check.sh
runs inside as the boot's target and writes PASS/FAIL lines; the container
powers itself off. Nothing of the host is touched but the temp dir."""
import os
import shutil
import subprocess
import uuid

import pytest

from conftest import BUILD, HVSIM, NETD, NETDCTL, ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
VIFBACK = os.path.join(BUILD, "bin", "vifback")

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
    # hvsim's xenstored: Xen's stand-in, what vifback.service Requires=.
    "xenstored.service": """[Unit]
Description=hvsim xenstored (the test's Xen)
[Service]
ExecStart=/run/netd-test/bin/hvsim xenstored -s /run/xenstored/socket
RuntimeDirectory=xenstored
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

CHECKS = ["netd_start", "netd_active", "netd_bridge", "netd_ctl", "dnsmasq_user",
          "netd_reload", "netd_active_after_reload", "netd_stop", "netd_stopped_cleanly",
          "netd_restored", "xenstored_start", "xenstored_socket", "vifback_start",
          "vifback_active", "vifback_stop", "vifback_stopped_cleanly"]


@pytest.mark.parametrize("dnsmasq_user", ["root", "dnsmasq"])
def test_units_under_a_real_systemd(tmp_path, dnsmasq_user):
    """As shipped (dnsmasq root, group dip), and with netd-dnsmasq-user.conf
    and dnsmasq_user = dnsmasq: both units come up, nat's dnsmasq runs as
    that user, reload works, and both stop cleanly."""
    nspawn = shutil.which("systemd-nspawn")
    assert nspawn, "systemd-nspawn missing (Debian's systemd-container; make deps)"
    units, bindir, out = tmp_path / "units", tmp_path / "netd-test", tmp_path / "out"
    for d in (units, bindir / "bin", out):
        d.mkdir(parents=True)
    for src in (NETD, NETDCTL, VIFBACK, HVSIM):
        shutil.copy(src, bindir / "bin")
    shutil.copy(os.path.join(HERE, "systemd", "check.sh"), bindir / "check.sh")
    (bindir / "netd.conf").write_text(
        NETD_CONF if dnsmasq_user == "root" else f"[netd]\ndnsmasq_user = {dnsmasq_user}\n\n{NETD_CONF}")
    (bindir / "dnsmasq_user").write_text(dnsmasq_user)
    for unit in ("netd.service", "vifback.service"):
        shutil.copy(os.path.join(ROOT, "scripts", unit), units / unit)
    for name, text in DROPINS.items():
        (units / name).parent.mkdir(exist_ok=True)
        (units / name).write_text(text)
    if dnsmasq_user != "root":
        shutil.copy(os.path.join(ROOT, "scripts", "netd-dnsmasq-user.conf"),
                    units / "netd.service.d" / "dnsmasq-user.conf")
    os.chmod(tmp_path, 0o755)  # the container's users (dnsmasq) walk through
    machine = f"netdtest-{uuid.uuid4().hex[:8]}"
    cmd = [nspawn, "-q", "--register=no", "--keep-unit", "-D", "/", "--volatile=yes",
           "--private-network", "-M", machine, "--bind-ro=/etc/passwd", "--bind-ro=/etc/group",
           f"--bind-ro={bindir}:/run/netd-test", f"--bind={out}:/run/out"]
    for name in DROPINS:
        if "/" not in name:
            cmd.append(f"--bind-ro={units / name}:/run/systemd/system/{name}")
    for name in ("netd.service", "vifback.service"):
        cmd.append(f"--bind-ro={units / name}:/run/systemd/system/{name}")
        cmd.append(f"--bind-ro={units / (name + '.d')}:/run/systemd/system/{name}.d")
    # no network manager: the interfaces are netd's and the test's
    cmd += ["--boot", "--", "systemd.unit=netd-test.target", "systemd.firstboot=off",
            "systemd.mask=systemd-networkd.service"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
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
