"""``bgsub run``: one input (video, image folder, glob, camera, stream) to mask outputs."""

from pathlib import Path

import click

from bgsub import pipeline, progress
from bgsub.cli.options import (config_from_options, init_frames_option, model_flags,
                               model_options, output_options)
from bgsub.errors import BgsubError, ConfigError, InputCutShort
from bgsub.sinks import prepare_folder
from bgsub.sources import quiet_opencv


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
@output_options
@click.option("--fps", type=float, help="Frame rate of image folders (default 25).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after this many frames.")
@click.option("--load-model", type=click.Path(dir_okay=False),
              help="Start from a checkpoint written by --save-model: its model, parameters and "
                   "learned background (no relearning, no ghosts).")
@click.option("--save-model", type=click.Path(dir_okay=False),
              help="Save the model with its learned background here at the end (also on Ctrl-C).")
@click.option("--strict", is_flag=True,
              help="Stop at an unreadable image in a folder (default: skip it with a warning).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def run_command(input_spec, outdir, fps, max_frames, load_model, save_model, strict, quiet,
                **model_opts):
    """Subtract the background of INPUT and write the masks.

    INPUT is a video file, a folder or glob of images (sorted by name, e.g. a CDnet input/
    folder), a camera index or a stream URL. Writes OUTDIR/mask.mov (lossless) by default.
    """
    config = config_from_options(**model_opts)
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
    flags = model_flags(model_opts)  # a checkpoint sets the model instead
    if flags:
        raise ConfigError(f"--load-model takes the model and its parameters from the checkpoint; "
                          f"leave out {', '.join(flags)}")
    if config.model.init_frames:
        raise ConfigError("--load-model starts from the checkpoint; init_frames would refit it "
                          "(leave one out)")
    model, gray = pipeline.load_for(path, source, config.model.downscale)
    if model_opts.get("gray") and not gray:
        raise ConfigError(f"--gray: the checkpoint {path} was learned on colour frames")
    return model, gray


def _save_checkpoint(model, path):
    try:
        model.save(path)
    except OSError as err:
        raise BgsubError(f"cannot save the model to {path}: {err.strerror or err}") from None

