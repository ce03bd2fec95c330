"""``bgsub live`` as a real process with a real window on a private Xvfb display, driven with
xdotool like a person at the keyboard."""

import contextlib
import ctypes
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import moving_square_forever, read_video, start_run, wait_for_frames

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_videos" / "highway_320x240.mp4"
WAIT = 120  # seconds: generous, a loaded CI machine may be slow to start Numba and Qt


@pytest.fixture(scope="module")
def display():
    """A private Xvfb display (":N", a free number chosen by Xvfb itself). ``-noreset``: by
    default Xvfb resets when its last client leaves, and a ``bgsub live`` started during the
    reset cannot connect (seen on a loaded CI machine)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp",
         "-noreset"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as numbers:
        number = numbers.readline().strip()
    assert number, "Xvfb did not report a display number"
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def _env(display):
    env = dict(os.environ, DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    return env


class Live:
    """A running ``bgsub live`` process on ``display``."""

    def __init__(self, display, tmp_path, *args):
        self.display = display
        self.stderr_path = tmp_path / "stderr.txt"
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bgsub", "live", *map(str, args)], env=_env(display),
                stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp_path)
        self.window = None

    @property
    def stderr(self):
        return self.stderr_path.read_text()

    def wait_until(self, condition, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if condition():
                return
            assert self.process.poll() is None, (
                f"bgsub live exited ({self.process.returncode}) waiting for {what}:\n{self.stderr}")
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}:\n{self.stderr}")

    def wait_for_window(self):
        def found():
            result = subprocess.run(["xdotool", "search", "--name", "^bgsub live"],
                                    env=_env(self.display), capture_output=True, text=True)
            ids = result.stdout.split()
            self.window = ids[0] if ids else None
            return self.window is not None
        self.wait_until(found, "the window")
        return self.window

    def press(self, *keys):
        for key in keys:
            subprocess.run(["xdotool", "key", "--window", self.window, key],
                           env=_env(self.display), check=True, capture_output=True)

    def press_and_wait(self, key, effect):
        """Press ``key`` and wait until the terminal reports ``effect`` (anew)."""
        seen = len(self.stderr)
        self.press(key)
        self.wait_until(lambda: effect in self.stderr[seen:], effect)

    def finish(self):
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"bgsub live did not exit:\n{self.stderr}")
        return self.process.returncode

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def live(display, tmp_path):
    """Start ``bgsub live`` with the given arguments; killed at the end if still running."""
    started = []

    def start(*args):
        started.append(Live(display, tmp_path, *args))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def send_close_request(display, window):
    """Ask the window to close as a window manager's close button does (WM_DELETE_WINDOW)."""
    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int), ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.POINTER(XEvent)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot open {display}"
    event = XEvent()
    event.xclient.type = 33  # ClientMessage
    event.xclient.window = int(window)
    event.xclient.message_type = x11.XInternAtom(connection, b"WM_PROTOCOLS", 0)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
    assert x11.XSendEvent(connection, int(window), 0, 0, ctypes.byref(event))
    x11.XFlush(connection)
    x11.XCloseDisplay(connection)


def frames_shown(stderr):
    """N from the closing line ``<reason>: N frames shown, D dropped``."""
    line = next(line for line in stderr.splitlines() if " frames shown, " in line)
    return int(line.split(": ", 1)[1].split()[0])


def snapshot_files(folder):
    return {path.name.rsplit("_", 1)[1]: path for path in Path(folder).glob("*.png")}


def assert_recorded(folder, count):
    masks = read_video(folder / "mask.mov")
    assert len(masks) == count > 0
    assert len(read_video(folder / "overlay.mp4")) == count
    assert not list(folder.glob(".*partial*"))
    return masks


# -- the window ----------------------------------------------------------------------------------
def test_sample_shows_moving_cars_then_q_quits_and_finishes_the_recording(live, tmp_path):
    app = live("--source", SAMPLE, "--snapshot-after", 60, "--snapshot-dir", tmp_path / "snaps",
               "--record", tmp_path / "rec")
    app.wait_for_window()
    app.wait_until(lambda: len(snapshot_files(tmp_path / "snaps")) == 4, "the snapshot")
    snaps = {kind: cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
             for kind, path in snapshot_files(tmp_path / "snaps").items()}
    assert set(snaps) == {"input.png", "mask.png", "overlay.png", "view.png"}
    frame = snaps["input.png"]
    assert frame.shape == (240, 320, 3) and frame.std() > 20  # a real picture, not blank
    mask = snaps["mask.png"]
    assert mask.shape == (240, 320) and set(np.unique(mask)) <= {0, 255}
    assert 0.002 < np.count_nonzero(mask) / mask.size < 0.3  # cars move, the road does not
    moving = mask > 0
    assert np.abs(snaps["overlay.png"].astype(int) - frame)[moving].mean() > 10
    view = snaps["view.png"]
    assert view.shape[1] == 960 and view.shape[0] > 240  # three panes in a row, status below
    mask_pane = view[30:240, 320:640]  # below the pane's label
    assert np.count_nonzero(mask_pane.max(axis=2) == 255) > 100

    app.press_and_wait("space", "paused")  # a paused file cannot end on its own before q
    app.press("q")
    assert app.finish() == 0, app.stderr
    assert "Traceback" not in app.stderr
    assert "quit: " in app.stderr
    shown = frames_shown(app.stderr)
    assert shown >= 60
    masks = assert_recorded(tmp_path / "rec", shown)
    assert any(m.max() == 255 for m in masks)


def test_keys_toggle_the_background_and_save_a_snapshot(live, tmp_path):
    app = live("--source", SAMPLE, "--snapshot-dir", tmp_path / "snaps", "--threshold", "4")
    app.wait_for_window()
    # highgui keeps one key per poll, so each key waits for the one before to take effect;
    # the last ones are pressed while paused, so the clip cannot end first
    for key, effect in (("space", "paused"), ("space", "resumed"), ("b", "background pane on"),
                        ("plus", "threshold 4.10"), ("equal", "threshold 4.20"),
                        ("minus", "threshold 4.10"), ("space", "paused"),
                        ("s", "snapshot saved")):
        app.press_and_wait(key, effect)
    background = cv2.imread(str(snapshot_files(tmp_path / "snaps")["background.png"]))
    assert background.shape == (240, 320, 3) and background.std() > 20
    view = cv2.imread(str(snapshot_files(tmp_path / "snaps")["view.png"]))
    assert view.shape[1] == 640 and view.shape[0] > 480  # four panes: two by two
    app.press("Escape")
    assert app.finish() == 0, app.stderr
    assert "snapshot: " in app.stderr


TRACKBAR_SCRIPT = """
import cv2
from bgsub import make_model
from bgsub.live import WINDOW, LiveSession, Window, apply_trackbars
session = LiveSession(make_model("gmm"), lambda mask: mask)
window = Window("bgsub live trackbars", 4.0, None)
cv2.setTrackbarPos(Window.THRESHOLD_BAR, WINDOW, 55)  # as if dragged by the user
cv2.setTrackbarPos(Window.LEARNING_BAR, WINDOW, 20)
apply_trackbars(window, session)
print(session.model.params.threshold, session.model.params.learning_rate)
session.set_threshold(4.2)
window.show_threshold(4.2)  # a key moved it: not mistaken for the user's move
apply_trackbars(window, session)
print(session.model.params.threshold, cv2.getTrackbarPos(Window.THRESHOLD_BAR, WINDOW))
cv2.setTrackbarPos(Window.LEARNING_BAR, WINDOW, 0)
apply_trackbars(window, session)
print(session.model.params.learning_rate, session.take_messages())
window.close()
"""


def test_trackbars_retune_the_model(display):
    result = subprocess.run([sys.executable, "-c", TRACKBAR_SCRIPT], env=_env(display),
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "5.5 0.01",
        "4.2 42",
        "None ['threshold 5.50', 'learning rate 0.01', 'threshold 4.20', 'learning rate auto']",
    ]


def test_closing_the_window_finishes_the_recording(live, tmp_path):
    app = live("--source", SAMPLE, "--record", tmp_path / "rec", "--snapshot-after", 10,
               "--snapshot-dir", tmp_path / "snaps")
    window = app.wait_for_window()
    app.wait_until(lambda: snapshot_files(tmp_path / "snaps"), "ten frames")
    send_close_request(app.display, window)
    assert app.finish() == 0, app.stderr
    assert "closed: " in app.stderr
    assert_recorded(tmp_path / "rec", frames_shown(app.stderr))


def test_ctrl_c_finishes_the_recording(live, tmp_path):
    app = live("--source", SAMPLE, "--record", tmp_path / "rec", "--snapshot-after", 10,
               "--snapshot-dir", tmp_path / "snaps")
    app.wait_for_window()
    app.wait_until(lambda: snapshot_files(tmp_path / "snaps"), "ten frames")
    app.process.send_signal(signal.SIGINT)
    assert app.finish() == 130, app.stderr
    assert "Traceback" not in app.stderr
    assert_recorded(tmp_path / "rec", frames_shown(app.stderr))


def test_max_frames_without_realtime_models_every_frame(live, tmp_path):
    app = live("--source", SAMPLE, "--no-realtime", "--max-frames", 50, "--record",
               tmp_path / "rec")
    assert app.finish() == 0, app.stderr
    assert "max-frames: 50 frames shown, 0 dropped" in app.stderr
    assert_recorded(tmp_path / "rec", 50)


def test_init_frames_and_a_trained_checkpoint_start_the_view_fitted(live, tmp_path, video_file):
    app = live("--source", video_file, "--no-realtime", "--init-frames", 5, "--record",
               tmp_path / "rec")
    assert app.finish() == 0, app.stderr
    assert "fitted 5 frames by EM" in app.stderr
    assert "ended: 15 frames shown, 0 dropped" in app.stderr  # the view starts after the fit
    trained = subprocess.run([sys.executable, "-m", "bgsub", "train", str(video_file), "-o",
                              str(tmp_path / "m.npz"), "--frames", "20", "-q"],
                             capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    app = live("--source", video_file, "--no-realtime", "--load-model", tmp_path / "m.npz",
               "--record", tmp_path / "rec2")
    assert app.finish() == 0, app.stderr
    assert "ended: 20 frames shown, 0 dropped" in app.stderr
    masks = [frame[:, :, 0] for frame in read_video(tmp_path / "rec2" / "mask.mov")]
    assert masks[0].max() == 255  # the square is found in the first frame shown


def test_a_short_file_ends_by_itself(live, tmp_path, video_file):
    app = live("--source", video_file, "--no-realtime", "--record", tmp_path / "rec")
    assert app.finish() == 0, app.stderr
    assert "ended: 20 frames shown, 0 dropped" in app.stderr
    assert_recorded(tmp_path / "rec", 20)


@pytest.mark.parametrize("kind", ["video", "images"])
def test_live_and_run_make_the_same_masks_from_the_same_input(live, tmp_path, kind,
                                                             highway_excerpt):
    # Both read the input through the same source and the same frame chain: the recording of a
    # preview that shows every frame holds exactly the masks bgsub run writes.
    spec, frames = (SAMPLE, 40) if kind == "video" else (highway_excerpt / "input", 15)
    ran = subprocess.run([sys.executable, "-m", "bgsub", "run", str(spec), "-o",
                          str(tmp_path / "run"), "--max-frames", str(frames), "-q"],
                         capture_output=True, text=True, timeout=WAIT)
    assert ran.returncode == 0, ran.stderr
    app = live("--source", spec, "--no-realtime", "--max-frames", frames, "--record",
               tmp_path / "rec")
    assert app.finish() == 0, app.stderr
    assert f": {frames} frames shown, 0 dropped" in app.stderr
    run_masks = read_video(tmp_path / "run" / "mask.mov")
    live_masks = assert_recorded(tmp_path / "rec", frames)
    assert len(run_masks) == frames
    assert any(mask.any() for mask in run_masks)  # something moved: the comparison is not vacuous
    assert all(np.array_equal(a, b) for a, b in zip(run_masks, live_masks))


@contextlib.contextmanager
def mjpeg_server(frames_per_connection=30, fps=25.0):
    """A local HTTP MJPEG camera (multipart JPEG, like many IP cameras) that sends
    ``frames_per_connection`` frames of the sample and hangs up; yields its URL and serves until
    the ``with`` ends."""
    capture = cv2.VideoCapture(str(SAMPLE))
    jpegs = [cv2.imencode(".jpg", capture.read()[1])[1].tobytes()
             for _ in range(frames_per_connection)]
    capture.release()

    class Camera(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            with contextlib.suppress(OSError):
                for jpeg in jpegs:
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                    time.sleep(1.0 / fps)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_stream_that_drops_is_reconnected_then_given_up_keeping_the_recording(live, tmp_path):
    with mjpeg_server(frames_per_connection=30) as url:
        app = live("--source", url, "--record", tmp_path / "rec", "--snapshot-after", 40,
                   "--snapshot-dir", tmp_path / "snaps")
        app.wait_for_window()
        # 40 frames need a second connection: the first one hangs up after 30
        app.wait_until(lambda: snapshot_files(tmp_path / "snaps"), "40 frames")
        assert "reconnecting" in app.stderr
    assert app.finish() == 0, app.stderr  # the camera is gone: retried, then a clean stop
    assert "giving up" in app.stderr and "Traceback" not in app.stderr
    shown = frames_shown(app.stderr)
    assert shown >= 40
    assert_recorded(tmp_path / "rec", shown)


# -- errors ----------------------------------------------------------------------------------------
def bgsub_live(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bgsub", "live", *map(str, args)],
                          capture_output=True, text=True, timeout=WAIT, env=env)


def test_absent_camera_is_one_line():
    result = bgsub_live("--camera", 7)
    assert result.returncode == 2
    assert result.stderr.strip() == "bgsub: error: camera 7 is not available"


def test_no_display_suggests_bgsub_run(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = bgsub_live("--source", SAMPLE, "--record", tmp_path / "rec", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "no display" in lines[0] and "bgsub run" in lines[0]
    assert not (tmp_path / "rec").exists()  # nothing recorded, nothing half-made


def test_unreachable_display_suggests_bgsub_run():
    result = bgsub_live("--source", SAMPLE, env=_env(":4711"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bgsub: error: cannot connect to display :4711: bgsub live needs a window; "
        "use `bgsub run` to process without one"]


def test_camera_and_source_together_are_refused():
    result = bgsub_live("--camera", 0, "--source", SAMPLE)
    assert result.returncode == 2
    assert "not both" in result.stderr and "Traceback" not in result.stderr


def test_recording_into_a_folder_a_run_is_writing_is_refused(display, tmp_path, camera):
    cam = camera([moving_square_forever()], fps=100)
    out = tmp_path / "out"
    run = start_run(cam.url, out, "--masks-dir", tmp_path / "masks")
    try:
        wait_for_frames(tmp_path / "masks", 5, run)
        result = bgsub_live("--source", SAMPLE, "--record", out, env=_env(display))
    finally:
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=WAIT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"bgsub: error: output folder {out.resolve()} is in use by another bgsub run "
        f"(pid {run.pid}); wait for it or choose another folder"]
    assert run.returncode == 130 and len(read_video(out / "mask.mov")) > 0
