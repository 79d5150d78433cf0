"""``engine.metrics``: dockerd's Prometheus endpoint and its metrics collector plugins.

moby/moby v28.5.2 ``internal/metrics`` (``metrics.go``, ``plugin_unix.go``) and
``daemon/daemon.go``:

* the daemon listens on ``<exec-root>/metrics.sock`` (``ROOT/run/docker/metrics.sock``)
  and serves ``GET /metrics`` there (anything else: Go's ``404 page not found``);
* a managed plugin of type ``docker.metricscollector/1.0`` gets that socket bound at
  ``/run/docker/metrics.sock`` in its view, and ``POST /MetricsCollector.StartMetrics``
  with an empty body once enabled (after the readiness dial); at daemon shutdown, after
  the containers, every enabled one gets ``StopMetrics`` (empty body), all at once;
* v28 ignores the answers' bodies (only a failed call is logged, ``Error starting
  metrics collector plugin``); v24-v27 decoded ``{"Err"}`` from ``StartMetrics`` (an
  empty body is then ``EOF``) and wrapped errors as ``could not start metrics plugin``:
  the difference is a profile field (``metrics_start_decodes_answer``).

The metrics are dockerd's names (go-metrics namespace ``engine``/``daemon`` and
``logger``) where the emulator has the numbers: ``engine_daemon_container_actions_seconds``
(create, start, delete; each action starts with one observation of 0, as dockerd's
``init`` makes them), ``engine_daemon_container_states_containers``,
``engine_daemon_engine_info``, ``engine_daemon_engine_cpus_cpus``,
``engine_daemon_engine_memory_bytes``, ``engine_daemon_events_total``,
``engine_daemon_events_subscribers_total`` and the ``logger_*_total`` counters.  Go's
runtime and process metrics (``go_*``, ``process_*``) are not emulated.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import h11
import trio

from emulator.engine.log_drivers import COUNTERS
from emulator.errors import EngineError
from emulator.protocol import engine_api
from emulator.protocol.profiles import EngineProfile
from emulator.transport.client import PluginClient

# prometheus_client is imported when the registry is first needed (a scrape, or many
# observations): ≈30 ms of start-up for every command that opens an engine, measured
# with ``python -X importtime`` (bench/startup.py); most never serve metrics.
if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Histogram
    from prometheus_client.core import Metric

__all__ = ["METRICS_SOCKET", "MetricsService", "StateSource"]

LOG = logging.getLogger("emulator.metrics")

#: Where dockerd serves metrics, under the exec-root, and where a plugin sees them.
METRICS_SOCKET: Final = "run/docker/metrics.sock"
PLUGIN_VIEW: Final = "/run/docker/metrics.sock"
PLUGIN_TYPE: Final = "docker.metricscollector/1.0"
START: Final = "MetricsCollector.StartMetrics"
STOP: Final = "MetricsCollector.StopMetrics"
_ACTIONS: Final = ("start", "changes", "commit", "create", "delete")
#: Observations kept before the registry is made; past this many it is made at once.
_PENDING_LIMIT: Final = 1000
#: Go's promhttp answer type for the text format.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class StateSource(Protocol):
    """What the collector reads from the engine at each scrape."""

    def container_states(self) -> tuple[int, int, int]:
        """Running, paused, stopped."""
        ...

    def events_logged(self) -> int: ...

    def event_subscribers(self) -> int: ...


class _EngineCollector:
    """The gauges and counters computed from the engine's state at scrape time."""

    def __init__(self, source: StateSource, daemon_id: str) -> None:
        self._source = source
        self._daemon_id = daemon_id

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the values are read from the engine at scrape time."""
        return ()

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        info = GaugeMetricFamily(
            "engine_daemon_engine_info",
            "The information related to the engine and the OS it is running on",
            labels=[
                "version",
                "commit",
                "architecture",
                "graphdriver",
                "kernel",
                "os",
                "os_type",
                "os_version",
                "daemon_id",
            ],
        )
        info.add_metric(
            [
                engine_api.ENGINE_VERSION,
                engine_api.ENGINE_GIT_COMMIT,
                platform.machine(),
                "overlay2",
                platform.release(),
                "plugin-emulator",
                "linux",
                "",
                self._daemon_id,
            ],
            1,
        )
        yield info
        yield GaugeMetricFamily(
            "engine_daemon_engine_cpus_cpus",
            "The number of cpus that the host system of the engine has",
            value=os.cpu_count() or 1,
        )
        yield GaugeMetricFamily(
            "engine_daemon_engine_memory_bytes",
            "The number of bytes of memory that the host system of the engine has",
            value=_memory(),
        )
        states = GaugeMetricFamily(
            "engine_daemon_container_states_containers",
            "The count of containers in various states",
            labels=["state"],
        )
        for label, count in zip(
            ("running", "paused", "stopped"), self._source.container_states(), strict=True
        ):
            states.add_metric([label], count)
        yield states
        yield CounterMetricFamily(
            "engine_daemon_events",
            "The number of events logged",
            value=self._source.events_logged(),
        )
        yield GaugeMetricFamily(
            "engine_daemon_events_subscribers_total",
            "The number of current subscribers to events",
            value=self._source.event_subscribers(),
        )
        yield from _logger_counters()


def _logger_counters() -> Iterator[Metric]:
    """The ``logger_*_total`` counters (moby/moby ``daemon/logger/metrics.go``)."""
    from prometheus_client.core import CounterMetricFamily

    for name, text, value in (
        (
            "logger_log_write_operations_failed",
            "Number of log write operations that failed",
            COUNTERS.write_failures,
        ),
        (
            "logger_log_read_operations_failed",
            "Number of log reads from container stdio that failed",
            COUNTERS.read_failures,
        ),
        (
            "logger_log_entries_size_greater_than_buffer",
            "Number of log entries which are larger than the log buffer",
            COUNTERS.partial_lines,
        ),
    ):
        yield CounterMetricFamily(name, text, value=value)


def _memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


class _WithoutCreated:
    """A registry's metrics without prometheus_client's ``_created`` samples."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


class MetricsService:
    """dockerd's metrics registry, its socket and the metrics plugins' calls."""

    def __init__(self, source: StateSource, *, root: Path, profile: EngineProfile) -> None:
        self.socket_path = root / METRICS_SOCKET
        """``ROOT/run/docker/metrics.sock``."""
        self.profile = profile
        self._source = source
        # Every action starts with one observation of 0, as dockerd's ``init`` makes them.
        self._pending: list[tuple[str, float]] = [(action, 0.0) for action in _ACTIONS]
        self._listening = False
        self.started: list[str] = []
        """Metrics plugins sent ``StartMetrics`` (names, in order)."""

    async def ensure_listening(self, nursery: trio.Nursery) -> None:
        """Start :meth:`serve` in ``nursery`` unless it is running (dockerd always listens)."""
        if not self._listening:
            self._listening = True
            try:
                await nursery.start(self.serve)
            except BaseException:
                self._listening = False
                raise

    @cached_property
    def registry(self) -> CollectorRegistry:
        """The Prometheus registry: the engine's collector and :attr:`container_actions`,
        made on first use with the observations made before it, in their order."""
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry(auto_describe=True)
        registry.register(_EngineCollector(self._source, "plugin-emulator"))
        return registry

    @cached_property
    def container_actions(self) -> Histogram:
        """``engine_daemon_container_actions_seconds``, by action."""
        from prometheus_client import Histogram

        histogram = Histogram(
            "engine_daemon_container_actions_seconds",
            "The number of seconds it takes to process each container action",
            ["action"],
            registry=self.registry,
        )
        pending, self._pending = self._pending, []
        for action, seconds in pending:
            histogram.labels(action).observe(seconds)
        return histogram

    def observe(self, action: str, seconds: float) -> None:
        """A container action took ``seconds`` (``container_actions``)."""
        if "container_actions" in self.__dict__ or len(self._pending) >= _PENDING_LIMIT:
            self.container_actions.labels(action).observe(seconds)
        else:
            self._pending.append((action, seconds))

    def render(self) -> bytes:
        """The exposition ``GET /metrics`` answers (Go's client has no ``_created`` series)."""
        from prometheus_client import generate_latest

        self.container_actions  # noqa: B018 -- made, with the pending observations
        return generate_latest(_WithoutCreated(self.registry))

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on the metrics socket until cancelled (``metrics.listen``: a stale socket
        file is replaced; one request after another per connection, as Go's server)."""
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        listener = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        try:
            await listener.bind(str(self.socket_path))
            listener.listen(128)
            LOG.debug("metrics API listening on %s", self.socket_path)
            async with trio.open_nursery() as nursery:
                task_status.started(str(self.socket_path))
                while True:
                    conn, _ = await listener.accept()
                    nursery.start_soon(self._connection, trio.SocketStream(conn))
        finally:
            self._listening = False
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    async def _connection(self, stream: trio.SocketStream) -> None:
        """Answer requests on one connection (h11) until either side closes it."""
        connection = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                try:
                    event = connection.next_event()
                except h11.RemoteProtocolError:
                    return
                if event is h11.NEED_DATA:
                    try:
                        data = await stream.receive_some(65536)
                    except trio.BrokenResourceError:
                        return
                    connection.receive_data(data)
                    if not data:
                        return
                elif isinstance(event, h11.Request):
                    if not await self._answer(stream, connection, event):
                        return
                elif isinstance(event, h11.EndOfMessage):
                    if connection.our_state is not h11.DONE:
                        continue
                    try:
                        connection.start_next_cycle()
                    except h11.LocalProtocolError:
                        return
                elif isinstance(event, h11.ConnectionClosed):
                    return

    async def _answer(
        self, stream: trio.SocketStream, connection: h11.Connection, request: h11.Request
    ) -> bool:
        """``/metrics`` (any method, as Go's ``ServeMux``), else Go's ``404 page not found``;
        False when the connection is to be closed."""
        path = bytes(request.target).split(b"?", 1)[0]
        if path == b"/metrics":
            status, kind, body = 200, CONTENT_TYPE, self.render()
        else:
            status, kind, body = 404, "text/plain; charset=utf-8", b"404 page not found\n"
        headers = [("Content-Type", kind), ("Content-Length", str(len(body)))]
        if status == 404:
            headers.append(("X-Content-Type-Options", "nosniff"))
        reason = b"OK" if status == 200 else b"Not Found"
        response = h11.Response(status_code=status, headers=headers, reason=reason)
        data = connection.send(response) or b""
        if request.method != b"HEAD":
            data += connection.send(h11.Data(data=body)) or b""
        data += connection.send(h11.EndOfMessage()) or b""
        try:
            await stream.send_all(data)
        except trio.BrokenResourceError:
            return False
        return connection.our_state is not h11.MUST_CLOSE

    # -- plugins -----------------------------------------------------------------------

    async def start_plugin(self, name: str, client: PluginClient) -> None:
        """The ``Handle`` callback: ``StartMetrics`` after enable; failures are logged."""
        self.started.append(name)
        try:
            if not self.profile.metrics_start_decodes_answer:
                await client.request(START, b"")
                return
            try:
                answer = await client.call_raw(START, None)
            except EngineError as exc:
                raise _AnswerError(f"could not start metrics plugin: {exc}") from None
            _check_err(answer)
        except (EngineError, _AnswerError) as exc:
            LOG.error("Error starting metrics collector plugin plugin=%s error=%s", name, exc)

    async def stop_plugins(self, plugins: Iterable[tuple[str, PluginClient]]) -> None:
        """``CleanupPlugin``: ``StopMetrics`` to every enabled one, concurrently."""

        async def stop(name: str, client: PluginClient) -> None:
            try:
                await client.request(STOP, b"")
            except EngineError as exc:
                text = (
                    f"error stopping metrics collector: {exc}"
                    if self.profile.metrics_start_decodes_answer
                    else str(exc)
                )
                LOG.error("Error stopping plugin metrics collection plugin=%s error=%s", name, text)

        async with trio.open_nursery() as nursery:
            for name, client in plugins:
                nursery.start_soon(stop, name, client)


class _AnswerError(Exception):
    """v24-v27: the StartMetrics answer failed, did not decode, or carried an ``Err``."""


def _check_err(answer: object) -> None:
    """A non-empty ``Err`` in a v24-v27 ``StartMetrics`` answer is the error."""
    err = answer.get("Err") if isinstance(answer, dict) else None
    if isinstance(err, str) and err:
        raise _AnswerError(err)
