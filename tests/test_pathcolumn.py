"""Per-photo text as columns (issue 25): paths in one buffer and content ids in 16 bytes read back exactly as the
lists they replace (names that are not UTF-8 included), slice and pickle as themselves, and find a path."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from proxysort.pathcolumn import ContentIds, IdsByPath, PathColumn, columns, texts_of

# In the order of their bytes (``z`` is below the first byte of ``é``), as an index hands them.
PATHS = ["/photos/a/IMG_1.jpg", "/photos/a/IMG_2.jpg", "/photos/b/z\udcff.jpg", "/photos/b/été.jpg", "/photos/c/日本.png"]
IDS = ["0123456789abcdef0123456789abcdef", "ffffffffffffffffffffffffffffffff", "old-sampled-id",
       "0123456789abcdef0123456789abcdef", "00000000000000000000000000000000"]


def test_a_column_reads_back_every_path_as_given_even_names_that_are_not_utf8() -> None:
    column = PathColumn.of(PATHS)
    assert len(column) == 5 and column.in_order
    assert list(column) == [Path(p) for p in PATHS] and column == [Path(p) for p in PATHS]
    assert list(column.text) == PATHS and column.text == PATHS and column.text[2] == "/photos/b/z\udcff.jpg"
    assert column[2] == Path("/photos/b/z\udcff.jpg") and os.fsencode(column[2]) == b"/photos/b/z\xff.jpg"
    assert column[-1] == Path(PATHS[-1]) and column.str_at(-2) == PATHS[-2]
    with pytest.raises(IndexError):
        column[5]
    assert column != [Path(p) for p in PATHS[:4]] and column.text != PATHS[::-1]


def test_an_empty_column_is_an_empty_sequence() -> None:
    for column in (PathColumn(), PathColumn.of([]), PathColumn.of(PATHS)[2:2]):
        assert len(column) == 0 and not column and list(column) == [] and column == [] and list(column.text) == []
        assert column.find("/photos/a/IMG_1.jpg") == -1
    assert ContentIds.of([]) == [] and len(ContentIds()) == 0 and ContentIds().distinct() == 0


@pytest.mark.parametrize("part", [slice(1, 4), slice(None, None, 2), slice(4, 0, -1), slice(-2, None)])
def test_slices_and_subsets_are_columns_of_the_same_items(part: slice) -> None:
    column = PathColumn.of(PATHS)
    assert isinstance(column[part], PathColumn) and list(column[part]) == [Path(p) for p in PATHS[part]]
    assert column.text[part] == PATHS[part] and ContentIds.of(IDS)[part] == IDS[part]
    mask = np.array([True, False, True, True, False])
    assert column.text.subset(mask) == [p for p, m in zip(PATHS, mask) if m]
    assert ContentIds.of(IDS).take(mask) == [c for c, m in zip(IDS, mask) if m]


def test_a_sorted_column_finds_a_path_and_an_unsorted_one_still_does() -> None:
    for items in (PATHS, PATHS[::-1]):
        column = PathColumn.of(items)
        assert column.in_order == (items == PATHS)
        for i, p in enumerate(items):
            assert column.find(p) == i and p in column.text and column.text.index(p) == i
        assert column.find("/photos/a/IMG_0.jpg") == -1 and "/photos/zz" not in column.text


def test_content_ids_keep_32_hex_ids_in_16_bytes_and_any_other_as_it_is() -> None:
    ids = ContentIds.of(IDS)
    assert list(ids) == IDS and ids == IDS and ids[2] == "old-sampled-id" and ids[-1] == IDS[-1]
    assert ids._raw.nbytes == 16 * len(IDS)
    assert ids.distinct() == len(set(IDS)) == 4


def test_columns_of_pairs_and_the_id_of_each_path() -> None:
    paths, ids = columns(zip(PATHS, IDS))
    assert paths.text == PATHS and ids == IDS
    by_path = IdsByPath(paths, ids)
    assert dict(by_path) == dict(zip(PATHS, IDS)) and list(by_path.values()) == IDS and len(by_path) == 5
    assert by_path.get("/photos/none.jpg") is None and by_path.get(PATHS[3]) == IDS[3]


def test_columns_pickle_as_themselves() -> None:
    column = PathColumn.of(PATHS)
    for value in (column, column.text, column.text[1:3], ContentIds.of(IDS)):
        back = pickle.loads(pickle.dumps(value))
        assert type(back) is type(value) and back == value


def test_texts_of_a_column_is_its_own_view_and_of_a_list_a_list_of_str() -> None:
    column = PathColumn.of(PATHS)
    assert texts_of(column) is column.text
    assert texts_of([Path(p) for p in PATHS]) == PATHS
