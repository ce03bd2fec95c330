"""``bgsub eval``: score bgsub and OpenCV baselines on CDnet / Wallflower ground truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from bgsub import evaluate as ev
from bgsub.errors import ConfigError, SinkError

MODEL_NAMES = ("gaussian", "gmm")


def bgsub_model_factory(name: str, **params) -> Callable[[], object]:
    """A zero-argument factory making a fresh ``bgsub.make_model(name, **params)``."""
    # Imported here so that --no-bgsub runs never load (and JIT-compile) the models.
    from bgsub import make_model

    return lambda: make_model(name, **params)


def run_eval(sequence_paths: list[str], *, model_factory: Callable[[], object] | None,
             model_label: str = "bgsub", compare: str = "", masks_dirs: tuple[str, ...] = (),
             save_masks: str | None = None, json_path: str | None = None,
             plot_path: str | None = None) -> list[ev.Result]:
    """Load the sequences, evaluate the bgsub model (unless ``model_factory`` is None), the OpenCV
    baselines named in ``compare`` (comma-separated) and the mask directories; print the table and
    write the JSON / plot files asked for."""
    methods = {}
    if model_factory is not None:
        methods[model_label] = model_factory
    for name in filter(None, (n.strip().lower() for n in compare.split(","))):
        methods[name] = ev.opencv_factory(name)
    if not methods and not masks_dirs:
        raise ConfigError("nothing to evaluate: drop --no-bgsub, or give --compare or --masks")
    sequences = [ev.load_sequence(p) for p in sequence_paths]
    results = ev.evaluate_all(sequences, methods, masks_dirs=masks_dirs, save_masks_dir=save_masks,
                              progress=lambda line: click.echo(line, err=True))
    click.echo(ev.format_table(results))
    if json_path:
        _write_text(Path(json_path), ev.to_json(results) + "\n")
    if plot_path:
        ev.plot_results(results, plot_path)
    return results


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as err:
        raise SinkError(f"cannot write {path}: {err.strerror}") from None


@click.command("eval")
@click.argument("sequences", nargs=-1, required=True, metavar="SEQ...")
@click.option("--model", "model_name", type=click.Choice(MODEL_NAMES), default="gmm", show_default=True,
              help="bgsub model to evaluate.")
@click.option("--no-bgsub", is_flag=True, help="Do not run a bgsub model (baselines / masks only).")
@click.option("--compare", default="", metavar="NAMES",
              help=f"Comma-separated OpenCV baselines with default settings: {', '.join(ev.OPENCV_METHODS)}.")
@click.option("--masks", "masks_dirs", multiple=True, metavar="DIR",
              help="Also score masks from DIR (binNNNNNN.png, or DIR/<sequence>/...); repeatable.")
@click.option("--save-masks", metavar="DIR", help="Write every mask to DIR/<method>/<sequence>/binNNNNNN.png.")
@click.option("--json", "json_path", metavar="FILE", help="Write counts and metrics as JSON.")
@click.option("--plot", "plot_path", metavar="FILE.png", help="Write a bar chart of F per sequence and method.")
def eval_command(sequences, model_name, no_bgsub, compare, masks_dirs, save_masks, json_path, plot_path):
    """Score background subtraction on CDnet or Wallflower sequences (SEQ = sequence directory).

    Uses the official CDnet rule: GT 0/50 negative, 255 positive, 85/170 and ROI 0 unscored, only
    frames in temporalROI.txt scored; a predicted 127 (shadow) counts as background.
    """
    factory = None if no_bgsub else bgsub_model_factory(model_name)
    run_eval(list(sequences), model_factory=factory, model_label=f"bgsub-{model_name}", compare=compare,
             masks_dirs=masks_dirs, save_masks=save_masks, json_path=json_path, plot_path=plot_path)
