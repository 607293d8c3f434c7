import platform
import subprocess
import sys

import pytest

from edgesieve.experiments import allocator


def test_glibc_keeps_freed_memory_and_says_so():
    """On Linux glibc both thresholds are set once per process; elsewhere nothing is touched."""
    code = ("from edgesieve.experiments.allocator import keep_freed_memory as k; "
            "print(k()); print(k())")  # a fresh process: the setting is per process
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    expected = "glibc, freed memory kept" if on_glibc else "default"
    assert out == [expected] * 2


def test_without_glibc_nothing_is_changed(monkeypatch):
    monkeypatch.setattr(allocator, "_state", {})
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() == "default"

    def no_libc(*args, **kwargs):
        raise OSError("no such library")

    monkeypatch.setattr(allocator, "_state", {})
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", no_libc)
    assert allocator.keep_freed_memory() == "default"


@pytest.mark.parametrize("answer", [0, 1])
def test_a_refused_setting_is_reported_as_default(monkeypatch, answer):
    class Libc:
        @staticmethod
        def mallopt(param, value):
            return answer

    monkeypatch.setattr(allocator, "_state", {})
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: Libc())
    assert allocator.keep_freed_memory() == ("glibc, freed memory kept" if answer else "default")
