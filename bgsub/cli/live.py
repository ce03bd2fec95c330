"""``bgsub live``: watch a camera, stream or file through the model in a window and tune it."""

import contextlib

import click

from bgsub.cli.options import config_from_options, init_frames_option, model_options
from bgsub.cli.run import starting_model
from bgsub.live import LiveSession, check_display, run_live
from bgsub.outputs import build_outputs
from bgsub.postprocess import PostProcessor
from bgsub.sinks import output_lock
from bgsub.sources import open_source
from bgsub.train import fit_head
from bgsub.units import area_pixels


@click.command("live")
@click.option("--camera", type=click.IntRange(min=0), metavar="INDEX",
              help="Camera index (default: 0 when no --source is given).")
@click.option("--source", "source_spec", metavar="URL_OR_FILE",
              help="A stream URL (rtsp://, http://, ...), video file, image folder or glob.")
@model_options
@init_frames_option
@click.option("--load-model", type=click.Path(dir_okay=False),
              help="Start from a checkpoint (bgsub train, bgsub run --save-model): its model, "
                   "parameters and learned background.")
@click.option("--realtime/--no-realtime", default=True, show_default=True,
              help="Play files and image folders at their own fps, dropping frames the model "
                   "cannot keep up with, or hand every frame to the model as fast as it goes. "
                   "Cameras and streams are always live.")
@click.option("--fps", type=float, help="Frame rate of image folders (default 25).")
@click.option("--record", "record_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Also write DIR/mask.mov and DIR/overlay.mp4 of the frames shown.")
@click.option("--snapshot-dir", default="snapshots", show_default=True,
              type=click.Path(file_okay=False), help="Where the s key saves PNG snapshots.")
@click.option("--snapshot-after", type=click.IntRange(min=1), metavar="N",
              help="Save a snapshot after N frames.")
@click.option("--max-frames", type=click.IntRange(min=1), metavar="N",
              help="Stop after N frames.")
@click.option("--show-background", is_flag=True,
              help="Start with the learned-background pane shown (the b key toggles it).")
def live_command(camera, source_spec, realtime, fps, record_dir, snapshot_dir, snapshot_after,
                 max_frames, show_background, load_model, **model_opts):
    """Show the input, mask, overlay and background in a window while the model runs.

    Keys: q/Esc quit, space pause, r reset the model, s snapshot, b background pane,
    d score pane, +/- threshold, h help. Needs a display; `bgsub run` works without one.
    With --init-frames N the model is first fitted to the first N frames by EM, and the view
    starts at the frame after them.
    """
    if camera is not None and source_spec is not None:
        raise click.UsageError("give --camera or --source, not both")
    spec = source_spec if source_spec is not None else (camera if camera is not None else 0)
    outputs = {"overlay_video": True} if record_dir else {}
    config = config_from_options(**model_opts, extra={"outputs": outputs})
    source = open_source(spec, fps=fps)
    with contextlib.ExitStack() as recording:
        try:
            model, gray = starting_model(load_model, source, model_opts, config)
            check_display()  # before the recording folder is made
            if config.model.init_frames:
                head, _ = fit_head(model, source, config.model.init_frames, gray)
                click.echo(f"fitted {len(head)} frames by EM", err=True)
            if record_dir:  # a run or another live session writing there would corrupt it
                recording.enter_context(output_lock(record_dir))
            outs = (build_outputs(record_dir, config.outputs, source.fps)
                    if record_dir else [])
        except BaseException:
            source.close()
            raise
        session = LiveSession(
            model, PostProcessor(config.postprocess), gray=gray,
            outputs=outs, snapshot_dir=snapshot_dir, show_background=show_background,
            min_area=area_pixels(config.postprocess.min_area, source.size[::-1]),
            source_fps=source.fps,
            need_background=bool(record_dir) and config.outputs.background_video,
        )
        say = lambda text: click.echo(text, err=True)  # noqa: E731
        run_live(source, session, realtime=realtime, max_frames=max_frames,
                 snapshot_after=snapshot_after, say=say)
    if record_dir:
        say(f"recorded -> {record_dir}")
