"""The names an operator reads against the names the code has.

Each list below is read from the code, not written out here: the
configuration keys from netd/config.c's key tables, the control commands
from the requests netd/ctl.c and each mode's command handler compare, the
metric names from the string literals of netdctl/metrics.c, the
environment variables from each program's getenv()/env_num()/env_ms()
calls. Each must be in the reference that documents it (docs/config.md
and netd.conf(5), docs/control.md, netdctl(8), the program's manual), and
each name those documents present as one must be in the code: a key,
command, metric or variable added, renamed or removed on one side only
fails here. And the defaults the references give are what netd -n -v
prints for a file that does not set the key (in the test's namespace)."""
import glob
import os
import re
import subprocess

import pytest

from conftest import NETD, ROOT

MAN = os.path.join(ROOT, "man")
DOCS = os.path.join(ROOT, "docs")


def _read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def _code(path):
    """C source without comments, so a name only mentioned in one is not
    taken for one the code uses."""
    src = _read(path)
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", " ", src)


def _section(text, start, end_re=r"\n## "):
    """text from the line starting with start up to the next end_re."""
    i = text.index(start)
    m = re.compile(end_re).search(text, i + len(start))
    return text[i:m.start() if m else len(text)]


def _diff(what, code, doc, where):
    return (f"{what} only in the code, not in {where}: {sorted(code - doc)}; "
            f"only in {where}: {sorted(doc - code)}")


# ---- configuration keys ------------------------------------------------------

def _config_keys():
    src = _code("netd/config.c")
    net_tbl = re.search(r"net_key_def net_keys\[\] = \{(.*?)\n\};", src, re.S).group(1)
    netd_tbl = re.search(r"netd_keys\[NK_COUNT\] = \{(.*?)\n\};", src, re.S).group(1)
    net = set(re.findall(r'\{ "([a-z0-9_]+)", K_', net_tbl))
    netd = set(re.findall(r'\] = "([a-z0-9_]+)"', netd_tbl))
    assert "mode" in net and "forward" in net and "socket" in netd, (net, netd)
    return netd, net


def _man_keys(src, section):
    """netd.conf.5's keys: the '.It Cm KEY No =' items of one .Sh section."""
    sect = _section(src, f".Sh {section}", r"\n\.Sh ")
    return set(re.findall(r"^\.It Cm ([a-z0-9_]+) No =", sect, re.M))


def _md_keys(text, heading):
    """config.md's keys: the first column of the table under heading."""
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", _section(text, heading), re.M))


def test_config_keys_in_netd_conf_5():
    netd, net = _config_keys()
    src = _read("man", "netd.conf.5")
    man_netd = _man_keys(src, "THE [netd] SECTION")
    man_net = _man_keys(src, "NETWORK SECTIONS")
    assert man_netd == netd, _diff("[netd] keys", netd, man_netd, "netd.conf.5")
    assert man_net == net, _diff("network keys", net, man_net, "netd.conf.5")


def test_config_keys_in_config_md():
    netd, net = _config_keys()
    text = _read("docs", "config.md")
    md_netd = _md_keys(text, "## `[netd]`")
    md_net = _md_keys(text, "## Network sections")
    assert md_netd == netd, _diff("[netd] keys", netd, md_netd, "docs/config.md")
    assert md_net == net, _diff("network keys", net, md_net, "docs/config.md")


@pytest.mark.parametrize("which,pattern", [
    ("netd", r'"unknown key in \[netd\] \(expected ([^)]*)\)"'),
    ("network", r'"unknown key \(expected ([^)]*)\)"'),
])
def test_unknown_key_message_lists_every_key(which, pattern):
    """The error for a misspelt key lists the keys to choose from."""
    netd, net = _config_keys()
    keys = netd if which == "netd" else net
    msg = re.search(pattern, _code("netd/config.c"))
    listed = set(re.split(r", | or ", msg.group(1)))
    assert listed == keys, _diff(f"{which} keys", keys, listed, "the unknown-key message")


# ---- control commands --------------------------------------------------------

def _ctl_commands():
    cmds = set(re.findall(r'strcmp\(cmd, "([a-z-]+)"\)', _code("netd/ctl.c")))
    # each mode's own commands: the handler its ops table names (.command)
    for path in glob.glob(os.path.join(ROOT, "*", "*.c")):
        rel = os.path.relpath(path, ROOT)
        src = _code(rel)
        if re.search(r"\.command = \w+", src):
            cmds |= set(re.findall(r'strcmp\(cmd, "([a-z-]+)"\)', src))
    assert {"status", "vif-online", "forward-add"} <= cmds, cmds
    return cmds


def test_control_commands_in_control_md():
    cmds = _ctl_commands()
    text = _section(_read("docs", "control.md"), "## Commands")
    documented = set()
    for heading in re.findall(r"^### (.*)$", text, re.M):
        documented |= set(re.findall(r"`([a-z-]+)`", heading))
    assert documented == cmds, _diff("commands", cmds, documented, "docs/control.md's Commands")


def test_control_commands_in_readme():
    cmds = _ctl_commands()
    para = re.search(r"^Commands: (.*?)\n\n", _read("README.md"), re.S | re.M).group(1)
    listed = set(re.findall(r"`([a-z-]+)`", para))
    assert listed == cmds, _diff("commands", cmds, listed, "README's Control socket")


# ---- metrics -----------------------------------------------------------------

def _metrics():
    """Every series name netdctl metrics writes: the whole string literals
    of netdctl/metrics.c that are a name (a histogram's _bucket, _sum and
    _count are written into longer literals, and belong to its name)."""
    names = set(re.findall(r'"(netd_[a-z0-9_]+)"', _code("netdctl/metrics.c")))
    assert "netd_network_up" in names and "netd_plug_duration_seconds" in names, names
    return names


def _expand_braces(name):
    m = re.search(r"\{([a-z0-9_,]+)\}", name)
    if not m:
        return {name}
    out = set()
    for alt in m.group(1).split(","):
        out |= _expand_braces(name[:m.start()] + alt + name[m.end():])
    return out


# a name, with shell-style alternatives inside it (netd_vif_{rx,tx}_...);
# a brace group at its end is a label set, not part of the name
METRIC_RE = re.compile(r"netd_(?:[a-z0-9_]|\{[a-z0-9_]+(?:,[a-z0-9_]+)+\}(?=_))+")


def test_metrics_in_control_md():
    names = _metrics()
    text = _read("docs", "control.md")
    para = text[text.index("`metrics` asks for"):]
    documented = set()
    for tok in METRIC_RE.findall(para):
        documented |= _expand_braces(tok)
    assert documented == names, _diff("metrics", names, documented, "docs/control.md")


def test_metrics_in_netdctl_8():
    names = _metrics()
    src = _read("man", "netdctl.8")
    item = _section(src, ".It Cm metrics", r"\n\.It Cm ")
    documented = set(re.findall(r"\b(netd_[a-z0-9_]+)\b", item))
    assert documented == names, _diff("metrics", names, documented, "netdctl.8")


# ---- environment -------------------------------------------------------------

# where each program's code lives, and the manual its variables belong in;
# lib/ and netback/ are linked into several: any of these manuals will do
PROGRAMS = {
    "netd": "netd.8", "nat": "netd.8", "bridge": "netd.8", "route": "netd.8", "ovs": "netd.8",
    "antispoof": "netd.8", "netdctl": "netdctl.8", "vifback": "vifback.8",
    "dpswitch": "dpswitch.8", "hypervisor/sim": "hvsim.1",
}
SHARED = ("lib", "netback", "vif", "hypervisor")


def _env_vars():
    """(variable, directory) for each one the programs read: getenv(),
    env_num() and env_ms() with a literal name, and the PREFIX_... ones
    netback's hold and spin settings build from the prefix each program
    passes (nb_hold_cfg_from_env(.., "VIFBACK") -> VIFBACK_HOLD_FIRST_MS)."""
    hold = re.findall(r'hold_env\(prefix, "([A-Z_]+)"', _code("netback/hold.c"))
    spin = re.findall(r'"%s_([A-Z_]+)", prefix', _code("netback/spin.c"))
    assert hold and spin, (hold, spin)
    found = set()
    for path in glob.glob(os.path.join(ROOT, "**", "*.c"), recursive=True):
        rel = os.path.relpath(path, ROOT)
        if rel.split(os.sep)[0] in ("tests", "bench", "build", "build-asan", "build-fuzz") or \
                rel.startswith("build"):
            continue
        src = _code(rel)
        d = os.path.dirname(rel)
        for v in re.findall(r'\b(?:getenv|env_num|env_ms)\("([A-Z][A-Z0-9_]*)"', src):
            found.add((v, d))
        for p in re.findall(r'nb_hold_cfg_from_env\([^,]+, "([A-Z]+)"\)', src):
            found |= {(f"{p}_{s}", d) for s in hold}
        for p in re.findall(r'nb_spin_cfg_from_env\([^,]+, "([A-Z]+)"\)', src):
            found |= {(f"{p}_{s}", d) for s in spin}
    assert ("NETD_SOCKET", "netdctl") in found and ("VIFBACK_HOLD_MAX_MS", "vifback") in found, \
        found
    return found


def _man_env(page):
    src = _read("man", page)
    sect = _section(src, ".Sh ENVIRONMENT", r"\n\.Sh ")
    out = set()
    for line in sect.splitlines():
        if line.startswith(".It Ev "):
            out |= set(re.findall(r"\bEv ([A-Z][A-Z0-9_]*)", line))
    return out


def test_environment_in_manuals():
    missing = []
    every = set()
    pages = sorted(set(PROGRAMS.values()))
    for p in pages:
        every |= _man_env(p)
    for var, d in sorted(_env_vars()):
        page = PROGRAMS.get(d) or next((PROGRAMS[k] for k in PROGRAMS if d.startswith(k + "/")),
                                       None)
        if page:
            if var not in _man_env(page):
                missing.append(f"{var} ({d}/) not in {page}'s ENVIRONMENT")
        elif d.split("/")[0] in SHARED:
            if var not in every:
                missing.append(f"{var} ({d}/) in no manual's ENVIRONMENT")
        else:
            missing.append(f"{var} read in {d}/, which no manual covers (PROGRAMS)")
    read = {v for v, _ in _env_vars()}
    # hotplug's own: what libxl sets for the scripts, not settings
    documented_only = every - read - {"XENBUS_PATH", "vif", "INTERFACE"}
    assert not missing and not documented_only, (missing, sorted(documented_only))


@pytest.mark.parametrize("page", sorted(set(PROGRAMS.values())))
def test_manual_environment_section_parses(page):
    """The ENVIRONMENT check above reads .It Ev lines; a page that has the
    section must have some (a layout change would make the check vacuous)."""
    src = _read("man", page)
    if ".Sh ENVIRONMENT" in src:
        assert _man_env(page), page


# ---- defaults ----------------------------------------------------------------

# one network of each kind with nothing but what it requires: what netd -n -v
# prints for the rest is its default (lo exists in every namespace)
MINIMAL = """[netd]
metrics_file = /nonexistent/netd.prom

[b]
mode = bridge
physdev = lo

[r]
mode = route
physdev = lo

[n]
mode = nat
address = 203.0.113.1/24
address6 = 2001:db8:1::1/64
uplink = lo

[o]
mode = ovs

[d]
mode = bridge
datapath = dpdk
"""
REQUIRED = {"mode", "physdev", "address", "address6", "uplink", "datapath", "metrics_file"}


def _printed_defaults(topo, tmp_path):
    """key -> {values netd -n -v prints for it when the file does not set it}."""
    conf = tmp_path / "minimal.conf"
    conf.write_text(MINIMAL)
    r = subprocess.run(["ip", "netns", "exec", topo.d0, NETD, "-n", "-v", "-c", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = {}
    section = None
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        m = re.fullmatch(r"([a-z0-9_]+) = (.*)", line)
        if m and m.group(1) not in REQUIRED:
            key, val = m.groups()
            if key == "dpdk_socket":  # named after the section: as the docs write it
                val = val.replace(f"/{section}.sock", "/NAME.sock")
            out.setdefault(key, set()).add(val)
    assert "metric" in out and "ovn_wait" in out and "socket" in out, r.stdout
    return out


def _same(doc, printed):
    try:
        return float(doc) == float(printed)  # ovn_wait: 20 and 20.000
    except ValueError:
        return doc == printed


def test_config_md_defaults_are_netds(topo, tmp_path):
    printed = _printed_defaults(topo, tmp_path)
    text = _read("docs", "config.md")
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|(?: [^|]* \|)? (`[^`|]*`|[^|]*?) \|",
                      _section(text, "## `[netd]`") + _section(text, "## Network sections"), re.M)
    wrong, checked = [], 0
    for key, default in rows:
        m = re.fullmatch(r"`([^`]*)`", default.strip())
        if key not in printed or not m:
            continue
        doc = m.group(1).replace("<name>", "NAME")
        checked += 1
        if not all(_same(doc, p) for p in printed[key]):
            wrong.append(f"{key}: config.md says {doc!r}, netd -n -v prints {sorted(printed[key])}")
    assert checked >= 10 and not wrong, (checked, wrong)


def test_netd_conf_5_defaults_are_netds(topo, tmp_path):
    printed = _printed_defaults(topo, tmp_path)
    r = subprocess.run(["mandoc", "-T", "ascii", os.path.join(MAN, "netd.conf.5")],
                       capture_output=True, text=True, check=True)
    text = re.sub(r".\x08", "", r.stdout)
    items = re.split(r"^ {5}([a-z0-9_]+) = .*$", text, flags=re.M)
    wrong, checked = [], 0
    for key, body in zip(items[1::2], items[2::2]):
        m = re.search(r"\bDefault (\S+?)[.,]?(?:\s|$)", " ".join(body.split()))
        if key not in printed or not m or m.group(1) in ("none", "none:"):
            continue
        doc = m.group(1).replace("/name.", "/NAME.")
        checked += 1
        if not all(_same(doc, p) for p in printed[key]):
            wrong.append(f"{key}: netd.conf.5 says {doc!r}, netd -n -v prints {sorted(printed[key])}")
    assert checked >= 10 and not wrong, (checked, wrong)
