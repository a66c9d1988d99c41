#!/usr/bin/env python3
"""A model of the rollout guard on the fleet benchmark's scenario, to see
rates that 100 seeds cannot show (a 0.3% false-halt rate looks like 0 or 1
in 100). It is not liveship: it re-implements the guard's rules from
shared/src/rollout/mod.rs (min_devices, the 99% Wilson ceiling, the SPRT with
the baseline at the upper end of its interval) over the same fleet (25,000
devices opening the app every 2 h, 10% not yet on the baseline, plan
1,5,25,100 with 2 h steps, 10-minute ticks). The real figures are the
fleet benchmark's (bench/README.md, "Rollout guard").

  python3 -m venv .venv/model && .venv/model/bin/pip install numpy
  .venv/model/bin/python bench/guard-model.py --runs 500 --z 1.0 1.645 1.96
"""
import argparse
import math

import numpy as np

FLEET, STALE, BASE_RATE = 25_000, 0.10, 0.005
PLAN, STEP, TICK, OPEN_EVERY, LIMIT = [1, 5, 25, 100], 7200, 600, 7200.0, 36 * 3600
MIN_DEVICES, CEILING, RATIO, MIN_INCREASE, FALSE_HALT = 200, 0.10, 4.0, 0.005, 0.005
Z99, FLOOR = 2.326, 0.001


def wilson(x, n, z):
    p = x / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(c - h, 0.0), min(c + h, 1.0)


def run(rng, z, new_rate):
    """One rollout: ('halted' | 'completed' | 'timeout', share of the fleet
    that got the build)."""
    bucket = rng.random(FLEET) * 100
    stale = rng.random(FLEET) < STALE
    fails_new = rng.random(FLEET) < new_rate
    fails_base = rng.random(FLEET) < BASE_RATE
    next_open = rng.exponential(OPEN_EVERY, FLEET)
    updated = np.zeros(FLEET, bool)
    took_new = np.zeros(FLEET, bool)
    step, started, t = 0, 0, 0
    halt_at = math.log(1 / FALSE_HALT)
    while t < LIMIT:
        t += TICK
        while True:
            opening = np.nonzero(next_open <= t)[0]
            if len(opening) == 0:
                break
            for i in opening:
                if not updated[i]:
                    if bucket[i] < PLAN[step]:
                        updated[i] = took_new[i] = True
                    elif stale[i]:
                        updated[i] = True
            next_open[opening] += rng.exponential(OPEN_EVERY, len(opening))
        n = int(took_new.sum())
        x = int((took_new & fails_new).sum())
        base = updated & ~took_new
        nb, xb = int(base.sum()), int((base & fails_base).sum())
        if n < MIN_DEVICES:
            continue
        if wilson(x, n, Z99)[0] > CEILING:
            return "halted", n / FLEET
        if nb >= MIN_DEVICES:
            p0 = max(wilson(xb, nb, z)[1], FLOOR)
            p1 = min(max(p0 * RATIO, p0 + MIN_INCREASE), 0.999)
            llr = x * math.log(p1 / p0) + (n - x) * math.log((1 - p1) / (1 - p0))
            if llr >= halt_at:
                return "halted", n / FLEET
        if t - started >= STEP:
            if step + 1 == len(PLAN):
                return "completed", n / FLEET
            step, started = step + 1, t
    return "timeout", float(took_new.sum()) / FLEET


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--z", type=float, nargs="+", default=[1.96])
    a = ap.parse_args()
    for z in a.z:
        rng = np.random.default_rng(a.seed)
        good = [run(rng, z, BASE_RATE) for _ in range(a.runs)]
        bad = [run(rng, z, 0.05) for _ in range(a.runs)]
        false_halts = sum(o == "halted" for o, _ in good)
        late = sum(share > 0.02 for _, share in bad)
        unhalted = sum(o != "halted" for o, _ in bad)
        print(
            f"z={z}: good build falsely halted {false_halts}/{a.runs} ({100 * false_halts / a.runs:.1f}%), "
            f"not completed {sum(o != 'completed' for o, _ in good)}; bad build halted after 2% of the fleet "
            f"{late}/{a.runs} ({100 * late / a.runs:.1f}%), never halted {unhalted}, "
            f"most {100 * max(s for _, s in bad):.2f}%"
        )


if __name__ == "__main__":
    main()
