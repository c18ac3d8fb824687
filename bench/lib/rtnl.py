"""rtnl: the kernel's own cost of a change, through raw rtnetlink.

The floor the benchmarks compare netd with: the same link, address, route
and neighbour steps netd makes, sent by this process on one netlink socket
opened inside the benchmark's namespace, one request and its ack at a time
(no fork, no parsing of commands, no state file). What netd adds on top of
this is its own cost.

Only what the benchmarks need; every request asks for an ack and raises
RtnlError with the kernel's errno on failure."""
import ctypes
import os
import socket
import struct

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR = 20, 21
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTM_NEWNEIGH, RTM_DELNEIGH = 28, 29
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO = 1, 3, 4, 10, 18
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE = 1, 5
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15
NDA_DST = 1
NTF_PROXY = 0x08
IFF_UP, IFF_NOARP = 0x1, 0x80
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
CLONE_NEWNET = 0x40000000

NLMSGHDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")
NDMSG = struct.Struct("=BxxxiHBB")


class RtnlError(OSError):
    pass


class InNetns:
    """`with InNetns(ns):` this thread inside /run/netns/<ns>, back after:
    what it opens under /proc/sys/net then is that namespace's (a floor's
    per-interface sysctl writes, as netd makes them inside its own). Nothing
    may be forked meanwhile."""

    def __init__(self, netns):
        self.netns = netns
        self.libc = ctypes.CDLL(None, use_errno=True)

    def __enter__(self):
        self.own = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
        try:
            if self.libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {self.netns}")
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc):
        try:
            if self.libc.setns(self.own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.own)


def sysctl_write(path, value):
    """/proc/sys/<path> = value in the calling thread's namespace: one open,
    write and close, as netd's lib/sysctl.c does it."""
    fd = os.open(f"/proc/sys/{path}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def sysctl_read(path):
    with open(f"/proc/sys/{path}") as f:
        return f.read().strip()


def _attr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def _u32(kind, v):
    return _attr(kind, struct.pack("=I", v))


def _str(kind, s):
    return _attr(kind, s.encode() + b"\0")


def _ip(kind, addr):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return _attr(kind, socket.inet_pton(fam, addr))


def _fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def socket_in(netns):
    """A socket of `family, type, proto` created inside /run/netns/<netns>;
    a socket stays in the namespace it was made in, so the calling thread
    switches there only for the socket() call."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")
        try:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)


class Rtnl:
    """One rtnetlink socket in a network namespace."""

    def __init__(self, netns):
        self.s = socket_in(netns)
        self.s.bind((0, 0))
        self.seq = 0

    def close(self):
        self.s.close()

    def _request(self, mtype, flags, body):
        self.seq += 1
        msg = NLMSGHDR.pack(NLMSGHDR.size + len(body), mtype, NLM_F_REQUEST | NLM_F_ACK | flags,
                            self.seq, 0) + body
        self.s.send(msg)
        out = []
        while True:
            data = self.s.recv(65536)
            off = 0
            while off < len(data):
                n, t, _f, seq, _p = NLMSGHDR.unpack_from(data, off)
                if seq == self.seq:
                    if t == NLMSG_ERROR:
                        err = -struct.unpack_from("=i", data, off + NLMSGHDR.size)[0]
                        if err:
                            raise RtnlError(err, f"rtnetlink {mtype}: {os.strerror(err)}")
                        return out
                    out.append(data[off + NLMSGHDR.size:off + n])
                off += (n + 3) & ~3

    # ---- links ----
    def ifindex(self, name):
        reply = self._request(RTM_GETLINK, 0, IFINFOMSG.pack(0, 0, 0, 0, 0) + _str(IFLA_IFNAME, name))
        return IFINFOMSG.unpack_from(reply[0])[2]

    def link_set(self, index, up=None, noarp=None, master=None, address=None, mtu=None, name=None):
        flags = change = 0
        if up is not None:
            change |= IFF_UP
            flags |= IFF_UP if up else 0
        if noarp is not None:
            change |= IFF_NOARP
            flags |= IFF_NOARP if noarp else 0
        attrs = b""
        if master is not None:
            attrs += _u32(IFLA_MASTER, master)
        if address is not None:
            attrs += _attr(IFLA_ADDRESS, _mac(address))
        if mtu is not None:
            attrs += _u32(IFLA_MTU, mtu)
        if name is not None:
            attrs += _str(IFLA_IFNAME, name)
        self._request(RTM_NEWLINK, 0, IFINFOMSG.pack(0, 0, index, flags, change) + attrs)

    def link_add(self, name, kind, peer=None):
        data = b""
        if peer:
            data = _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, IFINFOMSG.pack(0, 0, 0, 0, 0)
                                                + _str(IFLA_IFNAME, peer)))
        info = _attr(IFLA_LINKINFO, _str(IFLA_INFO_KIND, kind) + data)
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                      IFINFOMSG.pack(0, 0, 0, 0, 0) + _str(IFLA_IFNAME, name) + info)
        return self.ifindex(name)

    def bridge_add(self, name):
        """A bridge as netd makes one: no STP, ports forward at once."""
        data = _attr(IFLA_INFO_DATA, _u32(IFLA_BR_FORWARD_DELAY, 0) + _u32(IFLA_BR_STP_STATE, 0))
        info = _attr(IFLA_LINKINFO, _str(IFLA_INFO_KIND, "bridge") + data)
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                      IFINFOMSG.pack(0, 0, 0, 0, 0) + _str(IFLA_IFNAME, name) + info)
        return self.ifindex(name)

    def link_del(self, index):
        self._request(RTM_DELLINK, 0, IFINFOMSG.pack(0, 0, index, 0, 0))

    # ---- addresses, routes, proxy entries ----
    def addr(self, add, index, addr, plen):
        body = IFADDRMSG.pack(_fam(addr), plen, 0, RT_SCOPE_UNIVERSE, index)
        body += _ip(IFA_LOCAL, addr) + _ip(IFA_ADDRESS, addr)
        self._request(RTM_NEWADDR if add else RTM_DELADDR,
                      NLM_F_CREATE | NLM_F_EXCL if add else 0, body)

    def route(self, add, index, dst, plen, metric=None, src=None, gateway=None):
        scope = RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK
        body = RTMSG.pack(_fam(dst), plen, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0)
        body += _u32(RTA_OIF, index) + _u32(RTA_TABLE, RT_TABLE_MAIN)
        if plen:
            body += _ip(RTA_DST, dst)
        if gateway:
            body += _ip(RTA_GATEWAY, gateway)
        if metric is not None:
            body += _u32(RTA_PRIORITY, metric)
        if src:
            body += _ip(RTA_PREFSRC, src)
        self._request(RTM_NEWROUTE if add else RTM_DELROUTE,
                      NLM_F_CREATE | NLM_F_EXCL if add else 0, body)

    def proxy(self, add, index, addr):
        body = NDMSG.pack(_fam(addr), index, 0, NTF_PROXY, 0) + _ip(NDA_DST, addr)
        self._request(RTM_NEWNEIGH if add else RTM_DELNEIGH,
                      NLM_F_CREATE | NLM_F_EXCL if add else 0, body)
