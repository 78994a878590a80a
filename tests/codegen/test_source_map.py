from __future__ import annotations

import pytest

from codegen import source_map

TEXT = '{\n  "a": [1, {"b~/c": true}],\n  "d": "x"\n}\n'


@pytest.mark.parametrize(
    ("pointer", "key", "position"),
    [
        ("", False, (1, 1)),
        ("/a", False, (2, 8)),
        ("/a", True, (2, 3)),
        ("/a/1", False, (2, 12)),
        ("/a/1/b~0~1c", False, (2, 21)),
        ("/a/1/b~0~1c", True, (2, 13)),
        ("/d", False, (3, 8)),
        ("/missing/deeper", False, (1, 1)),
        ("/a/7", False, (2, 8)),
    ],
)
def test_locates_values_and_keys_by_pointer(pointer, key, position):
    located, stopped = source_map.map_source(TEXT)
    assert stopped is None
    assert located.locate(pointer, key=key) == position


def test_reports_duplicate_keys_at_the_repeat():
    located, _ = source_map.map_source('{"a": 1,\n "a": 2}')
    assert [(pointer, located.line_column(offset)) for pointer, offset in located.duplicate_keys] == [("/a", (2, 2))]


def test_parse_flags_duplicates_without_losing_the_value():
    value, problem, duplicates = source_map.parse('{"a": 1, "a": 2}')
    assert (value, problem, duplicates) == ({"a": 2}, None, True)


@pytest.mark.parametrize(
    ("text", "pointer", "line", "column"),
    [
        ('{"a": [1, 2,]}', "/a/2", 1, 13),
        ('{"a": {"b": tru}}', "/a/b", 1, 13),
        ('{"a": "unterminated', "/a", 1, 7),
        ("[1] [2]", "", 1, 5),
        ("", "", 1, 1),
    ],
)
def test_syntax_errors_carry_the_pointer_being_parsed(text, pointer, line, column):
    value, problem, _ = source_map.parse(text)
    assert value is None
    assert problem is not None
    assert (problem.pointer, problem.line, problem.column) == (pointer, line, column)
