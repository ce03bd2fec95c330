"""Plain NumPy twin of :mod:`bgsub.models.em`, one pixel at a time and vectorised over its
samples: the same initialisation and EM equations, in float64, for the kernels to match."""

import numpy as np


def _component(rows, total, var_min, var_max):
    """(weight, mean, variance) of the samples ``rows`` (an (n, C) float64 array)."""
    mean = rows.mean(axis=0)
    variance = ((rows * rows).sum(axis=1).mean() - mean @ mean) / rows.shape[1]
    return len(rows) / total, mean, float(np.clip(variance, var_min, var_max))


def initialise(x, k, var_min, var_max):
    """Quantile initialisation of one pixel's samples ``x`` (N, C): lists of weights, means,
    variances. Equal-count groups by brightness; a group within 2 sqrt(var_min) RMS per channel
    of the previous kept one joins it."""
    n, channels = x.shape
    order = np.argsort(x.sum(axis=1), kind="stable")
    groups = min(k, n)
    members = []  # the sample rows of each kept component
    for g in range(groups):
        rows = x[order[g * n // groups:(g + 1) * n // groups]]
        if members:
            d = rows.mean(axis=0) - members[-1].mean(axis=0)
            if d @ d < 4.0 * var_min * channels:
                members[-1] = np.concatenate([members[-1], rows])
                continue
        members.append(rows)
    return [list(v) for v in zip(*(_component(rows, n, var_min, var_max) for rows in members))]


def expectation_maximisation(x, weights, means, variances, iterations, tolerance, var_min,
                             var_max, empty=1e-6):
    """EM from the given components; returns ``(weights, means, variances, trace)`` where
    ``trace`` lists the log-likelihood before each M-step. Dropped components get weight 0."""
    x = np.asarray(x, dtype=np.float64)
    n, channels = x.shape
    w, mu, var = (np.array(a, dtype=np.float64) for a in (weights, means, variances))
    trace, previous = [], -np.inf
    if np.count_nonzero(w) < 2:  # one component starts at EM's fixed point
        return w, mu, var, trace
    for _ in range(iterations):
        live = w > 0
        d2 = ((x[:, None, :] - mu[None, live, :]) ** 2).sum(axis=2)
        log_density = (np.log(w[live]) - 0.5 * channels * np.log(2 * np.pi * var[live])
                       - d2 / (2 * var[live]))
        top = log_density.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(log_density - top).sum(axis=1))
        r = np.exp(log_density - log_norm[:, None])
        n_k = r.sum(axis=0)
        for j, k in enumerate(np.flatnonzero(live)):
            if n_k[j] < empty:
                w[k] = 0.0
                continue
            w[k] = n_k[j] / n
            mu[k] = r[:, j] @ x / n_k[j]
            second = r[:, j] @ (x * x).sum(axis=1) / n_k[j]
            var[k] = np.clip((second - mu[k] @ mu[k]) / channels, var_min, var_max)
        log_likelihood = log_norm.sum()
        trace.append(log_likelihood)
        if abs(log_likelihood - previous) < tolerance * n:
            break
        previous = log_likelihood
    return w, mu, var, trace


def visits(x, weights, means, variances):
    """Per component of one pixel (in the order given), how many runs of consecutive samples of
    ``x`` (N, C) it explains best: the densities of all samples at once, then the runs read off
    where the winning component changes."""
    x = np.asarray(x, dtype=np.float64)
    w, mu, var = (np.asarray(a, dtype=np.float64) for a in (weights, means, variances))
    d2 = ((x[:, None, :] - mu[None]) ** 2).sum(axis=2)
    log_density = np.log(w) - 0.5 * x.shape[1] * np.log(var) - 0.5 * d2 / var
    best = log_density.argmax(axis=1)
    starts = np.concatenate([[True], best[1:] != best[:-1]])
    return np.bincount(best[starts], minlength=len(w))
