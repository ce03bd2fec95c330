"""``bgsub run``: one input (video, image folder, glob, camera, stream) to mask outputs."""

from pathlib import Path

import click

from bgsub import pipeline, progress
from bgsub.cli.options import config_from_options, init_frames_option, model_options
from bgsub.errors import BgsubError, ConfigError, InputCutShort
from bgsub.sinks import prepare_folder
from bgsub.sources import quiet_opencv
from bgsub.units import from_text

# Flags that set the model; a checkpoint given with --load-model sets it instead.
_MODEL_FLAGS = {"model_name": "--model", "k": "--k", "threshold": "--threshold",
                "learning_rate": "--learning-rate", "history": "--history", "params": "--param",
                "init_frames": "--init-frames"}


def default_outdir(input_spec):
    """``out/<input name>`` (``out/camera0`` for a camera)."""
    text = str(input_spec).rstrip("/\\")
    name = Path(text).stem if not text.isdigit() else f"camera{text}"
    return Path("out") / (name or "input")


@click.command("run")
@click.argument("input_spec", metavar="INPUT")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False),
              help="Output folder (default: out/<input name>).")
@model_options
@init_frames_option
@click.option("--masks-dir", help="Also write one PNG mask per frame into this folder.")
@click.option("--overlay", is_flag=True, default=None, help="Also write overlay.mp4 (foreground tinted red).")
@click.option("--background", is_flag=True, default=None, help="Also write background.mp4 (the learned background).")
@click.option("--shadow-video", is_flag=True, default=None,
              help="Also write labels.mkv: 255 foreground, 127 shadow, 0 background.")
@click.option("--score-video", is_flag=True, default=None,
              help="Also write score.mkv: each pixel's distance in sigmas to its background as a "
                   "heat map on a fixed scale, the threshold marked on its colour bar.")
@click.option("--no-mask-video", is_flag=True, help="Do not write mask.mov.")
@click.option("--fps", type=float, help="Frame rate of image folders (default 25).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after this many frames.")
@click.option("--events", "events_file", type=click.Path(dir_okay=False),
              help="Write motion events to FILE.json or FILE.csv (at the end), or FILE.jsonl "
                   "(one line per event as it ends); peak-frame snapshots to FILE_stem/.")
@click.option("--event-clips", type=click.Path(file_okay=False), metavar="DIR",
              help="With --events: one video per event in DIR (INPUT_STEM.event0001.mp4, ...), "
                   "cut out of an input video file or encoded from the frames of others.")
@click.option("--min-duration", type=from_text, metavar="TIME",
              help="Motion that starts an event: frames (3), seconds (0.5s) or a timecode "
                   "(events.min_frames; default 3 frames).")
@click.option("--quiet-duration", type=from_text, metavar="TIME",
              help="Time without motion that ends an event (events.quiet_frames; default 15 "
                   "frames).")
@click.option("--pad-before", type=from_text, metavar="TIME",
              help="Time added before each event, e.g. 2s (default 0).")
@click.option("--pad-after", type=from_text, metavar="TIME",
              help="Time added after each event, e.g. 2s (default 0).")
@click.option("--overlay-boxes", is_flag=True, default=None,
              help="Burn the blob boxes into overlay.mp4 (and write it).")
@click.option("--overlay-timecode", is_flag=True, default=None,
              help="Burn the timecode, frame number and event number into overlay.mp4 (and "
                   "write it).")
@click.option("--load-model", type=click.Path(dir_okay=False),
              help="Start from a checkpoint written by --save-model: its model, parameters and "
                   "learned background (no relearning, no ghosts).")
@click.option("--save-model", type=click.Path(dir_okay=False),
              help="Save the model with its learned background here at the end (also on Ctrl-C).")
@click.option("--strict", is_flag=True,
              help="Stop at an unreadable image in a folder (default: skip it with a warning).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def run_command(input_spec, outdir, masks_dir, overlay, background, shadow_video, score_video,
                no_mask_video, fps, max_frames, events_file, event_clips, min_duration,
                quiet_duration, pad_before, pad_after, overlay_boxes, overlay_timecode,
                load_model, save_model, strict, quiet, **model_opts):
    """Subtract the background of INPUT and write the masks.

    INPUT is a video file, a folder or glob of images (sorted by name, e.g. a CDnet input/
    folder), a camera index or a stream URL. Writes OUTDIR/mask.mov (lossless) by default.
    """
    outputs = {
        key: value
        for key, value in (("masks_dir", masks_dir), ("overlay_video", overlay),
                           ("background_video", background), ("shadow_video", shadow_video),
                           ("score_video", score_video), ("overlay_boxes", overlay_boxes),
                           ("overlay_timecode", overlay_timecode))
        if value is not None
    }
    if no_mask_video:
        outputs["mask_video"] = False
    events = {key: value for key, value in (
        ("file", events_file), ("clips", event_clips), ("min_frames", min_duration),
        ("quiet_frames", quiet_duration), ("pad_before", pad_before), ("pad_after", pad_after))
        if value is not None}
    extra = {"outputs": outputs, "events": events}
    config = config_from_options(**model_opts, extra=extra)
    if save_model:
        prepare_folder(Path(save_model).resolve().parent)  # fail now, not after the whole run
    outdir = Path(outdir) if outdir else default_outdir(input_spec)
    chosen = []

    def choose_model(source):
        model, gray = starting_model(load_model, source, model_opts, config)
        chosen.append(model)
        return model, gray

    # OpenCV's own log ("Failed to write frame", ...) is silenced: bgsub reports every failure
    # as one line of its own.
    stats, events = pipeline.process(
        input_spec, outdir, config, model=choose_model, fps=fps, max_frames=max_frames,
        progress=lambda total: progress.Progress(total, enabled=False if quiet else None),
        quiet_log=quiet_opencv, strict=strict,
    )
    if save_model:
        _save_checkpoint(chosen[0], save_model)
    click.echo(f"{stats.summary()} -> {outdir}", err=True)
    if events is not None:
        click.echo(f"{len(events.events)} motion events -> {events.path}", err=True)
    if stats.interrupted:
        raise KeyboardInterrupt
    if stats.cut_short:
        raise InputCutShort(f"{input_spec} ended early ({stats.input_end}); the outputs hold "
                            f"the {stats.frames} frames read")


def starting_model(load_model, source, model_opts, config):
    """``(model, gray)`` to start from: ``--load-model``'s checkpoint, the config's
    ``model.load`` or a new model as the config describes."""
    if load_model:
        return _load_checkpoint(load_model, source, model_opts, config)
    return pipeline.model_for(config, source)


def _load_checkpoint(path, source, model_opts, config):
    """``--load-model``: ``(model, gray)``, the model saved at ``path`` checked against the
    input's frame size and against options that would set the model instead."""
    flags = [flag for key, flag in _MODEL_FLAGS.items() if model_opts.get(key) not in (None, ())]
    if flags:
        raise ConfigError(f"--load-model takes the model and its parameters from the checkpoint; "
                          f"leave out {', '.join(flags)}")
    if config["model"]["init_frames"]:
        raise ConfigError("--load-model starts from the checkpoint; init_frames would refit it "
                          "(leave one out)")
    model, gray = pipeline.load_for(path, source, config["model"]["downscale"])
    if model_opts.get("gray") and not gray:
        raise ConfigError(f"--gray: the checkpoint {path} was learned on colour frames")
    return model, gray


def _save_checkpoint(model, path):
    try:
        model.save(path)
    except OSError as err:
        raise BgsubError(f"cannot save the model to {path}: {err.strerror or err}") from None

