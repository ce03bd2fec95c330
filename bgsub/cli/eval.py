"""``bgsub eval``: score bgsub and OpenCV baselines on CDnet / Wallflower ground truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bgsub import evaluate as ev
from bgsub.cli.options import config_from_options, init_frames_option, model_options
from bgsub.atomic import write_atomic
from bgsub.errors import ConfigError
from bgsub.progress import frame_bar

if TYPE_CHECKING:
    from bgsub.config import Config


def method_label(config: Config) -> str:
    """The table's name for the bgsub row: ``bgsub-<model>`` with the default preset,
    ``bgsub-<preset>`` with another one (``bgsub-<preset>-<model>`` if the model was changed)."""
    from bgsub.config import DEFAULTS, PRESETS

    preset, model = config.preset, config.model.name
    if preset == "default":
        return f"bgsub-{model}"
    preset_model = PRESETS[preset].get("model", {}).get("name", DEFAULTS["model"]["name"])
    return f"bgsub-{preset}" if model == preset_model else f"bgsub-{preset}-{model}"


def run_eval(sequence_paths: list[str], *, model_factory: Callable[[], ev.Subtractor] | None,
             model_label: str = "bgsub", compare: str = "", masks_dirs: tuple[str, ...] = (),
             save_masks: str | None = None, json_path: str | None = None,
             plot_path: str | None = None, config: dict | None = None) -> list[ev.Result]:
    """Load the sequences, evaluate the bgsub model (unless ``model_factory`` is None), the OpenCV
    baselines named in ``compare`` (comma-separated) and the mask directories; print the table and
    write the JSON (with ``config``, the bgsub configuration, when given) and plot files asked for."""
    methods: dict[str, Callable[[], ev.Subtractor]] = {}
    if model_factory is not None:
        methods[model_label] = model_factory
    for name in filter(None, (n.strip().lower() for n in compare.split(","))):
        methods[name] = ev.opencv_factory(name)
    if not methods and not masks_dirs:
        raise ConfigError("nothing to evaluate: drop --no-bgsub, or give --compare or --masks")
    sequences = [ev.load_sequence(p) for p in sequence_paths]
    results = ev.evaluate_all(sequences, methods, masks_dirs=masks_dirs, save_masks_dir=save_masks,
                              progress=lambda line: click.echo(line, err=True), bars=method_bars)
    click.echo(ev.format_table(results))
    if json_path:
        write_atomic(Path(json_path), ev.to_json(results, config=config) + "\n")
    if plot_path:
        ev.plot_results(results, plot_path)
    return results


def method_bars(sequence, methods, total):
    """A frame bar per method (:func:`bgsub.progress.frame_bar`), one line each, on a terminal."""
    width = max(len(m) for m in methods)
    return {method: frame_bar(total, desc=f"{sequence} {method:<{width}} ", position=i)
            for i, method in enumerate(methods)}


@click.command("eval")
@click.argument("sequences", nargs=-1, required=True, metavar="SEQ...")
@model_options
@init_frames_option
@click.option("--no-bgsub", is_flag=True, help="Do not run a bgsub model (baselines / masks only).")
@click.option("--compare", default="", metavar="NAMES",
              help=f"Comma-separated OpenCV baselines with default settings: {', '.join(ev.OPENCV_METHODS)}.")
@click.option("--masks", "masks_dirs", multiple=True, metavar="DIR",
              help="Also score masks from DIR (binNNNNNN.png, or DIR/<sequence>/...); repeatable.")
@click.option("--save-masks", metavar="DIR", help="Write every mask to DIR/<method>/<sequence>/binNNNNNN.png.")
@click.option("--json", "json_path", metavar="FILE", help="Write counts, metrics and the bgsub config as JSON.")
@click.option("--plot", "plot_path", metavar="FILE.png", help="Write a bar chart of F per sequence and method.")
def eval_command(sequences, no_bgsub, compare, masks_dirs, save_masks, json_path, plot_path, **model_opts):
    """Score background subtraction on CDnet or Wallflower sequences (SEQ = sequence directory).

    The bgsub row runs exactly what `bgsub run` does to each frame with the same options: gray
    conversion if asked, the model, then the post-processing; its fps counts all three (Numba
    compilation excluded). Uses the official CDnet rule: GT 0/50 negative, 255 positive, 85/170
    and ROI 0 unscored, only frames in temporalROI.txt scored; a predicted 127 (shadow) counts as
    background.
    """
    config = config_from_options(**model_opts)
    factory = None if no_bgsub else ev.bgsub_factory(config)
    run_eval(list(sequences), model_factory=factory, model_label=method_label(config), compare=compare,
             masks_dirs=masks_dirs, save_masks=save_masks, json_path=json_path, plot_path=plot_path,
             config=None if no_bgsub else config.to_dict())
