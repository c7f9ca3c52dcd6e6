"""The long profile: ``python -m tests.differential --seconds N`` runs new seeds until N
seconds have passed, then prints the steps and checks done; on a disagreement it prints
the seed and a shrunk sequence of operations that reproduces it, and exits 1."""

from __future__ import annotations

import argparse
import random
import sys
import time

from tests.differential.model import Stats, run_seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.differential")
    parser.add_argument("--seconds", type=float, default=300.0, help="how long to run")
    parser.add_argument("--steps", type=int, default=40, help="operations per seed")
    parser.add_argument("--seed", type=int, default=None,
                        help="the first seed (default: random); seeds then count up")
    parser.add_argument("--shrink-seconds", type=float, default=120.0,
                        help="time allowed to shrink a failing sequence")
    parser.add_argument("--keep-going", action="store_true",
                        help="report every failing seed instead of stopping at the first")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    stats = Stats()
    deadline = time.monotonic() + args.seconds
    failed: list[int] = []
    seeds = 0
    while time.monotonic() < deadline:
        failure = run_seed(seed, args.steps, shrink_budget=args.shrink_seconds, stats=stats)
        seeds += 1
        if failure is not None:
            failed.append(seed)
            print(failure.report(), "\n", flush=True)
            if not args.keep_going:
                break
        seed += 1
    print(f"{seeds} seeds, {stats.steps} steps, {stats.checks} checks, "
          f"{len(failed)} failing seeds{': ' + ', '.join(map(str, failed)) if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
