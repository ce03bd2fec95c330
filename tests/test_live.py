"""The live preview's parts that need no window: keys, scales, tiling, status text, the reader
thread and the session (model, recording, snapshots), on real frames and files."""

import itertools
import sys
import time

import cv2
import numpy as np
import pytest

from bgsub import make_model
from bgsub.config import OutputsConfig, resolve
from bgsub.errors import BgsubError, ConfigError, SourceError
from bgsub.live import LiveSession, check_display
from bgsub.live.controls import (
    HELP,
    LEARNING_RATE_SLIDER_MAX,
    action_for_key,
    learning_rate_at,
    learning_rate_position,
    threshold_position,
)
from bgsub.live.reader import FrameReader, RateMeter
from bgsub.live.view import (
    MAX_VIEW,
    MIN_VIEW_WIDTH,
    add_status,
    describe_model,
    draw_help,
    grid_shape,
    status_lines,
    tile,
)
from bgsub.models.scores import heat_map
from bgsub.outputs import build_outputs
from bgsub.postprocess import PostProcessor
from bgsub.sources import Pacer, open_source
from conftest import moving_square_forever


# -- keys and trackbar scales ---------------------------------------------------------------------
@pytest.mark.parametrize("key, action", [
    ("q", "quit"), ("Q", "quit"), ("\x1b", "quit"), (" ", "pause"), ("r", "reset"),
    ("s", "snapshot"), ("b", "background"), ("d", "scores"), ("+", "threshold_up"),
    ("=", "threshold_up"),
    ("-", "threshold_down"), ("_", "threshold_down"), ("h", "help"), ("x", None),
])
def test_keys_map_to_actions(key, action):
    assert action_for_key(ord(key)) == action


@pytest.mark.parametrize("code", [-1, 65362, 0x10000 + ord("q")])
def test_no_key_and_special_keys_do_nothing(code):
    assert action_for_key(code) is None


def test_every_bound_action_has_a_help_line():
    from bgsub.live.controls import KEYS
    described = " ".join(what for _, what in HELP)
    for word in ("quit", "pause", "reset", "snapshot", "background", "score", "threshold",
                 "help"):
        assert word in described
    assert set(KEYS.values()) == {"quit", "pause", "reset", "snapshot", "background", "scores",
                                  "threshold_up", "threshold_down", "help"}


def test_learning_rate_trackbar_is_a_decade_every_ten_steps():
    assert learning_rate_at(0) is None
    assert learning_rate_at(LEARNING_RATE_SLIDER_MAX) == 1.0
    assert learning_rate_at(20) == pytest.approx(0.01)
    assert learning_rate_at(10) == pytest.approx(0.001)
    for position in range(LEARNING_RATE_SLIDER_MAX + 1):
        assert learning_rate_position(learning_rate_at(position)) == position


def test_learning_rate_position_clamps_to_the_trackbar():
    assert learning_rate_position(None) == 0
    assert learning_rate_position(1e-9) == 1  # tiny but not "auto"
    assert learning_rate_position(0.005) == 17


def test_threshold_position_is_in_tenths_and_clamped():
    assert threshold_position(4.0) == 40
    assert threshold_position(3.46) == 35
    assert threshold_position(0.01) == 1
    assert threshold_position(50.0) == 200


# -- drawing -------------------------------------------------------------------------------------
def test_grid_is_one_row_up_to_three_panes_then_two_columns():
    assert [grid_shape(n) for n in (1, 2, 3, 4)] == [(1, 1), (1, 2), (1, 3), (2, 2)]


def _panes(width, height, count=3):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (120, 120, 120)]
    panes = []
    for index in range(count):
        image = np.zeros((height, width, 3), np.uint8)
        image[:] = colours[index]
        panes.append((f"pane{index}", image))
    return panes


def test_tile_places_each_pane_in_its_cell():
    panes = _panes(320, 240)
    panes[1] = ("mask", np.full((240, 320), 255, np.uint8))  # gray panes become BGR
    canvas = tile(panes)
    assert canvas.shape == (240, 960, 3)
    assert tuple(canvas[200, 100]) == (200, 30, 30)
    assert tuple(canvas[200, 500]) == (255, 255, 255)
    assert tuple(canvas[200, 800]) == (30, 30, 200)
    # each pane is labelled in its top-left corner
    assert tuple(canvas[8, 330]) != (255, 255, 255)


def test_four_panes_make_a_two_by_two_grid():
    canvas = tile(_panes(320, 240, 4))
    assert canvas.shape == (480, 640, 3)
    assert tuple(canvas[400, 500]) == (120, 120, 120)


def test_large_frames_shrink_to_fit_and_small_ones_grow():
    big = tile(_panes(1920, 1080, 4))
    assert big.shape[1] <= MAX_VIEW[0] and big.shape[0] <= MAX_VIEW[1]
    assert abs(big.shape[1] / big.shape[0] - 16 / 9) < 0.01
    small = tile(_panes(96, 72))
    assert small.shape[1] >= MIN_VIEW_WIDTH - 3
    assert abs(small.shape[1] / small.shape[0] - 3 * 96 / 72) < 0.05


def test_status_lines_carry_the_numbers():
    lines = status_lines("gmm  threshold 4.00", 12.34, 25.0, 3.456, 7, 11, 420, ["PAUSED", "REC"])
    assert lines[0] == "gmm  threshold 4.00"
    assert lines[1] == ("12.3 fps (source 25)  foreground 3.46%  blobs 7  dropped 11  frame 420")
    assert lines[2] == "h: help  PAUSED  REC"
    assert status_lines("m", 0, None, 0, 0, 0, 1)[1].startswith("0.0 fps  foreground")


def test_status_strip_is_added_below_with_text():
    canvas = np.full((100, 640, 3), 90, np.uint8)
    out = add_status(canvas, ["one", "two", "three"])
    assert out.shape[0] > 100 and out.shape[1] == 640
    assert np.array_equal(out[:100], canvas)
    assert np.count_nonzero(out[100:]) > 0


def test_help_darkens_a_box_and_leaves_the_input_alone():
    canvas = np.full((480, 640, 3), 200, np.uint8)
    out = draw_help(canvas)
    assert np.all(canvas == 200)
    assert out[60, 15].max() < 100  # darkened box
    assert tuple(out[470, 630]) == (200, 200, 200)  # far corner untouched
    text = out[10:200, 10:400]
    assert np.count_nonzero(text > 240) > 200  # white lettering


def test_describe_model_names_the_key_parameters():
    assert describe_model(make_model("gmm", threshold=4.0)) == (
        "gmm  threshold 4.00  learning rate auto  history 500  k 5")
    gaussian = make_model("gaussian", learning_rate=0.004)
    assert describe_model(gaussian) == (
        "gaussian  threshold 3.50  learning rate 0.004  history 500")


def test_rate_meter_counts_events_over_its_window():
    now = [0.0]
    meter = RateMeter(window=2.0, clock=lambda: now[0])
    assert meter.rate == 0.0
    for _ in range(11):
        meter.tick()
        now[0] += 0.1
    assert meter.rate == pytest.approx(10.0)
    now[0] += 10.0
    meter.tick()
    assert meter.rate == 0.0  # the old events left the window


# -- model parameters while running --------------------------------------------------------------
def test_with_params_keeps_the_learned_state(scene):
    frames, _ = scene
    model = make_model("gmm", threshold=4.0)
    for frame in frames[:10]:
        model.apply(frame)
    tuned = model.with_params(threshold=5.5)
    assert tuned.params.threshold == 5.5 and model.params.threshold == 4.0
    assert tuned.frames_seen == model.frames_seen == 10
    assert np.array_equal(tuned.mixture, model.mixture)
    assert tuned.mixture is not model.mixture
    twin = model.with_params(threshold=5.5)
    assert np.array_equal(tuned.apply(frames[10]), twin.apply(frames[10]))
    assert not np.array_equal(tuned.mixture, model.mixture)  # the original is independent


def test_with_params_refuses_a_change_of_state_layout(scene):
    model = make_model("gmm", k=5)
    model.apply(scene[0][0])
    with pytest.raises(ConfigError, match="reset"):
        model.with_params(k=3)
    assert make_model("gmm", k=5).with_params(k=3).params.k == 3  # untrained: fine
    with pytest.raises(ConfigError, match="threshold"):
        model.with_params(threshold=-1.0)


# -- the reader thread ---------------------------------------------------------------------------
def _take_all(reader):
    taken = []
    while not reader.done:
        frame = reader.take(timeout=1.0)
        if frame is not None:
            taken.append(frame.number)
    return taken


def test_reader_without_dropping_hands_over_every_frame(video_file):
    source = open_source(video_file)
    reader = FrameReader(source, drop=False).start()
    assert _take_all(reader) == list(range(1, 21))
    assert reader.dropped == 0
    reader.close()
    assert not source._capture.isOpened()  # the reader released the source


def test_reader_drops_stale_frames_and_keeps_the_newest(video_file):
    reader = FrameReader(open_source(video_file), drop=True).start()
    while reader.read < 20:  # a display that is far behind
        time.sleep(0.01)
    taken = _take_all(reader)
    reader.close()
    assert taken[-1] == 20
    assert taken == sorted(taken)
    assert len(taken) + reader.dropped == 20
    assert reader.dropped >= 17


def test_paused_file_reader_holds_then_resumes(video_file):
    reader = FrameReader(open_source(video_file), drop=False, hold_on_pause=True)
    reader.pause(True)
    reader.start()
    assert reader.take(timeout=0.3) is None
    assert reader.read == 0
    reader.pause(False)
    assert _take_all(reader) == list(range(1, 21))
    reader.close()


def test_paused_live_reader_keeps_draining_without_counting_drops(video_file):
    reader = FrameReader(open_source(video_file), drop=True, hold_on_pause=False)
    reader.pause(True)  # a camera cannot be paused: its frames are read and thrown away
    reader.start()
    while not reader.done:
        assert reader.take(timeout=0.05) is None
    assert reader.read == 20 and reader.dropped == 0
    reader.close()


def test_paced_reader_still_delivers_every_frame_in_order(video_file):
    reader = FrameReader(open_source(video_file), drop=False, pacer=Pacer(200.0),
                         hold_on_pause=True).start()
    assert _take_all(reader) == list(range(1, 21))
    reader.close()


@pytest.mark.parametrize("realtime", [False, True])
@pytest.mark.parametrize("kind", ["video", "images"])
def test_the_preview_reads_the_frames_bgsub_run_reads(kind, realtime, video_file, image_folder):
    # bgsub run iterates the opened source; the preview's reader must hand over the same
    # frames (numbers, times, pixels) from the same source, for files and image folders alike.
    spec = video_file if kind == "video" else image_folder
    with open_source(spec) as source:
        expected = list(source)
    source = open_source(spec, fps=500.0) if kind == "images" else open_source(spec)
    reader = FrameReader.playing(source, realtime)
    assert reader.drop is realtime and (reader.pacer is not None) is realtime
    if realtime:  # drops whatever is not taken in time: hand over every frame for the check
        reader = FrameReader(source, drop=False, pacer=reader.pacer, hold_on_pause=True)
    reader.start()
    taken = []
    while not reader.done:
        frame = reader.take(timeout=1.0)
        if frame is not None:
            taken.append(frame)
    reader.close()
    assert [f.number for f in taken] == [f.number for f in expected]
    assert [f.name for f in taken] == [f.name for f in expected]
    if kind == "video":
        assert [f.timestamp for f in taken] == [f.timestamp for f in expected]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(taken, expected))


def test_a_realtime_file_plays_at_its_fps_and_pausing_holds_the_clock(video_file):
    reader = FrameReader.playing(open_source(video_file), realtime=True).start()
    first = reader.take(timeout=30.0)  # the clock starts when the first frame is taken
    started = time.monotonic()
    assert first.number == 1
    taken = [first]
    while len(taken) < 5:
        frame = reader.take(timeout=1.0)
        if frame is not None:
            taken.append(frame)
    assert time.monotonic() - started >= 4 / 25  # frame 5 is due 4 periods after frame 1
    reader.pause(True)
    time.sleep(0.5)  # far more than the 15 frames left at 25 fps would take
    reader.pause(False)
    resumed = time.monotonic()
    while not reader.done:
        frame = reader.take(timeout=1.0)
        if frame is not None:
            taken.append(frame)
    reader.close()
    # Paused time is not playback time: the rest is still paced, not released in a burst.
    assert time.monotonic() - resumed >= 13 / 25
    assert [f.number for f in taken] == list(range(1, 21)) and reader.dropped == 0


def test_a_live_stream_is_drained_for_its_newest_frame_whatever_realtime_says(camera):
    cam = camera([itertools.islice(moving_square_forever(), 60) for _ in range(2)])
    for realtime in (True, False):
        with open_source(cam.url) as source:
            reader = FrameReader.playing(source, realtime)
            # Frames come at the camera's pace: never paced again, never held by a pause.
            assert reader.drop and reader.pacer is None and not reader.hold_on_pause


def test_reader_error_reaches_the_display_loop(tmp_path, scene, write_images):
    folder = write_images(tmp_path / "frames", scene[0][:5])
    (folder / "in000003.png").write_bytes(b"not a png")  # an error only when strict
    reader = FrameReader(open_source(folder, strict=True), drop=False).start()
    taken = []
    with pytest.raises(SourceError, match="in000003.png"):
        while True:
            frame = reader.take(timeout=1.0)
            if frame is not None:
                taken.append(frame.number)
    assert taken == [1, 2]
    reader.close()


def test_closing_a_reader_stops_it_early(video_file):
    source = open_source(video_file)
    reader = FrameReader(source, drop=False).start()
    assert reader.take(timeout=5.0).number == 1
    reader.close()
    assert reader.done or reader.take(timeout=0) is not None
    assert reader.read < 20
    assert not source._capture.isOpened()


# -- the session ---------------------------------------------------------------------------------
def _session(tmp_path, **kwargs):
    # Fixed parameters, so the tests do not move with the tuned defaults.
    config = resolve({"postprocess": {"median": 3, "close": 0}})
    return LiveSession(make_model("gmm", threshold=4.0), PostProcessor(config.postprocess),
                       snapshot_dir=tmp_path / "snaps", source_fps=25.0, **kwargs)


def _frames(video_file):
    with open_source(video_file) as source:
        return list(source)


def test_session_finds_the_moving_square(tmp_path, video_file, scene):
    session = _session(tmp_path)
    frames = _frames(video_file)
    for frame in frames:
        result = session.process(frame)
    truth = scene[1][-1] > 0
    # the square (it overlaps its recent positions, so partly learned) is found, nothing else
    assert result.mask[truth].mean() > 60
    assert result.mask[~truth].max() == 0
    assert session.frames == 20
    assert 0 < session.foreground < 2
    assert len(session.blobs) == 1
    blob = session.blobs[0]
    assert truth[blob.y:blob.y + blob.h, blob.x:blob.x + blob.w].all()
    names = [name for name, _ in session.panes()]
    assert names == ["input", "mask", "overlay"]
    view = session.render()
    assert view.shape[1] >= MIN_VIEW_WIDTH - 3 and view.shape[0] > view.shape[1] / 3


def test_score_pane_shows_the_distance_map_on_the_fixed_scale(tmp_path, video_file, scene):
    session = _session(tmp_path)
    frames = _frames(video_file)
    for frame in frames[:10]:
        session.process(frame)
    assert session.result.scores is None  # nothing computed while the pane is off
    assert session.handle("scores")
    session.set_threshold(4.5)  # a retuned model is a new one: it still computes the map
    session.process(frames[10])
    names = [name for name, _ in session.panes()]
    assert names == ["input", "mask", "overlay", "score"]
    pane = dict(session.panes())["score"]
    assert pane.shape == frames[10].image.shape  # the colour bar is drawn inside
    np.testing.assert_array_equal(pane, heat_map(session.model.scores, 4.5, inside=True))
    square = scene[1][10] > 0
    assert session.result.scores[square].mean() > 4.5 > session.result.scores[~square].mean()
    session.handle("scores")
    session.process(frames[11])
    assert session.result.scores is None and len(session.panes()) == 3


def test_the_score_key_on_a_model_without_scores_says_so(tmp_path):
    config = resolve({"postprocess": {"median": 3, "close": 0}})
    session = LiveSession(make_model("gaussian"), PostProcessor(config.postprocess),
                          snapshot_dir=tmp_path / "snaps")
    assert session.handle("scores")
    assert not session.show_scores
    assert session.take_messages() == ["no score map for model 'gaussian'"]


def test_session_keys_change_the_model_and_the_view(tmp_path, video_file):
    session = _session(tmp_path)
    frames = _frames(video_file)
    for frame in frames[:10]:
        session.process(frame)
    learned = session.model
    assert session.handle("threshold_up")
    assert session.model.params.threshold == pytest.approx(4.1)
    assert session.model.frames_seen == 10 and session.model is not learned
    session.handle("threshold_down")
    session.handle("threshold_down")
    assert session.model.params.threshold == pytest.approx(3.9)
    session.set_learning_rate(0.01)
    assert session.model.params.learning_rate == 0.01 and session.model.frames_seen == 10
    assert session.handle("background")
    assert [name for name, _ in session.panes()][-1] == "background"
    assert session.result.background.shape == frames[0].image.shape
    session.process(frames[10])
    assert session.result.background is not None  # kept up to date while shown
    session.handle("background")
    assert len(session.panes()) == 3
    session.handle("pause")
    assert session.paused and "PAUSED" in session.flags()
    session.handle("help")
    assert session.show_help
    session.handle("reset")
    assert session.model.frames_seen == 0
    assert session.handle("quit") is False
    assert session.take_messages() == [
        "threshold 4.10", "threshold 4.00", "threshold 3.90", "learning rate 0.01",
        "background pane on", "background pane off", "paused", "model reset"]
    assert session.take_messages() == []


def test_threshold_keys_stop_at_the_smallest_step(tmp_path):
    session = _session(tmp_path)
    session.set_threshold(0.3)
    for _ in range(5):
        session.handle("threshold_down")
    assert session.model.params.threshold == pytest.approx(0.1)


def test_snapshot_writes_the_panes_at_full_size(tmp_path, video_file):
    session = _session(tmp_path, show_background=True)
    assert session.snapshot() == []  # nothing to save before the first frame
    frames = _frames(video_file)
    for frame in frames:
        session.process(frame)
    paths = session.snapshot()
    kinds = sorted(p.name.rsplit("_", 1)[1] for p in paths)
    assert kinds == ["background.png", "input.png", "mask.png", "overlay.png", "view.png"]
    assert all("_f000020_" in p.name for p in paths)
    saved = {p.name.rsplit("_", 1)[1]: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths}
    assert np.array_equal(saved["mask.png"], session.result.mask)
    assert np.array_equal(saved["input.png"], frames[-1].image)
    assert not np.array_equal(saved["overlay.png"], frames[-1].image)
    assert saved["view.png"].shape[0] > 2 * 72 and "snapshot saved" in " ".join(session.flags())
    assert session.take_messages() == ["snapshot saved (5 files)"] + [
        f"snapshot: {path}" for path in paths]


def test_snapshot_into_an_unwritable_place_is_one_line(tmp_path, video_file):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    session = _session(tmp_path)
    session.snapshot_dir = blocker / "snaps"
    session.process(_frames(video_file)[0])
    with pytest.raises(BgsubError, match="snapshot folder"):
        session.snapshot()


def test_recording_holds_every_processed_frame(tmp_path, video_file):
    outputs = build_outputs(tmp_path / "rec", OutputsConfig(overlay_video=True), 25.0)
    session = _session(tmp_path, outputs=outputs)
    frames = _frames(video_file)
    masks = [session.process(frame).mask.copy() for frame in frames[:12]]
    assert "REC" in session.flags()
    session.close_outputs()
    capture = cv2.VideoCapture(str(tmp_path / "rec" / "mask.mov"))
    recorded = []
    while (read := capture.read())[0]:
        recorded.append(read[1][:, :, 0])
    assert len(recorded) == 12
    assert np.array_equal(recorded[-1], masks[-1])  # FFV1 is lossless
    assert cv2.VideoCapture(str(tmp_path / "rec" / "overlay.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 12


# -- display check -------------------------------------------------------------------------------
def test_no_display_names_bgsub_run():
    with pytest.raises(BgsubError, match=r"\$DISPLAY is not set.*bgsub run"):
        check_display(environ={}, platform="linux")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 check is Linux only")
def test_a_display_nobody_serves_is_refused():
    with pytest.raises(BgsubError, match=r"cannot connect to display :4711.*bgsub run"):
        check_display(environ={"DISPLAY": ":4711"}, platform="linux")


def test_other_platforms_leave_the_check_to_opencv():
    check_display(environ={}, platform="darwin")
