"""An independent float64 statement of the adaptive Gaussian mixture, from the papers' equations.

``reference.py`` is the kernels' float32 twin, step for step, and checks the optimisations. This
module checks the modelling: it states the online update as the papers write it (Stauffer &
Grimson 1999; Zivkovic 2004, "Improved adaptive Gaussian mixture model for background
subtraction"; Zivkovic & van der Heijden 2006), in plain Python floats, with the choices bgsub
documents (spherical covariance, ``threshold`` stated for three channels, ``rho = alpha / w``
capped at 1). For a pixel ``x`` with C channels and components ``(w_m, sigma_m^2, mu_m)``:

* rank: components in decreasing ``w_m / sigma_m``;
* background set B: the first components in rank order, up to the one whose cumulative weight
  first exceeds ``T_B`` (``background_ratio``, ``1 - c_f`` in Zivkovic);
* test: ``x`` is background when ``|x - mu_m|^2 / sigma_m^2 < threshold^2 C / 3`` for some m in B;
* ownership ``o_m``: 1 for the highest-ranked component with
  ``|x - mu_m|^2 / sigma_m^2 < match_threshold^2 C / 3``, 0 for the others;
* update: ``w_m += alpha (o_m - w_m) - alpha c_T``; for the owner, with ``rho = alpha / w_m``,
  ``mu_m += rho (x - mu_m)`` and ``sigma_m^2 += rho (|x - mu_m|^2 / C - sigma_m^2)`` clamped to
  ``[var_min, var_max]``;
* components with ``w_m <= 0`` are discarded (Zivkovic's prior: K adapts per pixel);
* no owner: a new component ``(alpha, var_init, x)``, replacing the lowest-ranked one when K are
  live; the weights are then normalised to sum to 1.

Where the papers leave the kernel a choice, the oracle takes the papers' plain reading, so small
disagreements are expected and measured rather than excluded: the pixel is classified by the model
as it stood before the frame (the kernel uses the weights updated so far), every background
component counts (the kernel stops looking at the first match), and all components are ranked
afresh every frame (the kernel moves only the one that changed).
"""

import math

import numpy as np


def bound2(threshold, n_channels):
    """``threshold`` (sigmas, stated for three channels) as a bound on ``|x - mu|^2 / sigma^2``."""
    return float(threshold) ** 2 * n_channels / 3


def rank_key(component):
    """Stauffer-Grimson's ranking: ``w / sigma``."""
    w, var, _ = component
    return w / math.sqrt(var)


def distance2(x, mu):
    return sum((a - b) ** 2 for a, b in zip(x, mu))


class MixtureOracle:
    """The adaptive Gaussian mixture on every pixel of a frame, each pixel a list of
    ``[w, var, mu]`` components (``mu`` a tuple of floats) in rank order."""

    def __init__(self, first_frame, params):
        self.p = params
        pixels = np.asarray(first_frame, dtype=np.float64).reshape(
            first_frame.shape[0] * first_frame.shape[1], -1)
        self.n_channels = pixels.shape[1]
        self.width = first_frame.shape[1]
        self.pixels = [[[1.0, float(params.var_init), tuple(x)]] for x in pixels.tolist()]

    def apply(self, frame, alpha):
        """Classify ``frame`` and learn from it at rate ``alpha``; returns the labels (255, 0)."""
        xs = np.asarray(frame, dtype=np.float64).reshape(len(self.pixels), -1).tolist()
        t2 = bound2(self.p.threshold, self.n_channels)
        return np.array([255 if not self.update(i, tuple(x), alpha, t2)[0] else 0
                         for i, x in enumerate(xs)], dtype=np.uint8)

    def background_set(self, comps):
        """The components of B: those whose higher-ranked weights sum to at most ``T_B``."""
        chosen, cumulative = [], 0.0
        for comp in comps:
            if cumulative > self.p.background_ratio:
                break
            chosen.append(comp)
            cumulative += comp[0]
        return chosen

    def update(self, i, x, alpha, t2):
        """Pixel ``i`` sees ``x``: returns ``(background, nearest2)`` with ``nearest2`` the
        smallest ``|x - mu|^2`` over the background components, then learns at ``alpha``."""
        p, n_channels = self.p, self.n_channels
        comps = self.pixels[i]
        background, nearest2 = False, math.inf
        for w, var, mu in self.background_set(comps):
            d2 = distance2(x, mu)
            nearest2 = min(nearest2, d2)
            background = background or d2 / var < t2
        g2 = bound2(p.match_threshold, n_channels)
        owner = next((c for c in comps if distance2(x, c[2]) / c[1] < g2), None)
        for comp in comps:
            comp[0] += alpha * ((comp is owner) - comp[0]) - alpha * p.complexity_prior
        if owner is not None:
            w, var, mu = owner
            rho = min(alpha / w, 1.0)
            d2 = distance2(x, mu)
            owner[2] = tuple(m + rho * (v - m) for v, m in zip(x, mu))
            owner[1] = min(max(var + rho * (d2 / n_channels - var), p.var_min), p.var_max)
        comps[:] = [c for c in comps if c[0] > 0]
        if owner is None and alpha > 0:
            if len(comps) == p.k:
                comps.remove(min(comps, key=rank_key))
            comps.append([alpha, float(p.var_init), x])
        total = sum(c[0] for c in comps)
        for comp in comps:
            comp[0] /= total
        comps.sort(key=rank_key, reverse=True)
        return background, nearest2


class FeedbackOracle(MixtureOracle):
    """The feedback mixture as ``docs/quality.md`` states it, on top of :class:`MixtureOracle`:

    * selective update: a pixel that was foreground learns at ``1 - T_B^(1/N)``
      (N = ``stationary_frames``; 0: it does not learn);
    * threshold feedback: D, the running average (rate ``dynamics_rate``) of the RMS distance
      ``sqrt(nearest2 / C)`` to the nearest background component, taken in quiet frames (the
      pixel background, and neither it nor a 4-neighbour foreground in the previous frame),
      scales the threshold by ``min(1 + gain * max(D - floor, 0), max_threshold_scale)``.
    """

    def __init__(self, first_frame, params):
        super().__init__(first_frame, params)
        self.dynamics = [0.0] * len(self.pixels)
        self.labels = np.zeros(len(self.pixels), dtype=np.uint8)

    def scale(self, i):
        p = self.p
        return min(1 + p.dynamics_gain * max(self.dynamics[i] - p.dynamics_floor, 0.0),
                   p.max_threshold_scale)

    def apply(self, frame, alpha):
        p = self.p
        xs = np.asarray(frame, dtype=np.float64).reshape(len(self.pixels), -1).tolist()
        previous = self.labels.reshape(-1, self.width) == 255
        busy = previous.copy()
        busy[1:] |= previous[:-1]
        busy[:-1] |= previous[1:]
        busy[:, 1:] |= previous[:, :-1]
        busy[:, :-1] |= previous[:, 1:]
        previous, busy = previous.reshape(-1), busy.reshape(-1)
        slow = 1 - p.background_ratio ** (1 / p.stationary_frames) if p.stationary_frames else 0.0
        slow = slow if alpha > 0 else 0.0
        t2 = bound2(p.threshold, self.n_channels)
        for i, x in enumerate(xs):
            rate = slow if previous[i] else alpha
            background, nearest2 = self.update(i, tuple(x), rate, t2 * self.scale(i) ** 2)
            self.labels[i] = 0 if background else 255
            if background and rate > 0 and not busy[i]:
                rms = math.sqrt(nearest2 / self.n_channels)
                self.dynamics[i] += p.dynamics_rate * (rms - self.dynamics[i])
        return self.labels.copy()


def random_scene(shape, n_frames, seed):
    """``n_frames`` uint8 frames of ``shape`` in which every pixel draws from a mixture of its
    own: 1 to 3 colours with random probabilities and noise of 1 to 6 levels, plus 3 % uniform
    outliers (passing objects). Halfway, half the pixels switch to a new mixture, so the
    components of the old one lose their support and must die."""
    rng = np.random.default_rng(seed)
    n_pixels = shape[0] * shape[1]
    n_channels = shape[2] if len(shape) == 3 else 1
    rows = np.arange(n_pixels)

    def draw_mixture():
        n_modes = rng.integers(1, 4, size=n_pixels)
        probabilities = rng.dirichlet(np.ones(3), size=n_pixels)
        probabilities[np.arange(3)[None, :] >= n_modes[:, None]] = 0
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        colours = rng.uniform(20, 235, size=(n_pixels, 3, n_channels))
        sigmas = rng.uniform(1, 6, size=(n_pixels, 3))
        return np.cumsum(probabilities, axis=1), colours, sigmas

    mixture = draw_mixture()
    frames = []
    for t in range(n_frames):
        if t == n_frames // 2:
            switch = rng.random(n_pixels) < 0.5
            mixture = tuple(np.where(switch.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
                            for new, old in zip(draw_mixture(), mixture))
        cumulative, colours, sigmas = mixture
        mode = np.minimum((rng.random(n_pixels)[:, None] > cumulative).sum(axis=1), 2)
        noise = rng.normal(0, 1, (n_pixels, n_channels)) * sigmas[rows, mode, None]
        x = colours[rows, mode] + noise
        outlier = rng.random(n_pixels) < 0.03
        x[outlier] = rng.uniform(0, 255, size=(outlier.sum(), n_channels))
        frames.append(np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(shape))
    return frames


def compare(model, oracle, frames, alpha):
    """Feed ``frames[1:]`` to both (started from ``frames[0]``) at ``alpha``; returns the fraction
    of pixel decisions that agree and the fraction of pixels whose components agree at the end
    (the same count, and rank by rank weights within 0.01, variances within 5 %, means within half
    a level)."""
    agree = total = 0
    for frame in frames[1:]:
        mask = model.apply(frame, learning_rate=alpha).reshape(-1)
        agree += np.count_nonzero(mask == oracle.apply(frame, alpha))
        total += mask.size
    weights, variances, means, counts = model.components()
    same = 0
    for i, comps in enumerate(oracle.pixels):
        same += len(comps) == counts[i] and all(
            abs(weights[i, m] - w) < 0.01 and abs(variances[i, m] - var) <= 0.05 * var
            and np.abs(means[i, m] - mu).max() < 0.5
            for m, (w, var, mu) in enumerate(comps))
    return agree / total, same / len(oracle.pixels)
