"""The review page ``OUT/index.html``: every group of every concept as thumbnails, in one static folder.

Three modules, one job each: :mod:`~proxysort.page.data` (what the page shows, read back strictly, always
reconciled with the manifest), :mod:`~proxysort.page.render` (HTML from package templates, Jinja2 with
autoescaping, CSP from the shipped bytes) and :mod:`~proxysort.page.publish` (thumbnails and files into OUT
on the tree writer's descriptors, under its lock). Importing this package imports none of the heavy parts.
"""

from __future__ import annotations

from proxysort.page.data import (
    PageConcept,
    PageData,
    PageDataError,
    PageGroup,
    PagePhoto,
    PageRun,
    RunConcept,
    build_page_data,
    reconcile,
)
from proxysort.pagefiles import PAGE_DATA_NAME, PAGE_NAME

__all__ = [
    "PAGE_DATA_NAME", "PAGE_NAME", "PageConcept", "PageData", "PageDataError", "PageGroup", "PagePhoto",
    "PageRun", "RunConcept", "build_page_data", "reconcile",
]
