"""Engine API facts of dockerd v28.5.2 (API 1.51) that the emulator's server answers with.

Sources: moby v28.5.2 ``api/common.go`` (versions), ``api/server/middleware/version.go``
(headers, version errors), ``api/server/router/system/system_routes.go`` (ping),
``api/server/server.go`` (``page not found``), ``api/server/httputils/httputils.go``
(JSON request errors) and ``errdefs/http_helpers.go`` (status codes).
"""

from __future__ import annotations

import re
from typing import Final

#: The dockerd release emulated.
ENGINE_VERSION: Final = "28.5.2"
ENGINE_GIT_COMMIT: Final = "89c5e8f"
ENGINE_GO_VERSION: Final = "go1.24.9"
#: ``api.DefaultVersion``: the highest (and default) API version.
API_VERSION: Final = "1.51"
#: ``api.MinSupportedAPIVersion``.
MIN_API_VERSION: Final = "1.24"

#: Headers on every response (``middleware.VersionMiddleware``, experimental middleware).
COMMON_HEADERS: Final = (
    ("Server", f"Docker/{ENGINE_VERSION} (linux)"),
    ("Api-Version", API_VERSION),
    ("Ostype", "linux"),
    ("Docker-Experimental", "false"),
)
#: Extra headers of ``/_ping`` (``pingHandler``).
PING_HEADERS: Final = (
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Pragma", "no-cache"),
    ("Builder-Version", "2"),
    ("Swarm", "inactive"),
)

JSON_CONTENT_TYPE: Final = "application/json"
#: Attach's raw-stream media type (API >= 1.42).
MULTIPLEXED_STREAM: Final = "application/vnd.docker.multiplexed-stream"
RAW_STREAM: Final = "application/vnd.docker.raw-stream"


def hijack_head(kind: str, *, upgrade: bool, multiplexed: bool, version: str) -> bytes:
    """The answer head dockerd writes by hand on a connection it hijacked.

    ``kind`` is ``attach`` (``postContainersAttach``, api/server/router/container/
    container_routes.go) or ``exec`` (``postContainerExecStart``, .../exec.go).  With the
    client's ``Upgrade`` header: ``101 UPGRADED`` and the multiplexed media type for a
    stream without a terminal from API 1.42; without it: ``200 OK`` and the raw-stream
    type (even for multiplexed frames).  Exec then copies the middlewares' headers
    (Go's ``Header.WriteSubset``: keys sorted); attach writes none of them.  No ``Date``:
    Go's server adds it only to answers it writes itself.
    """
    if upgrade:
        media = RAW_STREAM
        if multiplexed and version_tuple(version) >= version_tuple("1.42"):
            media = MULTIPLEXED_STREAM
        lines = [
            "HTTP/1.1 101 UPGRADED",
            f"Content-Type: {media}",
            "Connection: Upgrade",
            "Upgrade: tcp",
        ]
    else:
        lines = ["HTTP/1.1 200 OK", f"Content-Type: {RAW_STREAM}"]
    if kind == "exec":
        lines += [f"{name}: {value}" for name, value in sorted(COMMON_HEADERS)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


#: Routes dockerd serves (api/server/router/{container,image,build,system}, v28.5.2)
#: that the emulator refuses with 501, naming the command: (method, rule, command).
#: ``GET /images/NAME/json`` is left to dockerd's 404: ``docker inspect NAME`` without
#: ``--type`` asks it after the container and goes on to networks and volumes only
#: when the answer is "not found" (docker/cli cli/command/system/inspect.go).
NOT_EMULATED: Final = (
    ("POST", "/containers/<ref>/pause", "docker pause"),
    ("POST", "/containers/<ref>/unpause", "docker unpause"),
    ("POST", "/containers/<ref>/rename", "docker rename"),
    ("POST", "/containers/<ref>/update", "docker update"),
    ("POST", "/containers/<ref>/resize", "a terminal resize"),
    ("GET", "/containers/<ref>/top", "docker top"),
    ("GET", "/containers/<ref>/stats", "docker stats"),
    ("GET", "/containers/<ref>/changes", "docker diff"),
    ("GET", "/containers/<ref>/export", "docker export"),
    ("POST", "/commit", "docker commit"),
    ("GET", "/images/json", "docker images"),
    ("POST", "/images/create", "docker pull"),
    ("POST", "/images/load", "docker load"),
    ("GET", "/images/<path:name>/history", "docker history"),
    ("POST", "/images/<path:name>/tag", "docker tag"),
    ("POST", "/images/<path:name>/push", "docker push"),
    ("DELETE", "/images/<path:name>", "docker rmi"),
    ("POST", "/images/prune", "docker image prune"),
    ("POST", "/build", "docker build"),
    ("POST", "/build/prune", "docker builder prune"),
    ("GET", "/system/df", "docker system df"),
)

#: ``/v1.51/containers/json`` → version ``1.51``, path ``/containers/json``.
VERSIONED_PATH: Final = re.compile(r"^/v([0-9.]+)(/.*)$")

PAGE_NOT_FOUND: Final = "page not found"
JSON_EOF: Final = "invalid JSON: got EOF while reading request body"
JSON_TRAILING: Final = "unexpected content after JSON"
#: The stdcopy frame header: stream (1 stdout, 2 stderr), three zero bytes, big-endian size.
STDOUT: Final = 1
STDERR: Final = 2


def version_tuple(version: str) -> tuple[int, ...]:
    """``versions.compare``'s ordering: dot-separated integers (bad parts count as 0)."""
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def version_error(version: str) -> str | None:
    """The 400 text dockerd answers for an unsupported client version, else None."""
    if version_tuple(version) > version_tuple(API_VERSION):
        return (
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    if version_tuple(version) < version_tuple(MIN_API_VERSION):
        return (
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return None


def content_type_error(content_type: str) -> str:
    """``matchesContentType``'s text for a body that is not JSON."""
    return f"unsupported Content-Type header ({content_type}): must be '{JSON_CONTENT_TYPE}'"


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame of an attach stream."""
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data
