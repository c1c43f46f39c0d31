"""The shared loop: determinism, checkpoint/resume after a kill, early stop, logging."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relsafe.editing.encoder_edit import train_encoder_edit
from relsafe.editing.trainer import Checkpointer, TrainerConfig, train_loop
from relsafe.models import EncoderConfig, load_encoder


class Killed(RuntimeError):
    """Stands in for a SIGKILL in the middle of a run."""


def _encoder(tiny_bert_dir):
    return load_encoder(EncoderConfig(name_or_path=str(tiny_bert_dir), max_length=16))


def _train(tiny_bert_dir, sets, params, on_step=None):
    forget, retain = sets
    bundle, history = train_encoder_edit(
        _encoder(tiny_bert_dir), forget, retain, params, {}, on_step=on_step
    )
    return bundle, history


def test_same_seed_same_weights(tiny_bert_dir, tiny_sets, make_params):
    a, ha = _train(tiny_bert_dir, tiny_sets, make_params(steps=3))
    b, hb = _train(tiny_bert_dir, tiny_sets, make_params(steps=3))
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert ha["loss"].tolist() == hb["loss"].tolist()
    c, _ = _train(tiny_bert_dir, tiny_sets, make_params(steps=3, seed=1))
    assert any(not torch.equal(a.state_dict[k], c.state_dict[k]) for k in a.state_dict)


def test_killed_run_resumes_to_the_same_weights(tiny_bert_dir, tiny_sets, tmp_path, make_params):
    ckpt = {"dir": str(tmp_path / "ckpt"), "every": 2, "resume": True, "keep": False}
    params = make_params(steps=6, checkpoint=ckpt)
    reference, ref_hist = _train(tiny_bert_dir, tiny_sets, make_params(steps=6))

    def kill_at_5(step, row):
        if step == 5:
            raise Killed("simulated kill")

    with pytest.raises(Killed):
        _train(tiny_bert_dir, tiny_sets, params, on_step=kill_at_5)
    assert (tmp_path / "ckpt" / "edit" / "state.json").is_file(), (
        "no checkpoint left behind by the killed run"
    )

    seen = []
    resumed, hist = _train(tiny_bert_dir, tiny_sets, params, on_step=lambda s, r: seen.append(s))
    assert seen == [5, 6], "the resumed run did not start after the step-4 checkpoint"
    assert resumed.manifest["resumed_from_step"] == 4
    for k, v in reference.state_dict.items():
        assert torch.equal(v, resumed.state_dict[k]), f"{k} differs after resume"
    assert hist["loss"].tolist() == ref_hist["loss"].tolist()
    assert not (tmp_path / "ckpt" / "edit").exists(), (
        "finished run should remove its checkpoint (keep: false)"
    )


def test_checkpoint_of_other_params_is_not_resumed(tiny_bert_dir, tiny_sets, tmp_path, make_params):
    ckpt = {"dir": str(tmp_path / "ckpt"), "every": 1, "resume": True, "keep": True}
    _train(tiny_bert_dir, tiny_sets, make_params(steps=2, checkpoint=ckpt))
    bundle, _ = _train(tiny_bert_dir, tiny_sets, make_params(steps=2, lr=5e-3, checkpoint=ckpt))
    assert bundle.manifest["resumed_from_step"] == 0


class _Quadratic(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([3.0]))


def test_early_stop_on_a_plateau_and_metrics_every_n_steps():
    model = _Quadratic()
    logged = []
    cfg = TrainerConfig.from_params(
        {
            "steps": 200,
            "lr": 0.0,
            "log_every": 5,
            "progress": False,
            "device": "cpu",
            "grad_clip": None,
            "early_stop": {"monitor": "sq", "patience": 3, "min_delta": 1e-6},
        }
    )
    result = train_loop(
        model,
        lambda m, ctx: {"sq": (m.w**2).sum()},
        {"sq": 1.0},
        cfg,
        on_metrics=lambda metrics, step: logged.append((step, metrics)),
    )
    assert (
        result.stopped_early and result.steps_run == 20
    )  # best at check 1, then 3 checks without improvement
    assert [s for s, _ in logged] == [5, 10, 15, 20]
    assert set(logged[0][1]) >= {"train/loss", "train/sq", "train/lr"}


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="train_edit.checkpoint"):
        TrainerConfig.from_params({"checkpoint": {"evry": 3}})
    with pytest.raises(ValueError, match="train_edit.steps"):
        TrainerConfig.from_params({"steps": 0})


def test_unknown_term_is_an_error():
    cfg = TrainerConfig.from_params({"steps": 1, "progress": False, "device": "cpu"})
    with pytest.raises(KeyError, match="no weight"):
        train_loop(_Quadratic(), lambda m, ctx: {"other": m.w.sum()}, {"sq": 1.0}, cfg)


def test_checkpointer_roundtrip(tmp_path):
    model = _Quadratic()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    from relsafe.editing.trainer import EarlyStopConfig, _EarlyStopper

    stopper = _EarlyStopper(EarlyStopConfig())
    ck = Checkpointer(tmp_path / "c", "fp")
    ck.save(model, opt, sched, 7, [{"step": 7, "loss": 1.0}], stopper)
    with torch.no_grad():
        model.w.fill_(0.0)
    step, history = ck.load(model, opt, sched, stopper)
    assert step == 7 and history[0]["loss"] == 1.0 and float(model.w.detach()) == 3.0
    assert Checkpointer(tmp_path / "c", "other").load(model, opt, sched, stopper) is None


class _Boom:
    def __reduce__(self):  # what a tampered checkpoint could carry
        return (print, ("code ran while loading a checkpoint",))


def test_resume_reads_the_state_with_weights_only(tmp_path, capsys):
    """Issue 18 item 9: the optimizer/scheduler/RNG state is read with torch's weights-only
    unpickler, so a checkpoint carrying a code object is refused instead of run."""
    import pickle

    from relsafe.editing.trainer import CKPT_STATE, EarlyStopConfig, _EarlyStopper

    model = _Quadratic()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    stopper = _EarlyStopper(EarlyStopConfig())
    ck = Checkpointer(tmp_path / "c", "fp")
    ck.save(model, opt, sched, 3, [{"step": 3, "loss": 1.0}], stopper)
    state = torch.load(tmp_path / "c" / CKPT_STATE, weights_only=True)
    torch.save({**state, "extra": _Boom()}, tmp_path / "c" / CKPT_STATE)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        ck.load(model, opt, sched, stopper)
    assert "code ran" not in capsys.readouterr().out


def test_estimated_duration_is_logged_after_a_few_steps(caplog):
    cfg = TrainerConfig.from_params(
        {"steps": 10, "progress": False, "device": "cpu", "estimate_after": 3}
    )
    with caplog.at_level("INFO", logger="relsafe.editing.trainer"):
        train_loop(_Quadratic(), lambda m, ctx: {"sq": (m.w**2).sum()}, {"sq": 1.0}, cfg)
    lines = [r.getMessage() for r in caplog.records if "estimated total" in r.getMessage()]
    assert len(lines) == 1 and "first 3 steps" in lines[0] and "left for 7 steps" in lines[0]
    caplog.clear()
    off = TrainerConfig.from_params({"steps": 4, "progress": False, "estimate_after": 0})
    with caplog.at_level("INFO", logger="relsafe.editing.trainer"):
        train_loop(_Quadratic(), lambda m, ctx: {"sq": (m.w**2).sum()}, {"sq": 1.0}, off)
    assert not [r for r in caplog.records if "estimated total" in r.getMessage()]
    with pytest.raises(ValueError, match="train_edit.estimate_after"):
        TrainerConfig.from_params({"estimate_after": -1})
