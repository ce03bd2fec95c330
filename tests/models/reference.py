"""Plain NumPy/Python twins of the Numba kernels: the same equations, one pixel at a time.

Written for readability, not speed, and in float32 with the kernels' operation order, so the
kernels must reproduce them exactly on small inputs.
"""

import numpy as np

from bgsub.models.feedback import foreground_rate_factor

f32 = np.float32

# The kernels alone: none of the stages around them (they have tests of their own).
KERNEL_ONLY = dict(exposure_compensation=False, jitter_compensation=False, ghost_frames=0)


def bound2(threshold, n_channels):
    """The squared-distance bound a threshold sets for ``n_channels`` (stated for three)."""
    return f32(float(threshold) ** 2 * n_channels / 3)


class GaussianReference:
    """Running mean and variance per pixel and channel."""

    def __init__(self, first_frame, var_init):
        pixels = first_frame.reshape(first_frame.shape[0] * first_frame.shape[1], -1)
        self.mean = pixels.astype(np.float32)
        self.var = np.full(pixels.shape, var_init, dtype=np.float32)

    def apply(self, frame, alpha, threshold2, var_min, var_max):
        pixels = frame.reshape(self.mean.shape).astype(np.float32)
        diff = pixels - self.mean
        d2 = np.zeros(len(pixels), dtype=np.float32)
        for c in range(pixels.shape[1]):  # channel order as in the kernel's sum
            d2 += diff[:, c] * diff[:, c] / self.var[:, c]
        self.mean += f32(alpha) * diff
        self.var = np.clip(self.var + f32(alpha) * (diff * diff - self.var), f32(var_min), f32(var_max))
        return np.where(d2 > f32(threshold2), 255, 0).astype(np.uint8)


def ghost_scene(shape, n, seed):
    """A smooth noisy scene; an object stands in it from frame 0 and leaves at frame 8 (a ghost
    for the model that learned it), another stops at frame 4 and stays."""
    rng = np.random.default_rng(seed)
    base = np.linspace(60, 120, shape[0] * shape[1]).reshape(shape[:2])
    base = np.stack([base] * shape[2], axis=2) if len(shape) == 3 else base
    frames = []
    for t in range(n):
        img = base + rng.normal(0, 2, size=shape)
        if t < 8:
            img[1:4, 1:3] = 200
        if t >= 4:
            img[3:5, 4:6] = 10
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def update_components(p, comps, x, a, t2):
    """One pixel's mixture update (``kernels.mixture_kernel``, steps 1 to 5) at learning rate ``a``
    with background threshold ``t2``, on ``comps``, a list of [w, var, mean] in rank order.

    Returns ``(label, nearest2, matched2)``: nearest2 is the smallest ``|x - mu|^2`` over the
    background components before learning (what the feedback mixture measures its dynamics by),
    matched2 the same distance to the component that matched (inf when none did).
    """
    n_channels = len(x)
    g2, ratio = bound2(p.match_threshold, n_channels), f32(p.background_ratio)
    decay, prune = f32(1.0) - a, -a * f32(p.complexity_prior)
    inv_c = f32(1.0 / n_channels)
    matched, background = None, False
    cumulative, nearest2, matched2 = f32(0.0), f32(np.inf), f32(np.inf)
    for comp in comps:
        w, var = comp[0] * decay + prune, comp[1]
        d2 = f32(0.0)
        for c in range(n_channels):
            diff = x[c] - comp[2][c]
            d2 += diff * diff
        in_background = cumulative < ratio
        if in_background and d2 < nearest2:
            nearest2 = d2
        if matched is None:
            if in_background and d2 < t2 * var:
                background = True
            if d2 < g2 * var:
                matched, matched2 = comp, d2
                w += a
                rho = a / w if w > a else f32(1.0)
                comp[2] = comp[2] + rho * (x - comp[2])
                var = var + rho * (d2 * inv_c - var)
                comp[1] = min(max(var, f32(p.var_min)), f32(p.var_max))
        cumulative += w
        comp[0] = w
    comps[:] = [c for c in comps if c[0] > 0]  # a matched weight never dies: c_T <= 0.5
    total = f32(0.0)
    for c in comps:
        total += c[0]
    if background:
        label = 0
    elif p.shadow_tau > 0 and n_channels > 1 and _is_shadow(p, comps, x, t2):
        label = 127
    else:
        label = 255
    if matched is None and a > 0:
        new = [a, f32(p.var_init), x.copy()]
        if len(comps) == p.k:
            total -= comps[-1][0]
            comps[-1] = new
        else:
            comps.append(new)
        total += a
        matched = new
    if matched is not None:
        _rerank(comps, matched)
    if total > 0:
        inv_total = f32(1.0) / total
        for c in comps:
            c[0] = c[0] * inv_total
    return label, nearest2, matched2


def _rerank(comps, comp):
    # Move the one changed component to its place in the order by w / sigma.
    def key(c):
        return c[0] * c[0] / c[1]

    m = next(j for j, c in enumerate(comps) if c is comp)
    while m > 0 and key(comps[m]) > key(comps[m - 1]):
        comps[m - 1], comps[m] = comps[m], comps[m - 1]
        m -= 1
    while m < len(comps) - 1 and key(comps[m]) < key(comps[m + 1]):
        comps[m + 1], comps[m] = comps[m], comps[m + 1]
        m += 1


def _is_shadow(p, comps, x, t2):
    # A darker copy x ~ s mu (tau <= s <= 1) of a background component.
    ratio, tau = f32(p.background_ratio), f32(p.shadow_tau)
    cumulative = f32(0.0)
    for w, var, mu in comps:
        if cumulative >= ratio:
            break
        dot, norm2 = f32(0.0), f32(0.0)
        for c in range(len(x)):
            dot += x[c] * mu[c]
            norm2 += mu[c] * mu[c]
        if norm2 > 0:
            scale = dot / norm2
            if tau <= scale <= 1:
                dist2 = f32(0.0)
                for c in range(len(x)):
                    diff = x[c] - scale * mu[c]
                    dist2 += diff * diff
                if dist2 < t2 * var * scale * scale:
                    return True
        cumulative += w
    return False


class MixtureReference:
    """Adaptive Gaussian mixture, each pixel a Python list of [w, var, mean] components."""

    def __init__(self, first_frame, params):
        self.p = params
        pixels = first_frame.reshape(first_frame.shape[0] * first_frame.shape[1], -1)
        self.width = first_frame.shape[1]
        self.pixels = [
            [[f32(1.0), f32(params.var_init), x.astype(np.float32)]] for x in pixels
        ]
        self.still = np.zeros(len(pixels), np.uint8)

    def apply(self, frame, alpha):
        pixels = frame.reshape(len(self.pixels), -1).astype(np.float32)
        labels = np.zeros(len(self.pixels), dtype=np.uint8)
        matched2 = np.zeros(len(self.pixels), dtype=np.float32)
        t2 = bound2(self.p.threshold, pixels.shape[1])
        for i, x in enumerate(pixels):
            labels[i], _, matched2[i] = update_components(self.p, self.pixels[i], x, f32(alpha), t2)
        absorb_ghosts(self, pixels, labels, matched2)
        return labels

    def canonical(self):
        """(weights, variances, means, counts) padded to K like the model's ``components()``."""
        k, n_channels = self.p.k, len(self.pixels[0][0][2])
        n = len(self.pixels)
        weights, variances = np.zeros((n, k), np.float32), np.zeros((n, k), np.float32)
        means, counts = np.zeros((n, k, n_channels), np.float32), np.zeros(n, np.int64)
        for i, comps in enumerate(self.pixels):
            counts[i] = len(comps)
            for m, (w, var, mu) in enumerate(comps):
                weights[i, m], variances[i, m], means[i, m] = w, var, mu
        return weights, variances, means, counts


# ------------------------------------------------------------------------------------------------
# Feedback mixture (the default model): twin of kernels.mixture_kernel(C, feedback=True)
# ------------------------------------------------------------------------------------------------


class FeedbackReference:
    """Gaussian mixture with per-pixel threshold feedback and selective update, one pixel at a
    time; each pixel is a list of [w, var, mean] components plus its dynamics D."""

    def __init__(self, first_frame, params):
        self.p = params
        self.width = first_frame.shape[1]
        pixels = first_frame.reshape(first_frame.shape[0] * first_frame.shape[1], -1)
        self.pixels = [[[f32(1.0), f32(params.var_init), x.astype(np.float32)]] for x in pixels]
        self.dynamics = np.zeros(len(pixels), np.float32)
        self.labels = np.zeros(len(pixels), np.uint8)
        self.still = np.zeros(len(pixels), np.uint8)

    def apply(self, frame, alpha):
        pixels = frame.reshape(len(self.pixels), -1).astype(np.float32)
        previous = self.labels.copy()
        matched2 = np.zeros(len(self.pixels), dtype=np.float32)
        p = self.p
        self.factor = f32(foreground_rate_factor(alpha, p.stationary_frames, p.background_ratio))
        for i, x in enumerate(pixels):
            self.labels[i], matched2[i] = self._apply_pixel(i, x, previous, f32(alpha))
        absorb_ghosts(self, pixels, self.labels, matched2)
        return self.labels.copy()

    def _scale(self, i):
        p = self.p
        excess = self.dynamics[i] - f32(p.dynamics_floor)
        scale = f32(1.0) + f32(p.dynamics_gain) * (excess if excess > 0 else f32(0.0))
        return scale if scale < f32(p.max_threshold_scale) else f32(p.max_threshold_scale)

    def _quiet(self, previous, i):
        w, n = self.width, len(previous)
        around = [i]
        if i >= w:
            around.append(i - w)
        if i + w < n:
            around.append(i + w)
        if i % w > 0:
            around.append(i - 1)
        if i % w + 1 < w:
            around.append(i + 1)
        return all(previous[j] != 255 for j in around)

    def _apply_pixel(self, i, x, previous, alpha):
        p = self.p
        a = alpha * self.factor if previous[i] == 255 else alpha
        scale = self._scale(i)
        t2 = bound2(p.threshold, len(x)) * (scale * scale)
        label, nearest2, matched2 = update_components(p, self.pixels[i], x, a, t2)
        if label == 0 and a > 0 and self._quiet(previous, i):
            dist = np.sqrt(nearest2 * f32(1.0 / len(x)))
            self.dynamics[i] += f32(p.dynamics_rate) * (dist - self.dynamics[i])
        return label, matched2

    canonical = MixtureReference.canonical


def follow(model, ref, frames, alpha):
    """Feed ``frames[1:]`` (the model and ``ref`` started from ``frames[0]``) to both at rate
    ``alpha``: every label, the live components and the feedback's dynamics (where there are any)
    must be bit-identical. Returns the set of labels seen."""
    labels_seen = set()
    for frame in frames[1:]:
        mask = model.apply(frame, learning_rate=alpha)
        expected = ref.apply(frame, alpha)
        np.testing.assert_array_equal(model.labels.reshape(-1), expected)
        np.testing.assert_array_equal(mask.reshape(-1), np.where(expected == 255, 255, 0))
        labels_seen.update(np.unique(expected).tolist())
    weights, variances, means, counts = model.components()
    rw, rv, rm, rc = ref.canonical()
    np.testing.assert_array_equal(counts, rc)
    live = np.arange(model.params.k)[None, :] < counts[:, None]  # slots past the count are stale
    for got, want in ((weights, rw), (variances, rv), (means, rm)):
        np.testing.assert_array_equal(got[live], want[live])
    if hasattr(ref, "dynamics"):
        np.testing.assert_array_equal(model.dynamics, ref.dynamics)
    if model.params.ghost_frames:
        np.testing.assert_array_equal(model._still, ref.still)
    return labels_seen


# ------------------------------------------------------------------------------------------------
# Ghost absorption: brute-force twin of kernels.ghost_absorb
# ------------------------------------------------------------------------------------------------


def ghost_pixels(frame, labels, still, weights, variances, means, counts, width, threshold2,
                 background_ratio, ghost_frames):
    """Brute-force statement of which pixels ``kernels.ghost_absorb`` absorbs, on the pixel-major
    layout of ``components()``: those still for ``ghost_frames`` frames whose value a background
    component of a non-foreground pixel in the (2 * GHOST_RADIUS + 1)^2 window explains."""
    from bgsub.models.kernels import GHOST_RADIUS

    x = frame.astype(np.float32)
    height = len(labels) // width
    ghosts = []
    for i in np.flatnonzero(still >= ghost_frames):
        row, col = divmod(i, width)
        window = [r * width + c for r in range(row - GHOST_RADIUS, row + GHOST_RADIUS + 1)
                  for c in range(col - GHOST_RADIUS, col + GHOST_RADIUS + 1)
                  if 0 <= r < height and 0 <= c < width]
        if any(_background_explains(x[i], q, labels, weights, variances, means, counts,
                                    threshold2, background_ratio) for q in window):
            ghosts.append(i)
    return ghosts


def _background_explains(x, q, labels, weights, variances, means, counts, threshold2, ratio):
    if labels[q] == 255:
        return False
    before = np.concatenate([[0.0], np.cumsum(weights[q, : counts[q]], dtype=np.float32)[:-1]])
    background = np.flatnonzero(before < f32(ratio))
    d2 = ((x - means[q, background]) ** 2).sum(axis=1)
    return bool(np.any(d2 < f32(threshold2) * variances[q, background]))


def absorb_ghosts(ref, pixels, labels, matched2):
    """The still counts and ghost absorption of a reference model after its update, when its
    parameters ask for them: a foreground pixel whose matched component lay within the still
    bound counts one more frame; each ghost restarts from one component at its value
    (``ref.absorbed`` counts them)."""
    p = ref.p
    if not p.ghost_frames:
        return
    n_channels = pixels.shape[1]
    still2 = f32(float(p.still_threshold) ** 2 * n_channels / 3 * p.var_min)
    held = (labels == 255) & (matched2 < still2)
    ref.still = np.where(held, np.minimum(ref.still.astype(np.int64) + 1, 255), 0).astype(np.uint8)
    weights, variances, means, counts = ref.canonical()
    ghosts = ghost_pixels(pixels, labels, ref.still, weights, variances, means, counts, ref.width,
                          bound2(p.threshold, n_channels), p.background_ratio, p.ghost_frames)
    for i in ghosts:
        ref.pixels[i] = [[f32(1.0), f32(p.var_init), pixels[i].copy()]]
        ref.still[i] = 0
    ref.absorbed = getattr(ref, "absorbed", 0) + len(ghosts)
