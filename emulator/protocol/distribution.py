"""What dockerd v28 sends to and expects from a registry for plugins: objects and requests.

Pure data and encoders; the I/O lives in :mod:`emulator.engine.managed.registry_session`.
Sources (moby v28.5.2; ``c8d:`` = ``vendor/github.com/containerd/containerd/v2/core``):

* media types: ``plugin/fetch_linux.go`` (``mediaTypePluginConfig``),
  ``plugin/backend_linux.go`` (``buildManifest``: the layer is always declared gzip),
  ``c8d:images/mediatypes.go``;
* manifest bytes: ``plugin/backend_linux.go`` (``manifest`` embeds
  ``ocispec.Manifest`` and adds a ``mediaType`` that Go's encoder writes *last*;
  ``json.Marshal``: compact, no newline) -- :func:`manifest_bytes`;
* ``Accept`` headers: ``c8d:remotes/docker/resolver.go`` (``NewResolver``,
  ``setMediaType``), ``plugin/fetch_linux.go`` (the legacy four-line retry);
* retries: ``c8d:remotes/docker/resolver.go`` (``retryRequest``) -- :data:`RETRY_RULES`;
* error texts: ``c8d:remotes/errors/errors.go`` (``ErrUnexpectedStatus``),
  ``c8d:remotes/docker/errcode.go`` (``unexpectedResponseErr``) and ``errdesc.go``;
* push order: ``c8d:remotes/docker/pusher.go`` -- :data:`PUSH_BLOB_REQUESTS`,
  :data:`PUSH_MANIFEST_REQUESTS`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Final, Literal

import attrs

from emulator.golang import json as gojson

__all__ = [
    "ACCEPT_ENCODING",
    "CONFIG_MEDIA_TYPE",
    "LAYER_MEDIA_TYPES",
    "LEGACY_RESOLVE_ACCEPT",
    "MANIFEST_MEDIA_TYPE",
    "PUSH_BLOB_REQUESTS",
    "PUSH_MANIFEST_REQUESTS",
    "RESOLVE_ACCEPT",
    "RETRY_RULES",
    "Descriptor",
    "Manifest",
    "ManifestError",
    "accept_for",
    "digest_of",
    "manifest_bytes",
    "parse_manifest",
    "ref_key",
    "truncate_id",
    "unexpected_status_text",
]

MANIFEST_MEDIA_TYPE: Final = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST_MEDIA_TYPE: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST_MEDIA_TYPE: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX_MEDIA_TYPE: Final = "application/vnd.oci.image.index.v1+json"
CONFIG_MEDIA_TYPE: Final = "application/vnd.docker.plugin.v1+json"
LAYER_GZIP_MEDIA_TYPE: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
LAYER_TAR_MEDIA_TYPE: Final = "application/vnd.docker.image.rootfs.diff.tar"
FOREIGN_LAYER_GZIP_MEDIA_TYPE: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_LAYER_MEDIA_TYPE: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP_MEDIA_TYPE: Final = "application/vnd.oci.image.layer.v1.tar+gzip"

#: Manifests the plugin fetcher walks (``storeFetchMetadata``, ``withFetchProgress``).
MANIFEST_TYPES: Final = (MANIFEST_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE)
#: Indexes: containerd would walk every child manifest; the emulator refuses them.
INDEX_TYPES: Final = (MANIFEST_LIST_MEDIA_TYPE, OCI_INDEX_MEDIA_TYPE)
#: Layers ``applyLayer`` extracts (and ``withFetchProgress`` reports).
LAYER_MEDIA_TYPES: Final = (
    OCI_LAYER_MEDIA_TYPE,
    LAYER_TAR_MEDIA_TYPE,
    OCI_LAYER_GZIP_MEDIA_TYPE,
    LAYER_GZIP_MEDIA_TYPE,
)
#: Layers ``storeFetchMetadata`` records as the plugin's ``Blobsums``.  dockerd's own
#: gzip type is missing here, so a pulled plugin pushed by dockerd has ``Blobsums: []``.
BLOBSUM_MEDIA_TYPES: Final = (
    FOREIGN_LAYER_GZIP_MEDIA_TYPE,
    LAYER_TAR_MEDIA_TYPE,
    OCI_LAYER_MEDIA_TYPE,
    OCI_LAYER_GZIP_MEDIA_TYPE,
)

#: ``NewResolver``'s resolve ``Accept`` (one comma-separated line).
RESOLVE_ACCEPT: Final = (
    f"{MANIFEST_MEDIA_TYPE}, {MANIFEST_LIST_MEDIA_TYPE}, {OCI_MANIFEST_MEDIA_TYPE}, "
    f"{OCI_INDEX_MEDIA_TYPE}, */*"
)
#: ``Manager.fetch``'s retry after any resolve failure: four separate ``Accept`` lines.
LEGACY_RESOLVE_ACCEPT: Final = (
    MANIFEST_MEDIA_TYPE,
    MANIFEST_LIST_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE,
    OCI_INDEX_MEDIA_TYPE,
)
#: ``dockerFetcher.open``.
ACCEPT_ENCODING: Final = "zstd;q=1.0, gzip;q=0.8, deflate;q=0.5"
#: ``MaxManifestSize`` (sic: 4 * 1048 * 1048).
MAX_MANIFEST_SIZE: Final = 4 * 1048 * 1048

RequestStep = Literal["HEAD", "POST", "PUT"]
#: One blob push (``dockerPusher.push``): exists? (200 skips), start an upload (202 +
#: ``Location``; 201 means already there), then one monolithic ``PUT <Location>&digest=D``.
PUSH_BLOB_REQUESTS: Final[tuple[tuple[RequestStep, str], ...]] = (
    ("HEAD", "blobs/{digest}"),
    ("POST", "blobs/uploads/"),
    ("PUT", "{location}?digest={digest}"),
)
#: The manifest, after every blob: exists under the tag with the same digest? then PUT.
PUSH_MANIFEST_REQUESTS: Final[tuple[tuple[RequestStep, str], ...]] = (
    ("HEAD", "manifests/{tag}"),
    ("PUT", "manifests/{tag}"),
)
#: Status codes that end a blob or manifest upload successfully.
UPLOAD_STARTED: Final = (200, 202, 204)
UPLOAD_DONE: Final = (200, 201, 204)


@attrs.frozen
class RetryRule:
    """What ``retryRequest`` does after a response with a given status.

    ``action``: ``authorize`` (feed the challenge to the authorizer and resend),
    ``get`` (a 405 to a manifest ``HEAD``: resend as ``GET``), ``always``, or
    ``once_on_last_host`` (resend when this is the last host and the previous
    response had another status).
    """

    action: Literal["authorize", "get", "always", "once_on_last_host"]


#: ``retryRequest``: at most six responses per request.
MAX_RESPONSES: Final = 6
RETRY_RULES: Final[Mapping[int, RetryRule]] = {
    401: RetryRule("authorize"),
    405: RetryRule("get"),
    408: RetryRule("always"),
    429: RetryRule("always"),
    500: RetryRule("once_on_last_host"),
    503: RetryRule("once_on_last_host"),
    504: RetryRule("once_on_last_host"),
}


@attrs.frozen
class Descriptor:
    """``ocispec.Descriptor`` as the plugin manifest uses it."""

    __go_name__ = "v1.Descriptor"
    MediaType: str = attrs.field(default="", metadata={"json": {"name": "mediaType"}})
    Digest: str = attrs.field(default="", metadata={"json": {"name": "digest"}})
    Size: int = attrs.field(default=0, metadata={"json": {"name": "size"}})
    URLs: list[str] | None = attrs.field(
        default=None, metadata={"json": {"name": "urls", "omitempty": True}}
    )
    Annotations: dict[str, str] | None = attrs.field(
        default=None, metadata={"json": {"name": "annotations", "omitempty": True}}
    )


@attrs.frozen
class Manifest:
    """``plugin.manifest``: ``ocispec.Manifest`` plus an outer ``mediaType`` (encoded last)."""

    __go_name__ = "plugin.manifest"
    SchemaVersion: int = attrs.field(default=0, metadata={"json": {"name": "schemaVersion"}})
    Config: Descriptor = attrs.field(factory=Descriptor, metadata={"json": {"name": "config"}})
    Layers: list[Descriptor] | None = attrs.field(
        default=None, metadata={"json": {"name": "layers"}}
    )
    MediaType: str = attrs.field(
        default="", metadata={"json": {"name": "mediaType", "omitempty": True}}
    )


class ManifestError(Exception):
    """A fetched manifest dockerd could not decode; ``str()`` is its text."""


def digest_of(data: bytes) -> str:
    """``digest.FromBytes``: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def truncate_id(digest: str) -> str:
    """``stringid.TruncateID``: the first 12 hex digits after the algorithm."""
    return digest.partition(":")[2][:12] if ":" in digest else digest[:12]


def manifest_bytes(config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """``buildManifest`` + ``writeManifest``: the exact bytes dockerd pushes.

    ``{"schemaVersion":2,"config":{…},"layers":[…],"mediaType":"…manifest.v2+json"}``,
    each layer declared as ``…rootfs.diff.tar.gzip`` whatever it is; ``layers`` is
    ``null`` when there are none (a Go nil slice).
    """
    declared = [attrs.evolve(d, MediaType=LAYER_GZIP_MEDIA_TYPE) for d in layers]
    value = Manifest(
        SchemaVersion=2,
        Config=attrs.evolve(config, MediaType=CONFIG_MEDIA_TYPE),
        Layers=declared or None,
        MediaType=MANIFEST_MEDIA_TYPE,
    )
    return gojson.encode(value).rstrip(b"\n")


def parse_manifest(data: bytes) -> Manifest:
    """``json.Unmarshal`` of a fetched manifest into ``ocispec.Manifest``."""
    try:
        return gojson.unmarshal_into(data, Manifest)
    except gojson.GoJSONError as exc:
        raise ManifestError(str(exc)) from None


def accept_for(media_type: str) -> str:
    """``setMediaType``: ``<type>, */*`` (or ``*/*``) for blob and manifest fetches."""
    return f"{media_type}, */*" if media_type else "*/*"


def ref_key(desc: Descriptor) -> str:
    """``remotes.MakeRefKey`` with the plugin fetcher's ``docker-plugin`` config prefix."""
    if desc.MediaType == CONFIG_MEDIA_TYPE:
        return f"docker-plugin-{desc.Digest}"
    if desc.MediaType in MANIFEST_TYPES:
        return f"manifest-{desc.Digest}"
    if desc.MediaType in INDEX_TYPES:
        return f"index-{desc.Digest}"
    if desc.MediaType in (*LAYER_MEDIA_TYPES, FOREIGN_LAYER_GZIP_MEDIA_TYPE):
        return f"layer-{desc.Digest}"
    return f"unknown-{desc.Digest}"


# -- registry error texts ------------------------------------------------------------------

#: ``errdesc.go``: the only codes containerd knows; any other decodes as ``UNKNOWN``.
_ERROR_CODES: Final = {
    "UNKNOWN": "unknown error",
    "UNSUPPORTED": "The operation is unsupported.",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNAVAILABLE": "service unavailable",
    "TOOMANYREQUESTS": "too many requests",
}


def _registry_errors(body: bytes) -> list[str]:
    """``Errors.UnmarshalJSON`` then each error's ``Error()`` text."""
    try:
        value = json.loads(body)
    except ValueError:
        return []
    items = value.get("errors") if isinstance(value, dict) else None
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        if not isinstance(item, dict):
            return []
        code = item.get("code")
        code = code if isinstance(code, str) and code in _ERROR_CODES else "UNKNOWN"
        message = item.get("message")
        message = message if isinstance(message, str) else ""
        code_text = code.replace("_", " ").lower()
        if item.get("detail") is None and message in ("", _ERROR_CODES[code]):
            out.append(code_text)
        else:
            out.append(f"{code_text}: {message}")
    return out


def unexpected_status_text(method: str, url: str, status: str, body: bytes) -> str:
    """``unexpectedResponseErr``: the status line, joined with the registry's own errors.

    ``status`` is Go's ``resp.Status`` (code and the reason phrase as sent).
    """
    text = f"unexpected status from {method} request to {url}: {status}"
    errors = _registry_errors(body[:64000])
    if not errors:
        return text
    if len(errors) == 1:
        return f"{text}\n{errors[0]}"
    return text + "\nerrors:\n" + "".join(e + "\n" for e in errors)
