"""Every EngineError a user can meet says what to check (``hint``), never nothing.

Two checks over the code, so that a new error class or raise site cannot bring back an
empty hint, and the errors of issue 14 (a Mount deadline, a plugin's 500) and other
everyday ones raised for real, with the hint they carry.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

import emulator
from emulator import ContainerSpec, EngineError, open_engine
from emulator.errors import EmulatorError
from emulator.hints import HINTS, hint_for_text
from emulator.mocks.volume import MockVolumePlugin

PACKAGE = Path(emulator.__file__).parent


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def engine_error_classes() -> dict[str, type[EngineError]]:
    """Every EngineError class of the package (each module imported)."""
    for module in pkgutil.walk_packages([str(PACKAGE)], "emulator."):
        if module.name != "emulator.__main__":
            importlib.import_module(module.name)
    found = [EngineError, *_subclasses(EngineError)]
    return {c.__name__: c for c in found if c.__module__.startswith("emulator.")}


def _init_attributes(cls: type) -> set[str]:
    """``self.X`` names assigned in the ``__init__`` of ``cls`` and its bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or not hasattr(init, "__code__"):
            continue
        source = Path(init.__code__.co_filename).read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.lineno == init.__code__.co_firstlineno:
                for target in ast.walk(node):
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                    ):
                        names.add(target.attr)
    return names | {"text", "http_status"}


def test_every_engine_error_class_has_its_own_default_hint() -> None:
    classes = engine_error_classes()
    assert len(classes) >= 15
    problems = []
    for name, cls in sorted(classes.items()):
        own = cls.__dict__.get("default_hint", "")
        if not isinstance(own, str) or not own.strip():
            problems.append(f"{name} ({cls.__module__}) has no default_hint of its own")
            continue
        fields = {f for _, f, _, _ in string.Formatter().parse(own) if f}
        unknown = {f.split("!")[0] for f in fields} - _init_attributes(cls)
        if unknown:
            problems.append(f"{name}.default_hint names {sorted(unknown)}, not set by __init__")
    assert not problems, "\n".join(problems)


def _empty(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and not node.value


def test_no_raise_site_gives_an_empty_hint() -> None:
    """Every constructor call of an EngineError class in the package: an explicit
    ``hint=`` must not be empty (leaving it out gets the class's or the text's hint)."""
    classes = engine_error_classes()
    sites = 0
    problems = []
    for file in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in classes:
                continue
            sites += 1
            for keyword in node.keywords:
                where = f"{file.relative_to(PACKAGE.parent)}:{node.lineno} {name}"
                if keyword.arg == "hint" and _empty(keyword.value):
                    problems.append(f"{where}: hint is empty")
                if keyword.arg is None:
                    problems.append(f"{where}: **kwargs hide whether a hint is given")
    assert sites > 150  # the scan sees the raise sites (about 170 when written)
    assert not problems, "\n".join(problems)


def test_each_hint_of_the_text_table_expands() -> None:
    for pattern, hint in HINTS:
        groups = pattern.groups
        sample = pattern.pattern
        assert hint.strip(), sample
        if groups:
            assert "\\" in hint or "{" not in hint  # expanded with match.expand
    assert "VolumeDriver.Mount" in hint_for_text(
        'Post "http://plugin.moby.localhost/VolumeDriver.Mount": context deadline exceeded'
    )
    assert hint_for_text("nothing we know") == ""


# -- the errors, raised for real -------------------------------------------------------


async def _with_mock(root: Path, body: object) -> EngineError:
    """Run ``body(engine)`` against the mock volume plugin ``mv``; the EngineError it raises."""
    plugin = MockVolumePlugin(root / "mocks/mv", name="mv")
    async with trio.open_nursery() as nursery:
        await nursery.start(plugin.serve, f"unix:{root}/run/docker/plugins/mv.sock")
        async with open_engine(root=root) as engine:
            with pytest.raises(EngineError) as raised:
                await body(engine)  # type: ignore[operator]
        nursery.cancel_scope.cancel()
    return raised.value


async def test_a_mount_deadline_says_which_plugin_and_what_to_check(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def body(engine: emulator.Engine) -> None:
        engine.faults.add(call="VolumeDriver.Mount", delay=150)
        await engine.volumes.create("v1", driver="mv")
        await engine.containers.run(ContainerSpec(volumes=["v1:/data"], detach=True))

    error = await _with_mock(short_tmp, body)
    assert "context deadline exceeded" in str(error)
    assert error.hint.startswith("plugin 'mv' did not answer VolumeDriver.Mount within ")
    assert "2 min for VolumeDriver.Create and Mount" in error.hint


async def test_a_plugins_500_says_it_is_the_plugins_own_error(
    short_tmp: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def body(engine: emulator.Engine) -> None:
        engine.faults.add(call="VolumeDriver.Mount", respond={"status": 500, "err": "full"})
        await engine.volumes.create("v1", driver="mv")
        await engine.containers.run(ContainerSpec(volumes=["v1:/data"], detach=True))

    error = await _with_mock(short_tmp, body)
    assert str(error).endswith("VolumeDriver.Mount: full")
    assert error.hint.startswith("plugin 'mv' answered HTTP 500 to VolumeDriver.Mount: ")


@pytest.mark.parametrize(
    ("action", "text", "hint"),
    [
        ("missing_plugin", 'plugin "ghost" not found', "run/docker/plugins/ghost.sock, or write"),
        ("no_container", "No such container: nope", "container's name or ID"),
        ("no_volume", "get nope: no such volume", "no volume of that name"),
        ("in_use", "volume is in use", "stop and remove them first"),
        ("name_taken", "is already in use by container", "the name is taken"),
        ("bad_spec", "invalid volume specification", "-v takes NAME:/path"),
        ("no_network", "network nope not found", "docker network"),
    ],
)
async def test_everyday_errors_have_a_hint(
    short_tmp: Path, autojump_clock: trio.testing.MockClock, action: str, text: str, hint: str
) -> None:
    async def body(engine: emulator.Engine) -> None:
        if action == "missing_plugin":
            await engine.volumes.create("v1", driver="ghost")
        elif action == "no_container":
            await engine.containers.stop("nope")
        elif action == "no_volume":
            await engine.volumes.inspect("nope")
        elif action == "in_use":
            await engine.volumes.create("v1", driver="mv")
            await engine.containers.run(ContainerSpec(volumes=["v1:/data"], detach=True))
            await engine.volumes.remove("v1")
        elif action == "name_taken":
            await engine.containers.run(ContainerSpec(name="app", detach=True))
            await engine.containers.run(ContainerSpec(name="app", detach=True))
        elif action == "bad_spec":
            await engine.containers.run(ContainerSpec(volumes=["v1:data"], detach=True))
        elif action == "no_network":
            await engine.networks.remove("nope")

    error = await _with_mock(short_tmp, body)
    assert text in str(error)
    assert hint in error.hint, error.hint


def test_an_emulator_error_without_a_hint_has_an_empty_one() -> None:
    """Only EngineErrors promise a hint; a bare EmulatorError keeps what it was given."""
    assert EmulatorError("x").hint == ""
    assert EmulatorError("x", hint="do y").hint == "do y"
