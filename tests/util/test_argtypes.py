"""fwlab/util/argtypes.py: the click types, options and sub-command class of the `fwlab` command."""

import argparse
import math

import click
import pytest

from fwlab.util.argtypes import (
    Argument,
    Command,
    Option,
    choice,
    fraction,
    int_at_least,
    norm_exponent,
    positive_float,
)


def demo(**settings):
    """A command that returns the Namespace its run function got."""
    return Command(
        "demo",
        lambda args: args,
        [
            Argument(["name"], help="a name"),
            Option(["--rows", "rows"], greedy=True, default=None, help="rows", section="pick"),
            Option(["--keys", "keys"], type=choice(("a", "b")), greedy=True, at_least_one=True),
            Option(["--seeds", "seeds"], type=int_at_least(0), greedy=True),
            Option(["--jobs", "jobs"], type=int_at_least(1), default=2),
            Option(["--fast", "fast"], is_flag=True),
        ],
        **settings,
    )


def parse(argv, **settings):
    return demo(**settings).main(argv, standalone_mode=False)


def test_run_gets_every_parameter_as_a_namespace():
    args = parse(["x", "--jobs", "3", "--fast"])
    assert isinstance(args, argparse.Namespace)
    assert vars(args) == {"name": "x", "rows": None, "keys": None, "seeds": None, "jobs": 3,
                          "fast": True}  # fmt: skip


@pytest.mark.parametrize(
    "argv, rows",
    [
        (["x", "--rows", "sgd", "fw_k1", "--jobs", "3"], ["sgd", "fw_k1"]),  # up to an option
        (["--rows", "sgd", "fw_k1", "x"], None),  # a positional after them is one of them
        (["x", "--rows"], []),  # argparse's nargs='*': none is an empty list
        (["x", "--rows", "a", "--rows", "b", "c"], ["b", "c"]),  # the last one counts
        (["x", "--rows=a", "b"], None),  # an inline value is the only one: b is left over
    ],
)
def test_a_greedy_option_takes_the_values_up_to_the_next_option(argv, rows):
    if rows is None:
        with pytest.raises(click.UsageError):
            parse(argv)
    else:
        args = parse(argv)
        assert args.rows == rows and args.name == "x"


def test_greedy_values_are_converted_and_checked_by_their_type():
    with pytest.raises(click.BadParameter, match="must be an integer >= 0, got -1; pass e.g. 0"):
        parse(["x", "--seeds", "0", "-1"])  # a negative number is a value, as in argparse
    assert parse(["x", "--seeds", "0", "3"]).seeds == [0, 3]
    with pytest.raises(click.BadParameter, match="invalid choice: 'c'"):
        parse(["x", "--keys", "a", "c"])
    with pytest.raises(click.BadParameter, match="expected at least one argument"):
        parse(["x", "--keys", "--fast"])


def test_extra_words_are_refused_unless_passed_through():
    with pytest.raises(click.UsageError, match="unrecognized arguments: y z"):
        parse(["x", "y", "z"])
    with pytest.raises(click.NoSuchOption):
        parse(["x", "--port", "1"])
    args = parse(["x", "--port", "1", "--jobs", "4"], passthrough=True)
    assert args.extra == ["--port", "1"] and args.jobs == 4


@pytest.mark.parametrize(
    "kind, text, message",
    [
        (int_at_least(2), "1", "must be an integer >= 2, got 1; pass e.g. 2"),
        (int_at_least(1), "ten", "must be an integer >= 1, got 'ten'; pass e.g. 1"),
        (positive_float, "nan", "must be a finite number > 0, got nan; pass e.g. 1"),
        (fraction, "1.5", r"must be a number in \(0, 1\], got 1.5; pass e.g. 1"),
        (norm_exponent, "0.5", "must be a number >= 1 or 'inf', got 0.5; pass e.g. 2"),
        (choice((2, 3), convert=int), "4", r"invalid choice: '4' \(choose from 2, 3\)"),
    ],
)
def test_a_bad_value_is_a_bad_parameter_with_the_rule_and_the_value(kind, text, message):
    """The rules of fwlab.util.validate, worded for the option the usage error names."""
    with pytest.raises(click.BadParameter, match=f"^{message}$"):
        kind.convert(text, None, None)


def test_types_convert_text_and_keep_defaults():
    assert norm_exponent.convert("inf", None, None) == math.inf
    assert choice((2, 3), convert=int).convert("3", None, None) == 3
    assert positive_float.convert(1e-3, None, None) == 1e-3  # a default is not text


def test_a_choice_of_a_mapping_reads_it_when_checking():
    table = {"b": 1}
    kind = choice(table)
    table["a"] = 2
    assert kind.convert("a", None, None) == "a"
    with pytest.raises(click.BadParameter, match=r"\(choose from 'a', 'b'\)"):
        kind.convert("c", None, None)


def test_help_lists_arguments_then_sections_then_options():
    command = demo(show_default=True)
    with command.make_context("demo", ["x"]) as ctx:
        text = command.get_help(ctx)
    headings = [line for line in text.splitlines() if line.endswith(":") and " " not in line]
    assert headings == ["Arguments:", "pick:", "Options:"]
    assert "NAME  a name" in text and "--debug" in text and "-h, --help" in text
