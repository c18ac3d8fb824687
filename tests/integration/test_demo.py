"""`make demo`, one of the README's two commands: scripts/demo.sh with this
build, in each style, as the Makefile runs it. It checks what it shows
(a ✓ per check, a ✗ for a failure) and exits 0 only if all is well; its
namespaces are its own (demo-<pid>-*), removed when it ends."""
import os
import subprocess

import pytest

from conftest import BUILD, ROOT


@pytest.mark.parametrize("style", ["classic", "modern"])
def test_demo_runs_clean(style):
    r = subprocess.run([os.path.join(ROOT, "scripts", "demo.sh"), BUILD, style],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "✗" not in out, out[-6000:]
    # the checks a user reads, among them the one a spawner broke unseen
    for line in ("hotplug-status connected, backend and frontend Connected (4)",
                 "no reply to the forged source", "no vifback worker left",
                 "vifback exited with status 0"):
        assert line in out, out[-6000:]
    assert f"==> demo ({style}): " in out and "FAILED" not in out, out[-6000:]
    leftover = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "demo-" not in leftover, leftover
