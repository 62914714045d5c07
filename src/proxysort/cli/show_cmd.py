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
    """Make OUT/index.html again (thumbnails missing from the cache are remade) and open it.

    Prints the page's path on stdout. Photos whose entry the manifest no longer lists are left out. The
    corrections the folder keeps (links you placed, groups you named, photos left out) are listed on stderr.
    """
    from proxysort.corrections import kept, read_corrections
    from proxysort.page import rebuild_page

    env = get_env()
    reporter = reporter_for(env, quiet)
    page, stats = rebuild_page(out, cache_dir_for(env, cache_dir), reporter=reporter)
    if stats.made or stats.failed:
        reporter.message(f"thumbnails: {stats.made} made again, {stats.failed} could not be made")
    for line in kept(read_corrections(out.expanduser())[0]):
        reporter.message(f"kept: {line}")
    env.stdout.write(f"{page}\n")
    env.stdout.flush()
    if open_page if open_page is not None else bool(env.stdout_isatty and env.stderr_isatty):
        open_in_browser(page, env, reporter)
