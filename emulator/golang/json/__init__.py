"""Go's ``encoding/json`` as dockerd v28 (Go 1.24) uses it with plugins.

dockerd encodes a plugin request with ``json.NewEncoder(&buf).Encode(args)``, decodes a
200 answer with ``json.NewDecoder(body).Decode(&ret)`` and a non-200 answer with
``json.Unmarshal(b, &struct{ Err string }{})``.  This package gives the same bytes and the
same verdicts, with Go's error texts, split along Go's own seams:

* :mod:`.encode` (encode.go) -- :func:`encode` / :func:`encode_or_empty`;
* :mod:`.scanner` (scanner.go, stream.go) -- :func:`decode_stream` (one
  ``Decoder.Decode`` on a complete body) and :func:`unmarshal` (exactly one value);
* :mod:`.decode` (decode.go) -- :func:`structure`, Go's lenient struct decoding into an
  attrs wire model, and :func:`loads_into` / :func:`unmarshal_into`, the two together;
* :mod:`.fields` (typeFields, foldName), :mod:`.types` (the Go type of an annotation) and
  :mod:`.values` (decoded values that remember what Go still knows).

Known gaps (none reachable with the plugin protocols' types): ``[]byte`` fields are encoded
but not decoded; Go's reuse of a slice's old elements when the same key appears twice in
one object is not reproduced (the later array replaces the earlier one); times keep
microseconds (Python's limit), and years before 1 or zone offsets of 24 hours or more,
which Go accepts, raise :class:`GoJSONError`.
"""

from __future__ import annotations

from emulator.golang.json.decode import loads_into, structure, unmarshal_into
from emulator.golang.json.encode import encode, encode_or_empty
from emulator.golang.json.scanner import decode_stream, unmarshal
from emulator.golang.json.values import GoJSONError, GoType
from emulator.golang.time import ZERO_TIME

__all__ = [
    "ZERO_TIME",
    "GoJSONError",
    "GoType",
    "decode_stream",
    "encode",
    "encode_or_empty",
    "loads_into",
    "structure",
    "unmarshal",
    "unmarshal_into",
]
