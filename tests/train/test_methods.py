"""Method presets and the paper's tables (fwlab/train/methods.py)."""

import json
import math

import pytest

from fwlab.train import METHODS, PAPER_RESULTS, TABLE_II, TABLE_III, Method, get_method


def test_every_table_row_is_a_method_with_paper_numbers():
    for number, table in ((2, TABLE_II), (3, TABLE_III)):
        assert len(table["rows"]) == (3 if number == 2 else 12)
        for label, name, overrides in table["rows"]:
            get_method(name, **overrides)
            for task in table["tasks"]:
                acc, hours = PAPER_RESULTS[number][label][task]
                assert 50 < acc < 100 and 0 < hours < 10


def test_presets_say_what_the_rows_are():
    assert get_method("sgd").optimizer == "adam" and get_method("sgd").tbptt is None
    assert get_method("sgd_clip").clip_norm == 1.0
    assert get_method("tbptt").tbptt == 16 and get_method("tbptt_fw").tbptt == 16
    assert [get_method(f"fw_k{k}").K for k in (1, 5, 10)] == [1, 5, 10]
    assert get_method("fw_bn").batch_norm and get_method("lstm_fw").cell == "lstm"
    ind = get_method("indrnn_fw")
    assert ind.cell == "indrnn" and ind.clip_value == 10.0 and ind.optimizer == "fw"
    alg1 = get_method("fw_k1_alg1")
    assert (alg1.scope, alg1.outer) == ("global", "sgd")
    assert get_method("fw_decay_k5").K_switch == (15000, 5)


def test_methods_are_frozen_plain_data():
    m = get_method("fw_k5")
    with pytest.raises(AttributeError):
        m.K = 3
    d = json.loads(json.dumps(m.to_dict()))
    assert d["K"] == 5 and d["name"] == "fw_k5"
    assert json.loads(json.dumps(get_method("fw_k1", p=math.inf).to_dict()))["p"] == "inf"
    assert all(isinstance(v, Method) for v in METHODS.values())


@pytest.mark.parametrize(
    "changes,name",
    [
        (dict(cell="gru"), "cell"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(K=0), "K"),
        (dict(K=1.5), "K"),
        (dict(tbptt=0), "tbptt"),
        (dict(clip_norm=-1.0), "clip_norm"),
        (dict(clip_value=0), "clip_value"),
        (dict(K_switch=(100,)), "K_switch"),
        (dict(p=0.5), "p"),
    ],
)
def test_invalid_method_fields(changes, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        get_method("fw_k1", **changes)


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="method must be one of .*fw_k5"):
        get_method("adamw")
