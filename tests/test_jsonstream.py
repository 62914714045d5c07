"""jsonstream: the same values as ``json.loads`` whatever pieces the text comes in, ``json``'s error wording,
and the bounds (one value's length, nesting) as one exception each, never a traceback or a read without end."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxysort.jsonstream import JSONStream, JSONSyntaxError, TooDeep, TooLarge


def _walk(stream: JSONStream, depth: int = 0) -> object:
    """A whole value read through the cursor: containers walked down to ``depth`` 3, then decoded whole."""
    char = stream.peek()
    if depth < 3 and char == "{":
        return {key: _walk(stream, depth + 1) for key in stream.keys()}
    if depth < 3 and char == "[":
        return [_walk(stream, depth + 1) for _ in stream.items()]
    return stream.value()


def _load(pieces: list[str], limit: int = 1 << 20) -> object:
    stream = JSONStream(iter(pieces), value_limit=limit)
    value = _walk(stream)
    stream.end()
    return value


def _split(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


DOCS = [
    '{"tool": "proxysort", "version": 2, "files": [{"path": "a/b", "size": 12345678901234567890}, {}]}',
    '[1, -2.5e+10, 3E-2, true, false, null, "x\\u00e9\\ud83d\\ude00\\udce9", [], {}, [[]], {"a": {"b": [1]}}]',
    ' \n\t{ "a" : [ 1 , 2 ] , "b" : { } }\r\n ',
    '"just a string"', "12", "-0", "[1e5]", '{"a": NaN, "b": -Infinity}', '{"a": 1, "a": 2}',
]


@pytest.mark.parametrize("doc", DOCS)
def test_every_split_of_the_text_reads_the_same_value(doc: str) -> None:
    expected = json.loads(doc)
    for size in range(1, len(doc) + 1):
        got = _load(_split(doc, size))
        assert json.dumps(got) == json.dumps(expected), size  # NaN != NaN: compared as text
    for cut in range(len(doc) + 1):
        assert json.dumps(_load([doc[:cut], "", doc[cut:]])) == json.dumps(expected), cut


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values, st.integers(min_value=1, max_value=9), st.sampled_from([None, 1, 2]))
def test_any_value_in_any_pieces_reads_as_json_loads_reads_it(value: object, size: int, indent: int | None) -> None:
    doc = json.dumps(value, indent=indent)
    assert _load(_split(doc, size)) == json.loads(doc)


@pytest.mark.parametrize("doc", [
    '{"a": 1', '{"a": 1,}', '{"a" 1}', '{a: 1}', "[1, 2", "[1,]", "[1 2]", '{"a": [1, 2}', "", "   ",
    '{"a": "unterminated', '{"a": tru}', '{"a": 1} x', '["\x01"]', '{"a": "\\x"}',
])
def test_a_syntax_error_is_worded_as_json_words_it(doc: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(doc)
    for size in (1, 3, len(doc) or 1):
        with pytest.raises(JSONSyntaxError) as got:
            _load(_split(doc, size))
        assert expected.value.msg in str(got.value)
    with pytest.raises(JSONSyntaxError) as whole:
        _load([doc])
    assert str(whole.value) == str(expected.value)


def test_the_position_of_an_error_is_the_whole_texts() -> None:
    doc = '{\n "a": [\n  1,\n  2\n  3\n ]\n}'
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(doc)
    for size in (1, 2, 5, 100):
        with pytest.raises(JSONSyntaxError) as got:
            _load(_split(doc, size))
        assert str(got.value) == str(expected.value), size


def test_a_value_longer_than_the_limit_is_too_large_even_when_it_never_ends() -> None:
    with pytest.raises(TooLarge):
        _load(_split('["' + "x" * 5000 + '"]', 100), limit=1000)
    with pytest.raises(TooLarge):  # a string that never ends (a device, a file that grows)
        JSONStream(itertools.chain(['["'], itertools.repeat("x" * 100)), value_limit=4096).value()
    assert _load(_split('["' + "x" * 900 + '"]', 100), limit=1000) == ["x" * 900]  # the limit is per value
    assert _load(_split(json.dumps(["x" * 900] * 50), 100), limit=1000) == ["x" * 900] * 50


def test_nesting_past_the_decoders_recursion_is_too_deep() -> None:
    with pytest.raises(TooDeep):
        _load(["[" * 100_000 + "]" * 100_000])
