"""Post-processing: region of interest (image and YAML polygons), median, morphology, blobs."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import read_masks

from bgsub.config import DEFAULTS, PostprocessConfig, load_config, resolve
from bgsub.errors import ConfigError
from bgsub.postprocess import (BOX_COLOUR, Blob, PostProcessor, binary_median, draw_boxes,
                               find_blobs, morphology, on_tiles, remove_small_blobs, roi_mask,
                               screened)
from bgsub.units import area_pixels

# An L-shaped (concave) region: its outside corner at (20, 20) is where filters used to leak.
L_SHAPE = [[0, 0], [40, 0], [40, 20], [20, 20], [20, 40], [0, 40]]


def post(**settings):
    """A PostProcessor with every filter off except those given (independent of the defaults)."""
    explicit = {"median": 0, "open": 0, "close": 0, "min_area": 0, "roi": None, **settings}
    return PostProcessor(resolve({"postprocess": explicit}).postprocess)


# --- region of interest -------------------------------------------------------------------------

def test_polygon_roi_is_filled_inclusive_of_its_edges():
    mask = roi_mask([[2, 1], [6, 1], [6, 4], [2, 4]], (8, 10))
    expected = np.zeros((8, 10), np.uint8)
    expected[1:5, 2:7] = 255
    assert np.array_equal(mask, expected)


def test_several_polygons_and_float_points():
    mask = roi_mask([[[0, 0], [3, 0], [3, 3], [0, 3]], [[6.4, 5.6], [9, 6], [9, 9], [6, 9]]],
                    (10, 10))
    assert mask[1, 1] == 255 and mask[8, 8] == 255
    assert mask[5, 5] == 0 and mask[0, 9] == 0


def test_roi_image_nonzero_is_inside_and_is_resized_to_the_frame(tmp_path):
    image = np.zeros((10, 20), np.uint8)
    image[:, 10:] = 1  # any nonzero value counts as inside
    path = tmp_path / "roi.png"
    cv2.imwrite(str(path), image)
    mask = roi_mask(str(path), (20, 40))
    assert mask.shape == (20, 40)
    assert (mask[:, 20:] == 255).all() and (mask[:, :20] == 0).all()


def test_missing_roi_image_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read ROI image"):
        roi_mask(str(tmp_path / "none.png"), (4, 4))


@pytest.mark.parametrize("settings", [
    {"median": 3}, {"median": 5}, {"median": 0, "close": 5}, {"median": 3, "open": 3, "close": 7},
])
def test_filters_never_spill_out_of_a_concave_roi(settings):
    processor = post(roi=L_SHAPE, **settings)
    out = processor(np.full((48, 48), 255, np.uint8))
    inside = processor.roi((48, 48)) > 0
    assert not out[~inside].any()
    assert out[5:15, 5:15].all()  # the inside is kept


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    density=st.floats(0.0, 1.0),
    median=st.sampled_from([0, 3, 5]),
    opening=st.sampled_from([0, 3]),
    closing=st.sampled_from([0, 3, 7]),
    min_area=st.integers(0, 20),
    polygon=st.lists(st.tuples(st.integers(-5, 40), st.integers(-5, 30)), min_size=3, max_size=8),
)
def test_pixels_outside_the_roi_are_never_foreground(seed, density, median, opening, closing,
                                                     min_area, polygon):
    rng = np.random.default_rng(seed)
    mask = np.where(rng.random((24, 32)) < density, 255, 0).astype(np.uint8)
    processor = post(roi=[list(p) for p in polygon], median=median, open=opening, close=closing,
                     min_area=min_area)
    out = processor(mask)
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 255}
    assert not out[processor.roi(mask.shape) == 0].any()


def test_yaml_polygon_roi_is_validated_with_its_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("postprocess:\n  roi:\n    - [0, 0]\n    - [10, 0]\n")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert str(err.value) == f"{config}:2: postprocess.roi: polygon 0 must be at least three [x, y] points"
    config.write_text("postprocess:\n  roi:\n    - [[0, 0], [9, 0], [9, 9]]\n    - [[1, 1], [2, 2]]\n")
    with pytest.raises(ConfigError, match="polygon 1 must be at least three"):
        load_config(config)
    config.write_text("postprocess:\n  roi: 5\n")
    with pytest.raises(ConfigError, match="must be an image path or a list of polygons"):
        load_config(config)


def test_yaml_polygons_load_into_the_postprocessor(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("postprocess:\n  median: 0\n  close: 0\n  roi:\n"
                      "    - [[0, 0], [9, 0], [9, 9], [0, 9]]\n"
                      "    - [[20, 0], [29, 0], [29, 9], [20, 9]]\n")
    processor = PostProcessor(load_config(config).postprocess)
    out = processor(np.full((12, 32), 255, np.uint8))
    assert np.count_nonzero(out) == 2 * 100
    assert out[:10, :10].all() and out[:10, 20:30].all() and not out[:, 10:20].any()


def test_a_plain_dict_of_some_keys_filters_as_the_typed_section_does():
    rng = np.random.default_rng(3)
    mask = np.where(rng.random((60, 80)) < 0.3, 255, 0).astype(np.uint8)
    typed = PostProcessor(resolve({"postprocess": {"median": 5, "min_area": 4}}).postprocess)
    plain = PostProcessor({"median": 5, "min_area": 4})
    np.testing.assert_array_equal(plain(mask), typed(mask))
    assert not np.array_equal(plain(mask), PostProcessor({})(mask))  # the keys took effect
    with pytest.raises(ConfigError, match=r"^postprocess\.median: must be odd"):
        PostProcessor({"median": 4})


def test_bgsub_run_with_a_yaml_polygon_never_marks_outside_pixels(tmp_path, scene, write_video):
    # The square crosses the whole frame; only the left half is watched.
    video = write_video(tmp_path / "scene.mkv", scene[0])
    config = tmp_path / "roi.yaml"
    config.write_text("postprocess:\n  roi: [[0, 0], [47, 0], [47, 71], [0, 71]]\n")
    result = subprocess.run(
        [sys.executable, "-m", "bgsub", "run", str(video), "-o", str(tmp_path / "out"), "-q",
         "--config", str(config)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    masks = read_masks(tmp_path / "out" / "mask.mov")
    assert len(masks) == len(scene[0])
    assert not any(m[:, 48:].any() for m in masks)
    assert any(m[:, :48].any() for m in masks)  # the square is still found inside


# --- median, morphology, blobs ------------------------------------------------------------------

def test_median_removes_isolated_pixels_and_keeps_objects():
    mask = np.zeros((30, 30), np.uint8)
    mask[5, 5] = mask[20, 3] = 255
    mask[10:20, 10:20] = 255
    out = post(median=3)(mask)
    assert out[5, 5] == 0 and out[20, 3] == 0
    assert out[11:19, 11:19].all()


def test_opening_erases_thin_lines_and_closing_fills_holes():
    mask = np.zeros((30, 30), np.uint8)
    mask[2, :] = 255                      # a one-pixel line
    mask[10:25, 10:25] = 255
    mask[17, 17] = 0                      # a hole
    out = post(median=0, open=3)(mask)
    assert not out[2].any() and out[12:23, 12:23].sum() > 0
    out = post(median=0, close=3)(mask)
    assert out[17, 17] == 255


def test_min_area_drops_small_blobs_only():
    mask = np.zeros((20, 20), np.uint8)
    mask[0:2, 0:2] = 255                  # 4 pixels
    mask[10:15, 10:15] = 255              # 25 pixels
    out = remove_small_blobs(mask, 5)
    assert not out[0:2, 0:2].any() and out[10:15, 10:15].all()
    assert np.array_equal(post(median=0, min_area=5)(mask), out)


def test_find_blobs_gives_boxes_and_areas_8_connected():
    mask = np.zeros((20, 30), np.uint8)
    mask[2:5, 3:9] = 255
    mask[10, 10] = mask[11, 11] = 255     # diagonal neighbours: one blob
    blobs = sorted(find_blobs(mask), key=lambda b: b.y)
    assert blobs == [Blob(3, 2, 6, 3, 18), Blob(10, 10, 2, 2, 2)]
    assert find_blobs(mask, min_area=3) == [Blob(3, 2, 6, 3, 18)]
    assert find_blobs(np.zeros((5, 5), np.uint8)) == []


@pytest.mark.parametrize("size", [3, 5, 7, 9])
@pytest.mark.parametrize("density", [0.1, 0.5, 0.9])
def test_binary_median_equals_opencvs_median_filter(size, density):
    rng = np.random.default_rng(size)
    mask = np.where(rng.random((37, 53)) < density, 255, 0).astype(np.uint8)
    mask[10:20, 5:30] = 255  # a solid object among the noise
    np.testing.assert_array_equal(binary_median(mask, size), cv2.medianBlur(mask, size))


# --- filters skip the tiles where they can mark nothing -----------------------------------------

def scattered_mask(shape, seed, density, value=255):
    """A raw mask of ``shape``: speckles at ``density``, solid objects across each corner and
    along each border, and one in the frame's last (cut) row and column of tiles."""
    rng = np.random.default_rng(seed)
    height, width = shape
    mask = np.where(rng.random(shape) < density, value, 0).astype(np.uint8)
    for y, x in [(0, 0), (0, width - 30), (height - 25, 0), (height - 25, width - 30),
                 (0, width // 2), (height // 2, 0), (height - 12, width // 3)]:
        mask[y:y + 25, x:x + 30] = 255
    return mask


# 500 x 700 ends in cut tiles; 160 x 2000 has fewer tile rows than cells in a tile
SCREENED_SHAPES = [(500, 700), (720, 1280), (160, 2000)]


@pytest.mark.parametrize("shape", SCREENED_SHAPES)
@pytest.mark.parametrize("size", [3, 43, 99])
@pytest.mark.parametrize("density", [0.0, 0.05, 0.45])
def test_the_screened_median_is_opencvs_median_filter(shape, size, density):
    mask = scattered_mask(shape, size, density)
    np.testing.assert_array_equal(binary_median(mask, size), cv2.medianBlur(mask, size))


@pytest.mark.parametrize("size", [3, 43])
def test_the_screened_median_of_shadow_values_is_the_whole_frame_s_majority(size):
    mask = scattered_mask((500, 700), size, 0.3, value=127)
    mean = cv2.blur(mask, (size, size), borderType=cv2.BORDER_REPLICATE)
    expected = np.where(mean > 127, 255, 0).astype(np.uint8)
    assert expected.any()
    np.testing.assert_array_equal(binary_median(mask, size), expected)


@pytest.mark.parametrize("shape", SCREENED_SHAPES)
@pytest.mark.parametrize("operation", [cv2.MORPH_OPEN, cv2.MORPH_CLOSE])
@pytest.mark.parametrize("size", [2, 5, 8, 15])
@pytest.mark.parametrize("density", [0.0, 0.02, 0.5])
def test_screened_opening_and_closing_are_opencvs(shape, operation, size, density):
    mask = scattered_mask(shape, size, density)
    mask[200:260, 300:303] = 0  # a gap for the closing to fill
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    np.testing.assert_array_equal(morphology(mask, operation, kernel),
                                  cv2.morphologyEx(mask, operation, kernel))


def test_a_median_window_s_majority_from_the_next_tiles_is_kept():
    # (64, 64) opens a tile of its own; five of its 3 x 3 window's pixels lie in the tiles
    # above and to the left, none in its own
    mask = np.zeros((500, 700), np.uint8)
    mask[63, 63:66] = 255
    mask[64:66, 63] = 255
    out = binary_median(mask, 3)
    assert out[64, 64] == 255
    np.testing.assert_array_equal(out, cv2.medianBlur(mask, 3))


def test_a_bare_majority_of_one_window_and_nothing_around_it_is_kept():
    mask = np.zeros((500, 700), np.uint8)
    mask[279:300, 279:322] = 255  # 21 rows of the 43 x 43 window around (300, 300): 903 pixels
    mask[300, 279:301] = 255  # and 22 more: 925 of 1849, one more than half
    out = binary_median(mask, 43)
    assert out[300, 300] == 255
    np.testing.assert_array_equal(out, cv2.medianBlur(mask, 43))


def test_a_median_part_s_margin_holds_the_windows_of_its_edge():
    # Tiles of 64: (200, 127) ends the kept part, whose right neighbour holds 910 foreground
    # pixels, too few for its screen. Its window (columns 106 to 148) holds them all: column 147
    # full, 148 empty. A margin one short would repeat 147 in place of 148: 953, a majority.
    mask = np.zeros((500, 700), np.uint8)
    mask[185:216, 70:101] = 255  # keeps the part: 961 pixels, out of the window's reach
    mask[179:222, 147] = 255
    mask[179:222, 127:147] = 255
    mask[179:186, 126] = 255
    out = binary_median(mask, 43)
    assert out[200, 127] == 0 and out[200, 85] == 255
    np.testing.assert_array_equal(out, cv2.medianBlur(mask, 43))


@pytest.mark.parametrize("margin", [1, 9, 20])
def test_on_tiles_filters_the_needed_tiles_with_their_margins_as_the_whole_frame(margin):
    rng = np.random.default_rng(margin)
    mask = np.where(rng.random((500, 700)) < 0.3, 255, 0).astype(np.uint8)
    needed = rng.random((8, 11)) < 0.05  # tiles of 64: the last row and column cut
    needed[-1, -1] = needed[0, 0] = True
    needed[2, 3:6] = needed[3, 3:6] = True
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)  # reads exactly ``margin``
    sizes = []

    def spread(part):
        sizes.append(part.size)
        return cv2.dilate(part, kernel)

    inside = np.kron(needed, np.ones((64, 64), bool))[:500, :700]
    expected = np.where(inside, cv2.dilate(mask, kernel), 0)
    np.testing.assert_array_equal(on_tiles(mask, needed, margin, spread), expected)
    assert len(sizes) > 2 and max(sizes) < mask.size / 4  # in parts


def test_filters_run_on_the_tiles_near_foreground_only():
    mask = np.zeros((720, 1280), np.uint8)
    mask[300:340, 600:680] = 255  # one object, in 2 x 3 tiles of 64 pixels
    areas = []

    def counted(part):
        areas.append(part.size)
        return cv2.morphologyEx(part, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))

    out = screened(mask, counted, 5, 1, 10, 60_000)
    np.testing.assert_array_equal(out, counted(mask))
    assert sum(areas[:-1]) < 0.05 * mask.size  # not the whole frame
    areas.clear()
    assert not screened(np.zeros_like(mask), counted, 5, 1, 10, 60_000).any()
    assert areas == []  # an empty mask is never filtered
    mask[::32, ::192] = 255  # two tiles in three: their margins would add up to more than
    screened(mask, counted, 5, 1, 70, 60_000)  # the frame, filtered in one piece
    assert areas == [mask.size]
    areas.clear()
    small = mask[:240, :320]  # a frame too small to pay for the screen
    screened(small, counted, 5, 1, 10, 60_000)
    assert areas == [small.size]


@pytest.mark.parametrize("call_pixels, calls", [(0, 2), (20_000, 1)])
def test_parts_closer_than_a_call_s_cost_are_filtered_together(call_pixels, calls):
    mask = np.zeros((720, 1280), np.uint8)
    mask[300:340, 530:570] = mask[300:340, 720:760] = 255  # tiles 8 and 11 of row 4
    sizes = []

    def counted(part):
        sizes.append(part.size)
        return cv2.morphologyEx(part, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))

    out = screened(mask, counted, 5, 1, 10, call_pixels)
    assert len(sizes) == calls and max(sizes) < mask.size
    np.testing.assert_array_equal(out, cv2.morphologyEx(mask, cv2.MORPH_CLOSE,
                                                        np.ones((5, 5), np.uint8)))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_default_post_processing_of_a_1080p_mask_is_the_whole_frame_s(seed):
    mask = scattered_mask((1080, 1920), seed, 0.08)
    settings = PostprocessConfig()
    size = PostProcessor(settings).sizes(mask.shape)[0]
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (settings.close,) * 2)
    expected = cv2.morphologyEx(cv2.medianBlur(mask, size), cv2.MORPH_CLOSE, close)
    np.testing.assert_array_equal(PostProcessor(settings)(mask), expected)


# --- sizes that scale with the frame ------------------------------------------------------------

def foliage_mask(seed):
    """A 320x240 raw mask of foliage flicker (clustered speckles over a third of the frame's
    left half) and one real object, a 40x80 block."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((240, 320)).astype(np.float32), (0, 0), 1.2)
    mask = np.where(noise > 0.56, 255, 0).astype(np.uint8)
    mask[:, 160:] = 0
    mask[120:200, 200:240] = 255
    return mask


def boxes_at(mask, size, postprocess, box_area):
    """Boxes an event draws on ``mask`` upscaled to ``size``, post-processed as given."""
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    clean = PostProcessor(resolve({"postprocess": postprocess}).postprocess)(mask)
    return len(find_blobs(clean, max(area_pixels(box_area, mask.shape), 1)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_sizes_give_as_many_boxes_at_1080p_as_at_320x240(seed):
    mask = foliage_mask(seed)
    box_area = DEFAULTS["events"]["min_area"]
    small, large = (boxes_at(mask, size, {}, box_area) for size in ((320, 240), (1920, 1080)))
    assert 3 <= small and small / 2 <= large <= small * 2
    # The old sizes in pixels (median 5, boxes from 25 pixels) leave far more boxes at 1080p.
    old = {"median": 5, "close": 5}
    old_small, old_large = (boxes_at(mask, size, old, 25) for size in ((320, 240), (1920, 1080)))
    assert old_large > 5 * old_small


def test_percent_sizes_are_worked_out_per_frame_size():
    processor = PostProcessor(resolve({"postprocess": {"median": "4%", "open": "1%",
                                                       "close": "2%", "min_area": "0.1%"}})
                              .postprocess)
    median, opening, closing, min_area = processor.sizes((240, 320))
    assert (median, min_area) == (9, 77)
    assert opening.shape == (3, 3) and closing.shape == (5, 5)
    median, opening, closing, min_area = processor.sizes((1080, 1920))
    assert (median, min_area) == (43, 2074)
    assert opening.shape == (11, 11) and closing.shape == (21, 21)
    # The filters are the ones those pixel sizes give.
    mask = foliage_mask(4)
    expected = post(median=9, open=3, close=5, min_area=77)(mask)
    np.testing.assert_array_equal(processor(mask), expected)


def test_draw_boxes_outlines_each_blob_in_green():
    """The one box drawer (overlay burn-in, snapshots, the live window): at thickness 1 exactly
    the blob's bounding rectangle's border is green; thicker boxes still leave the inside."""
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 5:25] = 255
    blobs = find_blobs(mask)
    image = np.zeros((40, 50, 3), np.uint8)
    assert draw_boxes(image, blobs) is image
    ring = np.zeros((40, 50), bool)
    ring[10:20, 5:25] = True
    ring[11:19, 6:24] = False
    np.testing.assert_array_equal(np.all(image == BOX_COLOUR, axis=2), ring)
    thick = draw_boxes(np.zeros((40, 50, 3), np.uint8), blobs, thickness=3)
    assert np.all(thick[10, 5:25] == BOX_COLOUR) and not thick[15, 15].any()
