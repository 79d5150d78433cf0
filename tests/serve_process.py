"""Test helper: ``plugin-emulator serve`` as a child process, restarted on the same data-root.

Every wait is bounded: a ``serve`` that never prints its ``export DOCKER_HOST=`` line or
never exits fails the test (after a SIGKILL of its process group) instead of hanging it.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs

from tests.engine_api import DOCKER, Result

EMULATOR = [sys.executable, "-m", "emulator"]


class ServeTimeout(AssertionError):
    """``serve`` did not print its export line, or did not exit, in time."""


@attrs.define
class ServeProcess:
    """One ``serve`` process on ``root``; ``socket`` is its Engine API socket."""

    root: Path
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    output: bytes = b""
    errors_path: Path | None = None

    @property
    def socket(self) -> Path:
        return self.root / "engine.sock"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    def start(self, *, ready_within: float = 30.0) -> float:
        """Start ``serve`` and wait for its export line; the seconds it took."""
        started = time.monotonic()
        self.launch()
        self.wait_ready(ready_within)
        return time.monotonic() - started

    def launch(self) -> None:
        """Start ``serve`` without waiting for it."""
        self.errors_path = self.root / f"serve-{time.monotonic_ns()}.err"
        with open(self.errors_path, "wb") as errors:
            self.proc = subprocess.Popen(
                [
                    *EMULATOR,
                    "serve",
                    "--engine-socket",
                    str(self.socket),
                    "--root",
                    str(self.root),
                    "--data-root",
                    str(self.data_root),
                    *self.args,
                ],
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )

    def wait_ready(self, within: float = 30.0) -> None:
        """Wait for the export line (SIGKILL and fail after ``within`` seconds)."""
        line = self._read_line(within)
        if not line.startswith(b"export DOCKER_HOST="):
            self.kill()
            raise ServeTimeout(
                f"serve printed {line!r} instead of its export line; stderr:\n{self.stderr()}"
            )

    def _read_line(self, within: float) -> bytes:
        assert self.proc is not None
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + within
        while b"\n" not in self.output:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                self.kill()
                raise ServeTimeout(
                    f"serve did not print its export line within {within:g} s; stderr "
                    f"tail:\n{self.stderr()[-3000:]}"
                )
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            self.output += chunk
        line, _, self.output = self.output.partition(b"\n")
        return line

    def stderr(self) -> str:
        """What ``serve`` logged so far."""
        if self.errors_path is None or not self.errors_path.exists():
            return ""
        return self.errors_path.read_text(errors="replace")

    def env(self) -> dict[str, str]:
        config = self.root / "docker-config"
        config.mkdir(exist_ok=True)
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": str(config)}

    def docker(self, *args: str, timeout: float = 30.0) -> Result:
        """Run the real ``docker`` CLI against this ``serve``."""
        assert DOCKER is not None, "the docker CLI is not installed"
        done = subprocess.run(
            [DOCKER, *args], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> str:
        """``docker ARGS`` that must succeed; its output."""
        result = self.docker(*args)
        assert result.rc == 0, f"docker {' '.join(args)}: {result.err}"
        return result.out

    def stop(self, sig: int = signal.SIGTERM, *, within: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit; the exit status (SIGKILL after ``within``)."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServeTimeout(
                f"serve did not exit within {within:g} s of signal {sig}; stderr tail:\n"
                f"{self.stderr()[-3000:]}"
            ) from None
        finally:
            self._close()

    def kill(self) -> None:
        """SIGKILL the process group (``serve`` and the plugins it started) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.output = b""
