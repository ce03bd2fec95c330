"""Model parameters: one validated, immutable object per model, named after the maths.

Every tunable of a model lives here with its default; the CLI, YAML configs and the Python API all
construct these classes, so validation happens in one place and fails with a one-line
:class:`~bgsub.errors.ConfigError` (a ``ValueError``).
"""

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from bgsub.errors import ConfigError


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: must be true or false, got {value!r}")


def _check_range(name, value, lo, hi, integer, lo_open):
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise ConfigError(f"{name}: must be {kind}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes both bounds
        raise ConfigError(f"{name}: must be a finite number, got {value!r}")
    below = value <= lo if lo_open else value < lo
    if below or value > hi:
        left = "(" if lo_open else "["
        raise ConfigError(f"{name}: must be in {left}{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class GaussianParams:
    """Single Gaussian per pixel and channel (running mean and variance).

    Attributes:
        learning_rate: alpha, the weight of the newest frame in the running mean and variance.
            ``None`` follows the schedule ``1 / min(n, history)`` (fast on the first frames);
            a number ``a`` learns at ``max(a, 1 / n)`` so the first frames still initialise quickly.
        history: T, the effective memory in frames used by the automatic schedule.
        threshold: lambda, the Mahalanobis threshold in standard deviations: a pixel is foreground
            when ``sum_c (x_c - mu_c)^2 / var_c > lambda^2``.
        var_init: variance given to a fresh model (first frame), in (intensity levels)^2.
        var_min: lower clamp of the variance: keeps noise-free pixels from becoming hair-triggers.
        var_max: upper clamp of the variance: keeps busy pixels from swallowing real motion.
    """

    learning_rate: float | None = None
    history: int = 500
    threshold: float = 3.5
    var_init: float = 15.0
    var_min: float = 4.0
    var_max: float = 75.0

    # name: (low, high, whether low itself is refused); a subclass lists only its own parameters.
    RANGES = {
        "learning_rate": (0.0, 1.0, True),
        "history": (1, 10**7, False),
        "threshold": (0.0, 100.0, True),
        "var_min": (0.0, 65025.0, True),
        "var_max": (0.0, 65025.0, True),
        "var_init": (0.0, 65025.0, True),
    }

    def __post_init__(self):
        # A parameter whose default is None (learning_rate: the schedule) may stay None.
        fields_by_name = {f.name: f for f in fields(self)}
        for field in fields_by_name.values():
            if field.type is bool:
                _check_bool(field.name, getattr(self, field.name))
        for cls in reversed(type(self).__mro__):
            for name, (lo, hi, lo_open) in vars(cls).get("RANGES", {}).items():
                value, field = getattr(self, name), fields_by_name[name]
                if value is not None or field.default is not None:
                    _check_range(name, value, lo, hi, field.type is int, lo_open)
        if self.var_min > self.var_max:
            raise ConfigError(f"var_min ({self.var_min}) must not exceed var_max ({self.var_max})")
        if not self.var_min <= self.var_init <= self.var_max:
            raise ConfigError(
                f"var_init: must lie in [var_min, var_max] = [{self.var_min}, {self.var_max}], "
                f"got {self.var_init}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the parameters (for configs and checkpoints)."""
        return asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        """The parameter names this model accepts."""
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class MixtureParams(GaussianParams):
    """Adaptive Gaussian mixture per pixel (Stauffer & Grimson 1999, Zivkovic 2004).

    Attributes (in addition to :class:`GaussianParams`, where ``threshold`` is the background test
    against a background component):
        k: K, the most components a pixel may hold (1..8); Zivkovic's prior lets fewer live.
        match_threshold: the Mahalanobis distance (in sigmas) within which a component matches and
            learns from the pixel; otherwise a new component is started.
        background_ratio: T_B; components ranked by weight/sigma, the first ones whose weights sum
            past this ratio are background.
        complexity_prior: c_T; each frame every weight also loses ``alpha * c_T`` so components the
            data does not support die out (0 disables it: classic Stauffer-Grimson).
        shadow_tau: lower bound of the brightness ratio for a foreground pixel to count as a shadow
            of a background component (shadows are background in the mask, 127 in the labels);
            0 (the default) turns shadow detection off, 0.5 catches soft shadows; it is always
            off for gray frames, where brightness alone cannot tell a shadow from a dark object.
        exposure_compensation: divide each frame by the camera's exposure gain, per channel,
            before matching: the median ratio of the frame to the top components' means over
            the pixels that were background in the previous frame. Auto-exposure then no longer
            turns the whole frame foreground when a bright object enters.
        jitter_compensation: undo camera shake before matching: the whole-pixel shift that phase
            correlation finds against the top components' means, kept only when it leaves fewer
            pixels beyond their threshold; the mask is moved back with it. When the shift of
            the last 50 frames averages a pixel or more, the camera rests somewhere new and the
            learned state moves there.
        ghost_frames: a foreground pixel that has been still for this many frames (see
            ``still_threshold``) and that the model of a background pixel within two pixels would
            call background is a ghost (background that a departed object uncovered) and
            relearns from its current value; 0 turns ghost absorption off.
        still_threshold: a foreground pixel counts as still while it matches a component within
            this distance (in sigmas of ``var_min``, stated for three channels as ``threshold``
            is): it keeps showing the same colour.
    """

    # Defaults measured with `bgsub eval` (docs/quality.md): the variance floor of 10 (sigma ~3
    # levels) absorbs compressed-video noise; with it, 6 sigmas separates objects from swaying
    # leaves and shadows of leaves; shadow detection is off because it also passes dark objects
    # on grey ground (a dark car on a road) as shadows. ghost_frames and still_threshold were
    # chosen with leave-one-sequence-out scoring (benchmarks/quality_loso.py).
    threshold: float = 6.0
    var_init: float = 15.0
    var_min: float = 10.0
    k: int = 5
    match_threshold: float = 4.5
    background_ratio: float = 0.9
    complexity_prior: float = 0.05
    shadow_tau: float = 0.0
    exposure_compensation: bool = True
    jitter_compensation: bool = True
    ghost_frames: int = 3
    still_threshold: float = 2.0

    RANGES = {
        "k": (1, 8, False),
        "ghost_frames": (0, 255, False),  # counted in a byte per pixel
        "still_threshold": (0.0, 100.0, True),
        "match_threshold": (0.0, 100.0, True),
        "background_ratio": (0.0, 1.0, True),
        "complexity_prior": (0.0, 0.5, False),  # above, a matched weight could reach 0
        "shadow_tau": (0.0, 1.0, False),
    }


@dataclass(frozen=True)
class FeedbackParams(MixtureParams):
    """Gaussian mixture with per-pixel feedback (:class:`~bgsub.FeedbackMixture`, the default
    model): each pixel's threshold follows how much its background moves, and foreground pixels
    learn slowly.

    Attributes (in addition to :class:`MixtureParams`; ``threshold`` is the base threshold of a
    still pixel):
        stationary_frames: N, how long a stopped object stays foreground (selective update): a
            pixel that was foreground in the previous frame learns at the rate
            ``1 - background_ratio ** (1 / N)``, at which a component new to it reaches the
            weight ``1 - background_ratio`` of a background one in N frames, whatever the learning
            rate (from weight 0, without the complexity prior; docs/quality.md gives the frames a
            stopped object takes). Objects in busy scenes then do not teach the model their colours.
            Frames are seconds times the frame rate (500: 20 s at 25 fps); 0 never absorbs a
            stopped object (nor a ghost that ghost absorption leaves).
        dynamics_floor: D below this (intensity levels, RMS over channels) is camera noise: the
            pixel keeps the base threshold. D is the running average of the distance between the
            pixel and its nearest background component in quiet frames (the pixel and its four
            neighbours background), so passing objects do not count.
        dynamics_gain: the threshold grows by this fraction per level of D above the floor.
        max_threshold_scale: the most the threshold may grow (1 turns the feedback off).
        dynamics_rate: weight of the newest quiet frame in D (about 1 / frames of memory).
    """

    threshold: float = 4.5
    stationary_frames: int = 500
    dynamics_floor: float = 3.0
    dynamics_gain: float = 0.15
    max_threshold_scale: float = 1.6
    dynamics_rate: float = 0.02

    RANGES = {
        "stationary_frames": (0, 10**7, False),
        "dynamics_floor": (0.0, 255.0, False),
        "dynamics_gain": (0.0, 100.0, False),
        "max_threshold_scale": (1.0, 100.0, False),
        "dynamics_rate": (0.0, 1.0, False),
    }
