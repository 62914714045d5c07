"""``proxysort show OUT``: make the review page of a sorted folder again and open it in the browser."""

from __future__ import annotations

from proxysort.cli.common import cache_dir_for, get_env, open_in_browser, reporter_for
from proxysort.cli.options import CacheDirOpt, QuietOpt, ShowOpenOpt, ShowOutArg


def show_command(
    out: ShowOutArg,
    open_page: ShowOpenOpt = None,
    cache_dir: CacheDirOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Make OUT/index.html again (missing or damaged thumbnails are made again) and open it.

    Prints the page's path on stdout. The groups are those of the folder tree as it is now. The
    corrections the folder keeps (links you placed, groups you named, photos left out) are listed on stderr.
    """
    from proxysort.corrections import kept, read_corrections
    from proxysort.errors import OutputError
    from proxysort.page.publish import rebuild_page
    from proxysort.pagefiles import PAGE_NAME

    env = get_env()
    reporter = reporter_for(env, quiet)
    outcome = rebuild_page(out, cache_dir_for(env, cache_dir), reporter=reporter)
    stats = outcome.thumbs
    for photo, reason in stats.failures:
        reporter.skipped(photo, f"no thumbnail: {reason}")
    if stats.made or stats.failed or outcome.copied:
        reporter.message(f"thumbnails: {stats.made} made again, {outcome.copied} put beside the page, "
                         f"{stats.failed} could not be made")
    for line in kept(read_corrections(out.expanduser())[0]):
        reporter.message(f"kept: {line}")
    page = outcome.page
    if page is None:
        raise OutputError(f"{out / PAGE_NAME} is not a page proxysort made; move it away and run proxysort show again.")
    env.stdout.write(f"{page}\n")
    env.stdout.flush()
    if open_page if open_page is not None else bool(env.stdout_isatty and env.stderr_isatty):
        open_in_browser(page, env, reporter)
