"""Python's `packaging` (pip's PEP 503 name rules) answering a differential
batch: python3 names.py BATCH.json prints {"canonical": [...]}, each name of
the batch's "names" as `canonicalize_name` writes it."""

import json
import sys

from packaging.utils import canonicalize_name


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        batch = json.load(f)
    json.dump({"canonical": [canonicalize_name(n) for n in batch["names"]]}, sys.stdout)


main()
