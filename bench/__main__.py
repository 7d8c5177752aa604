"""`python -m bench [imports|engine|runs|api] [options]`: without a name, every benchmark."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["imports", "engine", "runs", "api"]


def main(argv: list[str]) -> int:
    names = [argv[0]] if argv and argv[0] in BENCHMARKS else BENCHMARKS
    rest = argv[1:] if argv and argv[0] in BENCHMARKS else argv
    status = 0
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"bench: {name} benchmark not present, skipped")
            continue
        status |= module.main(rest)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
