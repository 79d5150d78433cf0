"""Engine-version profiles: what changes, between dockerd releases, in what a plugin sees.

Each profile is the behaviour of the last patch release of a major line, read in
moby's code (tags named in ``release``).  A difference between versions is a field
here, never an ``if version`` in the engine.  The table is meant to be checked line
by line against moby's tags (``git diff v24.0.9 v28.5.2 -- pkg/plugins volume``; the
fields name the files) and against docs/fidelity.md, which shows it as a table.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import attrs

#: ``Accept`` header on every plugin request (``pkg/plugins/transport/mimetype.go``).
#: The docs say ``application/vnd.docker.plugins.v1+json``; the code sends v1.2.
PLUGIN_MIMETYPE: Final = "application/vnd.docker.plugins.v1.2+json"

#: ``Host`` header for unix-socket plugins since v23.0.7 / v24.0.5 (``dummyHost``).
DUMMY_HOST: Final = "plugin.moby.localhost"

#: Go's default ``User-Agent`` (``net/http`` ``defaultUserAgent``).
GO_USER_AGENT: Final = "Go-http-client/1.1"

#: VolumeDriver per-attempt deadlines (``volume/drivers/proxy.go`` longTimeout/shortTimeout);
#: the same from v24.0.9 to v28.5.2.  Every other plugin call has no deadline at all.
_VOLUME_DEADLINES: Final = MappingProxyType(
    {
        "VolumeDriver.Create": 120.0,
        "VolumeDriver.Mount": 120.0,
        "VolumeDriver.Remove": 60.0,
        "VolumeDriver.Path": 60.0,
        "VolumeDriver.Unmount": 60.0,
        "VolumeDriver.List": 60.0,
        "VolumeDriver.Get": 60.0,
        "VolumeDriver.Capabilities": 60.0,
    }
)


@attrs.frozen
class EngineProfile:
    """How one dockerd major version behaves towards plugins."""

    version: str
    """Short name users pass (``profile="28"``)."""
    release: str
    """The moby tag whose code this profile reflects."""
    dial_timeout: float
    """``net.Dialer`` timeout from go-connections (32 s in v0.4.0, 10 s from v0.5.0)."""
    retry_budget: float = 30.0
    """``defaultTimeOut`` of ``pkg/plugins``: give up once ``backoff + elapsed >= budget``."""
    unix_host_header: str = DUMMY_HOST
    """``Host`` sent to unix-socket plugins."""
    test_plugin_name_budget: float | None = 2.0
    """Lookups of the name ``this-plugin-does-not-exist`` give up after this budget
    (a test hook that ships in dockerd, ``testNonExistingPlugin``); None where absent."""
    userns_skips_unreadable_spec_dirs: bool = True
    """Scan skips a spec dir it may not read when running in a user namespace."""
    retry_resends_empty_body: bool = True
    """A retry after a connection dropped mid-request re-sends ``Content-Length: 0``
    (``callWithRetry`` reuses the drained ``bytes.Buffer``)."""
    authz_forwards_chunked_body: bool = True
    """An authorization plugin sees a chunked request body (the CVE-2024-41110 fix,
    commit ``2ac8a479c5``: v23.0.15, v25.0.6, v26.1.5, v27.1.1 and every v28); before
    it only ``Content-Length`` bodies were forwarded (``pkg/authorization/authz.go``)."""
    call_deadlines: MappingProxyType[str, float] = _VOLUME_DEADLINES
    """Per-attempt deadline of a call, by ``Iface.Method``; absent means none."""
    metrics_start_decodes_answer: bool = False
    """``MetricsCollector.StartMetrics``'s answer is decoded as ``{"Err"}`` (an empty
    body is then ``EOF``) and failures are wrapped ``could not start metrics plugin``
    (v24-v27 ``daemon/metrics.go``); v28 (``internal/metrics``) ignores the body."""

    def deadline_for(self, method: str) -> float | None:
        """The per-attempt deadline dockerd sets for ``method``, or None."""
        return self.call_deadlines.get(method)


PROFILES: Final[MappingProxyType[str, EngineProfile]] = MappingProxyType(
    {
        "24": EngineProfile(
            version="24",
            release="v24.0.9",
            dial_timeout=32.0,
            test_plugin_name_budget=None,
            userns_skips_unreadable_spec_dirs=False,
            authz_forwards_chunked_body=False,
            metrics_start_decodes_answer=True,
        ),
        "25": EngineProfile(
            version="25",
            release="v25.0.5",
            dial_timeout=10.0,
            authz_forwards_chunked_body=False,
            metrics_start_decodes_answer=True,
        ),
        "26": EngineProfile(
            version="26",
            release="v26.1.4",
            dial_timeout=10.0,
            authz_forwards_chunked_body=False,
            metrics_start_decodes_answer=True,
        ),
        "27": EngineProfile(
            version="27", release="v27.5.1", dial_timeout=10.0, metrics_start_decodes_answer=True
        ),
        "28": EngineProfile(version="28", release="v28.5.2", dial_timeout=10.0),
    }
)

DEFAULT_PROFILE: Final = "28"


def get_profile(version: str | EngineProfile) -> EngineProfile:
    """Return the profile for ``version`` ("24" … "28"), or ``version`` itself."""
    if isinstance(version, EngineProfile):
        return version
    key = str(version).removeprefix("v").split(".")[0]
    try:
        return PROFILES[key]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown engine profile {version!r}: choose one of {known}") from None
