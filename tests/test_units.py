"""Durations in frames, seconds or timecodes; sizes in pixels or as a share of the frame."""

import pytest

from bgsub.units import (aperture_pixels, area_pixels, duration_frames, from_text,
                         parse_duration, parse_size)


@pytest.mark.parametrize("value, frames, seconds", [
    (0, 0, None), (15, 15, None), ("15", 15, None), ("15f", 15, None), (" 7 f ", 7, None),
    ("2s", None, 2.0), ("0.5s", None, 0.5), (".25s", None, 0.25), ("1500ms", None, 1.5),
    ("00:00:01.5", None, 1.5), ("01:02:03", None, 3723.0), ("01:30", None, 90.0),
    ("0:00:00.040", None, 0.04),
])
def test_durations_parse_as_frames_or_seconds(value, frames, seconds):
    got_frames, got_seconds = parse_duration(value)
    assert got_frames == frames
    assert got_seconds == pytest.approx(seconds) if seconds is not None else got_seconds is None


@pytest.mark.parametrize("value", [-1, "-2s", "2 h", "1:60", "00:61:00", "1.5", "s", True, 2.5,
                                   None, "1:2:3:4"])
def test_malformed_durations_are_refused(value):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize("value, fps, expected", [
    ("2s", 25, 50), ("2s", 29.97, 60), ("2s", 12.5, 25), ("2s", 60, 120),
    ("00:00:01.5", 30, 45), ("0.5s", 25, 13), ("0.5s", 24, 12), ("1500ms", 10, 15),
    (15, 60, 15), ("15f", 7.5, 15),
])
def test_durations_become_frames_at_the_input_rate(value, fps, expected):
    # The oracle: seconds x fps, rounded half up; frames stay frames at any rate.
    assert duration_frames(value, fps) == expected


@pytest.mark.parametrize("value, pixels, percent", [
    (0, 0, None), (25, 25, None), ("0.01%", None, 0.01), ("2%", None, 2.0), (".5 %", None, 0.5),
    ("100%", None, 100.0),
])
def test_sizes_parse_as_pixels_or_a_percentage(value, pixels, percent):
    assert parse_size(value) == (pixels, percent)


@pytest.mark.parametrize("value", [-1, "25px", "101%", "%", 2.5, True, None])
def test_malformed_sizes_are_refused(value):
    with pytest.raises(ValueError):
        parse_size(value)


def test_areas_are_a_share_of_the_frame_pixels():
    assert area_pixels(25, (1080, 1920)) == 25
    assert area_pixels("0.03%", (240, 320)) == 23       # 23.04
    assert area_pixels("0.03%", (1080, 1920)) == 622    # 622.08
    assert area_pixels("0.01%", (120, 160)) == 2        # 1.92
    assert area_pixels("0.0001%", (120, 160)) == 1      # a nonzero share never becomes 0
    assert area_pixels("0%", (120, 160)) == 0


def test_apertures_are_the_nearest_odd_share_of_the_shorter_side():
    assert aperture_pixels(5, (1080, 1920)) == 5
    assert aperture_pixels("2%", (240, 320)) == 5        # 4.8
    assert aperture_pixels("2%", (1080, 1920)) == 21     # 21.6 -> 21 (23 is farther)
    assert aperture_pixels("2%", (1920, 1080)) == 21     # portrait: the shorter side again
    assert aperture_pixels("2.5%", (240, 320)) == 7      # 6.0 -> 5 or 7: the larger
    assert aperture_pixels("0%", (240, 320)) == 0
    assert aperture_pixels("0.1%", (240, 320)) == 1      # 0.24: at least 1 (no filter)
    for percent in range(1, 40):
        size = aperture_pixels(f"{percent}%", (480, 640))
        exact = percent / 100 * 480
        assert size % 2 == 1 and abs(size - exact) <= 1


def test_command_line_text_becomes_a_config_value():
    assert from_text("12") == 12 and from_text(" 0 ") == 0
    assert from_text("2s") == "2s" and from_text("0.01%") == "0.01%" and from_text("-3") == "-3"
