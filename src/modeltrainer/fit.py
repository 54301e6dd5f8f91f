"""Fitting the classification head: a stratified held-out split and softmax regression.

The head is multinomial logistic regression with an L2 penalty, fitted by L-BFGS from
scipy (already a project dependency) on standardised features; with a few hundred images
and a thousand features it converges in well under a second.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from classification.model import LinearHead, softmax


def stratified_split(
    targets: np.ndarray, holdout_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices; every class has at least one image on each side."""
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    rng = np.random.default_rng(seed)
    train, held_out = [], []
    for target in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == target))
        if len(members) < 2:
            raise ValueError(
                f"class {target} has {len(members)} image; at least 2 are needed to hold one out"
            )
        count = min(len(members) - 1, max(1, round(len(members) * holdout_fraction)))
        held_out.extend(members[:count])
        train.extend(members[count:])
    return np.sort(np.asarray(train)), np.sort(np.asarray(held_out))


def fit_linear_head(
    features: np.ndarray, targets: np.ndarray, classes: int, *, l2: float, max_iterations: int
) -> LinearHead:
    """Softmax regression on standardised `features` (N, D) for `targets` in 0..classes-1."""
    if l2 < 0 or max_iterations < 0:
        raise ValueError("l2 and max_iterations must be non-negative")
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    x = (features - mean) / scale
    n, dim = x.shape
    onehot = np.eye(classes)[targets]

    def loss_and_gradient(params: np.ndarray) -> tuple[float, np.ndarray]:
        weights, bias = params[: classes * dim].reshape(classes, dim), params[classes * dim :]
        probabilities = softmax(x @ weights.T + bias)
        loss = -np.log(probabilities[np.arange(n), targets] + 1e-12).mean() + 0.5 * l2 * (weights**2).sum()
        error = (probabilities - onehot) / n
        gradient = np.concatenate([(error.T @ x + l2 * weights).ravel(), error.sum(axis=0)])
        return float(loss), gradient

    start = np.zeros(classes * dim + classes)
    if max_iterations:
        result = minimize(
            loss_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iterations}
        )
        start = result.x
    return LinearHead(
        weights=start[: classes * dim].reshape(classes, dim).astype(np.float32),
        bias=start[classes * dim :].astype(np.float32),
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
    )
