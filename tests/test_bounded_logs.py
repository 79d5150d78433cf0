"""What a long-running ``serve`` keeps in memory is bounded: events, journal, mock records."""

from __future__ import annotations

import trio

from emulator.engine.events import EVENTS_LIMIT, EventLog
from emulator.journal import Journal
from emulator.mocks.host import MockPlugin, RecordedRequest


async def test_the_event_log_keeps_dockerds_last_256_events() -> None:
    log = EventLog()
    mark = 0
    with log.subscribe() as live:
        for i in range(300):
            if i == 290:
                mark = log.count
            log("container", "create", {"id": str(i)})
        seen = [live.receive_nowait() for _ in range(300)]
    assert EVENTS_LIMIT == 256
    assert len(log.events) == 256
    assert log.events[0].attributes["id"] == "44"
    assert log.count == 300
    assert [e.attributes["id"] for e in log.since(mark)] == [str(i) for i in range(290, 300)]
    assert len(seen) == 300  # a subscriber misses nothing
    assert [e.seq for e in log.of("container")][-1] == 299


def test_a_limited_journal_keeps_the_latest_attempts_and_counts_on() -> None:
    journal = Journal(limit=3)
    for i in range(5):
        journal.record(
            call_id=i,
            attempt=1,
            plugin="p",
            method=f"M{i}",
            address="unix:///x",
            started=0.0,
            duration=0.0,
            request_body=b"",
            status=200,
            response_body=b"{}",
            error=None,
        )
    assert [e.method for e in journal.entries] == ["M2", "M3", "M4"]
    assert [e.seq for e in journal.entries] == [2, 3, 4]
    assert journal.recorded == 5
    assert [e.method for e in journal.since(4)] == ["M4"]
    journal.clear()
    assert (journal.recorded, journal.entries) == (0, ())


async def test_a_mock_plugin_with_a_record_limit_keeps_about_that_many(short_tmp: object) -> None:
    plugin = MockPlugin(record_limit=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{short_tmp}/m.sock")
        client = await trio.open_unix_socket(f"{short_tmp}/m.sock")
        async with client:
            for _ in range(35):
                await client.send_all(
                    b"POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
                )
                await client.receive_some(65536)
        nursery.cancel_scope.cancel()
    assert 10 <= len(plugin.requests) <= 20
    assert all(isinstance(r, RecordedRequest) for r in plugin.requests)
