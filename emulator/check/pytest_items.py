"""``pytest --emulator-check=PLUGIN``: the catalogue as pytest items (one per check).

The catalogue runs once, at the first item (one engine, one plugin process, as the
command does); each item then reports its check: ``fail`` fails, ``skip`` skips, ``warn``
passes with the warning printed.  PLUGIN and ``--emulator-check-option`` take what
``plugin-emulator check`` takes.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from emulator.check.catalogue import CATALOGUE
from emulator.check.model import Check, Verdict
from emulator.check.runner import CheckRun


class CheckCollector(pytest.Collector):
    """The items of one ``--emulator-check`` run."""

    def __init__(self, *, plugin: str, options: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin = plugin
        self.options = list(options)
        self.run: CheckRun | None = None

    def collect(self) -> Iterator[pytest.Item]:
        """One :class:`CheckItem` per check (all types; the run skips those not implemented)."""
        from emulator.check.catalogue import selection

        select = _option(self.options, "-k") or ""
        chosen = selection(select)
        for check in CATALOGUE.checks():
            if chosen(check):
                yield CheckItem.from_parent(self, name=f"check[{check.id}]", check=check)

    def results(self) -> CheckRun:
        """Run the catalogue (once) through the command's own code."""
        if self.run is None:
            from emulator.check.runner import CheckOptions, run_checks_sync
            from emulator.check.target import parse_target
            from emulator.cli.check import options_from_words

            words = shlex.split(self.plugin)
            options: CheckOptions = options_from_words(self.options)
            self.run = run_checks_sync(parse_target(words, **_target_words(self.options)), options)
        return self.run


class CheckItem(pytest.Item):
    """One check's verdict as a test."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        """Pass, fail or skip as the check did."""
        assert isinstance(self.parent, CheckCollector)
        run = self.parent.results()
        if run.setup_error:
            pytest.fail(f"plugin-emulator check: {run.setup_error}", pytrace=False)
        found = [r for r in run.results if r.check.id == self.check.id]
        if not found:
            pytest.skip(f"not run: the plugin is not checked as {self.check.kind}")
        result = found[0]
        text = f"{result.did}\nwhat dockerd does: {self.check.dockerd}\nhint: {self.check.hint}"
        if result.verdict is Verdict.SKIP:
            pytest.skip(result.did)
        if result.verdict is Verdict.FAIL:
            from emulator.check.answers import describe

            calls = "\n".join(f"  {describe(e)}" for e in result.calls[-8:])
            pytest.fail(f"{text}\ncalls:\n{calls}", pytrace=False)
        if result.verdict is Verdict.WARN:
            print(f"WARN {text}")

    def reportinfo(self) -> tuple[str, int | None, str]:
        return self.check.source, None, f"{self.check.id}: {self.check.title}"


def _option(words: Sequence[str], name: str) -> str | None:
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(name + "="):
            return word.partition("=")[2]
    return None


def _target_words(words: Sequence[str]) -> dict[str, Any]:
    from pathlib import Path

    root, name = _option(words, "--root"), _option(words, "--name")
    return {"root": Path(root) if root else None, "name": name}


def add_items(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Append the check items when ``--emulator-check`` is given."""
    plugin = session.config.getoption("emulator_check", None)
    if not plugin:
        return
    options = session.config.getoption("emulator_check_options", None) or []
    collector = CheckCollector.from_parent(
        session, name="emulator-check", plugin=plugin, options=options
    )
    items.extend(collector.collect())
