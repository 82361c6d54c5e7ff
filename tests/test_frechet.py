"""The Frechet distance (FID's formula, normbench/train/frechet.py) against cases computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from normbench.train.frechet import feature_stats, frechet_distance, psd_sqrt


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_one_dimension_is_the_squared_mean_gap_plus_the_squared_std_gap():
    # N(1, 4) vs N(3, 9): (1 - 3)^2 + (2 - 3)^2 = 5
    assert frechet_distance(t([1.0]), t([[4.0]]), t([3.0]), t([[9.0]])) == pytest.approx(5.0, abs=1e-12)


def test_diagonal_covariances():
    # sum over dims of (sqrt(a) - sqrt(b))^2, plus |mu1 - mu2|^2 = 1 + 4 = 5
    want = 5 + (1 - 2) ** 2 + (3 - 1) ** 2 + (0.5 - 0.5) ** 2
    got = frechet_distance(t([0.0, 0.0, 1.0]), torch.diag(t([1.0, 9.0, 0.25])),
                           t([1.0, 2.0, 1.0]), torch.diag(t([4.0, 1.0, 0.25])))
    assert got == pytest.approx(want, abs=1e-12)


def test_covariances_that_do_not_commute():
    # S1 = [[2, 1], [1, 2]] has eigenvalues 3 and 1; with S2 = I: tr(S1^1/2) = sqrt(3) + 1, so
    # d^2 = 0 + tr(S1) + tr(I) - 2 (sqrt(3) + 1) = 4 + 2 - 2 sqrt(3) - 2
    s1 = t([[2.0, 1.0], [1.0, 2.0]])
    assert frechet_distance(t([0.0, 0.0]), s1, t([0.0, 0.0]), torch.eye(2, dtype=torch.float64)) == \
        pytest.approx(4 - 2 * math.sqrt(3), abs=1e-12)
    # and a rotated pair: S2 = R diag(4, 1) R^T with R a 45 degree rotation = [[2.5, 1.5], [1.5, 2.5]];
    # S1 = diag(4, 1): tr((S1^1/2 S2 S1^1/2)^1/2) = sqrt of the eigenvalues of [[10, 3], [3, 2.5]]
    s1, s2 = torch.diag(t([4.0, 1.0])), t([[2.5, 1.5], [1.5, 2.5]])
    lam = [(12.5 + s * math.sqrt(7.5**2 + 36)) / 2 for s in (1, -1)]
    want = 5 + 5 - 2 * (math.sqrt(lam[0]) + math.sqrt(lam[1]))
    assert frechet_distance(t([0.0, 0.0]), s1, t([0.0, 0.0]), s2) == pytest.approx(want, abs=1e-12)


def test_the_same_gaussian_is_at_distance_zero_even_when_singular():
    cov = t([[1.0, 1.0], [1.0, 1.0]])  # rank 1
    assert frechet_distance(t([2.0, 3.0]), cov, t([2.0, 3.0]), cov) == pytest.approx(0.0, abs=1e-7)


def test_psd_sqrt_and_feature_stats():
    a = t([[2.0, 1.0], [1.0, 2.0]])
    torch.testing.assert_close(psd_sqrt(a) @ psd_sqrt(a), a)
    f = t([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, cov = feature_stats(f)
    torch.testing.assert_close(mu, t([2.0, 4.0]))
    # by hand, 1 / (n - 1): var x = (4 + 0 + 4) / 2 = 4, var y = (9 + 1 + 16) / 2 = 13, cov = (6 + 0 + 8) / 2 = 7
    torch.testing.assert_close(cov, t([[4.0, 7.0], [7.0, 13.0]]))
    with pytest.raises(ValueError, match="needs"):
        feature_stats(t([[1.0, 2.0]]))
