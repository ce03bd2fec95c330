"""Labels, the slots of a mixture component, and the unsigned offsets the kernels index with."""

import numpy as np


FOREGROUND = 255
SHADOW = 127
BACKGROUND = 0
# Never a final label: the mask's value, within the mixture kernel, of a pixel that the first
# pass left to the rest of the update.
PENDING = 1

# Slots of one mixture component.
WEIGHT = 0
VARIANCE = 1
MEAN = 2


_u = np.uint64  # unsigned offsets: no negative-index wraparound code on every access
_NONE = _u(255)  # "no component matched" (ranks are below 8)
