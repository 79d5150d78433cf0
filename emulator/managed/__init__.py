"""Managed (v2) plugin packaging helpers: :mod:`emulator.managed.lint`."""
