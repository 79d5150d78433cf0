"""The fake daemon's state machines: plain objects, testable without a server."""
