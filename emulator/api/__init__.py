"""The Engine API server: the real ``docker`` CLI and docker-py drive the emulator.

:func:`emulator.api.app.create_app` builds the Quart app for an engine;
:func:`emulator.api.server.serve` serves it with hypercorn (trio) on a unix socket.
"""
