"""Interleaved rounds: the protocol, with a scripted runner, and one real run."""

import random

from smclab.model.experiment import Experiment
from smclab.model.noise import Noise
from smclab.model.result import Samples
from smclab.model.rounds import compare_rounds
from smclab.run import machine
from smclab.run.interleave import measure_interleaved
from smclab.run.interrupt import Interrupted
from smclab.run.worker import Runner

HOST = {"tsc_hz": 1e9}
QUIET = Noise(0.01, 1, 0.0, 0.0, 0.0, 0, 1)


class ShiftingHost:
    """A runner whose every point costs the same, except that the host doubles every cost for
    a stretch in the middle of the run (as the Intel KVM guest did)."""

    def __init__(self, fail=None, slow=range(10, 16)):
        self.calls = []
        self.fail = fail
        self.slow = slow  # call numbers (from 1) in the slow phase: rounds 3 and 4 of 3 points

    def samples(self, exp, tsc_hz):
        self.calls.append(exp)
        if exp.payload == self.fail:
            return "SIGILL: the worker was killed by a signal"
        slow = 2.0 if len(self.calls) in self.slow else 1.0
        n = exp.iterations or 1000
        return Samples(n, [int(n * 100 * slow)], [{}], {}, {}), QUIET


def test_a_slow_phase_hits_every_point_of_a_round_alike():
    runner = ShiftingHost()
    a, b, c = (Experiment(payload=p, repeats=5, events=()) for p in (64, 32, 16))
    ra, rb, rc = measure_interleaved(runner, [a, b, c], HOST, rng=random.Random(3))
    for r in (ra, rb, rc):
        assert len(r.rounds) == 5 and all(len(x) == 1 for x in r.rounds)
        assert r.iterations == 1000 and r.noise is not None
    # the shift is in the data (some rounds cost twice as much) ...
    assert max(ra.round_values()) >= 1.9 * min(ra.round_values())
    # ... and cancels in the per-round comparison
    assert compare_rounds(ra.round_values(), rb.round_values()).verdict == "same"
    # calibration (one per point) plus 5 rounds of 3, each round in a shuffled order
    assert len(runner.calls) == 3 + 15
    orders = [tuple(e.payload for e in runner.calls[3 + 3 * k : 6 + 3 * k]) for k in range(5)]
    assert len(set(orders)) > 1
    # the stored experiment is the one asked for, not the fixed-iteration copy
    assert ra.experiment == a


def test_a_shift_in_the_middle_of_a_round_is_never_called_a_difference():
    for start in range(4, 19):
        runner = ShiftingHost(slow=range(start, start + 5))
        exps = [Experiment(payload=p, repeats=5, events=()) for p in (64, 32, 16)]
        ra, rb, rc = measure_interleaved(runner, exps, HOST, rng=random.Random(start))
        for x, y in ((ra, rb), (ra, rc), (rb, rc)):
            c = compare_rounds(x.round_values(), y.round_values())
            assert c.verdict in ("same", "unclear"), (start, c)


def test_a_point_that_dies_is_an_error_and_the_others_go_on():
    runner = ShiftingHost(fail=32)
    a, b = (Experiment(payload=p, repeats=3, events=()) for p in (64, 32))
    ra, rb = measure_interleaved(runner, [a, b], HOST, rng=random.Random(1))
    assert rb.error and rb.error.startswith("SIGILL") and ra.error is None
    assert len(ra.rounds) == 3


def test_a_stop_between_measurements_interrupts():
    asked = iter([None, None, 15])
    try:
        measure_interleaved(
            ShiftingHost(), [Experiment(events=())] * 2, HOST, stop=lambda: next(asked)
        )
    except Interrupted as e:
        assert e.signum == 15
    else:
        raise AssertionError("not interrupted")


def test_real_rounds_find_the_seed_penalty_against_the_far_store():
    settings = {"repeats": 9, "min_ms": 2.0, "events": ()}
    with Runner() as runner:
        host = machine.host_facts(runner.tsc_hz())
        smc, far = measure_interleaved(
            runner, [Experiment(**settings), Experiment(store="far", **settings)], host
        )
    assert smc.error is None and far.error is None
    c = compare_rounds(smc.round_values(), far.round_values())
    # the direction, not its size (Zen 3 ~4x, Zen 4 ~5x, Intel ~2000x); 9 rounds: one may go
    # the other way on a loaded box and the sign test still says "higher" (8 of 9: p = 0.04)
    assert c.verdict == "higher" and c.low <= c.ratio <= c.high, c


def test_stats_of_one_series_are_compared_round_by_round():
    from smclab.model.result import Stats
    from smclab.model.stats import confidence, differs

    # a slow phase doubled rounds 2 and 4 of both points: their medians and spreads alone would
    # look like noise, the rounds show they are the same, and another point 40% cheaper
    a = Stats(150.0, 100.0, 0.5, rounds=(100.0, 200.0, 101.0, 199.0, 100.0), series="s1")
    b = Stats(150.0, 100.0, 0.5, rounds=(101.0, 199.0, 100.0, 200.0, 101.0), series="s1")
    c = Stats(90.0, 60.0, 0.5, rounds=(60.0, 120.0, 61.0, 119.0, 60.0), series="s1")
    assert not differs(a, b)
    assert differs(a, c) and confidence((a, c)) == "low"  # 5 rounds: p = 1/16 at best
    # the same values from two different runs are not paired: the medians and spreads decide
    apart = Stats(90.0, 60.0, 0.5, rounds=c.rounds, series="s2")
    assert not differs(a, apart)
