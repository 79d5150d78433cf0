"""Serve a built-in mock plugin as a process: ``python -m emulator.mocks KIND --socket PATH``.

For running the mocks the way a real plugin runs (``plugin-emulator check`` starts
commands, in a network namespace of its own for network drivers), with deliberate bugs
(``--bug NAME``, repeatable; ``--bugs`` lists them).  The authz mock allows everything
but the methods given with ``--deny-method`` (repeatable); the log mock answers
``ReadLogs`` false and serves no ``ReadLogs`` with ``--no-read-logs``.  Stops on SIGTERM
or SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

import trio

from emulator.mocks.authz import AUTHZ_BUGS, AuthzRule, MockAuthzPlugin
from emulator.mocks.log import LOG_BUGS, MockLogDriver
from emulator.mocks.network import IPAM_BUGS, NETWORK_BUGS, MockIpamPlugin, MockNetworkPlugin
from emulator.mocks.volume import VOLUME_BUGS, MockVolumePlugin

_BUGS = {
    "volume": VOLUME_BUGS,
    "network": NETWORK_BUGS,
    "ipam": IPAM_BUGS,
    "authz": AUTHZ_BUGS,
    "log": LOG_BUGS,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator.mocks", description=__doc__)
    parser.add_argument("kind", choices=sorted(_BUGS))
    parser.add_argument("--socket", help="unix socket to listen on")
    parser.add_argument("--name", default="mock")
    parser.add_argument("--state", type=Path, help="volume state directory [a temporary one]")
    parser.add_argument("--bug", action="append", default=[], help="a deliberate bug")
    parser.add_argument("--bugs", action="store_true", help="list the bugs of KIND and exit")
    parser.add_argument(
        "--interfaces", action="store_true", help="network: make a veth pair per endpoint"
    )
    parser.add_argument(
        "--deny-method",
        action="append",
        default=[],
        metavar="METHOD",
        help="authz: refuse requests with this HTTP method (repeatable)",
    )
    parser.add_argument(
        "--bridge", action="store_true", help="network: a bridge per network joining them"
    )
    parser.add_argument(
        "--no-read-logs",
        action="store_true",
        help="log: answer Capabilities with ReadLogs false and serve no ReadLogs",
    )
    return parser


async def _serve(args: argparse.Namespace, state: Path) -> None:
    mock: MockVolumePlugin | MockNetworkPlugin | MockIpamPlugin | MockAuthzPlugin | MockLogDriver
    if args.kind == "volume":
        mock = MockVolumePlugin(state, name=args.name, bugs=args.bug)
    elif args.kind == "authz":
        rules = [
            AuthzRule(allow=False, method=m, msg=f"{m} requests are not allowed")
            for m in args.deny_method
        ]
        mock = MockAuthzPlugin(rules, name=args.name, bugs=args.bug)
    elif args.kind == "log":
        mock = MockLogDriver(args.name, read_logs=not args.no_read_logs, bugs=args.bug)
    elif args.kind == "network":
        mock = MockNetworkPlugin(
            args.name,
            strict=False,
            interfaces=args.interfaces,
            bridge=args.bridge,
            bugs=args.bug,
        )
    else:
        mock = MockIpamPlugin(args.name, strict=False, bugs=args.bug)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(mock.serve, f"unix:{args.socket}")
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and serve until a signal."""
    args = _parser().parse_args(argv)
    if args.bugs:
        for name, text in sorted(_BUGS[args.kind].items()):
            print(f"{name}: {text}")
        return 0
    if not args.socket:
        print("error: --socket is required", file=sys.stderr)
        return 2
    unknown = sorted(set(args.bug) - set(_BUGS[args.kind]))
    if unknown:
        print(f"error: unknown bug(s) {unknown}; --bugs lists them", file=sys.stderr)
        return 2
    if "stale_socket" in args.bug and os.path.exists(args.socket):
        # What a plugin calling bind() on its path without removing it first gets.
        print(f"OSError: [Errno 98] Address already in use: {args.socket!r}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mockvol-") as temporary:
        trio.run(_serve, args, args.state or Path(temporary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
