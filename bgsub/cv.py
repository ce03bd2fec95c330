"""OpenCV's ``BackgroundSubtractorMOG2`` interface over bgsub's models, for code written for it.

>>> import bgsub.cv
>>> subtractor = bgsub.cv.createBackgroundSubtractorGMM(history=500, varThreshold=16)
>>> mask = subtractor.apply(frame, learningRate=-1)   # 255 foreground, 127 shadow, 0 background

Every value keeps OpenCV's meaning and default; the model underneath is bgsub's
(:class:`~bgsub.GaussianMixture`, :class:`~bgsub.FeedbackMixture` or
:class:`~bgsub.SingleGaussian`). The one translation that is not a renaming is the thresholds:
OpenCV's ``varThreshold`` (and ``varThresholdGen``) bound the squared Mahalanobis distance summed
over the frame's C channels, ``sum_c (x_c - mu_c)^2 / var < varThreshold``, while bgsub states a
threshold T in standard deviations for three channels and tests ``T^2 * C / 3``; so
``T = sqrt(3 * varThreshold / C)``, set once the first frame shows C.
"""

import math

import numpy as np

from bgsub.errors import ConfigError
from bgsub.models import FeedbackMixture, GaussianMixture, SingleGaussian
from bgsub.models.base import REFERENCE_CHANNELS
from bgsub.models.kernels import FOREGROUND, SHADOW

# OpenCV 4's defaults for BackgroundSubtractorMOG2 (bgfg_gaussmix2.cpp), under its own names.
MOG2_DEFAULTS = {
    "history": 500,
    "nmixtures": 5,
    "varThreshold": 16.0,
    "varThresholdGen": 9.0,
    "varInit": 15.0,
    "varMin": 4.0,
    "varMax": 75.0,
    "backgroundRatio": 0.9,
    "complexityReductionThreshold": 0.05,
    "detectShadows": True,
    "shadowValue": 127,
    "shadowThreshold": 0.5,
}
_MIXTURE_ONLY = ("nmixtures", "varThresholdGen", "backgroundRatio", "complexityReductionThreshold")
_MODELS = {"gmm": GaussianMixture, "feedback": FeedbackMixture}


def shadow_labels(pixels, means, variances, threshold2, tau):
    """MOG2's shadow test for one Gaussian per pixel and channel, vectorised over pixels.

    ``pixels``, ``means`` and ``variances`` are (N, C): a pixel is a shadow when it is a darker
    copy of its mean, ``x ~ a * mu`` with the brightness ratio ``a = (x . mu) / (mu . mu)`` in
    ``[tau, 1]``, and what is left, ``sum_c (x_c - a mu_c)^2 / var_c``, stays below
    ``threshold2 * a^2`` (the variance scales with the brightness, by ``a^2``). Returns an (N,)
    bool array.
    """
    x = pixels.astype(np.float32)
    norm2 = np.einsum("nc,nc->n", means, means)
    a = np.einsum("nc,nc->n", x, means) / np.maximum(norm2, np.float32(1e-12))
    residual2 = (((x - a[:, None] * means) ** 2) / variances).sum(axis=1)
    return (norm2 > 0) & (a >= tau) & (a <= 1) & (residual2 < threshold2 * a * a)


class BackgroundSubtractor:
    """A bgsub model behind the methods of OpenCV's ``cv2.BackgroundSubtractorMOG2``.

    Made by :func:`createBackgroundSubtractorGMM` or :func:`createBackgroundSubtractorGaussian`.
    Setters change the running model without forgetting what it learned (``setNMixtures``
    starts it afresh: the state has another layout); values out of bgsub's ranges raise
    :class:`~bgsub.errors.ConfigError` (a ``ValueError``) at once.
    """

    def __init__(self, model_class, settings, extra):
        self._class = model_class
        # A model without a shadow test of its own (the single Gaussian) gets MOG2's here.
        self._adds_shadows = "shadow_tau" not in model_class.params_class.names()
        self._settings = dict(settings)
        self._extra = dict(extra)
        self._model = None
        self._dtype = np.uint8
        self._params(REFERENCE_CHANNELS)  # refuse bad values now, not at the first frame
        for name in (n for n in MOG2_DEFAULTS if n in self._settings):
            for prefix in ("get", "set"):
                method = prefix + name[0].upper() + name[1:]
                setattr(self, method.replace("Nmixtures", "NMixtures"),
                        self._getter(name) if prefix == "get" else self._setter(name))

    # -- OpenCV's methods -----------------------------------------------------------------------
    def apply(self, image, fgmask=None, learningRate=-1):
        """Classify ``image`` and learn from it; returns the uint8 mask (255 foreground,
        ``shadowValue`` for shadows when ``detectShadows``, 0 background).

        ``image`` is H x W or H x W x C (C <= 4), uint8, or float (0..255, rounded);
        ``fgmask``, when an H x W uint8 array, receives the mask and is returned (otherwise a new
        array is); ``learningRate`` below 0 follows the schedule (bgsub's ``1/min(n, history)``),
        0 freezes the model and 1 or more relearns from this frame.
        """
        frame = _as_uint8(image)
        self._dtype = image.dtype  # OpenCV gives the background in the frames' depth
        channels = frame.shape[2] if frame.ndim == 3 else 1
        if self._model is None or self._model.shape != frame.shape:
            self._model = self._class(**self._params(channels))  # a new size starts afresh
        rate = None if learningRate < 0 else min(float(learningRate), 1.0)
        self._model.apply(frame, learning_rate=rate)
        labels = self._model.labels
        if self._settings["detectShadows"] and channels > 1 and self._adds_shadows:
            labels = self._gaussian_shadows(frame, labels)
        out = fgmask if _fits(fgmask, labels.shape) else np.empty_like(labels)
        np.copyto(out, labels)
        if self._settings["detectShadows"] and self._settings["shadowValue"] != SHADOW:
            out[labels == SHADOW] = self._settings["shadowValue"]
        return out

    def getBackgroundImage(self, backgroundImage=None):
        """The learned background, the input's shape (None before the first frame)."""
        background = None if self._model is None else self._model.background_image()
        if background is not None and self._dtype != np.uint8:
            background = background.astype(np.float32)
        if background is not None and _fits(backgroundImage, background.shape, background.dtype):
            np.copyto(backgroundImage, background)
            return backgroundImage
        return background

    def clear(self):
        """Forget everything learned; the next frame starts a new model."""
        self._model = None

    def getDefaultName(self):
        """The algorithm's name, as OpenCV's ``Algorithm.getDefaultName``."""
        return f"bgsub.cv.{self._class.__name__}"

    @property
    def model(self):
        """The bgsub model underneath (None before the first frame): ``labels``,
        ``background_image()``, ``save()``, ..."""
        return self._model

    # -- the mapping ------------------------------------------------------------------------------
    def _params(self, channels):
        """bgsub's parameters for frames of ``channels`` channels (see the module's docstring)."""
        s = self._settings
        params = {"history": s["history"], "var_init": float(s["varInit"]),
                  "var_min": float(s["varMin"]), "var_max": float(s["varMax"]),
                  "threshold": _sigmas(s["varThreshold"], channels, "varThreshold")}
        if "nmixtures" in s:
            params.update(
                k=s["nmixtures"],
                match_threshold=_sigmas(s["varThresholdGen"], channels, "varThresholdGen"),
                background_ratio=float(s["backgroundRatio"]),
                complexity_prior=float(s["complexityReductionThreshold"]),
                shadow_tau=float(s["shadowThreshold"]) if s["detectShadows"] else 0.0)
        if not 0 <= s["shadowThreshold"] <= 1:
            raise ConfigError(f"shadowThreshold: must be in [0, 1], got {s['shadowThreshold']!r}")
        if not 0 <= s["shadowValue"] <= 255:
            raise ConfigError(f"shadowValue: must be in [0, 255], got {s['shadowValue']!r}")
        self._class.params_class(**params, **self._extra)  # validates
        return {**params, **self._extra}

    def _getter(self, name):
        def get():
            return self._settings[name]

        get.__doc__ = f"OpenCV's {name} (default {MOG2_DEFAULTS[name]!r})."
        return get

    def _setter(self, name):
        def set_(value):
            self._set(name, value)

        set_.__doc__ = f"Set OpenCV's {name}; the model keeps what it learned."
        return set_

    def _set(self, name, value):
        kind = type(MOG2_DEFAULTS[name])
        if kind is int and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise TypeError(f"Argument '{name}' is required to be an integer")
        if not isinstance(value, (int, float, np.number)):
            raise TypeError(f"Argument '{name}' must be a number, got {type(value).__name__}")
        previous = self._settings[name]
        self._settings[name] = kind(value)
        try:
            self._params(REFERENCE_CHANNELS)
        except ConfigError:
            self._settings[name] = previous
            raise
        model = self._model
        if model is not None and model.shape is not None:
            channels = model.shape[2] if len(model.shape) == 3 else 1
            try:
                self._model = model.with_params(**self._params(channels))
            except ConfigError:  # the number of components: the state must be relearned
                self._model = None

    def _gaussian_shadows(self, frame, labels):
        """The single Gaussian's labels with MOG2's shadow test on its foreground pixels."""
        flat = labels.reshape(-1)
        foreground = np.flatnonzero(flat == FOREGROUND)
        if len(foreground) == 0:
            return labels
        state = self._model.state[foreground]  # (n, 2, C): means and variances
        pixels = frame.reshape(len(flat), -1)[foreground]
        threshold2 = self._model.distance2_bound(self._model.params.threshold, pixels.shape[1])
        shadow = shadow_labels(pixels, state[:, 0], state[:, 1], np.float32(threshold2),
                               np.float32(self._settings["shadowThreshold"]))
        out = labels.copy()
        out.reshape(-1)[foreground[shadow]] = SHADOW
        return out


def _sigmas(var_threshold, channels, name):
    """bgsub's threshold in sigmas (three-channel statement) for OpenCV's bound on the squared
    distance summed over ``channels`` channels."""
    if isinstance(var_threshold, bool) or not isinstance(var_threshold, (int, float)) \
            or not var_threshold > 0 or not math.isfinite(var_threshold):
        raise ConfigError(f"{name}: must be a positive number, got {var_threshold!r}")
    return math.sqrt(var_threshold * REFERENCE_CHANNELS / channels)


def _as_uint8(image):
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == "f":
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)
    raise ConfigError(f"image must be uint8 or float (0..255), got {image.dtype}")


def _fits(array, shape, dtype=np.uint8):
    return (isinstance(array, np.ndarray) and array.shape == shape and array.dtype == dtype
            and array.flags.writeable)


def createBackgroundSubtractorGMM(history=500, varThreshold=16, detectShadows=True, *,
                                  model="gmm", **params):
    """A Gaussian mixture per pixel with ``cv2.createBackgroundSubtractorMOG2``'s arguments and
    methods (every other value at OpenCV's default: 5 components, varThresholdGen 9, varMin 4,
    ...; change them with the setters).

    ``model`` is ``"gmm"`` (:class:`~bgsub.GaussianMixture`) or ``"feedback"``
    (:class:`~bgsub.FeedbackMixture`, bgsub's default model: varThreshold is then the threshold
    of a still pixel, which the feedback raises where the background moves). ``params`` are bgsub
    parameters without an OpenCV name (``ghost_frames=0``, ``jitter_compensation=False``, ...).
    """
    if model not in _MODELS:
        raise ConfigError(f"model: must be one of {', '.join(_MODELS)}, got {model!r}")
    settings = {**MOG2_DEFAULTS, "history": history, "varThreshold": float(varThreshold),
                "detectShadows": bool(detectShadows)}
    return BackgroundSubtractor(_MODELS[model], settings, _extra(params, _MODELS[model]))


def createBackgroundSubtractorGaussian(history=500, varThreshold=16, detectShadows=True, **params):
    """One Gaussian per pixel and channel (:class:`~bgsub.SingleGaussian`, bgsub's fast model)
    with the arguments and methods of ``cv2.createBackgroundSubtractorMOG2`` that apply to it:
    history, varThreshold, varInit/Min/Max and the shadow settings (no nmixtures,
    varThresholdGen, backgroundRatio or complexityReductionThreshold)."""
    settings = {key: value for key, value in MOG2_DEFAULTS.items() if key not in _MIXTURE_ONLY}
    settings.update(history=history, varThreshold=float(varThreshold),
                    detectShadows=bool(detectShadows))
    return BackgroundSubtractor(SingleGaussian, settings, _extra(params, SingleGaussian))


def _extra(params, model_class):
    """bgsub parameters given by their own names: refused where OpenCV's name sets them."""
    mapped = {"history", "threshold", "var_init", "var_min", "var_max", "k", "match_threshold",
              "background_ratio", "complexity_prior", "shadow_tau", "learning_rate"}
    for key in params:
        if key in mapped:
            raise ConfigError(f"{key}: set by OpenCV's argument or setter of the same meaning")
        if key not in model_class.params_class.names():
            raise ConfigError(f"{model_class.name}: unknown parameter {key!r}")
    return params


__all__ = [
    "BackgroundSubtractor",
    "MOG2_DEFAULTS",
    "createBackgroundSubtractorGMM",
    "createBackgroundSubtractorGaussian",
    "shadow_labels",
]
