"""The statistics of a verdict (normbench/study/verdicts/stats.py) against hand-computed values:
the t quantile, the paired and the Welch interval, and the three outcomes of each claim kind."""

from __future__ import annotations

import math

import pytest

from normbench.study.verdicts.stats import (FAILS, HOLDS, UNSURE, Diff, beats, bracketed, difference, matches,
                                            not_worse, t95)


@pytest.mark.parametrize("df, value", [(1, 6.314), (2, 2.920), (4, 2.132), (10, 1.812), (30, 1.697),
                                       (40, 1.684), (60, 1.671), (120, 1.658), (1e9, 1.645)])
def test_t_quantile_matches_the_table(df, value):
    assert t95(df) == pytest.approx(value, abs=1.5e-3)


def test_t_quantile_of_a_fractional_df_lies_between_its_neighbours():
    assert t95(2) > t95(2.5) > t95(3)


def test_paired_interval_by_hand():
    # A - B per seed: 1, 2, 3 -> mean 2, sd 1, se 1/sqrt(3), t(2) = 2.920
    a = [(0, 81.0), (1, 82.0), (2, 83.0)]
    b = [(0, 80.0), (1, 80.0), (2, 80.0)]
    d = difference(a, b)
    half = 2.920 / math.sqrt(3)
    assert d.paired and (d.n_a, d.n_b) == (3, 3)
    assert (d.mean, d.lo, d.hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half), abs=1e-3)


def test_pairing_removes_what_the_seed_does_to_both_sides():
    # each seed moves both sides by the same amount: paired, the difference is exactly 1
    a = [(s, 70.0 + 5 * s + 1.0) for s in range(3)]
    b = [(s, 70.0 + 5 * s) for s in range(3)]
    assert difference(a, b).lo == pytest.approx(1.0) and difference(a, b).hi == pytest.approx(1.0)
    unpaired = difference([(None, v) for _, v in a], [(None, v) for _, v in b])
    assert not unpaired.paired and unpaired.lo < 0 < unpaired.hi  # the seed spread swamps it


def test_welch_interval_by_hand():
    a = [(None, 1.0), (None, 2.0), (None, 3.0)]          # mean 2, var 1
    b = [(None, 0.0), (None, 0.0), (None, 3.0), (None, 3.0)]  # mean 1.5, var 3
    qa, qb = 1 / 3, 3 / 4
    df = (qa + qb) ** 2 / (qa ** 2 / 2 + qb ** 2 / 3)
    half = t95(df) * math.sqrt(qa + qb)
    d = difference(a, b)
    assert (d.mean, d.lo, d.hi) == pytest.approx((0.5, 0.5 - half, 0.5 + half))


def test_lower_is_better_flips_the_sign():
    a, b = [(s, 2.0) for s in range(3)], [(s, 2.1) for s in range(3)]
    assert difference(a, b, higher=False).mean == pytest.approx(0.1)  # A's bpb is lower: A is better
    assert difference(a, b, higher=True).mean == pytest.approx(-0.1)


def diff(lo: float, hi: float, n: int = 3) -> Diff:
    return Diff((lo + hi) / 2, lo, hi, n, n, True)


@pytest.mark.parametrize("lo, hi, expected", [(0.2, 3.0, HOLDS),     # above 0
                                              (-3.0, -0.2, FAILS),   # B better
                                              (-0.5, 0.5, FAILS),    # inside the margin (1): no real gain
                                              (-0.5, 3.0, UNSURE)])  # spans 0 and the margin
def test_beats_three_outcomes(lo, hi, expected):
    assert beats(diff(lo, hi), margin=1.0) == expected


@pytest.mark.parametrize("lo, hi, expected", [(-0.8, 0.9, HOLDS),    # inside the margin
                                              (1.2, 3.0, FAILS),     # A better by more than the margin
                                              (-3.0, -1.1, FAILS),   # A worse by more than the margin
                                              (-0.2, 2.0, UNSURE),   # crosses the margin
                                              (-0.1, 0.1, HOLDS)])
def test_matches_three_outcomes(lo, hi, expected):
    assert matches(diff(lo, hi), margin=1.0) == expected


@pytest.mark.parametrize("lo, hi, expected", [(-0.9, 5.0, HOLDS), (-3.0, -1.5, FAILS), (-1.5, 0.5, UNSURE)])
def test_not_worse_three_outcomes(lo, hi, expected):
    assert not_worse(diff(lo, hi), margin=1.0) == expected


@pytest.mark.parametrize("rule", [beats, matches, not_worse])
def test_fewer_than_three_runs_a_side_is_inconclusive_whatever_the_means(rule):
    assert rule(diff(5.0, 6.0, n=2), margin=1.0) == UNSURE
    assert rule(None, margin=1.0) == UNSURE


def test_one_run_a_side_has_an_unbounded_interval():
    d = difference([(0, 80.0)], [(0, 70.0)])
    assert d.mean == 10.0 and d.lo == -math.inf and d.hi == math.inf


def test_bracketed_is_false_at_either_edge_and_true_inside():
    grid = [1e-3, 2e-3, 4e-3]
    assert bracketed(grid, 2e-3) and not bracketed(grid, 1e-3) and not bracketed(grid, 4e-3)
    assert bracketed([2e-3], 2e-3)  # one value: nothing was searched
    assert not bracketed([1e-3, 2e-3], 2e-3)
