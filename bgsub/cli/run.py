"""``bgsub run``: one input (video, image folder, glob, camera, stream) to mask outputs."""

from pathlib import Path

import click

from bgsub import pipeline
from bgsub.cli.options import config_from_options, model_options
from bgsub.config import make_model_from
from bgsub.postprocess import PostProcessor
from bgsub.sources import open_source


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
@click.option("--masks-dir", help="Also write one PNG mask per frame into this folder.")
@click.option("--overlay", is_flag=True, default=None, help="Also write overlay.mp4 (foreground tinted red).")
@click.option("--background", is_flag=True, default=None, help="Also write background.mp4 (the learned background).")
@click.option("--shadow-video", is_flag=True, default=None,
              help="Also write labels.mkv: 255 foreground, 127 shadow, 0 background.")
@click.option("--no-mask-video", is_flag=True, help="Do not write mask.mkv.")
@click.option("--fps", type=float, help="Frame rate of image folders (default 25).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after this many frames.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def run_command(input_spec, outdir, masks_dir, overlay, background, shadow_video, no_mask_video,
                fps, max_frames, quiet, **model_opts):
    """Subtract the background of INPUT and write the masks.

    INPUT is a video file, a folder or glob of images (sorted by name, e.g. a CDnet input/
    folder), a camera index or a stream URL. Writes OUTDIR/mask.mkv (lossless) by default.
    """
    outputs = {
        key: value
        for key, value in (("masks_dir", masks_dir), ("overlay_video", overlay),
                           ("background_video", background), ("shadow_video", shadow_video))
        if value is not None
    }
    if no_mask_video:
        outputs["mask_video"] = False
    config = config_from_options(**model_opts, extra={"outputs": outputs})
    model = make_model_from(config)
    outdir = Path(outdir) if outdir else default_outdir(input_spec)
    with open_source(input_spec, fps=fps) as source:
        total = source.frame_count
        if max_frames is not None:
            total = min(total, max_frames) if total else max_frames
        outs = pipeline.build_outputs(outdir, config["outputs"], source.fps)
        progress = pipeline.Progress(total, enabled=False if quiet else None)
        stats = pipeline.run(
            source, model, PostProcessor(config["postprocess"]), outs,
            gray=config["model"]["gray"], max_frames=max_frames, progress=progress,
        )
    click.echo(f"{stats.summary()} -> {outdir}", err=True)
    if stats.interrupted:
        raise KeyboardInterrupt
