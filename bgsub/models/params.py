"""Model parameters: one validated, immutable object per model, named after the maths.

Every tunable of a model lives here with its default, its range, one line of help and (for the
common ones) its command-line flag (:func:`bgsub.schema.option`); the CLI, YAML configs and the
Python API all construct these classes, so validation happens in one place and fails with a
one-line :class:`~bgsub.errors.ConfigError` (a ``ValueError``).
"""

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bgsub.schema import Boolean, Interval, Invalid, check_options, option, options

LEVELS2 = 65025.0  # (255 levels)^2: the largest variance a frame can show


def _param(default: Any, lo: float, hi: float, help: str, *, lo_open: bool = False,
           flag: str | None = None, metavar: str | None = None,
           flag_help: str | None = None) -> Any:
    """A numeric parameter in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``): an integer when its
    default is one, None allowed when its default is None."""
    kind = Interval(lo, hi, lo_open, integer=type(default) is int, optional=default is None)
    return option(default, kind, help, flag, metavar, flag_help)


def _documented(cls: type) -> type:
    """``cls`` with its parameters' help appended to its docstring (for ``help()`` and Sphinx)."""
    lines = [f"        {key} (default {default!r}): {opt.help}."
             for key, opt, default in options(cls)]
    cls.__doc__ = f"{cls.__doc__}\n\n    Attributes:\n" + "\n".join(lines)
    return cls


def _redefault(cls: type, name: str, default: Any) -> Any:
    """The parameter ``name`` of ``cls`` (range, help, flag) with another default."""
    base, = (f for f in fields(cls) if f.name == name)
    return field(default=default, metadata=base.metadata)


@_documented
@dataclass(frozen=True)
class GaussianParams:
    """Single Gaussian per pixel and channel (running mean and variance); a pixel is foreground
    when ``sum_c (x_c - mu_c)^2 / var_c > threshold^2``."""

    # A fixed rate a still learns at max(a, 1 / n), so the first frames initialise quickly.
    learning_rate: float | None = _param(
        None, 0.0, 1.0, "alpha; null = 1/min(frame number, history): fast at first, then steady",
        lo_open=True, flag="--learning-rate", metavar="A",
        flag_help="alpha (without it: 1/min(frame number, history), fast at first, then steady)")
    history: int = _param(500, 1, 10**7, "T: frames of memory for the automatic learning rate",
                          flag="--history", metavar="N")
    threshold: float = _param(
        3.5, 0.0, 100.0, "Mahalanobis distance (sigmas, stated for 3 channels) beyond which a "
        "pixel is foreground", lo_open=True, flag="--threshold", metavar="T")
    var_init: float = _param(15.0, 0.0, LEVELS2, "variance of a new component (or a fresh "
                             "Gaussian), (intensity levels)^2",
                             lo_open=True)
    var_min: float = _param(4.0, 0.0, LEVELS2, "lower clamp of a variance: keeps static pixels "
                            "from hair-trigger noise", lo_open=True)
    var_max: float = _param(75.0, 0.0, LEVELS2, "upper clamp of a variance: keeps busy pixels "
                            "from swallowing motion", lo_open=True)

    def __post_init__(self):
        check_options(self)
        if self.var_min > self.var_max:
            raise Invalid(None, f"var_min ({self.var_min}) must not exceed var_max ({self.var_max})")
        if not self.var_min <= self.var_init <= self.var_max:
            raise Invalid("var_init", f"must lie in [var_min, var_max] = [{self.var_min}, "
                                      f"{self.var_max}], got {self.var_init}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the parameters (for configs and checkpoints)."""
        return asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        """The parameter names this model accepts."""
        return [f.name for f in fields(cls)]


@_documented
@dataclass(frozen=True)
class MixtureParams(GaussianParams):
    """Adaptive Gaussian mixture per pixel (Stauffer & Grimson 1999, Zivkovic 2004); ``threshold``
    is the background test against a background component."""

    # Defaults measured with `bgsub eval` (docs/quality.md): the variance floor of 10 (sigma ~3
    # levels) absorbs compressed-video noise; with it, 6 sigmas separates objects from swaying
    # leaves and shadows of leaves; shadow detection is off because it also passes dark objects
    # on grey ground (a dark car on a road) as shadows. ghost_frames and still_threshold were
    # chosen with leave-one-sequence-out scoring (benchmarks/quality_loso.py).
    threshold: float = _param(
        6.0, 0.0, 100.0, "Mahalanobis distance (sigmas, stated for 3 channels) within which a "
        "background component explains a pixel", lo_open=True, flag="--threshold", metavar="T")
    var_init: float = _redefault(GaussianParams, "var_init", 15.0)
    var_min: float = _redefault(GaussianParams, "var_min", 10.0)
    k: int = _param(5, 1, 8, "K: most components per pixel (1..8); Zivkovic's prior lets fewer "
                    "live", flag="--k", metavar="K")
    # Otherwise a new component is started.
    match_threshold: float = _param(4.5, 0.0, 100.0, "distance (sigmas) within which a component "
                                    "matches and learns the pixel", lo_open=True)
    background_ratio: float = _param(0.9, 0.0, 1.0, "T_B: top-ranked components (by weight/sigma) "
                                     "whose weights reach this are background", lo_open=True)
    # Above 0.5 a matched weight could reach 0.
    complexity_prior: float = _param(0.05, 0.0, 0.5, "c_T: weight lost per frame (x alpha) so "
                                     "unsupported components die; 0 = classic Stauffer-Grimson")
    # Always off for gray frames, where brightness alone cannot tell a shadow from a dark object.
    shadow_tau: float = _param(0.0, 0.0, 1.0, "> 0: shadows (darker by a ratio in [tau, 1]) are "
                               "background, 127 in labels; 0 = off, 0.5 catches soft shadows")
    # The gain is the median ratio of the frame to the top components' means over the pixels that
    # were background in the previous frame: a bright object entering no longer turns the whole
    # frame foreground under auto-exposure.
    exposure_compensation: bool = option(True, Boolean(), "divide each frame by the camera's "
                                         "exposure gain (per channel) before matching")
    # The whole-pixel shift phase correlation finds against the top components' means, kept only
    # when it leaves fewer pixels beyond their threshold; the mask is moved back with it. When the
    # shift of the last 50 frames averages a pixel or more, the camera rests somewhere new and the
    # learned state moves there.
    jitter_compensation: bool = option(True, Boolean(), "undo camera shake (whole-pixel shifts) "
                                       "before matching; a lasting move is relearned")
    # A ghost is background that a departed object uncovered; it relearns from its current value.
    # Counted in a byte per pixel.
    ghost_frames: int = _param(3, 0, 255, "frames a foreground pixel must be still before a "
                               "background neighbour (within 2 px) may claim it (ghosts); 0 = off")
    # Stated for three channels, as threshold is: the pixel keeps showing the same colour.
    still_threshold: float = _param(2.0, 0.0, 100.0, "a foreground pixel is still while it matches "
                                    "a component within this many sigmas of var_min", lo_open=True)


@_documented
@dataclass(frozen=True)
class FeedbackParams(MixtureParams):
    """Gaussian mixture with per-pixel feedback (:class:`~bgsub.FeedbackMixture`, the default
    model): each pixel's threshold follows how much its background moves (D, the running average
    of the distance between the pixel and its nearest background component in quiet frames, the
    pixel and its four neighbours background, so passing objects do not count), and foreground
    pixels learn slowly."""

    threshold: float = _param(
        4.5, 0.0, 100.0, "base threshold of a still pixel: the Mahalanobis distance (sigmas, "
        "stated for 3 channels) within which a background component explains it", lo_open=True,
        flag="--threshold", metavar="T")
    # Selective update: a pixel that was foreground in the previous frame learns at the rate
    # 1 - background_ratio ** (1 / N), at which a component new to it reaches the weight
    # 1 - background_ratio of a background one in N frames, whatever the learning rate (from
    # weight 0, without the complexity prior; docs/quality.md gives the frames a stopped object
    # takes). Objects in busy scenes then do not teach the model their colours.
    stationary_frames: int = _param(500, 0, 10**7, "N: frames a stopped object stays foreground "
                                    "(seconds x fps; 500: 20 s at 25 fps); 0 = never absorbed")
    dynamics_floor: float = _param(3.0, 0.0, 255.0, "background motion D (levels, RMS over "
                                   "channels) below which a pixel keeps the base threshold")
    dynamics_gain: float = _param(0.15, 0.0, 100.0, "threshold growth per level of D above the "
                                  "floor")
    max_threshold_scale: float = _param(1.6, 1.0, 100.0, "the most the threshold may grow where "
                                        "the background moves (1 turns the feedback off)")
    dynamics_rate: float = _param(0.02, 0.0, 1.0, "weight of the newest quiet frame in D (about "
                                  "1 / frames of memory)")
