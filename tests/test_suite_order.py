"""The order in which .ci/test hands out test files (tests/conftest.py)."""

from pathlib import Path

from tests.conftest import SLOWEST_FILES

TESTS = Path(__file__).parent


def test_the_slowest_files_table_names_existing_files_slowest_first():
    assert [name for name in SLOWEST_FILES if not (TESTS / name).is_file()] == []
    seconds = list(SLOWEST_FILES.values())
    assert seconds == sorted(seconds, reverse=True)


def test_the_slowest_files_are_collected_first(request):
    names = [item.nodeid.split("::")[0].removeprefix("tests/") for item in request.session.items]
    listed = [n for n in dict.fromkeys(names) if n in SLOWEST_FILES]
    # in a run of the whole suite the listed files come first, in the table's order
    if len(listed) == len(SLOWEST_FILES):
        assert list(dict.fromkeys(names))[: len(listed)] == list(SLOWEST_FILES)
    assert listed == [n for n in SLOWEST_FILES if n in listed]
