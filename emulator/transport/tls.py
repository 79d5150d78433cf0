"""TLS settings for ``https`` plugins, as go-connections' ``tlsconfig.Client`` builds them."""

from __future__ import annotations

import errno
import ssl

from emulator.discovery import TLSOptions
from emulator.golang.errors import errno_text
from emulator.golang.strconv import quote as go_quote


class TLSConfigError(Exception):
    """The TLS options cannot be used; ``str()`` is dockerd's text."""


def client_context(options: TLSOptions | None) -> ssl.SSLContext:
    """An SSL context for ``options``; None means Go's defaults (verify with system roots).

    Minimum TLS 1.2 as go-connections sets it; ``insecure_skip_verify`` turns off
    verification; a CA file is only loaded when verifying; a client certificate needs
    both ``cert_file`` and ``key_file``.
    """
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options is None:
        return context
    if options.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif options.ca_file:
        try:
            context.load_verify_locations(cafile=options.ca_file)
        except FileNotFoundError as exc:
            raise TLSConfigError(
                f"could not read CA certificate {go_quote(options.ca_file)}: "
                f"open {options.ca_file}: {errno_text(exc.errno or errno.ENOENT)}"
            ) from None
        except ssl.SSLError:
            raise TLSConfigError(
                f"failed to append certificates from PEM file: {go_quote(options.ca_file)}"
            ) from None
    if options.cert_file and options.key_file:
        try:
            context.load_cert_chain(options.cert_file, options.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"could not load X509 key pair: {exc}") from None
    return context
