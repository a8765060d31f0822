"""Statistics of interleaved rounds, on synthetic sequences shaped like real hosts."""

import math
import random

import pytest

from smclab.model.rounds import (
    Comparison,
    compare_rounds,
    compare_samples,
    mann_whitney_p,
    median_interval,
    modes,
    sign_test,
)


def test_sign_test_exact_values():
    assert sign_test(5, 0) == pytest.approx(2 / 32)
    assert sign_test(0, 7) == pytest.approx(2 / 128)
    assert sign_test(3, 3) == 1.0
    assert sign_test(0, 0) == 1.0


def test_median_interval_is_min_max_for_five_and_narrower_for_more():
    assert median_interval([5, 1, 4, 2, 3]) == (1, 5)
    assert median_interval(list(range(1, 10))) == (2, 8)  # n=9: [x2, x8], coverage 96%


def test_a_shift_half_way_through_does_not_make_interleaved_points_differ():
    # the host doubles its cost for the second half of the run (the Intel host did this for
    # minutes); A and B are the same loop, measured in the same rounds
    rng = random.Random(1)
    a, b = [], []
    for r in range(9):
        phase = 2.0 if r >= 4 else 1.0
        a.append(11_000 * phase * rng.uniform(0.98, 1.02))
        b.append(11_000 * phase * rng.uniform(0.98, 1.02))
    c = compare_rounds(a, b)
    assert not c.differs
    assert c.verdict == "same"


def test_the_same_shift_measured_one_after_the_other_would_have_looked_like_a_difference():
    # the counterfactual that motivated interleaving: A's rounds all in the slow phase
    a = [22_000.0 + i for i in range(9)]
    b = [11_000.0 + i for i in range(9)]
    assert compare_rounds(a, b).verdict == "higher"


def test_a_clean_difference_is_found_with_its_confidence():
    rng = random.Random(2)
    b = [100 * rng.uniform(0.97, 1.03) for _ in range(9)]
    a = [x * 0.6 * rng.uniform(0.98, 1.02) for x in b]
    c = compare_rounds(a, b)
    assert c.verdict == "lower" and c.confidence == "high"
    assert 0.55 < c.low <= c.ratio <= c.high < 0.65
    five = compare_rounds(a[:5], b[:5])
    assert five.verdict == "lower" and five.confidence == "low"  # p = 1/16: 5 rounds say little


def test_a_small_effect_is_not_called_a_difference_however_consistent():
    b = [100.0] * 9
    a = [97.0] * 9
    c = compare_rounds(a, b)
    assert c.p < 0.01 and not c.differs and c.verdict == "same"


def test_a_mixed_result_is_unclear():
    a = [50, 150, 60, 140, 55, 160, 100]
    b = [100] * 7
    assert compare_rounds(a, b).verdict == "unclear"


def test_unpaired_input_is_refused():
    with pytest.raises(ValueError):
        compare_rounds([1.0, 2.0], [1.0])


def test_a_bimodal_set_is_two_modes():
    # the Intel jit-block 'plain' loop: 11 of 15 repeats near 2.7k, 4 near 30k ticks/iter
    values = [2700 + i for i in range(11)] + [30_000 + 10 * i for i in range(4)]
    ms = modes(values)
    assert [m.count for m in ms] == [11, 4]
    assert ms[0].value == pytest.approx(2705) and ms[1].value == pytest.approx(30_015)


def test_a_unimodal_set_is_one_mode_and_an_outlier_is_not_a_mode():
    assert len(modes([100, 101, 99, 102, 98])) == 1
    ms = modes([100, 101, 99, 102, 98, 100, 101, 99, 100, 500])
    assert len(ms) == 1 and ms[0].count == 10


def test_comparison_dict_keys():
    c = Comparison(5, 0.5, 0.4, 0.6, 5, 0, 0.0625)
    assert set(c.to_dict()) == {"rounds", "ratio", "low", "high", "p", "verdict", "confidence"}


def test_a_comparison_is_settled_only_when_its_interval_clears_the_noise_floor():
    from smclab.model.result import Stats
    from smclab.suites.diagnose.base import settled, unsettled

    def stats(*rounds):
        return Stats(sorted(rounds)[len(rounds) // 2], min(rounds), 0.01, rounds, "s")

    base = stats(100, 100, 100, 100, 100, 100, 100)
    clear = stats(150, 151, 149, 150, 152, 148, 150)  # every round 1.5x
    same = stats(101, 99, 100, 102, 98, 100, 101)  # within 5% every round
    torn = stats(140, 90, 150, 95, 145, 99, 150)  # median higher, rounds both ways
    assert settled(clear, base) and settled(same, base) and not settled(torn, base)
    assert unsettled([("clear", clear, base), ("same", same, base)]) is None
    why = unsettled([("clear", clear, base), ("torn", torn, base)])
    assert why == "the rounds do not settle torn: the conclusion may change between runs"
    assert not settled(Stats(150, 150, 0.0), Stats(100, 100, 0.0))  # no rounds: not settled


# -- unpaired samples (compare across stored runs) ------------------------------------------


def test_mann_whitney_exact_values():
    assert mann_whitney_p(0, 5, 5) == pytest.approx(2 / 252)  # no overlap, 5 and 5
    assert mann_whitney_p(25, 5, 5) == pytest.approx(2 / 252)
    assert mann_whitney_p(0, 2, 2) == pytest.approx(2 / 6)  # 2 repeats each can show nothing
    assert mann_whitney_p(12.5, 5, 5) == 1.0
    # the normal approximation past EXACT_PAIRS agrees with the exact tail where both apply
    assert mann_whitney_p(1200, 60, 60) == pytest.approx(
        2 * 0.5 * math.erfc((1800 - 1200 - 0.5) / math.sqrt(3600 * 121 / 12) / math.sqrt(2))
    )


def test_two_separated_samples_differ_with_an_interval_around_the_ratio():
    rng = random.Random(3)
    a = [100 * rng.lognormvariate(0, 0.05) for _ in range(7)]
    b = [200 * rng.lognormvariate(0, 0.05) for _ in range(5)]
    c = compare_samples(a, b)
    assert c.verdict == "lower" and c.confidence == "high" and c.p < 0.01
    assert c.low <= c.ratio <= c.high and c.low < 0.5 < c.high
    assert (c.below, c.above) == (35, 0)
    assert compare_samples(b, a).verdict == "higher"


def test_overlapping_samples_are_not_called_different():
    rng = random.Random(4)
    a = [100 * rng.lognormvariate(0, 0.3) for _ in range(5)]
    b = [100 * rng.lognormvariate(0, 0.3) for _ in range(5)]
    c = compare_samples(a, b)
    assert not c.differs and c.low < 1 < c.high
    assert compare_samples([1.0, 1.01], [2.0, 2.02]).verdict == "unclear"  # too few repeats


def test_the_interval_is_the_moses_interval_for_five_and_five():
    """m = n = 5 at 95%: the 3rd smallest and 3rd largest of the 25 pairwise log ratios."""
    a = [1.0, 2.0, 3.0, 4.0, 5.0]
    b = [6.0, 7.0, 8.0, 9.0, 10.0]
    ratios = sorted(x / y for x in a for y in b)
    c = compare_samples(a, b)
    assert c.low == pytest.approx(ratios[2]) and c.high == pytest.approx(ratios[-3])
    assert c.ratio == pytest.approx(ratios[12])


# -- how many rounds a run measures, and what confidence they can reach ----------------------


def test_high_confidence_needs_eight_unanimous_rounds_or_fifteen_with_two_against():
    from smclab.model.rounds import FULL_ROUNDS, RIGOROUS_ROUNDS

    def unanimous(n: int) -> Comparison:
        return compare_rounds([1.0] * n, [2.0] * n)

    assert unanimous(FULL_ROUNDS).confidence == "medium"  # p = 1/64: the default cannot
    assert unanimous(8).confidence == "high"
    two_against = [1.0] * (RIGOROUS_ROUNDS - 2) + [3.0, 3.0]
    assert compare_rounds(two_against, [2.0] * RIGOROUS_ROUNDS).confidence == "high"


@pytest.mark.parametrize(
    "args,rounds",
    [((), 7), (("--quick",), 5), (("--rounds", "9"), 9), (("--rigorous",), 15)],
)
def test_rounds_and_rigorous_reach_advise_and_diagnose(monkeypatch, args, rounds):
    """The options' plumbing, without measuring: the rounds the suites' settings get."""
    import contextlib

    from click.testing import CliRunner

    from smclab.cli import analyse
    from smclab.suites.diagnose import Diagnosis, runner
    from smclab.suites.session import run_settings

    seen = []
    monkeypatch.setattr(analyse, "session", lambda *a: contextlib.nullcontext(None))
    monkeypatch.setattr(analyse, "observed", lambda fn: fn(None))
    monkeypatch.setattr(
        analyse,
        "run_advise",
        lambda s, w, quick, obs, n, budget=None: seen.append(run_settings(quick, n)),
    )

    def diagnosed(s, quick, only, obs, budget=None, rounds=None):
        n = rounds
        seen.append(runner.settings(quick, n))
        return Diagnosis({}, "r", quick, [], [], 0.0, n or 0)

    monkeypatch.setattr(analyse, "run_diagnose", diagnosed)
    monkeypatch.setattr(analyse, "advice", lambda a: "")
    monkeypatch.setattr(analyse, "diagnosis", lambda d: "")
    for command in (analyse.advise, analyse.diagnose):
        result = CliRunner().invoke(command, list(args))
        assert result.exit_code == 0, result.output
    assert [s["repeats"] for s in seen] == [rounds, rounds]


def test_rounds_out_of_range_or_with_rigorous_is_bad_input():
    from conftest import run_cli

    for args in (("--rounds", "4"), ("--rounds", "9", "--rigorous")):
        p = run_cli("advise", *args)
        assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
