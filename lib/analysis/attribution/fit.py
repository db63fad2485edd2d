"""A sparse linear model of the score over ablation masks: y ≈ b + Σ w_i · kept_i (ContextCite's surrogate).

Lasso by cyclic coordinate descent in numpy (scikit-learn's objective: (1/2n)·‖y − Xw − b‖² + α‖w‖₁),
so no heavy dependency is needed. α is picked from a short path by K-fold cross-validation, and the
fit's quality is the R² of predictions on masks each fold was *not* fitted on: how well the linear
model predicts an ablation it has not seen, the figure the page shows beside the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lib.analysis.attribution.context import Mask

ALPHA_FRACTIONS = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001)  # of the smallest α that zeroes every weight
FOLDS = 4


@dataclass(frozen=True)
class LinearFit:
    weights: tuple[float, ...]  # per unit: what keeping it adds to the score
    intercept: float
    alpha: float
    heldout_r2: float  # cross-validated: predictions for masks outside the fitted folds
    train_r2: float
    samples: int

    def predict(self, mask: Mask) -> float:
        return self.intercept + sum(w for w, kept in zip(self.weights, mask, strict=True) if kept)


def lasso(x: np.ndarray, y: np.ndarray, alpha: float, max_iter: int = 5000, tol: float = 1e-9):
    """Weights and intercept minimising (1/2n)‖y − Xw − b‖² + α‖w‖₁ (coordinate descent on centred data)."""
    n, p = x.shape
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc, yc = x - x_mean, y - y_mean
    norms = (xc**2).sum(axis=0) / n
    w = np.zeros(p)
    residual = yc.copy()
    for _ in range(max_iter):
        largest_step = 0.0
        for j in range(p):
            if norms[j] == 0.0:  # a unit kept (or left out) by every mask: nothing to learn about it
                continue
            old = w[j]
            rho = xc[:, j] @ residual / n + norms[j] * old
            new = np.sign(rho) * max(abs(rho) - alpha, 0.0) / norms[j]
            if new != old:
                residual -= xc[:, j] * (new - old)
                w[j] = new
                largest_step = max(largest_step, abs(new - old))
        if largest_step <= tol * max(1.0, np.abs(w).max()):
            break
    return w, float(y_mean - x_mean @ w)


def alpha_max(x: np.ndarray, y: np.ndarray) -> float:
    """The smallest α for which every weight is zero."""
    xc, yc = x - x.mean(axis=0), y - y.mean()
    return float(np.abs(xc.T @ yc).max() / len(y)) if len(y) else 0.0


def r_squared(actual: np.ndarray, predicted: np.ndarray) -> float:
    total = float(((actual - actual.mean()) ** 2).sum())
    residual = float(((actual - predicted) ** 2).sum())
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _folds(samples: int, folds: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(samples)
    return [order[k::folds] for k in range(folds)]


def _heldout_predictions(x: np.ndarray, y: np.ndarray, alpha: float, folds: list[np.ndarray]) -> np.ndarray:
    predicted = np.empty_like(y)
    for held in folds:
        train = np.setdiff1d(np.arange(len(y)), held)
        w, b = lasso(x[train], y[train], alpha)
        predicted[held] = x[held] @ w + b
    return predicted


def fit_linear(masks: Sequence[Mask], scores: Sequence[float], folds: int = FOLDS, seed: int = 0) -> LinearFit:
    """The Lasso fit of `scores` on `masks`, α chosen by `folds`-fold cross-validation."""
    x = np.array(masks, dtype=float)
    y = np.array(scores, dtype=float)
    if len(y) < folds * 2:
        raise ValueError(f"a fit needs at least {folds * 2} scored ablations, not {len(y)}")
    top = alpha_max(x, y)
    split = _folds(len(y), folds, seed)
    best_alpha, best_r2 = 0.0, -np.inf
    for alpha in [top * f for f in ALPHA_FRACTIONS] or [0.0]:
        score = r_squared(y, _heldout_predictions(x, y, alpha, split))
        if score > best_r2:
            best_alpha, best_r2 = alpha, score
    w, b = lasso(x, y, best_alpha)
    return LinearFit(
        weights=tuple(float(v) for v in w),
        intercept=b,
        alpha=best_alpha,
        heldout_r2=float(best_r2),
        train_r2=r_squared(y, x @ w + b),
        samples=len(y),
    )
