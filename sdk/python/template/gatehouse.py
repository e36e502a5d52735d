"""gatehouse: write gatehouse policies in Python.

A typed layer over the bindings that ``componentize-py`` generates from the
gatehouse WIT (module ``wit_world``, written to ``bindings/`` by ``build.sh``).
A policy module defines a settings dataclass and an ``evaluate`` function, then
exports them::

    @dataclass
    class Settings:
        banned: list[str] = field(default_factory=list)

    def evaluate(settings: Settings, context: Context, facts: list[VersionFacts]) -> list[Verdict]:
        return [block(f"{f.name} is banned here") if f.name in settings.banned else allow()
                for f in facts]

    WitWorld = export(evaluate, Settings)

``export`` parses the settings JSON strictly (an unknown key or a value of the
wrong type fails the batch with an error naming the key, so a misspelt setting
never turns a rule off), checks that there is one verdict per input, and turns
any exception into the batch's error instead of a trap.

The host capabilities are reached through ``host`` (``host.osv.affecting``,
``host.store.get``, ``host.audit.note``, ``host.log.log``). Native tests replace
``gatehouse.host`` with a fake, since the bindings' imports only work inside
the component.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types as _pytypes
import typing
from typing import Any, Callable, Iterable, Optional, Sequence, TypeVar, Union

from componentize_py_types import Err
from wit_world.imports import audit as _audit
from wit_world.imports import log as _log
from wit_world.imports import osv as _osv
from wit_world.imports import store as _store
from wit_world.imports.osv import Advisory, Interval, PackageAdvisory, Severity
from wit_world.imports.types import (
    Action,
    Context,
    Dependency,
    Digest,
    Purpose,
    Verdict,
    VersionFacts,
)

__all__ = [
    "Action", "Advisory", "Context", "Dependency", "Digest", "Interval",
    "PackageAdvisory", "Purpose", "Severity", "Verdict", "VersionFacts",
    "DAY", "SettingsError", "allow", "warn", "block", "parse_settings", "export",
    "age_seconds", "raw", "name_matches", "advisories_for", "host", "log",
]

S = TypeVar("S")

DAY = 24 * 60 * 60


# --- verdicts ---------------------------------------------------------------

def allow(rule: str = "") -> Verdict:
    """Let the version through (empty reason, no advisories)."""
    return Verdict(Action.ALLOW, rule, "", [])


def warn(reason: str, *, rule: str = "", advisories: Iterable[str] = ()) -> Verdict:
    """Let the version through but tell the developer why it is doubtful.

    ``rule`` names the rule that decided; the host fills in the policy's name
    when it is empty.
    """
    return Verdict(Action.WARN, rule, reason, list(advisories))


def block(reason: str, *, rule: str = "", advisories: Iterable[str] = ()) -> Verdict:
    """Refuse the version; ``reason`` should say what to do instead."""
    return Verdict(Action.BLOCK, rule, reason, list(advisories))


# --- settings ---------------------------------------------------------------

class SettingsError(ValueError):
    """The settings block does not fit the policy's settings dataclass."""


def parse_settings(text: str, cls: type[S]) -> S:
    """Reads the settings JSON into the dataclass ``cls``, strictly.

    An empty document means all defaults. Every key must be a field of ``cls``
    and its value must fit the field's annotation (``int``, ``float``, ``str``,
    ``bool``, ``list[...]``, ``dict[str, ...]``, ``Optional[...]``); ``bool`` is
    not accepted for ``int`` since JSON keeps them apart.
    """
    doc = json.loads(text) if text.strip() else {}
    if not isinstance(doc, dict):
        raise SettingsError("settings must be a JSON object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in doc.items():
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise SettingsError(f"unknown setting `{key}` (known: {known})")
        if not _fits(value, hints[key]):
            raise SettingsError(
                f"setting `{key}` must be {_describe(hints[key])}, not {json.dumps(value)}")
    for name, f in fields.items():
        if name not in doc and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SettingsError(f"setting `{name}` is required")
    return cls(**doc)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded JSON value fits a (simple) type annotation."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union or origin is _pytypes.UnionType:
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0] if args else Any) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_fits(v, args[1] if args else Any) for v in value.values())
    raise TypeError(f"parse_settings cannot check a field of type {hint!r}")


def _describe(hint: Any) -> str:
    """The annotation in JSON's words, for error messages."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union or origin is _pytypes.UnionType:
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_plural(args[0]) if args else 'values'}"
    if origin is dict:
        return f"an object of {_plural(args[1]) if args else 'values'}"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
            type(None): "null"}.get(hint, str(hint))


def _plural(hint: Any) -> str:
    return {int: "whole numbers", float: "numbers", str: "strings",
            bool: "booleans"}.get(hint) or f"values that are {_describe(hint)}"


# --- facts ------------------------------------------------------------------

def age_seconds(facts: VersionFacts, context: Context) -> Optional[int]:
    """How long before ``context.now`` the version was published, when known."""
    return None if facts.published is None else context.now - facts.published


def raw(facts: VersionFacts) -> Any:
    """The upstream per-version metadata, decoded (``None`` when empty)."""
    return json.loads(facts.raw) if facts.raw else None


def name_matches(pattern: str, name: str) -> bool:
    """Whether ``name`` matches ``pattern``, where ``*`` is any run of
    characters and everything else matches itself (case as written)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), name, re.DOTALL) is not None


# --- host capabilities ------------------------------------------------------

class Host:
    """The host's imports. Tests swap ``gatehouse.host`` for a fake with the
    same attributes (``osv``, ``store``, ``audit``, ``log`` modules or objects)."""

    osv = _osv
    store = _store
    audit = _audit
    log = _log


host: Any = Host()


def advisories_for(facts: Sequence[VersionFacts]) -> list[list[Advisory]]:
    """One OSV question for a batch (one package): the advisories of each
    version, in input order. No call is made for an empty batch."""
    if not facts:
        return []
    first = facts[0]
    return host.osv.affecting(first.ecosystem, first.name, [f.version for f in facts])


class log:
    """Diagnostics into the host's log: ``log.info("...")``."""

    @staticmethod
    def debug(message: str) -> None:
        host.log.log(_log.Level.DEBUG, message)

    @staticmethod
    def info(message: str) -> None:
        host.log.log(_log.Level.INFO, message)

    @staticmethod
    def warn(message: str) -> None:
        host.log.log(_log.Level.WARN, message)

    @staticmethod
    def error(message: str) -> None:
        host.log.log(_log.Level.ERROR, message)


# --- export -----------------------------------------------------------------

Evaluate = Callable[[S, Context, list[VersionFacts]], list[Verdict]]


def run(evaluate: Evaluate[S], settings_cls: type[S], settings: str,
        context: Context, facts: list[VersionFacts]) -> list[Verdict]:
    """Parses the settings, runs ``evaluate`` and checks the verdict count.

    Raises ``componentize_py_types.Err(message)`` for any failure: that is how
    the bindings return the WIT ``result``'s error, which fails the batch.
    """
    try:
        parsed = parse_settings(settings, settings_cls)
    except Exception as e:  # SettingsError, bad JSON, or the dataclass's own checks
        raise Err(f"invalid settings: {e}")
    try:
        verdicts = list(evaluate(parsed, context, facts))
    except Err:
        raise
    except Exception as e:  # a trap would lose the message; an error keeps it
        raise Err(f"{type(e).__name__}: {e}")
    if len(verdicts) != len(facts):
        raise Err(f"policy returned {len(verdicts)} verdicts for {len(facts)} versions")
    for v in verdicts:  # lowering anything else would trap without a message
        if not isinstance(v, Verdict):
            raise Err(f"policy returned {v!r} where a Verdict belongs (use allow/warn/block)")
    return verdicts


def export(evaluate: Evaluate[S], settings_cls: type[S]) -> type:
    """The class the component exports; assign it to ``WitWorld`` in the
    policy module (componentize-py looks for that name)."""

    class WitWorld:
        def evaluate(self, settings: str, context: Context,
                     facts: list[VersionFacts]) -> list[Verdict]:
            return run(evaluate, settings_cls, settings, context, facts)

    return WitWorld
