import logging

from relsafe.timing import LoopEstimate, duration_text, estimate_message


def test_estimate_message_reads_in_the_right_unit():
    msg = estimate_message("LoRA edit", 3, 1.5, 297)
    assert "0.50 s/step" in msg and "~2.5 min" in msg and "297 steps" in msg
    assert "s/batch" in estimate_message("generate", 1, 2.0, 4, unit="batch")


def test_duration_text_units():
    assert duration_text(45) == "45 s"
    assert duration_text(600) == "10.0 min"
    assert duration_text(5400 * 2) == "3.0 h"


def test_loop_estimate_logs_once_after_the_first_units(caplog):
    caplog.set_level(logging.INFO, logger="relsafe.timing")
    est = LoopEstimate("generate", total=5, after=2, unit="batch")
    for _ in range(5):
        est.tick()
    lines = [r.getMessage() for r in caplog.records if "estimated total" in r.getMessage()]
    assert len(lines) == 1 and "first 2 batches" in lines[0] and "3 batches" in lines[0]


def test_loop_estimate_is_silent_for_a_loop_done_by_then(caplog):
    caplog.set_level(logging.INFO, logger="relsafe.timing")
    est = LoopEstimate("generate", total=1, unit="batch")
    est.tick()
    assert not [r for r in caplog.records if "estimated total" in r.getMessage()]
