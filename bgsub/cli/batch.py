"""``bgsub batch``: many recordings from a YAML job file, on local processes or a Dask cluster."""

import click

from bgsub.batch import EXECUTORS, BatchFailed, BatchProgress, format_summary, load_batch, run_batch


@click.command("batch")
@click.argument("jobs_file", metavar="JOBS.yaml")
@click.option("--workers", type=click.IntRange(min=1),
              help="Recordings processed at once (default: the file's workers, else one per core).")
@click.option("--force", is_flag=True, help="Process every recording again, even those up to date.")
@click.option("--executor", type=click.Choice(EXECUTORS),
              help="local: worker processes on this machine; dask: a Dask cluster.")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Dask scheduler to use (implies --executor dask; without it dask starts a local cluster).")
@click.option("--summary-dir", type=click.Path(file_okay=False),
              help="Where summary.json and summary.csv go (default: the common parent of the outputs).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no line per recording.")
def batch_command(jobs_file, workers, force, executor, scheduler, summary_dir, quiet):
    """Process every recording listed in JOBS.yaml (see configs/batch.yaml).

    The whole file is checked before anything runs. Recordings already processed with the same
    input and parameters are skipped. Exit status: 0 all done, 1 some failed, 2 bad job file,
    130 interrupted.
    """
    if scheduler and executor == "local":
        raise click.UsageError("--scheduler needs --executor dask")
    batch = load_batch(jobs_file, workers=workers, executor=executor, scheduler=scheduler,
                       summary_dir=summary_dir)
    progress = BatchProgress(len(batch.recordings), bar=False if quiet else None, lines=not quiet,
                             names={rec.index: rec.input for rec in batch.recordings})
    report = run_batch(batch, force=force, progress=progress)
    click.echo(format_summary(report))
    if report.interrupted:
        raise KeyboardInterrupt
    if report.failed:
        raise BatchFailed(f"{report.failed} of {len(report.results)} recordings failed "
                          f"(details in {report.summary_csv})")
