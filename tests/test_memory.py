"""The models' state memory: zeroed, writable, and on Linux in a mapping that declines huge pages
(whose first touch can stall the first frames of a new model, see ``bgsub.memory.zeroed_state``)."""

import os
import sys

import numpy as np
import pytest

import bgsub
from bgsub.memory import zeroed_state


def vm_flags(array):
    """The ``VmFlags`` of the mapping in ``/proc/self/smaps`` that holds ``array``'s first byte."""
    address = array.__array_interface__["data"][0]
    inside = False
    with open("/proc/self/smaps", encoding="ascii") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(part, 16) for part in head.split("-"))
                inside = start <= address < end
            elif inside and head == "VmFlags:":
                return set(line.split()[1:])
    raise AssertionError(f"no mapping holds address {address:#x}")


@pytest.mark.parametrize("shape", [(1,), (5, 7, 3), (3, 2073600, 5)])
def test_state_is_zeroed_writable_and_of_its_shape(shape):
    state = zeroed_state(shape)
    assert state.shape == shape and state.dtype == np.float32
    assert state.flags.c_contiguous and state.flags.writeable
    assert not state.any()
    state[...] = 1.5  # every byte of the mapping is the array's
    assert state.sum() == pytest.approx(1.5 * state.size)


def test_other_types_take_their_own_size():
    state = zeroed_state((4, 6), np.uint8)
    assert state.dtype == np.uint8 and state.nbytes == 24 and not state.any()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps is Linux's")
@pytest.mark.parametrize("model", [bgsub.FeedbackMixture, bgsub.GaussianMixture, bgsub.SingleGaussian])
def test_models_learn_in_memory_that_declines_huge_pages(model):
    subtractor = model()
    subtractor.apply(np.zeros((1080, 1920, 3), np.uint8))  # well past numpy's 4 MB huge-page size
    assert "nh" in vm_flags(subtractor._planes)
    # numpy's own large arrays ask for them (``hg``): the flag above is this module's doing
    assert "nh" not in vm_flags(np.zeros((1080, 1920, 5), np.float32))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX's")
def test_a_forked_process_learns_in_its_own_copy_of_the_state():
    # As with numpy's memory: what a child writes stays in the child, and the other way round.
    model = bgsub.FeedbackMixture()
    model.apply(np.full((48, 64, 3), 90, np.uint8))
    before = model._planes.copy()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: learn something else, then report whether its state changed
        os.close(read)
        model._planes[...] = 7.0
        seen = model._planes.copy()
        os.write(write, b"1" if np.all(seen == 7.0) else b"0")
        os._exit(0)
    os.close(write)
    child_saw_its_write = os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(read)
    assert child_saw_its_write
    np.testing.assert_array_equal(model._planes, before)
