"""Typed callbacks (fwlab/train/callbacks.py): hook order and run state, state in checkpoints and
on resume, the function form through FunctionCallback, stopping from a hook, refused arguments."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import fwlab
from fwlab.data import load_task
from fwlab.train import Callback, FunctionCallback, TrainConfig, fit, get_method, load_checkpoint
from fwlab.train.callbacks import as_callbacks, state_keys

TINY = dict(hidden_size=8, batch_size=16, lr=1e-2)


@pytest.fixture(scope="module")
def adding():
    return load_task("adding", seq_len=12, n_train=320, n_test=32, seed=0)


def strip_times(history):
    h = json.loads(json.dumps(history))
    h["eval"].pop("seconds")
    h["summary"].pop("wall_time")
    return h


class Recorder(Callback):
    """Records (hook, run.step, batches in the history, evaluations in the history)."""

    def __init__(self):
        self.calls = []

    def _note(self, hook, run):
        h = run.history
        self.calls.append((hook, run.step, len(h["train"]["loss"]), len(h["eval"]["step"])))

    def on_train_begin(self, run):
        self._note("begin", run)

    def on_step_end(self, run):
        self._note("step", run)

    def on_eval_end(self, run):
        self._note("eval", run)
        assert run.history["eval"]["step"][-1] == run.step  # its row is there

    def on_train_end(self, run):
        self._note("end", run)
        assert run.history["summary"]["steps"] == run.step  # the summary is written


class StepCounter(Callback):
    """Counts batches and sums their losses; its state rides in checkpoints."""

    def __init__(self):
        self.steps = 0
        self.loss_sum = torch.zeros((), dtype=torch.float64)

    def on_step_end(self, run):
        self.steps += 1
        self.loss_sum += run.last_loss

    def state_dict(self):
        return {"steps": self.steps, "loss_sum": self.loss_sum.clone()}

    def load_state_dict(self, state):
        self.steps = state["steps"]
        self.loss_sum = state["loss_sum"].clone()


def test_hooks_run_in_order_with_the_run_state_of_their_moment(adding):
    rec = Recorder()
    h = fit(get_method("fw_k5"), adding, TrainConfig(**TINY, steps=6, eval_every=4),
            callbacks=[rec], progress=False)  # fmt: skip
    # one batch per step (6), evaluations at 4 and at the end (6), each after its step's hook
    assert rec.calls == [
        ("begin", 0, 0, 0),
        ("step", 1, 1, 0),
        ("step", 2, 2, 0),
        ("step", 3, 3, 0),
        ("step", 4, 4, 0),
        ("eval", 4, 4, 1),
        ("step", 5, 5, 1),
        ("step", 6, 6, 1),
        ("eval", 6, 6, 2),
        ("end", 6, 6, 2),
    ]
    assert h["eval"]["step"] == [4, 6]


def test_callbacks_are_called_in_the_order_given(adding):
    order = []

    class Named(Callback):
        def __init__(self, name):
            self.name = name

        def on_step_end(self, run):
            order.append((self.name, run.step))

    fit(get_method("sgd"), adding, TrainConfig(**TINY, steps=2),
        callbacks=[Named("a"), Named("b")], progress=False)  # fmt: skip
    assert order == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_base_hooks_do_nothing_and_state_is_empty(adding):
    cb = Callback()
    h = fit(get_method("fw_k1"), adding, TrainConfig(**TINY, steps=3), callbacks=[cb],
            progress=False)  # fmt: skip
    assert h["summary"]["steps"] == 3 and cb.state_dict() == {}
    assert cb.load_state_dict({"anything": 1}) is None


def test_stop_from_a_step_hook_and_from_an_eval_hook(adding):
    class StopAt(Callback):
        def __init__(self, step):
            self.step = step

        def on_step_end(self, run):
            if run.step == self.step:
                run.request_stop()

    class StopAtFirstEval(Callback):
        def on_eval_end(self, run):
            run.request_stop()

    cfg = TrainConfig(**TINY, steps=20, eval_every=5)
    h = fit(get_method("fw_k1"), adding, cfg, callbacks=[StopAt(3)], progress=False)
    assert h["summary"]["steps"] == 3 and h["train"]["step"] == [1, 2, 3]
    assert h["eval"]["step"] == [3]  # the final evaluation, at the iterate where it stopped
    h = fit(get_method("fw_k1"), adding, cfg, callbacks=[StopAtFirstEval()], progress=False)
    assert h["summary"]["steps"] == 5 and h["eval"]["step"] == [5]


def test_keyboard_interrupt_from_a_hook_checkpoints_and_resumes(adding, tmp_path):
    class CtrlC(Callback):
        def on_step_end(self, run):
            if run.step == 3:
                raise KeyboardInterrupt

    cfg = TrainConfig(**TINY, steps=6)
    counter = StepCounter()
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 3"):
        fit(get_method("fw_k1"), adding, cfg, out_dir=tmp_path, callbacks=[CtrlC(), counter],
            progress=False)  # fmt: skip
    assert load_checkpoint(tmp_path / "checkpoint.pt")["callbacks"]["StepCounter[0]"]["steps"] == 3
    again = StepCounter()
    h = fit(get_method("fw_k1"), adding, cfg, out_dir=tmp_path, resume=True, callbacks=[again],
            progress=False)  # fmt: skip
    assert again.steps == h["summary"]["steps"] == 6


def test_state_rides_in_the_checkpoint_and_a_resumed_counter_continues(adding, tmp_path):
    method = get_method("fw_k5")
    cfg = TrainConfig(**TINY, steps=23, eval_every=4, checkpoint_every=3)
    whole_counter = StepCounter()
    whole = fit(method, adding, cfg, out_dir=tmp_path / "whole", callbacks=[whole_counter],
                progress=False)  # fmt: skip
    assert whole_counter.steps == 23

    class Killed(Exception):
        pass

    class KillAt11(Callback):
        def on_step_end(self, run):
            if run.step == 11:  # the last checkpoint was at batch 9, mid outer step
                raise Killed

    first = StepCounter()
    with pytest.raises(Killed):
        fit(method, adding, cfg, out_dir=tmp_path / "cut", callbacks=[first, KillAt11()],
            progress=False)  # fmt: skip
    assert first.steps == 11
    # what the checkpoint holds is the state at its own step, and loads weights-only
    ckpt = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert ckpt["counters"]["step"] == 9
    assert ckpt["callbacks"]["StepCounter[0]"]["steps"] == 9
    assert list(ckpt["callbacks"]) == ["StepCounter[0]"]  # KillAt11 has no state

    resumed_counter = StepCounter()  # a fresh process: nothing but the checkpoint
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same callbacks: nothing to report
        resumed = fit(method, adding, cfg, out_dir=tmp_path / "cut", resume=True,
                      callbacks=[resumed_counter], progress=False)  # fmt: skip
    assert strip_times(resumed) == strip_times(whole)
    assert resumed_counter.steps == 23
    assert torch.equal(resumed_counter.loss_sum, whole_counter.loss_sum)
    assert torch.equal(
        resumed_counter.loss_sum, torch.tensor(whole["train"]["loss"]).double().sum()
    )


def test_resume_reports_missing_and_extra_callback_state_in_one_line(adding, tmp_path):
    method, cfg = get_method("fw_k1"), TrainConfig(**TINY, steps=4, checkpoint_every=2)
    for out in ("a", "b"):
        fit(method, adding, cfg, out_dir=tmp_path / out, callbacks=[StepCounter()],
            progress=False)  # fmt: skip
    with pytest.warns(UserWarning) as caught:
        h = fit(method, adding, cfg, out_dir=tmp_path / "a", resume=True, progress=False)
    (w,) = [w for w in caught if "callback" in str(w.message)]
    assert w.filename == __file__  # said at the caller's fit(...) line
    text = str(w.message)
    assert "\n" not in text and text.startswith(f"the checkpoint in {tmp_path / 'a'} holds ")
    assert "state for ['StepCounter[0]'] that no callback takes (ignored)" in text
    assert h["summary"]["steps"] == 4

    two = [StepCounter(), StepCounter()]
    with pytest.warns(UserWarning, match=r"no state for \['StepCounter\[1\]'\] \(they start"):
        fit(method, adding, cfg, out_dir=tmp_path / "b", resume=True, callbacks=two,
            progress=False)  # fmt: skip
    assert [c.steps for c in two] == [4, 0]  # the first continued from the checkpoint's 4


def test_state_keys_name_the_class_and_count_per_name():
    class Counter(Callback):
        def state_dict(self):
            return {"n": 1}

    assert state_keys([Counter(), Callback(), StepCounter(), Counter()]) == [
        f"{Counter.__qualname__}[0]",
        None,
        "StepCounter[0]",
        f"{Counter.__qualname__}[1]",
    ]
    assert state_keys([FunctionCallback(print)]) == [None]


def test_a_state_that_is_not_plain_data_is_refused_before_the_checkpoint_is_written(
    adding, tmp_path
):
    class Bad(Callback):
        def state_dict(self):
            return {"ok": [1, 2.0, "x", None, torch.zeros(2)], "arr": np.zeros(2)}

    cfg = TrainConfig(**TINY, steps=4, checkpoint_every=2)
    with pytest.raises(TypeError, match=r"Bad\[0\]\.state_dict\(\) holds a ndarray at \['arr'\]"):
        fit(get_method("fw_k1"), adding, cfg, out_dir=tmp_path, callbacks=[Bad()],
            progress=False)  # fmt: skip
    assert not (tmp_path / "checkpoint.pt").exists()


def test_the_function_form_works_through_the_adapter_without_a_warning(adding):
    seen = []

    def fn(event, run):
        seen.append((event, run.step))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(get_method("fw_k1"), adding, TrainConfig(**TINY, steps=2, eval_every=2),
            callbacks=[fn], progress=False)  # fmt: skip
    assert seen == [("begin", 0), ("step", 1), ("step", 2), ("eval", 2), ("end", 2)]
    (wrapped,) = as_callbacks([fn])
    assert isinstance(wrapped, FunctionCallback) and wrapped.fn is fn
    with pytest.raises(TypeError, match="fn must be a function fn\\(event, run\\), got int"):
        FunctionCallback(3)


def test_a_callback_object_still_takes_the_function_form_call():
    rec = Recorder()

    class FakeRun:
        step = 2
        history = {"train": {"loss": [1.0, 0.5]}, "eval": {"step": [2]}}

    for event in ("begin", "step", "eval"):
        rec(event, FakeRun())
    assert [c[0] for c in rec.calls] == ["begin", "step", "eval"]
    with pytest.raises(
        ValueError, match=r"event must be one of \['begin', 'step', 'eval', 'end'\]"
    ):
        rec("epoch", FakeRun())


@pytest.mark.parametrize(
    "callbacks, message",
    [
        (
            [3],
            r"^callbacks\[0\] must be a fwlab\.train\.Callback or a function callback\(event, "
            r"run\), got int$",
        ),  # fmt: skip
        ([print, "x"], r"^callbacks\[1\] must be .* got str$"),
        (
            [StepCounter],
            r"^callbacks\[0\] must be .* got the class StepCounter \(pass an instance\)$",
        ),
        (StepCounter(), r"^callbacks must be a list of callbacks, got a single StepCounter; pass"),
        (print, r"^callbacks must be a list of callbacks, got a single builtin_function_or"),
        (5, r"^callbacks must be a list of callbacks, got int$"),
    ],
)
def test_fit_refuses_what_is_not_a_callback_before_touching_the_folder(
    adding, tmp_path, callbacks, message
):
    out = tmp_path / "run"
    with pytest.raises(TypeError, match=message):
        fit(get_method("fw_k1"), adding, TrainConfig(**TINY, steps=2), out_dir=out,
            callbacks=callbacks, progress=False)  # fmt: skip
    assert not out.exists()


def test_callback_is_exported_from_fwlab_and_fwlab_train():
    from fwlab.train import callbacks

    assert fwlab.Callback is callbacks.Callback
    assert fwlab.train.FunctionCallback is callbacks.FunctionCallback


def test_the_readme_callbacks_example_runs_and_saves_its_state(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (code,) = [b for b in blocks if "class StopWhenFlat(Callback)" in b]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    history = scope["history"]
    assert 0 < history["summary"]["steps"] <= 300
    saved = load_checkpoint(tmp_path / "runs/adding-flat/checkpoint.pt")["callbacks"]
    assert set(saved) == {"StopWhenFlat[0]"}
    assert saved["StopWhenFlat[0]"]["best"] == min(history["eval"]["test_loss"])


def test_background_run_refuses_a_bad_callback_in_the_calling_thread(adding):
    from fwlab.train import BackgroundRun

    cfg = TrainConfig(**TINY, steps=2)
    with pytest.raises(TypeError, match=r"^callbacks\[0\] must be a fwlab\.train\.Callback"):
        BackgroundRun(get_method("sgd"), adding, cfg, callbacks=[None])
    job = BackgroundRun(get_method("sgd"), adding, cfg)
    with pytest.raises(TypeError, match=r"^fn must be a fwlab\.train\.Callback .* got int$"):
        job.add_callback(3)
    counter = StepCounter()
    job.add_callback(counter)
    assert job.start().join()["summary"]["steps"] == counter.steps == 2
