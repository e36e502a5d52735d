"""Run a policy natively, under plain CPython, against a fake host.

Not part of the component's logic: it lets `python3 -m unittest` check a rule
without building it. `FakeHost` answers the `osv`, `store`, `audit` and `log`
imports from data; `run_fixture` reads one case file in the format of
`gatehouse policy test --fixtures` and returns the differences (empty: pass).
The host's own runner stays the judge of the built component.

Needs the generated bindings on `sys.path` (`build.sh` writes `bindings/`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bindings"))

import gatehouse  # noqa: E402  (needs the path above)
from componentize_py_types import Err  # noqa: E402
from gatehouse import Action, Advisory, Context, Dependency, Digest, Purpose, Severity, VersionFacts  # noqa: E402
from wit_world.imports import log as _log  # noqa: E402

DEFAULT_NOW = 1_700_000_000
HOST_KEYS = ("mode", "on_error", "timeout_ms", "memory_mb", "enabled")


class FakeHost:
    """Stands in for `gatehouse.host`; records what the policy asked."""

    def __init__(self, advisories: Optional[dict[tuple[str, str, str], list[Advisory]]] = None,
                 store: Optional[dict[str, bytes]] = None) -> None:
        self.advisories = advisories or {}
        self.data = dict(store or {})
        self.osv_calls: list[tuple[str, str, list[str]]] = []
        self.notes: list[tuple[str, str, str, str]] = []
        self.logged: list[tuple[Any, str]] = []
        self.osv = self._Osv(self)
        self.store = self._Store(self)
        self.audit = self._Audit(self)
        self.log = self._Log(self)

    class _Osv:
        def __init__(self, h: "FakeHost") -> None:
            self.h = h

        def affecting(self, ecosystem: str, name: str, versions: list[str]) -> list[list[Advisory]]:
            self.h.osv_calls.append((ecosystem, name, list(versions)))
            return [list(self.h.advisories.get((ecosystem, name, v), [])) for v in versions]

        def advisories(self, ecosystem: str, name: str) -> list:
            return []

    class _Store:
        def __init__(self, h: "FakeHost") -> None:
            self.h = h

        def get(self, key: str) -> Optional[bytes]:
            return self.h.data.get(key)

        def set(self, key: str, value: bytes, ttl_seconds: Optional[int]) -> None:
            if key.startswith("gatehouse/"):
                raise Err(f"{key} is read-only")
            self.h.data[key] = bytes(value)

        def delete(self, key: str) -> None:
            self.h.data.pop(key, None)

    class _Audit:
        def __init__(self, h: "FakeHost") -> None:
            self.h = h

        def note(self, ecosystem: str, name: str, version: str, message: str) -> None:
            self.h.notes.append((ecosystem, name, version, message))

    class _Log:
        Level = _log.Level

        def __init__(self, h: "FakeHost") -> None:
            self.h = h

        def log(self, level: Any, message: str) -> None:
            self.h.logged.append((level, message))


def facts(ecosystem: str, name: str, version: str, **fields: Any) -> VersionFacts:
    """Version facts with everything not given left empty (`raw` is `{}`)."""
    f = VersionFacts(ecosystem, name, version, None, None, [], None, None, None, [], [], "{}")
    for key, value in fields.items():
        setattr(f, key, value)
    return f


def context(now: int = DEFAULT_NOW, purpose: Purpose = Purpose.METADATA,
            requester: Optional[str] = None) -> Context:
    return Context(purpose, now, requester)


def advisory(id: str, **fields: Any) -> Advisory:
    """An advisory; `malicious` defaults to whether the id is a `MAL-` one."""
    a = Advisory(id, [], "", id.startswith("MAL-"), None, Severity.UNKNOWN, [], 0)
    for key, value in fields.items():
        setattr(a, key, value)
    return a


def _fixture_facts(f: dict) -> VersionFacts:
    return facts(
        f["ecosystem"], f["name"], f["version"],
        published=f.get("published"), license=f.get("license"),
        install_scripts=f.get("install_scripts", []), deprecated=f.get("deprecated"),
        yanked=f.get("yanked"), size=f.get("size"),
        digests=[Digest(d["algorithm"], d["hex"]) for d in f.get("digests", [])],
        dependencies=[Dependency(d["name"], d.get("requirement", ""), d.get("kind", ""))
                      for d in f.get("dependencies", [])],
        raw=f.get("raw", "{}"),
    )


def _fixture_advisory(a: dict) -> Advisory:
    severity = {"moderate": "medium"}.get(a.get("severity", "unknown"), a.get("severity", "unknown"))
    return advisory(
        a["id"], aliases=a.get("aliases", []), summary=a.get("summary", ""),
        malicious=a.get("malicious", a["id"].startswith("MAL-")), score=a.get("score"),
        severity=Severity[severity.upper()], fixed=a.get("fixed", []),
        modified=a.get("modified", 0),
    )


def run_fixture(path: Path, evaluate: Callable[[str, Context, list[VersionFacts]], list]) -> list[str]:
    """Runs one case file through `evaluate` (a `WitWorld().evaluate`) with a
    `FakeHost`; returns what differs from the case's expectations."""
    case = json.loads(Path(path).read_text())
    settings = dict(case.get("settings") or {})
    settings.update(case.get("ecosystem_settings") or {})
    for key in HOST_KEYS:
        settings.pop(key, None)
    c = case.get("context", {})
    ctx = context(c.get("now", DEFAULT_NOW), Purpose[c.get("purpose", "metadata").upper()],
                  c.get("requester"))
    advisories: dict[tuple[str, str, str], list[Advisory]] = {}
    for a in case.get("advisories", []):
        key = (a["ecosystem"], a["name"], a["version"])
        advisories.setdefault(key, []).append(_fixture_advisory(a["advisory"]))
    store = {k: v.encode() for k, v in case.get("store", {}).items()}
    batch = [_fixture_facts(f) for f in case["facts"]]

    saved, gatehouse.host = gatehouse.host, FakeHost(advisories, store)
    wanted_error = case.get("expect_error")
    try:
        verdicts = evaluate(json.dumps(settings), ctx, batch)
    except Err as e:
        if wanted_error is None:
            return [f"the policy failed the batch: {e.value}"]
        if wanted_error not in e.value:
            return [f"the batch failed with {e.value!r}, which does not contain {wanted_error!r}"]
        return []
    finally:
        gatehouse.host = saved
    if wanted_error is not None:
        return [f"expected the batch to fail with an error containing {wanted_error!r}, got {len(verdicts)} verdicts"]

    problems = []
    expect = case.get("expect", [])
    if len(verdicts) != len(expect):
        problems.append(f"expected {len(expect)} verdicts, got {len(verdicts)}")
    for i, (want, got) in enumerate(zip(expect, verdicts)):
        at = f"#{i} {batch[i].name}@{batch[i].version}" if i < len(batch) else f"#{i}"
        action = got.action.name.lower()
        if action != want["action"]:
            problems.append(f"{at}: expected {want['action']}, got {action} (reason: {got.reason!r})")
        if got.action != Action.ALLOW and not got.reason.strip():
            problems.append(f"{at}: a {action} must carry a reason")
        for needle in want.get("reason_contains", []):
            if needle not in got.reason:
                problems.append(f"{at}: reason {got.reason!r} does not contain {needle!r}")
        if "advisories" in want and set(want["advisories"]) != set(got.advisories):
            problems.append(f"{at}: advisories {sorted(got.advisories)}, expected {sorted(want['advisories'])}")
    return problems
