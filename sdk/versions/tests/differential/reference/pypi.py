"""Python's `packaging` (what pip and uv's PEP 440 rules follow) answering a
differential batch: python3 pypi.py BATCH.json prints
{valid, rank, range_valid, satisfies}."""

import json
import sys

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version


def parse(text, kind):
    try:
        return kind(text)
    except (InvalidVersion, InvalidSpecifier):
        return None


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        batch = json.load(f)
    versions = [parse(v, Version) for v in batch["versions"]]
    order = sorted((i for i, v in enumerate(versions) if v is not None), key=lambda i: versions[i])
    rank = [None] * len(versions)
    current = 0
    for n, i in enumerate(order):
        if n > 0 and versions[order[n - 1]] != versions[i]:
            current += 1
        rank[i] = current
    ranges = [parse(r, SpecifierSet) for r in batch["ranges"]]
    satisfies = [
        ranges[r].contains(batch["versions"][v], prereleases=True)
        if versions[v] is not None and ranges[r] is not None
        else None
        for v, r in batch["pairs"]
    ]
    json.dump(
        {
            "valid": [v is not None for v in versions],
            "rank": rank,
            "range_valid": [r is not None for r in ranges],
            "satisfies": satisfies,
        },
        sys.stdout,
    )


main()
