"""``bgsub train``: fit the mixture to the first frames of an input by EM and save a checkpoint."""

import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from bgsub import progress
from bgsub.cli.options import config_from_options, model_options
from bgsub.config import make_model_from
from bgsub.errors import BgsubError
from bgsub.frames import model_input
from bgsub.models import em
from bgsub.sinks import prepare_folder
from bgsub.sources import open_source, quiet_opencv
from bgsub.train import check_fittable


@click.command("train")
@click.argument("input_spec", metavar="INPUT")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="MODEL.npz",
              help="Where to write the checkpoint (for --load-model and bgsub.load_model).")
@click.option("--frames", "n_frames", type=click.IntRange(min=1), default=200, show_default=True,
              metavar="N", help="Fit the first N frames; the input must have that many.")
@click.option("--iterations", type=click.IntRange(min=1), default=em.ITERATIONS, show_default=True,
              metavar="I", help="Most EM iterations per pixel.")
@click.option("--keep-ratio", type=click.FloatRange(0, 1, min_open=True), default=em.KEEP_RATIO,
              show_default=True, metavar="R",
              help="Keep the components whose higher-ranked weights sum below R: the clip's "
                   "background (docs/em.md); 1 keeps every fitted component.")
@click.option("--recurrence", type=click.FloatRange(0, 1), default=em.RECURRENCE,
              show_default=True, metavar="V",
              help="Keep a component beside the first only if the pixel returned to it at least "
                   "V times per frame of the clip (a moving background's modes recur; a person "
                   "who stood still is one visit); 0 keeps every one the keep ratio keeps.")
@model_options
@click.option("--fps", type=float, help="Frame rate of image folders (default 25).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train_command(input_spec, output, n_frames, iterations, keep_ratio, recurrence, fps, quiet,
                  **model_opts):
    """Fit each pixel's Gaussian mixture to the first N frames of INPUT by
    expectation-maximisation and save the model to MODEL.npz.

    `bgsub run --load-model MODEL.npz` (and live, batch, bgsub.load_model) then starts from the
    fitted background: no learning phase, no ghosts of objects present at the start. K is --k.
    """
    config = config_from_options(**model_opts)
    model = make_model_from(config)
    check_fittable(model, "bgsub train")
    prepare_folder(Path(output).resolve().parent)  # fail now, not after reading the frames
    with quiet_opencv(), open_source(input_spec, fps=fps) as source:
        images = _read(source, n_frames, config.model.gray, model, quiet)
    if len(images) < n_frames:
        raise BgsubError(f"{input_spec}: has {len(images)} frames, --frames asks for {n_frames}")
    start = time.perf_counter()
    bar = tqdm(total=100, file=sys.stderr, disable=quiet or not sys.stderr.isatty(),
               bar_format="EM fit {percentage:3.0f}%|{bar}| [{elapsed}, ETA {remaining}]")
    model.fit(images, iterations=iterations, keep_ratio=keep_ratio, recurrence=recurrence,
              progress=lambda share: bar.update(round(100 * share) - bar.n))
    bar.close()
    seconds = time.perf_counter() - start
    try:
        model.save(output)
    except OSError as err:
        raise BgsubError(f"cannot save the model to {output}: {err.strerror or err}") from None
    mean_k = float(model.n_components.mean())
    click.echo(f"fitted {len(images)} frames in {seconds:.1f} s "
               f"({mean_k:.2f} components per pixel on average) -> {output}", err=True)


def _read(source, count, gray, model, quiet):
    """The first ``count`` frames of ``source`` as the model takes them, with a progress bar."""
    bar = progress.Progress(count, enabled=False if quiet else None)
    images = []
    for frame in source:
        images.append(model_input(frame.image, model, gray))
        bar.update(len(images))
        if len(images) == count:
            break
    bar.finish(len(images))
    return images
