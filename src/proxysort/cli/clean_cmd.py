"""``proxysort clean OUT``: remove what proxysort created in an output folder, and nothing else.

Only files the manifest lists and that are still exactly as proxysort made them are removed; a file that
is the last copy of a photo (a hard link or copy whose original was deleted) is kept and stays listed.
Folders go when they are empty; the manifest goes when it lists nothing of proxysort's any more.
"""

from __future__ import annotations

from proxysort.cli.common import get_env, reporter_for
from proxysort.cli.options import CleanAllOpt, CleanByOpt, CleanDryRunOpt, CleanOutArg, CleanVerboseOpt, QuietOpt
from proxysort.progress import terminal_safe


def clean_command(
    out: CleanOutArg, by: CleanByOpt = None, dry_run: CleanDryRunOpt = False, everything: CleanAllOpt = False,
    quiet: QuietOpt = False, verbose: CleanVerboseOpt = False,
) -> None:
    """Remove the trees proxysort created in OUT (never your files, never the last copy of a photo).

    Links you placed by hand stay, and the next run starts from them, unless --all."""
    from proxysort.output import clean_tree, read_manifest
    from proxysort.page.publish import rebuild_page

    env = get_env()
    reporter = reporter_for(env, quiet)
    summary = clean_tree(out.expanduser(), reporter, concepts=by or (), dry_run=dry_run,
                         keep_corrections=not everything)
    left = None if dry_run or not out.expanduser().is_dir() else read_manifest(out.expanduser())
    if left is not None and left.concepts and left.page is not None:
        rebuild_page(out, None, reporter=reporter)  # the page of the trees kept: the removed ones leave it
    verb = "would remove" if dry_run else "removed"
    if dry_run:
        for tree, count in summary.per_tree().items():
            reporter.message(f"dry run: {tree}/  {count} file(s)")
        if verbose:
            for path in sorted(summary.paths):
                reporter.message(f"dry run: would remove {terminal_safe(str(out / path))}")
    reporter.message(
        f"{'dry run: ' if dry_run else ''}{out}: {verb} {summary.removed} file(s)"
        + (f" in {len(summary.per_tree())} tree(s), and the folders they leave empty" if dry_run
           else f" and {summary.folders_removed} folder(s)")
        + (f"; kept {len(summary.orphans)} last cop{'y' if len(summary.orphans) == 1 else 'ies'} of photos" if summary.orphans else "")
        + (f"; left {len(summary.left_alone)} changed file(s) alone" if summary.left_alone else "")
        + (f"; kept {len(summary.placed)} link(s) you placed by hand (--all removes them too)" if summary.placed else "")
    )
