"""fwlab/optim/interrupt.py: Ctrl-C held back while a loop reaches a consistent point (fit) or a
section completes (FrankWolfe's outer update), with real SIGINTs raised in this process."""

from __future__ import annotations

import signal
import threading

import pytest

from fwlab.optim import DeferredInterrupt


@pytest.fixture(autouse=True)
def default_sigint():
    """Python's own SIGINT handler for the test (a background job may have it ignored), and
    whatever was there before afterwards."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_first_ctrl_c_is_a_request_a_second_raises_at_once():
    with pytest.raises(KeyboardInterrupt):
        with DeferredInterrupt() as interrupt:
            signal.raise_signal(signal.SIGINT)
            assert interrupt.requested  # no exception: the loop decides where to stop
            signal.raise_signal(signal.SIGINT)
            pytest.fail("the second Ctrl-C did not raise")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_request_left_pending_is_not_raised_on_exit():
    with DeferredInterrupt() as interrupt:
        signal.raise_signal(signal.SIGINT)
    assert interrupt.requested
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_loop_leaves_a_handler_of_the_programs_own_alone():
    got = []
    signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    with DeferredInterrupt() as interrupt:
        signal.raise_signal(signal.SIGINT)
    assert got == [signal.SIGINT] and not interrupt.requested


def test_a_section_holds_every_ctrl_c_and_delivers_it_after_the_block():
    got = []
    handler = lambda signum, frame: got.append(signum)  # noqa: E731
    signal.signal(signal.SIGINT, handler)
    with DeferredInterrupt(deliver=True):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # no escape hatch inside a section
        assert got == []
    assert got == [signal.SIGINT]  # once, to the handler that was in place
    assert signal.getsignal(signal.SIGINT) is handler
    with DeferredInterrupt(deliver=True):
        pass
    assert got == [signal.SIGINT]  # nothing held, nothing delivered


def test_a_section_completes_before_keyboard_interrupt():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with DeferredInterrupt(deliver=True):
            signal.raise_signal(signal.SIGINT)
            done.append("the rest of the section")
    assert done == ["the rest of the section"]


def test_a_section_inside_a_loop_hands_its_ctrl_c_to_the_loop():
    """fit's batch around the optimizer's outer update: a Ctrl-C during the update becomes the
    loop's request right after it, and a second one then raises at once."""
    with DeferredInterrupt() as loop:
        with DeferredInterrupt(deliver=True):
            signal.raise_signal(signal.SIGINT)
            assert not loop.requested
        assert loop.requested
        with pytest.raises(KeyboardInterrupt):
            with DeferredInterrupt(deliver=True):
                signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_the_main_thread_nothing_is_installed():
    seen = []

    def worker():
        with DeferredInterrupt(deliver=True), DeferredInterrupt() as interrupt:
            seen.append((signal.getsignal(signal.SIGINT), interrupt.requested))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [(signal.default_int_handler, False)]
