"""The sparse linear fit: on synthetic ablations with known weights it finds them, and says how well it fits."""

from __future__ import annotations

import numpy as np
import pytest

from lib.analysis.attribution.fit import alpha_max, fit_linear, lasso, r_squared
from lib.analysis.attribution.planner import random_masks


def _scores(masks, weights, intercept, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    x = np.array(masks, dtype=float)
    return list(x @ np.array(weights) + intercept + rng.normal(0, noise, len(masks)))


def test_recovers_known_sparse_weights_from_random_ablations():
    weights = [0.0] * 30
    weights[4], weights[17], weights[25] = 6.0, 2.5, -1.5  # one message carries the answer, two matter less
    masks = random_masks(30, 48, drop_probability=0.2, seed=1)
    fit = fit_linear(masks, _scores(masks, weights, -20.0, noise=0.05))
    ranked = sorted(range(30), key=lambda i: -fit.weights[i])
    assert ranked[:2] == [4, 17]
    assert min(range(30), key=lambda i: fit.weights[i]) == 25
    assert fit.weights[4] == pytest.approx(6.0, abs=0.5)
    assert sum(abs(w) for i, w in enumerate(fit.weights) if i not in (4, 17, 25)) < 1.0  # sparse
    assert fit.heldout_r2 > 0.9 and fit.samples == 48


def test_exact_linear_data_is_fitted_almost_exactly():
    weights = [1.0, 0.0, 3.0, 0.0, 0.5, 0.0, 2.0, 0.0]
    masks = random_masks(8, 40, drop_probability=0.5, seed=2)
    fit = fit_linear(masks, _scores(masks, weights, 1.0))
    assert np.allclose(fit.weights, weights, atol=0.1)
    assert fit.intercept == pytest.approx(1.0, abs=0.2)
    assert fit.predict((True,) * 8) == pytest.approx(sum(weights) + 1.0, abs=0.2)
    assert fit.train_r2 > 0.99


def test_noise_alone_fits_badly_and_says_so():
    masks = random_masks(20, 48, drop_probability=0.3, seed=3)
    noise = list(np.random.default_rng(4).normal(0, 1, len(masks)))
    fit = fit_linear(masks, noise)
    assert fit.heldout_r2 < 0.3


def test_lasso_zeroes_every_weight_at_alpha_max_and_none_near_zero_alpha():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, size=(40, 5)).astype(float)
    y = x @ np.array([1.0, -2.0, 0.0, 3.0, 0.5]) + 0.3
    top = alpha_max(x, y)
    assert np.allclose(lasso(x, y, top)[0], 0.0)
    w, b = lasso(x, y, top * 1e-6)
    assert np.allclose(w, [1.0, -2.0, 0.0, 3.0, 0.5], atol=1e-3) and b == pytest.approx(0.3, abs=1e-3)


def test_a_unit_kept_by_every_mask_gets_no_weight():
    masks = [(True, kept, other) for kept, other in random_masks(2, 3, drop_probability=0.5, seed=0)] * 4
    fit = fit_linear(masks, [float(m[1]) * 2 for m in masks])
    assert fit.weights[0] == 0.0


def test_r_squared():
    actual = np.array([1.0, 2.0, 3.0])
    assert r_squared(actual, actual) == 1.0
    assert r_squared(actual, np.full(3, 2.0)) == 0.0


def test_too_few_ablations_to_fit():
    with pytest.raises(ValueError):
        fit_linear([(True, False)] * 3, [1.0, 2.0, 3.0])
