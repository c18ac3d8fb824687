"""The daemon under ASan/UBSan/LeakSanitizer: start, work, stop cycles must end
with exit 0 and no sanitizer report. Uses the sanitized build named by
NETD_ASAN_BUILD (make check builds it); skipped when there is none."""
import os
import signal
import subprocess

import pytest

from conftest import Netd, bridge_conf

ASAN_BUILD = os.environ.get("NETD_ASAN_BUILD")
pytestmark = pytest.mark.skipif(not ASAN_BUILD or not os.path.exists(
    os.path.join(ASAN_BUILD or "", "bin", "netd")), reason="no sanitized build (NETD_ASAN_BUILD)")


class AsanNetd(Netd):
    def start(self, env=None, wait=True):
        import conftest
        saved = conftest.NETD
        conftest.NETD = os.path.join(ASAN_BUILD, "bin", "netd")
        try:
            return super().start(env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                                      "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
                                      **(env or {})}, wait=wait)
        finally:
            conftest.NETD = saved


@pytest.mark.parametrize("style", ["classic", "modern"])
def test_start_work_stop_cycles_are_clean(topo, tmp_path, style):
    topo.add_guest(1)
    netd = AsanNetd(topo, tmp_path, bridge_conf(style))
    for cycle in range(3):
        netd.start()
        netd.ctl("vif", "online", "1.0", "mtu=1400")
        netd.ctl("status")
        netd.ctl("--json", "vif", "list")
        netd.ctl("vif", "online", "9.0", check=False)
        netd.request({"cmd": "nope"})
        netd.request({}, raw=b"{" + b"x" * 70000 + b"}\n")
        netd.ctl("reload")
        netd.ctl("vif", "offline", "1.0")
        netd.ctl("down")
        netd.ctl("up")
        if cycle == 1:
            # SIGKILL mid-life, then a clean adoption by the next start.
            netd.stop(signal.SIGKILL)
            continue
        assert netd.stop() == 0, netd.read_log()
    log = netd.read_log()
    assert "Sanitizer" not in log and "runtime error" not in log, log
