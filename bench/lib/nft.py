"""nft: libnftables in this process (ctypes), for the benchmarks' floor of
nftables changes: the same commands netd's change amounts to, run by the
library netd itself uses, with no daemon, socket or state file around them.

The library opens its netlink socket when the context is made, so the
context is made inside the benchmark's namespace (rtnl.socket_in's trick)."""
import ctypes
import os

from rtnl import CLONE_NEWNET

_lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
_lib.nft_ctx_new.restype = ctypes.c_void_p
_lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
_lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
_lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
_lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
_lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
_lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
_lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
_lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
_lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
NFT_CTX_OUTPUT_JSON = 1 << 4


class NftError(RuntimeError):
    pass


class Nft:
    def __init__(self, netns, json_output=False):
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {netns}")
            try:
                self.ctx = _lib.nft_ctx_new(0)
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(own)
            os.close(target)
        if not self.ctx:
            raise NftError("nft_ctx_new failed")
        _lib.nft_ctx_buffer_output(self.ctx)
        _lib.nft_ctx_buffer_error(self.ctx)
        if json_output:
            _lib.nft_ctx_output_set_flags(self.ctx, NFT_CTX_OUTPUT_JSON)

    def cmd(self, text):
        """Runs one buffer (nft syntax, or JSON if it starts with '{') as one
        transaction; returns the output."""
        if _lib.nft_run_cmd_from_buffer(self.ctx, text.encode()) != 0:
            err = (_lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode().strip()
            raise NftError(f"nft: {err or 'failed'}: {text[:200]}")
        return (_lib.nft_ctx_get_output_buffer(self.ctx) or b"").decode()

    def close(self):
        if self.ctx:
            _lib.nft_ctx_free(self.ctx)
            self.ctx = None
