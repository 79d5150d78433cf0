"""dockerd routes the emulator does not serve: refused with 501 and the command named.

Without these, a request for, say, ``docker pause`` would get dockerd's answer to a path
it does not know (404 ``page not found``), which reads like an API-version mismatch.
The table is :data:`emulator.protocol.engine_api.NOT_EMULATED`; requests for these
routes go through the authorization chain first, as in dockerd.
"""

from __future__ import annotations

from quart import Blueprint, Response

from emulator.api.http import ApiError
from emulator.protocol import engine_api as api

__all__ = ["bp"]

bp = Blueprint("refused", __name__)


def _refuse(command: str, method: str, rule: str) -> ApiError:
    path = rule.replace("<ref>", "{id}").replace("<path:name>", "{name}")
    return ApiError(
        f"plugin-emulator does not emulate {command} ({method} {path}): it serves the "
        "volume, network, plugin and container commands a plugin's tests need "
        "(docs/engine-api.md lists them)",
        501,
    )


def _register(method: str, rule: str, command: str) -> None:
    async def refused(**_: str) -> Response:
        raise _refuse(command, method, rule)

    refused.__name__ = f"refused_{method.lower()}_{rule}"
    bp.add_url_rule(rule, endpoint=refused.__name__, view_func=refused, methods=[method])


for _method, _rule, _command in api.NOT_EMULATED:
    _register(_method, _rule, _command)
