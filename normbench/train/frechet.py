"""The Frechet distance between two Gaussians, the formula behind FID.

task=generate reports an FID on the judge classifier's penultimate features (normbench/train/judge.py)
of generated vs real validation images, so a sample-quality number is cheap on a CPU:

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)

tr((S1 S2)^1/2) is computed as tr((S1^1/2 S2 S1^1/2)^1/2), a symmetric PSD matrix, by two
eigendecompositions in float64 (no scipy): negative eigenvalues that rounding makes of zero
ones are clamped to 0, so the result is real and, up to rounding, >= 0.
"""

from __future__ import annotations

import torch


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, covariance) of (n, d) features in float64; the covariance with 1 / (n - 1), as FID's numpy.cov."""
    f = features.detach().to(torch.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature_stats needs (n >= 2, d) features, got {tuple(f.shape)}")
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    sym = (matrix + matrix.T) / 2
    w, v = torch.linalg.eigh(sym)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """The squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (what FID reports)."""
    mu1, mu2, sigma1, sigma2 = (t.to(torch.float64) for t in (mu1, mu2, sigma1, sigma2))
    root1 = psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    tr_covmean = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * tr_covmean)
