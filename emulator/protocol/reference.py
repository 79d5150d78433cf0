"""Image references as dockerd parses them for plugins: ``distribution/reference``.

Mirrors ``vendor/github.com/distribution/reference`` (``normalize.go``,
``reference.go``, ``regexp.go``) and ``go-digest``'s ``Digest.Validate`` as
linked into moby v28.5.2, plus the two helpers of moby's plugin router
(``api/server/router/plugin/plugin_routes.go``): :func:`parse_remote_ref`
(``parseRemoteRef``) and :func:`local_name` (``getName``).

A :class:`Reference` keeps the normalized parts (``docker.io`` domain,
``library/`` prefix); :meth:`Reference.string` is Go's ``String()``,
:meth:`Reference.familiar_string` ``FamiliarString``.  Errors are
:class:`ReferenceError` with the package's texts.

Known gap: only ``sha256`` digests can be pulled (``sha384``/``sha512`` parse
as Go parses them but the emulator's blob store keys by sha256).
"""

from __future__ import annotations

import re
from typing import Final

import attrs

__all__ = [
    "DEFAULT_DOMAIN",
    "Reference",
    "ReferenceError",
    "local_name",
    "parse_normalized_named",
    "parse_remote_ref",
    "validate_digest",
]

DEFAULT_DOMAIN: Final = "docker.io"
LEGACY_DEFAULT_DOMAIN: Final = "index.docker.io"
OFFICIAL_PREFIX: Final = "library/"
DEFAULT_TAG: Final = "latest"
NAME_TOTAL_LENGTH_MAX: Final = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?:[a-fA-F0-9:]+)\])"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^((?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$", re.ASCII
)
_ANCHORED_NAME = re.compile(rf"^(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})$", re.ASCII)
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_ANCHORED = re.compile(rf"^{_DIGEST}$", re.ASCII)
#: ``go-digest``'s available algorithms and their hex lengths.
_ALGORITHMS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}


class ReferenceError(ValueError):
    """A reference the ``reference`` package refuses; ``str()`` is its text."""


@attrs.frozen
class Reference:
    """A normalized named reference (``reference.Named`` and its tagged/digested kinds)."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """``Name()``: ``domain/path``."""
        return f"{self.domain}/{self.path}"

    def string(self) -> str:
        """``String()``: the full normalized form, e.g. ``docker.io/vieux/sshfs:latest``."""
        return self.name + self._suffix()

    def familiar_name(self) -> str:
        """``FamiliarName``: ``docker.io`` and a lone ``library/`` dropped."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX) :]:
            path = path[len(OFFICIAL_PREFIX) :]
        return path

    def familiar_string(self) -> str:
        """``FamiliarString``: the familiar name plus tag and digest."""
        return self.familiar_name() + self._suffix()

    def tag_name_only(self) -> Reference:
        """``TagNameOnly``: ``:latest`` added to a reference with neither tag nor digest."""
        if self.tag or self.digest:
            return self
        return attrs.evolve(self, tag=DEFAULT_TAG)

    def trim(self) -> Reference:
        """``TrimNamed``: the repository only."""
        return Reference(self.domain, self.path)

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def validate_digest(text: str) -> None:
    """``digest.Digest.Validate`` with go-digest's error texts."""
    algorithm, sep, encoded = text.partition(":")
    if not algorithm or not sep or not encoded:
        raise ReferenceError("invalid checksum digest format")
    size = _ALGORITHMS.get(algorithm)
    if size is None:
        if not _DIGEST_ANCHORED.match(text):
            raise ReferenceError("invalid checksum digest format")
        raise ReferenceError("unsupported digest algorithm")
    if len(encoded) != size:
        raise ReferenceError("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise ReferenceError("invalid checksum digest format")


def _split_docker_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain``."""
    maybe_domain, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if maybe_domain == "localhost":
        domain, remote = maybe_domain, rest
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, rest
    elif any(c in maybe_domain for c in ".:") or maybe_domain.lower() != maybe_domain:
        domain, remote = maybe_domain, rest
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_PREFIX + remote
    return domain, remote


def _parse(text: str) -> Reference:
    """``reference.Parse`` of an already domain-qualified string."""
    match = _REFERENCE.match(text)
    if match is None:
        if text == "":
            raise ReferenceError("repository name must have at least one component")
        if _REFERENCE.match(text.lower()) is not None:
            raise ReferenceError("repository name must be lowercase")
        raise ReferenceError("invalid reference format")
    name_match = _ANCHORED_NAME.match(match[1])
    assert name_match is not None
    domain, path = name_match[1] or "", name_match[2]
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    digest = match[3] or ""
    if digest:
        validate_digest(digest)
    return Reference(domain, path, match[2] or "", digest)


def parse_normalized_named(text: str) -> Reference:
    """``reference.ParseNormalizedNamed``: ``vieux/sshfs`` → ``docker.io/vieux/sshfs``."""
    if _IDENTIFIER.match(text):
        raise ReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise ReferenceError(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    return _parse(f"{domain}/{remainder}")


def parse_remote_ref(remote: str) -> tuple[Reference, str]:
    """``parseRemoteRef``: the reference to fetch, and the tag of a ``name:tag@digest``.

    A reference with both keeps only the digest for fetching; one with neither
    gets ``:latest``.
    """
    ref = parse_normalized_named(remote)
    if ref.tag and ref.digest:
        return attrs.evolve(ref, tag=""), ref.tag
    return ref.tag_name_only(), ""


def local_name(ref: Reference, tag: str, name: str) -> str:
    """``getName``: the name a pulled plugin gets (``name`` is the user's alias or ``""``).

    Raises :class:`ReferenceError`: a reference error, or ``cannot use digest in
    plugin tag``.
    """
    if not name:
        if ref.digest:
            return attrs.evolve(ref.trim(), tag=tag or DEFAULT_TAG).familiar_string()
        return ref.familiar_string()
    local = parse_normalized_named(name)
    if local.digest:
        raise ReferenceError("cannot use digest in plugin tag")
    if not local.tag:
        return local.tag_name_only().familiar_string()
    return name
