"""fwlab.util.table: columns as wide as their widest cell, the rule under the header."""

from __future__ import annotations

from fwlab.util.table import text_table


def test_text_table_pads_each_column_to_its_widest_cell_and_rules_the_header():
    rows = [["name", "acc"], ["sgd", "97.25"], ["fw_k5", "-"]]
    assert text_table(rows) == ["name   acc", "-----  -----", "sgd    97.25", "fw_k5  -"]
    boxed = text_table(rows, sep=" | ", rule_sep="-+-", strip=False)
    assert boxed == ["name  | acc  ", "------+------", "sgd   | 97.25", "fw_k5 | -    "]
    assert text_table([["status"]]) == ["status", "------"]
