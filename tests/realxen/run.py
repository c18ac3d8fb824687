#!/usr/bin/python3
"""run.py: netd against real Xen 4.17 (Debian's), booted under QEMU TCG.

    NETD_BUILD=/path/to/build tests/realxen/run.py [--out DIR] [--timeout S]

1. Fetches Xen's hypervisor, toolstack and libraries, Debian's kernel and
   kmod with `apt-get download` into the cache (/var/cache/netd/realxen,
   $NETD_REALXEN_CACHE) and unpacks them with `dpkg-deb -x`: nothing is
   installed on the host (xen-utils would pull in udev and daemons that act
   on the host's interfaces). A second run downloads nothing.
2. Builds the Dom0 initramfs (busybox, bash, iproute2, kmod, Xen's userland,
   the kernel modules Dom0 needs, `depmod -b`) and the guest's (busybox,
   xen-netfront); each is rebuilt only when its inputs changed.
3. Puts the project's built netd, netdctl and vifback, every library they load (per
   ldd, with their own loader), scripts/ and scenario.sh into a share that
   Dom0 mounts over virtio-9p: a rebuild of the project changes the share,
   never the initramfs.
4. Boots Xen + Dom0 in QEMU (under `timeout`, one QEMU at a time: a lock),
   lets Dom0 run scenario.sh, which writes one PASS/FAIL line per check into
   the share, and stops QEMU by its PID.

Prints PASS/FAIL lines with the observed values and writes DIR/results.json.
Exit status: 0 every check passed, 1 a check failed or no results, 77 this
machine cannot run it (not root, no QEMU, nothing to download from): the
reason is the last line on stderr."""
import argparse
import fcntl
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("NETD_REALXEN_CACHE", "/var/cache/netd/realxen")
SKIP = 77

# Xen's toolstack and the libraries it loads, Xen itself, kmod (depmod on the
# host, modprobe in Dom0). The kernel comes from linux-image-amd64's Depends.
PKGS = ["xen-hypervisor-4.17-amd64", "xen-utils-4.17", "xen-utils-common", "xenstore-utils",
        "libxenmisc4.17", "libxencall1", "libxenevtchn1", "libxenforeignmemory1",
        "libxengnttab1", "libxenstore4", "libxentoollog1", "libxentoolcore1",
        "libxendevicemodel1", "libxenhypfs1", "libyajl2", "kmod"]

# Dom0's modules (with their dependencies): Xen's backends and devices, the
# bridge, what netd and the scenario create, the 9p share, and nf_tables with
# every expression module the kernel may request (no xtables).
DOM0_MODULES = ["xen-evtchn", "xen-gntdev", "xen-gntalloc", "xen-privcmd", "xenfs",
                "xen-netback", "bridge", "br_netfilter", "veth", "tun", "dummy",
                "9p", "9pnet_virtio", "virtio_pci",
                "crc32c_generic"]  # libcrc32c's soft dependency (nf_conntrack, nf_nat)
NFT_DIRS = ["net/netfilter", "net/bridge/netfilter", "net/ipv4/netfilter", "net/ipv6/netfilter"]
NFT_PREFIXES = ("nf_", "nft_", "nfnetlink")
GUEST_MODULES = ["xen-netfront"]

# PV Dom0 runs its kernel on user pages: no SMAP. No AVX/AVX2: QEMU 7.2's new
# TCG AVX2 (glibc's string functions pick it) corrupted a busybox heap in
# the guest once ("malloc(): invalid size"); SSE2 code paths are old news.
QEMU_CPU = os.environ.get("NETD_REALXEN_CPU", "max,-smap,-pku,-la57,-avx,-avx2")
# spec-ctrl=eager-fpu: with Xen's lazy FPU switching (CR0.TS and #NM, its
# default on AMD) QEMU 7.2's TCG let processes see another vCPU's SSE state:
# random crashes and wrong results in Dom0 (the stress scenario counts them).
# NETD_REALXEN_TCG, _CPU and _XEN_EXTRA override for such investigations.
TCG_THREAD = os.environ.get("NETD_REALXEN_TCG", "multi")
XEN_CMDLINE = ("dom0_mem=512M,max:512M console=com1 com1=115200,8n1 loglvl=all "
               "guest_loglvl=all noreboot spec-ctrl=eager-fpu " +
               os.environ.get("NETD_REALXEN_XEN_EXTRA", "")).rstrip()
DOM0_CMDLINE = "console=hvc0 earlyprintk=xen rdinit=/init panic=-1 loglevel=5"


class Skip(Exception):
    """This machine cannot run the test at all."""


def log(msg):
    print(f"realxen: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- 1. packages -----------------------------------------------------------

def apt(args, **kw):
    # APT::Sandbox::User=root: root may write the cache; _apt may not.
    return subprocess.run(["apt-get", "-q", "-o", "APT::Sandbox::User=root",
                           "-o", "DPkg::Lock::Timeout=600", *args],
                          capture_output=True, text=True, **kw)


def kernel_package():
    for attempt in (0, 1):
        r = subprocess.run(["apt-cache", "depends", "linux-image-amd64"],
                           capture_output=True, text=True)
        m = re.search(r"Depends: (linux-image-[0-9][^\s]*)", r.stdout)
        if m:
            return m.group(1)
        if attempt == 0:
            apt(["update"])
    raise Skip("apt knows no linux-image-amd64 (apt-cache depends failed)")


def fetch():
    """The .debs, downloaded once: MANIFEST lists them."""
    debs = os.path.join(CACHE, "debs")
    manifest = os.path.join(debs, "MANIFEST")
    if os.path.exists(manifest):
        with open(manifest) as f:
            names = f.read().split()
        if names and all(os.path.exists(os.path.join(debs, n)) for n in names):
            return [os.path.join(debs, n) for n in names]
    if not shutil.which("apt-get"):
        raise Skip("no apt-get to download Xen and the kernel with")
    pkgs = PKGS + [kernel_package()]
    os.makedirs(debs, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=debs, prefix="dl.")
    try:
        r = apt(["download", *pkgs], cwd=tmp)
        if r.returncode != 0:
            apt(["update"])
            r = apt(["download", *pkgs], cwd=tmp)
        if r.returncode != 0:
            raise Skip("apt-get download failed: " + (r.stderr.strip().splitlines() or ["?"])[-1])
        names = sorted(os.listdir(tmp))
        for n in names:
            os.replace(os.path.join(tmp, n), os.path.join(debs, n))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(manifest + ".new", "w") as f:
        f.write("\n".join(names) + "\n")
    os.replace(manifest + ".new", manifest)
    return [os.path.join(debs, n) for n in names]


def unpack(debs):
    """Every .deb unpacked into one tree, modules indexed (depmod) once."""
    root = os.path.join(CACHE, "root")
    stamp = os.path.join(root, ".manifest")
    want = "\n".join(os.path.basename(d) for d in debs)
    if os.path.exists(stamp) and open(stamp).read() == want:
        return root
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    for d in debs:
        run(["dpkg-deb", "-x", d, root])
    depmod(root, root, kernel_version(root))
    with open(stamp, "w") as f:
        f.write(want)
    return root


def kernel_version(root):
    vers = sorted(os.listdir(os.path.join(root, "lib", "modules")))
    if not vers:
        raise RuntimeError("no kernel modules in the unpacked linux-image")
    return vers[-1]


def depmod(unpacked, base, kver):
    # kmod is one binary that acts by its name (argv[0]).
    run(["depmod", "-b", base, kver], executable=os.path.join(unpacked, "bin", "kmod"))


# ---- 2. initramfs ----------------------------------------------------------

class Tree:
    """A merged-/usr root being filled: /bin, /sbin, /lib, /lib64 link to usr."""

    def __init__(self, path):
        shutil.rmtree(path, ignore_errors=True)
        self.path = path
        for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "proc", "sys", "dev",
                  "run", "tmp", "var", "mnt/host", "root"):
            os.makedirs(os.path.join(path, d), exist_ok=True)
        for d in ("bin", "sbin", "lib", "lib64"):
            os.symlink(f"usr/{d}", os.path.join(path, d))
        os.symlink("/run", os.path.join(path, "var/run"))
        os.symlink("/run/lock", os.path.join(path, "var/lock"))

    @staticmethod
    def norm(dest):
        for d in ("/bin/", "/sbin/", "/lib/", "/lib64/"):
            if dest.startswith(d):
                return "/usr" + dest
        return dest

    def add(self, src, dest, mode=None):
        """Copy src (following links) to dest inside the tree."""
        p = self.path + self.norm(dest)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if os.path.lexists(p):
            os.unlink(p)
        shutil.copy2(src, p)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def link(self, target, dest):
        p = self.path + self.norm(dest)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink(target, p)

    def write(self, dest, text, mode=0o644):
        p = self.path + self.norm(dest)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)

    def exists(self, dest):
        return os.path.lexists(self.path + self.norm(dest))

    def cpio_gz(self, out):
        """newc archive (busybox cpio), sorted for a stable result."""
        names = ["."]
        for dirpath, dirnames, filenames in os.walk(self.path):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.path)
            for n in sorted(dirnames + filenames):
                names.append(os.path.join(rel, n) if rel != "." else n)
        tmp = out + ".new"
        with open(tmp, "wb") as f:
            cpio = subprocess.Popen(["busybox", "cpio", "-o", "-H", "newc"], cwd=self.path,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
            gz = subprocess.Popen(["gzip", "-6", "-n"], stdin=cpio.stdout, stdout=f)
            cpio.stdout.close()
            cpio.stdin.write(("\n".join(names) + "\n").encode())
            cpio.stdin.close()
            if cpio.wait() != 0 or gz.wait() != 0:
                raise RuntimeError(f"cpio/gzip of {self.path} failed")
        os.replace(tmp, out)


def host_tool(name):
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise Skip(f"no {name} on this machine")


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def ldd(paths, libpath=""):
    """Every library (and the loader) the ELF files load, as host paths."""
    out = set()
    env = dict(os.environ, LD_LIBRARY_PATH=libpath) if libpath else None
    for p in paths:
        r = subprocess.run(["ldd", p], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            continue  # static, or not a dynamic object
        for line in r.stdout.splitlines():
            m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+) \(0x", line)
            if m:
                out.add(m.group(1))
            elif "not found" in line:
                raise RuntimeError(f"ldd {p}: {line.strip()}")
    return out


def add_libs(tree, unpacked, libpath):
    """Copy the libraries of every ELF in the tree, at the paths they load from."""
    elves = [os.path.join(d, f) for d, _, fs in os.walk(tree.path) for f in fs
             if not os.path.islink(os.path.join(d, f)) and is_elf(os.path.join(d, f))]
    libs = ldd(elves, libpath)
    # xl's children abort in pthread_cancel without it (glibc dlopens it).
    libs.add(os.path.realpath(glob.glob("/usr/lib/x86_64-linux-gnu/libgcc_s.so.1")[0]))
    for lib in libs:
        dest = lib[len(unpacked):] if lib.startswith(unpacked + "/") else lib
        if lib.endswith("libgcc_s.so.1"):
            dest = "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"
        if not tree.exists(dest):
            tree.add(lib, dest)


def module_closure(unpacked, kver, names, dirs=(), prefixes=()):
    """Paths (relative to the modules dir) of the wanted modules and their deps."""
    mdir = os.path.join(unpacked, "lib", "modules", kver)
    deps = {}
    with open(os.path.join(mdir, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
    by_name = {os.path.basename(m)[:-3].replace("-", "_"): m for m in deps}
    builtin = set()
    with open(os.path.join(mdir, "modules.builtin")) as f:
        for line in f:
            builtin.add(os.path.basename(line.strip())[:-3].replace("-", "_"))
    todo = []
    for n in names:
        key = n.replace("-", "_")
        if key in by_name:
            todo.append(by_name[key])
        elif key not in builtin:
            raise RuntimeError(f"kernel {kver} has no module {n}")
    for m in deps:
        if any(m.startswith(f"kernel/{d}/") for d in dirs) and \
           os.path.basename(m).startswith(prefixes):
            todo.append(m)
    seen = set()
    order = []  # dependencies before their users: insmod order for the guest

    def visit(m):
        if m in seen:
            return
        seen.add(m)
        for d in reversed(deps[m]):
            visit(d)
        order.append(m)
    for m in todo:
        visit(m)
    return order


def add_modules(tree, unpacked, kver, mods):
    src = os.path.join(unpacked, "lib", "modules", kver)
    for m in mods:
        tree.add(os.path.join(src, m), f"/lib/modules/{kver}/{m}")
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        tree.add(os.path.join(src, f), f"/lib/modules/{kver}/{f}")


def add_busybox(tree, skip=()):
    tree.add(host_tool("busybox"), "/usr/bin/busybox", 0o755)
    applets = subprocess.run(["busybox", "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a not in skip and a != "busybox" and not tree.exists(f"/usr/bin/{a}") and \
           not tree.exists(f"/usr/sbin/{a}"):
            tree.link("busybox", f"/usr/bin/{a}")


def inputs_hash(*parts):
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, str) and os.path.isfile(p):
            st = os.stat(p)
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}:".encode())
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()


def cached(out, key, build):
    """Rebuild out only when key (its inputs' hash) changed."""
    stamp = out + ".inputs"
    if os.path.exists(out) and os.path.exists(stamp) and open(stamp).read() == key:
        return False
    build(out)
    with open(stamp, "w") as f:
        f.write(key)
    return True


def build_dom0(unpacked, kver, out):
    tree = Tree(os.path.join(CACHE, "dom0.tree"))
    tree.add(host_tool("bash"), "/usr/bin/bash", 0o755)
    tree.add(host_tool("ip"), "/usr/bin/ip", 0o755)
    tree.add(host_tool("bridge"), "/usr/sbin/bridge", 0o755)
    # nat mode's DHCP and DNS (netd runs /usr/sbin/dnsmasq)
    tree.add(host_tool("dnsmasq"), "/usr/sbin/dnsmasq", 0o755)
    tree.add(os.path.join(unpacked, "bin/kmod"), "/usr/bin/kmod", 0o755)
    for t in ("modprobe", "insmod", "rmmod", "lsmod", "depmod", "modinfo"):
        tree.link("/usr/bin/kmod", f"/usr/sbin/{t}")
    # Xen's userland, called directly (Debian's /usr/sbin wrappers pick a
    # toolstack through scripts we do not need).
    xen = os.path.join(unpacked, "usr/lib/xen-4.17")
    shutil.copytree(os.path.join(xen, "bin"), tree.path + "/usr/lib/xen-4.17/bin", symlinks=True)
    shutil.copytree(os.path.join(xen, "lib/x86_64-linux-gnu"),
                    tree.path + "/usr/lib/xen-4.17/lib/x86_64-linux-gnu", symlinks=True)
    for t in ("xl", "xenstored", "xenconsoled", "xen-init-dom0", "xenconsole"):
        tree.link(f"/usr/lib/xen-4.17/bin/{t}", f"/usr/sbin/{t}")
    for p in glob.glob(os.path.join(unpacked, "usr/bin/xenstore*")):
        if os.path.islink(p):
            tree.link(os.readlink(p), "/usr/bin/" + os.path.basename(p))
        else:
            tree.add(p, "/usr/bin/" + os.path.basename(p))
    shutil.copytree(os.path.join(unpacked, "etc/xen"), tree.path + "/etc/xen", symlinks=True)
    for d in ("var/lib/xen", "var/log/xen", "var/lib/xenstored", "etc/netd"):
        os.makedirs(os.path.join(tree.path, d), exist_ok=True)
    for f in ("/etc/protocols", "/etc/services"):
        if os.path.exists(f):
            tree.add(f, f)
    tree.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    tree.write("/etc/group", "root:x:0:\n")
    tree.write("/etc/ld.so.conf", "/usr/lib/xen-4.17/lib/x86_64-linux-gnu\n")
    add_busybox(tree, skip={"ip", "modprobe", "insmod", "rmmod", "lsmod", "depmod", "modinfo",
                            "bash"})
    libpath = ":".join([os.path.join(unpacked, "usr/lib/x86_64-linux-gnu"),
                        os.path.join(unpacked, "usr/lib/xen-4.17/lib/x86_64-linux-gnu")])
    add_libs(tree, unpacked, libpath)
    run(["ldconfig", "-r", tree.path], executable=host_tool("ldconfig"))
    add_modules(tree, unpacked, kver,
                module_closure(unpacked, kver, DOM0_MODULES, NFT_DIRS, NFT_PREFIXES))
    depmod(unpacked, tree.path, kver)
    tree.add(os.path.join(HERE, "dom0-init.sh"), "/init", 0o755)
    tree.cpio_gz(out)
    shutil.rmtree(tree.path)


def build_guest(unpacked, kver, out):
    tree = Tree(os.path.join(CACHE, "guest.tree"))
    add_busybox(tree)
    mods = module_closure(unpacked, kver, GUEST_MODULES)
    src = os.path.join(unpacked, "lib", "modules", kver)
    for m in mods:
        tree.add(os.path.join(src, m), "/lib/modules/" + os.path.basename(m))
    tree.write("/lib/modules/load-order", "\n".join(os.path.basename(m) for m in mods) + "\n")
    tree.add(os.path.join(HERE, "guest-init.sh"), "/init", 0o755)
    tree.cpio_gz(out)
    shutil.rmtree(tree.path)


def xen_image(unpacked):
    """QEMU's -kernel loads the multiboot ELF, not the .gz."""
    out = os.path.join(CACHE, "xen-4.17-amd64")
    src = os.path.join(unpacked, "boot", "xen-4.17-amd64.gz")

    def build(o):
        with gzip.open(src) as f, open(o + ".new", "wb") as g:
            shutil.copyfileobj(f, g)
        os.replace(o + ".new", o)
    cached(out, inputs_hash(src), build)
    return out


# ---- 3. the share ----------------------------------------------------------

# scenario.sh's scenarios (what the test runs; "bench" is bench/realxen's)
SCENARIOS = ("stress", "a", "b", "c", "d", "e")

# What Dom0 runs from this build; vifback replaces xen-netback in scenario c.
DAEMONS = ("netd", "netdctl", "vifback")

WRAPPER = """#!/bin/sh
# The project's {name}, with the libraries it was built against (run.py).
exec /mnt/host/lib/{loader} --library-path /mnt/host/lib /mnt/host/libexec/{name} "$@"
"""


def make_share(share, build, guest_kernel, guest_cpio, only=None):
    for d in ("bin", "libexec", "lib", "guest", "out"):
        os.makedirs(os.path.join(share, d), exist_ok=True)
    bins = []
    for name in DAEMONS:
        src = os.path.join(build, "bin", name)
        if not os.access(src, os.X_OK):
            raise RuntimeError(f"{src} not built")
        shutil.copy2(src, os.path.join(share, "libexec", name))
        bins.append(src)
    loader = None
    for lib in ldd(bins):
        shutil.copy2(lib, os.path.join(share, "lib", os.path.basename(lib)))
        if "ld-linux" in os.path.basename(lib):
            loader = os.path.basename(lib)
    for name in DAEMONS:
        p = os.path.join(share, "bin", name)
        with open(p, "w") as f:
            f.write(WRAPPER.format(name=name, loader=loader))
        os.chmod(p, 0o755)
    shutil.copytree(os.path.join(ROOT_DIR, "scripts"), os.path.join(share, "scripts"))
    shutil.copy2(os.path.join(HERE, "scenario.sh"), os.path.join(share, "scenario.sh"))
    if only:
        with open(os.path.join(share, "only"), "w") as f:
            f.write(" ".join(only) + "\n")
    if os.environ.get("NETD_REALXEN_STRESS_SECONDS"):
        with open(os.path.join(share, "stress-seconds"), "w") as f:
            f.write(str(int(os.environ["NETD_REALXEN_STRESS_SECONDS"])) + "\n")
    for src, name in ((guest_kernel, "vmlinuz"), (guest_cpio, "domu.cpio.gz")):
        dst = os.path.join(share, "guest", name)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


# ---- 4. QEMU ---------------------------------------------------------------

def qemu_binary():
    q = shutil.which("qemu-system-x86_64")
    if q:
        return q
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing qemu-system-x86 (no side effects on the host)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600", "install", "-y",
                        "--no-install-recommends", "qemu-system-x86"],
                       capture_output=True, env=env)
        q = shutil.which("qemu-system-x86_64")
    if not q:
        raise Skip("no qemu-system-x86_64 and it cannot be installed")
    return q


def pid_is_our_qemu(pid, share):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read()
    except OSError:
        return False
    return b"qemu-system" in args and share.encode() in args


def stop_qemu(pidfile, share):
    """By its PID only, and only if it is the QEMU serving this share."""
    try:
        pid = int(open(pidfile).read().strip())
    except (OSError, ValueError):
        return
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if not pid_is_our_qemu(pid, share):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end and pid_is_our_qemu(pid, share):
            time.sleep(0.1)


def boot(qemu, xen, dom0_kernel, dom0_cpio, share, out, limit):
    serial = os.path.join(out, "serial.log")
    pidfile = os.path.join(out, "qemu.pid")
    cmd = ["timeout", "-k", "10", str(limit), qemu,
           "-accel", f"tcg,thread={TCG_THREAD}", "-cpu", QEMU_CPU, "-m", "1024", "-smp", "2",
           "-nographic", "-nic", "none", "-serial", f"file:{serial}", "-monitor", "none",
           "-display", "none", "-no-reboot", "-pidfile", pidfile,
           "-kernel", xen, "-append", XEN_CMDLINE,
           "-initrd", f"{dom0_kernel} {DOM0_CMDLINE},{dom0_cpio}",
           "-virtfs", f"local,path={share},mount_tag=host,security_model=none,id=host"]
    with open(os.path.join(out, "qemu.cmd"), "w") as f:
        f.write(" ".join(cmd) + "\n")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(
        os.path.join(out, "qemu.stderr"), "w"))
    ended_at = None
    deadline = time.monotonic() + limit + 15
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            if ended_at is None:
                try:
                    with open(serial, "rb") as f:
                        if b"RX-END" in f.read():
                            ended_at = time.monotonic()
                except OSError:
                    pass
            elif time.monotonic() - ended_at > 15:
                break  # powered off but QEMU did not exit
    finally:
        stop_qemu(pidfile, share)
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return serial, ended_at is not None


def results(share):
    checks = []
    path = os.path.join(share, "out", "results.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 4:
                    status, name, observed, expected = parts
                    checks.append({"name": name, "status": status, "observed": observed,
                                   "expected": expected})
    return checks


def drop_timers(o):
    """What changes without anyone restoring anything: bridge timers tick
    (gc_timer, hello_timer, ...), an address is "tentative" only during
    duplicate address detection (a second or more on a loaded machine).
    Neither is state a restore could get wrong. tests/integration's
    snapshots use this too."""
    if isinstance(o, dict):
        return {k: drop_timers(v) for k, v in o.items()
                if not k.endswith("_timer") and k != "tentative"}
    if isinstance(o, list):
        return [drop_timers(v) for v in o]
    return o


def snapshot_items(path):
    """Dom0's `ip -j` documents (scenario.sh's snapshot()), one item a link,
    address list or route, without ifindex and counters."""
    items = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            for o in json.loads(line):
                for k in ("ifindex", "stats", "stats64"):
                    o.pop(k, None)
                items.append(json.dumps(drop_timers(o), sort_keys=True))
    return sorted(items)


def restore_checks(share):
    """One check per before/after pair of Dom0 snapshots: `netdctl down`
    must give back Dom0's links, addresses and routes exactly."""
    checks = []
    out = os.path.join(share, "out")
    for before in sorted(glob.glob(os.path.join(out, "snap-*-before.json"))):
        s = os.path.basename(before)[len("snap-"):-len("-before.json")]
        after = before.replace("-before.json", "-after.json")
        name = f"{s}.restored_exactly"
        if not os.path.exists(after):
            checks.append({"name": name, "status": "FAIL", "observed": "no snapshot after down",
                           "expected": "Dom0 as before netd started"})
            continue
        try:
            b, a = snapshot_items(before), snapshot_items(after)
        except (ValueError, OSError) as e:
            checks.append({"name": name, "status": "FAIL", "observed": f"unreadable: {e}",
                           "expected": "Dom0 as before netd started"})
            continue
        gone = [x for x in b if x not in a]
        new = [x for x in a if x not in b]
        obs = "identical" if not gone and not new else \
            f"only before: {gone[:3]}; only after: {new[:3]}"
        checks.append({"name": name, "status": "PASS" if obs == "identical" else "FAIL",
                       "observed": obs[:2000],
                       "expected": "identical (links, addresses, routes as `ip -j` shows them)"})
    return checks


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


BENCH_COLS = ("create", "net_up", "destroy", "script_on", "script_off", "initwait_conn")


def create_samples(share):
    """scenario.sh's bench-create.tsv: variant -> column -> seconds."""
    path = os.path.join(share, "out", "bench-create.tsv")
    rows = {}
    if not os.path.exists(path):
        return rows
    cols = BENCH_COLS
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 7:
                continue
            r = rows.setdefault(p[0], {c: [] for c in cols})
            for c, v in zip(cols, p[1:]):
                try:
                    r[c].append(float(v))
                except ValueError:
                    pass
    return rows


def create_bench(share):
    """bench/realxen's table: per variant (Xen's vif-bridge, ours, no-fork),
    the medians of xl create, create -> first ping reply, xl destroy and the
    hotplug part alone; ratios to Xen's script."""
    rows = create_samples(share)
    if not rows:
        return []
    cols = BENCH_COLS
    med = {v: {c: (median(r[c]) if r[c] else None) for c in cols} for v, r in rows.items()}
    fmt = "BENCH {:<8} {:>3} {:>10} {:>12} {:>10} {:>12} {:>12} {:>18}"
    out = [fmt.format("variant", "n", "create s", "net up s", "destroy s", "script on s",
                      "script off s", "InitWait->conn s*"),
           "BENCH medians; script on/off: libxl's run of the vif script (xl -vvv); "
           "*xenstore-watch, stamped late (a fork per event): rough"]

    def f(x, digits=3):
        return "-" if x is None else f"{x:.{digits}f}"
    for v in ("xen", "ours", "nofork"):
        if v not in med:
            continue
        m = med[v]
        out.append(fmt.format(v, len(rows[v]["create"]), f(m["create"]), f(m["net_up"]),
                              f(m["destroy"]), f(m["script_on"], 4), f(m["script_off"], 4),
                              f(m["initwait_conn"], 4)))
    base = med.get("xen")
    if base:
        for v in ("ours", "nofork"):
            if v not in med:
                continue
            parts = []
            for c in cols:
                if base[c] and med[v][c] is not None:
                    parts.append(f"{c} {med[v][c] / base[c]:.2f}")
            out.append(f"BENCH ratio {v}/xen (medians): " + ", ".join(parts))
    return out


def kill9_bench(share):
    path = os.path.join(share, "out", "bench-kill9.tsv")
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) == 4 and p[1] and p[2]:
                lost = int(p[1]) - int(p[2])
                out.append(f"BENCH kill -9 of netd (scenario d): {lost} of {p[1]} pings lost "
                           f"(0.2 s apart: a gap of <= {lost * 0.2:.1f} s); the new netd "
                           f"answered {p[3]} s after the kill")
    return out


def bench(share):
    """The scenario's bench table (guest->upstream through netback and vifback)."""
    path = os.path.join(share, "out", "bench.txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.startswith("BENCH")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="results dir (default: a new one under /tmp)")
    # Scenarios a to e: ~6 min on an idle 2-vCPU machine; TCG shares the
    # CPU with whatever else runs, and at a load of 8 they needed ~25 min.
    ap.add_argument("--timeout", type=int, default=2700, help="QEMU's limit in seconds")
    ap.add_argument("--prepare-only", action="store_true",
                    help="fetch and build the initramfs (cache them), boot nothing")
    ap.add_argument("--only", nargs="+", metavar="SCENARIO", choices=SCENARIOS + ("bench",),
                    help="run only these scenarios (to iterate on one; the test runs all "
                         "but bench, which bench/realxen runs)")
    args = ap.parse_args()
    build = os.path.abspath(os.environ.get("NETD_BUILD", os.path.join(ROOT_DIR, "build")))
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="netd-realxen-", dir="/tmp"))
    os.makedirs(out, exist_ok=True)
    share = os.path.join(out, "share")
    shutil.rmtree(share, ignore_errors=True)
    doc = {"out": out, "skipped": None, "checks": [], "timings": {}}
    rc = 1
    t0 = time.monotonic()
    try:
        if os.geteuid() != 0:
            raise Skip("needs root (apt-get download into the cache, QEMU's 9p share)")
        for tool in ("busybox", "dpkg-deb", "ldd", "gzip", "timeout"):
            if not shutil.which(tool):
                raise Skip(f"no {tool} on this machine")
        qemu = qemu_binary()
        os.makedirs(CACHE, exist_ok=True)
        lock = open(os.path.join(CACHE, ".lock"), "w")
        end = time.monotonic() + 900
        while True:  # one run (one QEMU, one cache writer) at a time
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise RuntimeError("another realxen run holds the lock for 15 min")
                time.sleep(1)
        debs = fetch()
        doc["timings"]["fetch_s"] = round(time.monotonic() - t0, 1)
        t = time.monotonic()
        unpacked = unpack(debs)
        kver = kernel_version(unpacked)
        manifest = "\n".join(os.path.basename(d) for d in debs)
        me = os.path.abspath(__file__)
        dom0_cpio = os.path.join(CACHE, "dom0.cpio.gz")
        guest_cpio = os.path.join(CACHE, "guest.cpio.gz")
        host = [host_tool(t) for t in ("busybox", "bash", "ip", "bridge", "dnsmasq")]
        rebuilt = cached(dom0_cpio, inputs_hash(manifest, me, os.path.join(HERE, "dom0-init.sh"),
                                                *host),
                         lambda o: build_dom0(unpacked, kver, o))
        rebuilt |= cached(guest_cpio, inputs_hash(manifest, me, os.path.join(HERE, "guest-init.sh"),
                                                  host[0]),
                          lambda o: build_guest(unpacked, kver, o))
        xen = xen_image(unpacked)
        doc["timings"]["prepare_s"] = round(time.monotonic() - t, 1)
        doc["initramfs_rebuilt"] = rebuilt
        kernel = os.path.join(unpacked, "boot", f"vmlinuz-{kver}")
        if args.prepare_only:
            log(f"prepared in {CACHE}")
            return 0
        make_share(share, build, kernel, guest_cpio, args.only)
        t = time.monotonic()
        log(f"booting Xen under QEMU (TCG), results in {out}")
        serial, ended = boot(qemu, xen, kernel, dom0_cpio, share, out, args.timeout)
        doc["timings"]["qemu_s"] = round(time.monotonic() - t, 1)
        doc["serial"] = serial
        doc["dom0_finished"] = ended
        doc["checks"] = results(share) + restore_checks(share)
        doc["bench"] = bench(share) + kill9_bench(share) + create_bench(share)
        # The copies Dom0 ran (~17 MB); its logs in share/out stay.
        for d in ("bin", "libexec", "lib", "guest", "scripts"):
            shutil.rmtree(os.path.join(share, d), ignore_errors=True)
        for c in doc["checks"]:
            print(f"{c['status']} {c['name']}: observed {c['observed']!r}, expected {c['expected']}")
        for line in doc["bench"]:
            print(line)
        if not ended:
            print(f"FAIL realxen.dom0_finished: no RX-END in {serial}")
        rc = 0 if ended and doc["checks"] and all(c["status"] == "PASS" for c in doc["checks"]) \
            else 1
    except Skip as e:
        doc["skipped"] = str(e)
        log(f"SKIP: {e}")
        rc = SKIP
    doc["timings"]["total_s"] = round(time.monotonic() - t0, 1)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
    log(f"{sum(c['status'] == 'PASS' for c in doc['checks'])} passed, "
        f"{sum(c['status'] != 'PASS' for c in doc['checks'])} failed, "
        f"{doc['timings']}; {out}/results.json")
    return rc


if __name__ == "__main__":
    # SIGTERM (a test runner's timeout) unwinds through boot()'s finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
