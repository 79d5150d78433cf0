"""Write docs/api.md, the API reference, from the emulator's own docstrings and signatures.

    python tools/api_reference.py           # (re)write docs/api.md
    python tools/api_reference.py --check   # exit 1 when docs/api.md is stale

tests/test_docs.py runs the check, so a docstring or signature change without a
regenerated page fails the suite.  What the page covers is the table ``SECTIONS`` below:
the objects a plugin author meets, with the fields of every returned shape
(``containers.run`` → ``Container``, ``volumes.inspect`` → ``VolumeInfo``, journal
entries → ``JournalEntry``) taken from the attribute docstrings in the source.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "api.md"


@attrs.frozen
class Entry:
    """One object on the page: a dotted name and, for a class, the members shown."""

    name: str
    members: tuple[str, ...] | None = None
    """None: every public method and property defined by the class itself."""


@attrs.frozen
class Section:
    title: str
    intro: str
    entries: tuple[Entry, ...]


SECTIONS: tuple[Section, ...] = (
    Section(
        "The engine",
        "`emulator.open_engine` runs an emulated dockerd in a trio run. The pytest fixtures "
        "wrap the same engine: `plugin_engine.volumes.create(...)` is "
        "`await engine.volumes.create(...)` made blocking ([pytest-plugin.md](pytest-plugin.md)).",
        (
            Entry("emulator.open_engine"),
            Entry("emulator.engine.core.Engine", ("restart", "reset")),
        ),
    ),
    Section(
        "Volumes: `engine.volumes`",
        "dockerd's volume service; the plugin calls each method makes are in "
        "[volumes.md](volumes.md).",
        (
            Entry(
                "emulator.engine.volumes.VolumeService",
                ("create", "inspect", "list", "remove", "prune"),
            ),
            Entry("emulator.engine.volumes.VolumeInfo"),
            Entry("emulator.engine.volumes.PruneReport"),
        ),
    ),
    Section(
        "Containers: `engine.containers`",
        "Fake containers: no process runs, but volumes are mounted and unmounted as dockerd "
        "does, and their lifetime follows the command "
        "([engine-api.md](engine-api.md#what-is-served)).",
        (
            Entry(
                "emulator.engine.containers.ContainerService",
                ("run", "create", "start", "stop", "kill", "wait", "remove", "copy", "get", "list"),
            ),
            Entry("emulator.engine.container_model.ContainerSpec"),
            Entry("emulator.engine.container_model.Container", ("running",)),
            Entry("emulator.engine.container_model.MountPoint", ()),
        ),
    ),
    Section(
        "The journal: `engine.journal`",
        "Every HTTP attempt the engine made to a plugin. The fixtures' assertions read it "
        "([matching.md](matching.md) for how fields match).",
        (
            Entry("emulator.journal.Journal", ("entries", "calls", "count", "clear", "window")),
            Entry("emulator.journal.JournalEntry"),
            Entry("emulator.journal_assertions.JournalWindow", ("entries",)),
            Entry("emulator.journal_assertions.JournalAssertions"),
        ),
    ),
    Section(
        "Faults: `engine.faults`",
        "The fault words are on [faults.md](faults.md).",
        (Entry("emulator.faults.FaultSet", ("add", "clear", "reset", "faults")),),
    ),
    Section(
        "The pytest fixtures",
        "What `plugin_engine`, `plugin_engine_async` and `plugin_process` give a test.",
        (
            Entry("emulator.testing.sync.PluginEngine"),
            Entry("emulator.testing.trio_engine.AsyncPluginEngine"),
            Entry("emulator.engine.process_spec.ProcessSpec"),
            Entry("emulator.testing.sync.SyncPluginProcess"),
            Entry(
                "emulator.engine.processes.PluginProcess",
                (
                    *("run", "kill", "terminate", "stop", "cont", "restart", "remove_socket"),
                    *("output", "output_log", "pid", "running", "exit_status", "settle_output"),
                ),
            ),
            Entry("emulator.engine.plugin_output.PluginOutput"),
            Entry("emulator.engine.plugin_output.OutputLine"),
            Entry("emulator.clock.VirtualClock", ("clock", "real_time", "grace", "real_io")),
        ),
    ),
    Section(
        "Errors",
        "Every error raised on dockerd's behalf is an `EngineError`: `str()` is dockerd's "
        "text, `hint` says what to check, `http_status` is what the Engine API answers.",
        (
            *(
                Entry(f"emulator.errors.{name}", ())
                for name in (
                    "EmulatorError",
                    "EngineError",
                    "PluginCallError",
                    "PluginStatusError",
                    "PluginTransportError",
                    "PluginDeadlineError",
                    "PluginResponseError",
                    "PluginHangError",
                    "PluginLookupError",
                    "ManagedPluginError",
                    "ConfigurationError",
                )
            ),
            Entry("emulator.engine.volume_store.VolumeError", ()),
            Entry("emulator.engine.container_model.ContainerError", ()),
            Entry("emulator.engine.processes.PluginStartError", ()),
        ),
    ),
)


def resolve(dotted: str) -> Any:
    """The object a dotted name points at (a module attribute, or a nested one)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise LookupError(dotted)


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def markdown(text: str) -> str:
    """reST bits of docstrings as Markdown: ````x```` → ```x```, ``:meth:`~a.B.c``` → ``c``."""
    text = _ROLE.sub(lambda m: "`" + m.group(1).rsplit(".", 1)[-1] + "`", text)
    return text.replace("``", "`").replace("::\n", ":\n")


def docstring(obj: Any) -> str:
    return markdown(inspect.cleandoc(obj.__doc__ or ""))


def first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n")[0].split())


def annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    text = value if isinstance(value, str) else getattr(value, "__name__", repr(value))
    return str(text).replace("builtins.", "")


def signature(function: Callable[..., Any], *, skip_self: bool) -> str:
    """``(name: type = default, *, flag: bool = False) -> Result``, as written in the source."""
    try:
        sig = inspect.signature(function)
    except (TypeError, ValueError):
        return "(...)"
    shown: list[str] = []
    star_done = False
    params = list(sig.parameters.values())
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    for index, param in enumerate(params):
        if param.kind is param.KEYWORD_ONLY and not star_done:
            shown.append("*")
            star_done = True
        if param.kind is param.VAR_POSITIONAL:
            star_done = True
        text = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(param.kind, "")
        text += param.name
        if param.annotation is not param.empty:
            text += f": {annotation(param.annotation)}"
        if param.default is not param.empty:
            text += (
                f" = {param.default!r}"
                if param.annotation is not param.empty
                else f"={param.default!r}"
            )
        shown.append(text)
        if param.kind is param.POSITIONAL_ONLY and (
            index + 1 == len(params) or params[index + 1].kind is not param.POSITIONAL_ONLY
        ):
            shown.append("/")
    result = f"({', '.join(shown)})"
    if sig.return_annotation is not sig.empty:
        result += f" -> {annotation(sig.return_annotation)}"
    return result


def attribute_docs(cls: type) -> list[tuple[str, str, str]]:
    """``(name, type, docstring)`` of each annotated attribute of ``cls``, in source order."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return []
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found = []
    for index, node in enumerate(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if node.target.id.startswith("_"):
            continue
        after = body[index + 1] if index + 1 < len(body) else None
        doc = ""
        if (
            isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            doc = markdown(" ".join(inspect.cleandoc(after.value.value).split()))
        found.append((node.target.id, ast.unparse(node.annotation), doc))
    return found


def members(cls: type, wanted: Sequence[str] | None) -> Iterator[tuple[str, Any]]:
    """The class's own public methods and properties (or those ``wanted``, in that order)."""
    if wanted is not None:
        for name in wanted:
            yield name, inspect.getattr_static(cls, name)
        return
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value):
            yield name, value


def render_member(cls: type, name: str, value: Any) -> str:
    if isinstance(value, property):
        hint = annotation(inspect.signature(value.fget).return_annotation) if value.fget else ""
        kind = f"`{name}: {hint}`" if hint else f"`{name}`"
        return f"- {kind} (property): {first_paragraph(docstring(value))}"
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if not callable(value):
        fields = {n: (t, d) for n, t, d in attribute_docs(cls)}
        hint, doc = fields.get(name, ("", ""))
        return f"- `{name}: {hint}`: {doc}".rstrip(": ")
    prefix = "async " if inspect.iscoroutinefunction(value) else ""
    text = first_paragraph(docstring(value))
    return f"- `{prefix}{name}{signature(value, skip_self=True)}`" + (f": {text}" if text else "")


def render_class(cls: type, entry: Entry) -> list[str]:
    lines = [f"### `{cls.__name__}`", "", f"`{cls.__module__}.{cls.__qualname__}`"]
    bases = [b for b in cls.__bases__ if b is not object]
    if bases:
        lines[-1] += " (" + ", ".join(f"`{b.__name__}`" for b in bases) + ")"
    lines += ["", docstring(cls), ""]
    fields = [f for f in attribute_docs(cls) if f[0] != "default_hint"]
    if fields and (attrs.has(cls) or entry.members is None or entry.members == ()):
        lines += ["| field | type | meaning |", "| --- | --- | --- |"]
        for name, hint, doc in fields:
            cell, kind = doc.replace("|", "\\|"), hint.replace("|", "\\|")
            lines.append(f"| `{name}` | `{kind}` | {cell} |")
        lines.append("")
    hint = cls.__dict__.get("default_hint")
    if isinstance(hint, str) and hint:
        lines += [f"Default `hint`: {markdown(hint)}", ""]
    shown = [render_member(cls, n, v) for n, v in members(cls, entry.members)]
    if shown:
        lines += [*shown, ""]
    return lines


def render_function(function: Callable[..., Any]) -> list[str]:
    prefix = "async " if inspect.iscoroutinefunction(function) else ""
    sig = signature(function, skip_self=False)
    if getattr(function, "__wrapped__", None) is not None:  # asynccontextmanager
        prefix = "async with "
        sig = signature(function.__wrapped__, skip_self=False)
    return [
        f"### `{function.__name__}`",
        "",
        f"`{prefix}{function.__module__}.{function.__name__}{sig}`",
        "",
        docstring(function),
        "",
    ]


def render() -> str:
    lines = [
        "# API reference",
        "",
        "<!-- Generated by tools/api_reference.py from the docstrings; do not edit by hand:",
        "     run `python tools/api_reference.py` (tests/test_docs.py checks it is current). -->",
        "",
        "The Python objects a plugin author meets, with the shapes they return. Engine "
        "methods are coroutines (`await engine.volumes.inspect(...)`); on the sync "
        "`plugin_engine` fixture the same methods are plain blocking calls.",
        "",
    ]
    for section in SECTIONS:
        lines += [f"## {section.title}", "", section.intro, ""]
        for entry in section.entries:
            obj = resolve(entry.name)
            if inspect.isclass(obj):
                lines += render_class(obj, entry)
            else:
                lines += render_function(obj)
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/api.md.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is stale: run python tools/api_reference.py")
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
