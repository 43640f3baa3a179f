"""A throw-away network namespace with a veth pair, for direct (host-candidate) WebRTC.

Chromium gathers no ICE host candidates on 127.0.0.1, and none in a namespace that only has
loopback. It does in a namespace holding a veth pair with addresses and a default route. So:
``unshare -n`` starts a holder shell in a NEW network namespace; the shell brings up ``lo``,
creates the veth pair with both ends inside that namespace (nothing is added to the host's
namespace), addresses them, adds a default route, prints READY and then waits on its stdin.
Processes join the namespace with ``nsenter -t <holder pid> -n`` (Chromium through a tiny
wrapper script passed to Playwright as ``executable_path``: Playwright drives Chromium over
a pipe, so the browser can live in the namespace while pytest does not). When the test closes
the holder's stdin (or dies), the holder exits; the namespace disappears with its last
process. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .processes import ReadyProcess, start_ready_process

logger = logging.getLogger(__name__)

ADDR_A = "10.213.7.1"
ADDR_B = "10.213.7.2"

# Nothing about the namespace's network may change once READY is printed: Chromium fails
# in-flight loads with ERR_NETWORK_CHANGED when it does. So IPv6 is off (no link-local
# address finishing duplicate address detection a second later) and READY waits until both
# veth ends report state UP (polled, with a 10 s deadline; /sys/class/net would show
# the host's devices, since only the network namespace is new).
_SETUP = f"""
set -e
for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do
  if [ -e "$f" ]; then echo 1 > "$f"; fi
done
ip link set lo up
ip link add p2p-a type veth peer name p2p-b
ip addr add {ADDR_A}/24 dev p2p-a
ip addr add {ADDR_B}/24 dev p2p-b
ip link set p2p-a up
ip link set p2p-b up
ip route add default via {ADDR_B} dev p2p-a
i=0
until ip -o link show dev p2p-a | grep -q 'state UP' && ip -o link show dev p2p-b | grep -q 'state UP'; do
  i=$((i + 1)); [ $i -le 200 ] || {{ echo "veth pair never came up" >&2; exit 1; }}
  sleep 0.05
done
echo READY
exec cat >/dev/null
"""


class NetnsError(RuntimeError):
    """The namespace could not be made (not root, no unshare/ip/nsenter, ...)."""


@dataclass
class NetNamespace:
    holder: ReadyProcess

    @property
    def pid(self) -> int:
        return self.holder.proc.pid

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["nsenter", "-t", str(self.pid), "-n", "--", *argv]

    def run(self, argv: list[str]) -> str:
        out = subprocess.run(self.command(argv), capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            raise NetnsError(f"{' '.join(argv)} in the namespace failed: {out.stderr.strip()}")
        return out.stdout

    def wrapper(self, directory: Path, executable: str) -> Path:
        """A script that runs ``executable`` (with its arguments) inside the namespace."""
        path = directory / f"in-netns-{Path(executable).name}"
        path.write_text(f'#!/bin/sh\nexec nsenter -t {self.pid} -n -- {executable} "$@"\n', encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def close(self) -> None:
        self.holder.stop()


def create_netns() -> NetNamespace:
    """Make the namespace or raise NetnsError saying why."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            raise NetnsError(f"'{tool}' is not installed (util-linux / iproute2)")
    if os.geteuid() != 0:
        raise NetnsError("creating a network namespace with a veth pair needs root")
    try:
        holder = start_ready_process(["unshare", "-n", "--", "sh", "-c", _SETUP], name="netns holder")
    except Exception as err:
        raise NetnsError(str(err)) from err
    ns = NetNamespace(holder)
    addrs = ns.run(["ip", "-brief", "addr"])
    if ADDR_A not in addrs or ADDR_B not in addrs:
        ns.close()
        raise NetnsError(f"namespace addresses missing:\n{addrs}")
    logger.info("network namespace of pid %d: %s", ns.pid, addrs.replace("\n", "; "))
    return ns
