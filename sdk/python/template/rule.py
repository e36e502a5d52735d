"""The gatehouse-example policy: the rule in sdk/example/RULE.md.

Blocks packages whose name matches a pattern, versions reported malicious and
versions younger than a minimum age; warns about versions with advisories.
`build.sh` turns this module into gatehouse-example.wasm.
"""

from dataclasses import dataclass, field

from gatehouse import (
    DAY, Advisory, Context, SettingsError, Verdict, VersionFacts, advisories_for, age_seconds,
    allow, block, export, name_matches, warn,
)

RULE = "example"


@dataclass
class Settings:
    # Name patterns; `*` matches any run of characters.
    blocked_names: list[str] = field(default_factory=list)
    # Versions published less than this many days ago are held back; 0 is off.
    min_age_days: int = 0

    def __post_init__(self) -> None:
        # Types are checked by parse_settings; ranges are the rule's to say.
        if self.min_age_days < 0:
            raise SettingsError("setting `min_age_days` must not be negative")


def evaluate(settings: Settings, context: Context, facts: list[VersionFacts]) -> list[Verdict]:
    # One OSV question for the whole batch (every version of one package).
    advisories = advisories_for(facts)
    return [check(settings, context, f, advs) for f, advs in zip(facts, advisories)]


def check(settings: Settings, context: Context, f: VersionFacts, advisories: list[Advisory]) -> Verdict:
    for pattern in settings.blocked_names:
        if name_matches(pattern, f.name):
            return block(f'{f.name} matches the blocked name pattern "{pattern}"; '
                         "choose another package", rule=RULE)

    malicious = [a.id for a in advisories if a.malicious]
    if malicious:
        return block(f"{f.name} {f.version} is reported malicious ({', '.join(malicious)})",
                     rule=RULE, advisories=malicious)

    age = age_seconds(f, context)
    if settings.min_age_days > 0 and age is not None and age < settings.min_age_days * DAY:
        return block(f"{f.name} {f.version} is younger than {settings.min_age_days} days; "
                     "use an earlier version", rule=RULE)

    if advisories:
        ids = [a.id for a in advisories]
        return warn(f"{f.name} {f.version} has known advisories: {', '.join(ids)}",
                    rule=RULE, advisories=ids)

    return allow(RULE)


# componentize-py exports the class named `WitWorld` in this module.
WitWorld = export(evaluate, Settings)
