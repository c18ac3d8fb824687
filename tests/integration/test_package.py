"""The Debian package and the manuals, as an operator meets them.

The package is built once per session (scripts/build-deb.sh, or the .deb
named by $NETD_DEB), checked by lintian, then installed, upgraded over
itself and removed with dpkg in a throwaway root: an overlay of this Debian
system (its dpkg database satisfies the package's dependencies) on a tmpfs,
in a mount namespace of its own, entered with chroot. Nothing reaches the
host's files, and no service starts (policy-rc.d says no, no systemd runs in
the root). Xen's hotplug scripts are stand-ins made in the root before the
install, so the diversions are checked byte for byte without Xen installed.

The manuals are checked with `mandoc -T lint` and against the programs'
--help: a command or an option one has and the other lacks fails."""
import glob
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess

import pytest

from conftest import BUILD, NETD, NETDCTL, ROOT, sh, tcp_transfer
from test_vifback import rig  # noqa: F401 (fixture of the vifback test; xsd is conftest's)

MAN = os.path.join(ROOT, "man")
PKG = "xen-netfabric"
XEN_SCRIPTS = ("vif-bridge", "vif-route", "vif-nat", "vif-openvswitch")


@pytest.fixture(scope="session")
def deb(tmp_path_factory):
    given = os.environ.get("NETD_DEB")
    if given:
        return given
    out = tmp_path_factory.mktemp("deb")
    sh(f"{ROOT}/scripts/build-deb.sh {out}", timeout=900)
    (found,) = glob.glob(f"{out}/{PKG}_*.deb")
    return found


@pytest.fixture(scope="session")
def dpswitch_deb(deb):
    """xen-netfabric-dpswitch, built beside the main package (DPDK is a
    dependency of make check here)."""
    (found,) = glob.glob(f"{os.path.dirname(deb)}/{PKG}-dpswitch_*.deb")
    return found


@pytest.mark.parametrize("which", ["deb", "dpswitch_deb"])
def test_lintian_clean(request, which):
    # Overrides, if ever needed, live in debian/<package>.lintian-overrides,
    # each with the reason; lintian applies them itself.
    deb = request.getfixturevalue(which)
    r = sh(f"lintian --fail-on error,warning --no-tag-display-limit {deb}", check=False, timeout=300)
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
    assert r.returncode == 0 and not [t for t in tags if t[0] in "EW"], r.stdout + r.stderr
    assert not tags, "lintian notes:\n" + "\n".join(tags)


def test_contents(deb):
    files = sh(f"dpkg-deb -c {deb}").stdout
    for path in ("./usr/sbin/netd", "./usr/sbin/netdctl", "./usr/sbin/vifback",
                 "./lib/systemd/system/netd.service", "./lib/systemd/system/vifback.service",
                 "./lib/systemd/system/netd-dnsmasq@.service",
                 "./usr/lib/sysusers.d/xen-netfabric.conf",
                 "./etc/netd/netd.conf", "./usr/share/man/man8/netd.8.gz",
                 "./usr/share/man/man8/netdctl.8.gz", "./usr/share/man/man5/netd.conf.5.gz",
                 "./usr/share/man/man8/vifback.8.gz"):
        assert re.search(rf"\s{re.escape(path)}$", files, re.M), f"{path} not in the package:\n{files}"
    for s in XEN_SCRIPTS:
        assert f"./etc/xen/scripts/{s} -> /usr/libexec/{PKG}/{s}" in files
    # hvsim stands in for Xen in tests; an operator's Dom0 has the real one
    assert "hvsim" not in files
    assert sh(f"dpkg-deb -f {deb} Depends").stdout.count("dnsmasq-base") == 1
    conffiles = sh(f"dpkg-deb -I {deb} conffiles").stdout.split()
    assert conffiles == ["/etc/netd/netd.conf"]


def test_dpswitch_package_contents(deb, dpswitch_deb):
    """dpswitch, its manual and its unit template, in a package of its own
    that needs the main one of the same version and DPDK's libraries."""
    files = sh(f"dpkg-deb -c {dpswitch_deb}").stdout
    for path in ("./usr/sbin/dpswitch", "./lib/systemd/system/dpswitch@.service",
                 "./usr/share/man/man8/dpswitch.8.gz"):
        assert re.search(rf"\s{re.escape(path)}$", files, re.M), f"{path} not in the package:\n{files}"
    assert "hvsim" not in files
    assert not re.search(r"\s\./usr/sbin/dpswitch$", sh(f"dpkg-deb -c {deb}").stdout, re.M)
    version = sh(f"dpkg-deb -f {deb} Version").stdout.strip()
    depends = sh(f"dpkg-deb -f {dpswitch_deb} Depends").stdout
    assert f"{PKG} (= {version})" in depends and "librte-eal" in depends, depends


# Run in a mount namespace of its own: the overlay and the tmpfs under it
# vanish with it. $T is a directory of the test's; results land in $T/out.
ROOT_SCRIPT = r"""
set -eu
T=$1
R=$T/root
mount -t tmpfs -o size=512m tmpfs "$T/layer"
mkdir "$T/layer/upper" "$T/layer/work" "$R"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/layer/upper,workdir=$T/layer/work" "$R"
mount -t proc proc "$R/proc"
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
rm -rf "$R/etc/xen" "$R/etc/netd"
mkdir -p "$R/etc/xen/scripts"
cp -p "$T"/xen/* "$R/etc/xen/scripts/"
cp "$T/pkg.deb" "$R/tmp/pkg.deb"

snap() {
	mkdir -p "$T/out/$1/scripts"
	cp -a "$R/etc/xen/scripts/." "$T/out/$1/scripts/" 2>/dev/null || true
	chroot "$R" dpkg-divert --list "*/etc/xen/scripts/*" > "$T/out/$1/diversions" || true
	chroot "$R" dpkg-query -W -f '${Status}' xen-netfabric > "$T/out/$1/status" 2>/dev/null || true
}
chroot "$R" dpkg -i /tmp/pkg.deb > "$T/out/install.log" 2>&1
snap installed
chroot "$R" getent passwd netd-dnsmasq > "$T/out/dnsmasq-user" || true
chroot "$R" /usr/sbin/netd -n -c /etc/netd/netd.conf > "$T/out/netd-n.log" 2>&1
chroot "$R" /usr/sbin/netdctl --help > "$T/out/netdctl-help.log" 2>&1
test -L "$R/etc/systemd/system/multi-user.target.wants/netd.service" && touch "$T/out/netd-enabled"
test -L "$R/etc/systemd/system/multi-user.target.wants/vifback.service" && touch "$T/out/vifback-enabled"
chroot "$R" dpkg -i /tmp/pkg.deb > "$T/out/upgrade.log" 2>&1
snap upgraded
chroot "$R" dpkg -r xen-netfabric > "$T/out/remove.log" 2>&1
snap removed
test -e "$R/etc/netd/netd.conf" && touch "$T/out/conf-kept-on-remove"
chroot "$R" dpkg -P xen-netfabric > "$T/out/purge.log" 2>&1
snap purged
test -e "$R/etc/netd/netd.conf" || touch "$T/out/conf-gone-on-purge"
echo done > "$T/out/done"
"""


def _xen_stand_ins(d):
    """Xen's scripts as stand-ins: distinct contents, one with bytes a text
    copy would mangle, modes as xen-utils-common ships them."""
    d.mkdir()
    want = {}
    for i, s in enumerate(XEN_SCRIPTS):
        body = (f"#!/bin/bash\n# Xen's own {s} (stand-in for the test)\n"
                f"echo xen-{s}\n").encode() + bytes([0, 0xff, 0x0d, i, 0x0a])
        (d / s).write_bytes(body)
        (d / s).chmod(0o755)
        want[s] = body
    return want


def _scripts(d):
    return {os.path.basename(p): p for p in glob.glob(f"{d}/*")}


def test_install_divert_remove(deb, tmp_path):
    xen = _xen_stand_ins(tmp_path / "xen")
    (tmp_path / "layer").mkdir()
    (tmp_path / "out").mkdir()
    shutil.copyfile(deb, tmp_path / "pkg.deb")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--fork",
                        "sh", "-c", ROOT_SCRIPT, "sh", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    out = tmp_path / "out"
    logs = "".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in sorted(out.glob("*.log")))
    assert r.returncode == 0 and (out / "done").exists(), r.stdout + r.stderr + logs

    # installed: ours in place, Xen's set aside as <name>.xen, intact
    inst = out / "installed"
    assert (inst / "status").read_text() == "install ok installed"
    for s in XEN_SCRIPTS:
        link = inst / "scripts" / s
        assert os.readlink(link) == f"/usr/libexec/{PKG}/{s}", s
        assert (inst / "scripts" / f"{s}.xen").read_bytes() == xen[s], s
        assert f"diversion of /etc/xen/scripts/{s} to /etc/xen/scripts/{s}.xen by {PKG}" \
            in (inst / "diversions").read_text()
    # the user netd-dnsmasq@.service runs dnsmasq as: a system user, no login
    user = (out / "dnsmasq-user").read_text().strip().split(":")
    assert user[0] == "netd-dnsmasq" and 0 < int(user[2]) < 1000, user
    assert user[6] == "/usr/sbin/nologin" or user[6].endswith("/nologin") or user[6] == "/bin/false", user
    assert (out / "netd-n.log").read_text() == "", "the shipped netd.conf does not check"
    assert "commands:" in (out / "netdctl-help.log").read_text()
    assert (out / "netd-enabled").exists(), "netd.service not enabled on install"
    assert not (out / "vifback-enabled").exists(), "vifback.service enabled: it competes with netback"

    # an upgrade over itself keeps one diversion per script and Xen's copies
    upg = out / "upgraded"
    assert (upg / "diversions").read_text() == (inst / "diversions").read_text()
    for s in XEN_SCRIPTS:
        assert (upg / "scripts" / f"{s}.xen").read_bytes() == xen[s], s

    # removed: Xen's scripts back under their names, byte for byte, same mode
    for state in ("removed", "purged"):
        d = out / state
        assert sorted(_scripts(d / "scripts")) == sorted(XEN_SCRIPTS), state
        for s in XEN_SCRIPTS:
            p = d / "scripts" / s
            assert not p.is_symlink() and p.read_bytes() == xen[s], (state, s)
            assert os.stat(p).st_mode & 0o777 == 0o755, (state, s)
        assert PKG not in (d / "diversions").read_text(), state
    assert (out / "removed" / "status").read_text() == "deinstall ok config-files"
    assert (out / "conf-kept-on-remove").exists() and (out / "conf-gone-on-purge").exists()


# ---- manuals ---------------------------------------------------------------

MANUALS = ("netd.8", "netdctl.8", "netd.conf.5", "vifback.8", "hvsim.1", "dpswitch.8")


@pytest.mark.parametrize("page", MANUALS)
def test_manual_lint_clean(page):
    # -W warning: mandoc's STYLE notes include "referenced manual not
    # found", which depends on what this machine has installed.
    r = sh(f"mandoc -T lint -W warning {MAN}/{page}", check=False)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def _help_commands(text):
    """netdctl --help's commands: 'vif online D.N ...' -> {'vif online'},
    'up [NET] | down [NET]' -> {'up', 'down'}, 'forward add|del P' -> both."""
    cmds = set()
    body = text.split("commands:\n", 1)[1]
    for line in body.splitlines():
        if not re.match(r"^  [a-z]", line):
            continue
        usage = re.split(r"\s{2,}", line.strip())[0]
        for part in usage.split(" | "):
            words = []
            for tok in part.split():
                if not re.fullmatch(r"[a-z]+(\|[a-z]+)*", tok):
                    break
                words.append(tok.split("|"))
            cmds |= _expand(words)
    return cmds


def _man_commands(src):
    """netdctl.8's COMMANDS list: the lower-case words of each '.It Cm' line,
    'a Ns | Ns Cm b' as alternatives."""
    cmds = set()
    sect = src.split(".Sh COMMANDS", 1)[1].split(".Sh ", 1)[0]
    for line in sect.splitlines():
        if not line.startswith(".It Cm "):
            continue
        toks = [t for t in line.split()[1:] if t not in ("Cm", "Ns")]
        words, alt = [], False
        for tok in toks:
            if tok == "|":
                alt = True
            elif re.fullmatch(r"[a-z]+", tok):
                if alt:
                    words[-1].append(tok)
                else:
                    words.append([tok])
                alt = False
            else:
                break
        cmds |= _expand(words)
    return cmds


def _expand(groups):
    out = {""}
    for g in groups:
        out = {f"{o} {w}".strip() for o in out for w in g}
    return out - {""}


def test_netdctl_help_matches_manual():
    help_text = sh(f"{NETDCTL} --help").stdout
    src = open(f"{MAN}/netdctl.8").read()
    in_help, in_man = _help_commands(help_text), _man_commands(src)
    assert "vif online" in in_help and "hotplug remove" in in_help, in_help
    assert in_help == in_man, (f"only in --help: {sorted(in_help - in_man)}; "
                               f"only in netdctl.8: {sorted(in_man - in_help)}")


@pytest.mark.parametrize("prog,page", [(NETD, "netd.8"), (NETDCTL, "netdctl.8"),
                                       (os.path.join(BUILD, "bin", "dpswitch"), "dpswitch.8"),
                                       (os.path.join(BUILD, "bin", "vifback"), "vifback.8")])
def test_help_options_in_manual(prog, page):
    help_text = sh(f"{prog} --help").stdout
    src = open(f"{MAN}/{page}").read()
    opts = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", help_text.split("commands:")[0]))
    documented = {"-" + m for m in re.findall(r"\bFl (-?[a-z][a-z-]*)", src)}
    assert opts and not opts - documented, f"{page} lacks {sorted(opts - documented)}"


# ---- the service's sandbox ---------------------------------------------------

UNIT = os.path.join(ROOT, "scripts", "netd.service")


def test_unit_security_score():
    r = sh(f"systemd-analyze security --offline=yes {UNIT}", check=False)
    m = re.search(r"Overall exposure level for netd\.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.5, r.stdout


DNSMASQ_UNIT = os.path.join(ROOT, "scripts", "netd-dnsmasq@.service")


def test_dnsmasq_unit_security_score():
    """nat's dnsmasq as its own unit, user and sandbox."""
    r = sh(f"systemd-analyze security --offline=yes '{DNSMASQ_UNIT}'", check=False)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert m and float(m.group(1)) <= 2.5, r.stdout + r.stderr
    text = open(DNSMASQ_UNIT).read()
    assert re.search(r"^User=netd-dnsmasq$", text, re.M)
    # netd names it; it needs neither CAP_SETUID nor CAP_KILL for it
    unit = open(UNIT).read()
    assert "Environment=NETD_DNSMASQ_UNIT=netd-dnsmasq@.service" in unit
    assert not {"setuid", "kill"} & set(_unit_caps()), _unit_caps()


def _unit_caps(*files):
    """The bounding set of the unit and the other units given (merged)."""
    caps = []
    for path in (UNIT, *files):
        with open(path) as f:
            for line in f:
                if line.startswith("CapabilityBoundingSet="):
                    caps += [c.lower().removeprefix("cap_") for c in line.split("=", 1)[1].split()]
    return list(dict.fromkeys(caps))


def test_netd_with_the_units_capabilities(topo, netd_factory, tmp_path, monkeypatch,
                                          no_leftover_dnsmasq):
    """netd in nat mode with no capability but no_new_privs and the
    bounding sets of netd.service and netd-dnsmasq@.service: outside
    systemd netd forks dnsmasq (as root, group dip) and the two share one
    set. The network comes up, dnsmasq leases an address, including a static
    lease it re-read after a plug, a netd killed with -9 and started again
    adopts that dnsmasq (same pid), and a stop restores the host. It fails
    when a unit lacks a capability netd or dnsmasq needs. (Under systemd,
    each its own unit: test_systemd.py.)"""
    dnsmasq_user = "root"
    import conftest
    from nat_util import BR, dnsmasq_procs, nat_conf, nat_guest, pidfile_pid, udhcpc

    caps = _unit_caps(DNSMASQ_UNIT)
    assert "net_admin" in caps and "sys_admin" not in caps and "dac_override" not in caps
    assert "chown" not in caps
    wrapper = tmp_path / "netd-sandboxed"
    wrapper.write_text("#!/bin/sh\nexec setpriv --bounding-set -all,+" + ",+".join(caps) +
                       f" --no-new-privs {NETD} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "NETD", str(wrapper))

    g5, g6 = nat_guest(topo, 5), nat_guest(topo, 6)
    topo.ip(g5, "addr flush dev eth0")
    topo.ip(g6, "addr flush dev eth0")
    netd = netd_factory(nat_conf())
    # the socket in its group with no CAP_CHOWN (made with that fsgid)
    netd.write_conf(nat_conf(), f"socket_group = dip\ndnsmasq_user = {dnsmasq_user}\n")
    netd.start()
    assert os.stat(netd.sock).st_gid == grp.getgrnam("dip").gr_gid
    with open(f"/proc/{netd.proc.pid}/status") as f:
        status = f.read()
    bnd = int(re.search(r"CapBnd:\s*([0-9a-f]+)", status).group(1), 16)
    assert bnd & (1 << 21) == 0 and bnd & (1 << 12), f"netd not confined: {status}"  # SYS_ADMIN, NET_ADMIN
    assert re.search(r"NoNewPrivs:\s*1", status)
    # no CAP_CHOWN: not in the unit's set
    eff = int(re.search(r"CapEff:\s*([0-9a-f]+)", status).group(1), 16)
    assert eff & (1 << 12) and not eff & (1 << 0), status
    pid = pidfile_pid(netd)
    with open(f"/proc/{pid}/status") as f:
        dstatus = f.read()
    uid = pwd.getpwnam(dnsmasq_user).pw_uid
    assert re.search(rf"Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}\n", dstatus), dstatus
    netd.ctl("vif", "online", "5.0", f"bridge={BR}")
    topo.wait_carrier(g5, "eth0")
    ip5 = udhcpc(topo, g5, tmp_path)[0]
    assert ip5.startswith("203.0.113.")
    # mac= and no ip=: bound to an address of the range, a static lease
    # dnsmasq re-reads as its user after netd's SIGHUP
    netd.ctl("vif", "online", "6.0", f"bridge={BR}", f"mac={topo.link(g6, 'eth0')['address']}")
    topo.wait_carrier(g6, "eth0")
    (bound,) = [b.split(":", 1)[1] for b in
                netd.request({"cmd": "status"})["result"]["networks"][0]["details"]["bound"]]
    assert udhcpc(topo, g6, tmp_path)[0] == bound
    assert dnsmasq_procs(netd) == [pid]

    netd.stop(signal.SIGKILL)
    netd.start()
    assert "adopted dnsmasq (pid %d)" % pid in netd.read_log(), netd.read_log()
    # a vif with neither mac= nor ip= is no error at adoption (netd once
    # logged a stale message for it: "virbr0: unknown error")
    assert "<4>" not in netd.read_log(), netd.read_log()
    assert dnsmasq_procs(netd) == [pid]
    assert udhcpc(topo, g5, tmp_path)[0] == ip5
    assert netd.stop() == 0, netd.read_log()
    assert dnsmasq_procs(netd) == []
    assert BR not in topo.run(topo.d0, "ip -br link").stdout


VIFBACK_UNIT = os.path.join(ROOT, "scripts", "vifback.service")


def test_vifback_unit_security_score():
    r = sh(f"systemd-analyze security --offline=yes {VIFBACK_UNIT}", check=False)
    m = re.search(r"Overall exposure level for vifback\.service: ([0-9.]+)", r.stdout)
    assert m and float(m.group(1)) <= 2.5, r.stdout + r.stderr


@pytest.fixture
def vifback_with_the_units_capabilities(monkeypatch, tmp_path):
    import test_vifback
    with open(VIFBACK_UNIT) as f:
        (line,) = [l for l in f if l.startswith("CapabilityBoundingSet=")]
    caps = [c.lower().removeprefix("cap_") for c in line.split("=", 1)[1].split()]
    wrapper = tmp_path / "vifback-sandboxed"
    wrapper.write_text("#!/bin/sh\nexec setpriv --bounding-set -all,+" + ",+".join(caps) +
                       f" --no-new-privs {test_vifback.VIFBACK} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(test_vifback, "VIFBACK", str(wrapper))
    return caps


def test_vifback_with_the_units_capabilities(topo, vifback_with_the_units_capabilities, rig):
    """vifback (simulated hypervisor) with no capability but its unit's
    bounding set and no_new_privs: a guest connects, pings the LAN and
    moves 1 MiB each way intact; its worker is still seccomp-confined."""
    from test_vifback import LAN

    with open(f"/proc/{rig.vb.pid}/status") as f:
        status = f.read()
    bnd = int(re.search(r"CapBnd:\s*([0-9a-f]+)", status).group(1), 16)
    assert bnd == 1 << 12, f"vifback not confined to CAP_NET_ADMIN: {status}"
    rig.attach(5, "ip=192.0.2.15")
    g = rig.guest(5, "192.0.2.15")
    assert topo.ping(g, LAN, count=3)
    sent, got = tcp_transfer(g, topo.up, LAN, 1 << 20)
    assert sent == got and sent[0] == str(1 << 20)
    sent, got = tcp_transfer(topo.up, g, "192.0.2.15", 1 << 20)
    assert sent == got and sent[0] == str(1 << 20)
    [w] = rig.workers()
    with open(f"/proc/{w}/status") as f:
        assert "Seccomp:\t2" in f.read()
