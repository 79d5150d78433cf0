"""What Go does, where dockerd's behaviour depends on it; nothing else of the emulator.

dockerd is a Go program: the bytes it sends to plugins, how it reads their answers and the
texts of its errors come from Go's standard library.  This package reproduces those parts,
module by Go package, and imports nothing else from ``emulator``:

* :mod:`emulator.golang.json` -- ``encoding/json`` (encode, scan, decode into structs);
* :mod:`emulator.golang.time` -- RFC 3339 in and out, ``time.Duration.String``;
* :mod:`emulator.golang.url` -- ``net/url.Parse`` and its errors;
* :mod:`emulator.golang.strconv` -- Go strings as Python strings, ``strconv.Quote``;
* :mod:`emulator.golang.filepath` -- ``path/filepath`` and ``strings.TrimSpace``;
* :mod:`emulator.golang.errors` -- ``syscall.Errno`` texts (one function), ``*fs.PathError``,
  ``*net.OpError``, ``*url.Error`` and net/http's fixed texts.
"""
