"""`accelerate launch` runs the same loop (one CPU process here; N GPUs in docs/accelerate.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests_support import kedro_env

from relsafe.editing import AdapterBundle
from relsafe.editing.encoder_edit import train_encoder_edit
from relsafe.models import EncoderConfig, load_encoder

pytestmark = pytest.mark.slow


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCRIPT = """
import json, sys
import pandas as pd
from accelerate import PartialState
from relsafe.editing.encoder_edit import train_encoder_edit
from relsafe.models import EncoderConfig, load_encoder

model_dir, sets_path, params_path, out = sys.argv[1:5]
sets = json.loads(open(sets_path).read())
params = json.loads(open(params_path).read())
encoder = load_encoder(EncoderConfig(name_or_path=model_dir, max_length=16))
bundle, _ = train_encoder_edit(encoder, pd.DataFrame(sets["forget"]), pd.DataFrame(sets["retain"]), params, {})
state = PartialState()
bundle.manifest["num_processes"] = state.num_processes
if state.is_main_process:
    bundle.save(out)
"""


def test_accelerate_launch_one_process_matches_in_process(
    tiny_bert_dir, tiny_sets, make_params, tmp_path
):
    forget, retain = tiny_sets
    params = make_params(steps=3)
    (tmp_path / "sets.json").write_text(
        json.dumps({"forget": forget.to_dict("list"), "retain": retain.to_dict("list")})
    )
    (tmp_path / "params.json").write_text(json.dumps(params))
    (tmp_path / "train.py").write_text(SCRIPT)
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [
        str(accelerate),
        "launch",
        "--cpu",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(tmp_path / "train.py"),
        str(tiny_bert_dir),
        str(tmp_path / "sets.json"),
        str(tmp_path / "params.json"),
        str(tmp_path / "adapter"),
    ]
    proc = subprocess.run(cmd, env=kedro_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    launched = AdapterBundle.load(tmp_path / "adapter")
    assert launched.manifest["num_processes"] == 1

    local, _ = train_encoder_edit(
        load_encoder(EncoderConfig(name_or_path=str(tiny_bert_dir), max_length=16)),
        forget,
        retain,
        params,
        {},
    )
    for k, v in local.state_dict.items():
        assert torch.equal(v, launched.state_dict[k]), (
            f"{k}: accelerate launch and in-process runs differ"
        )


STOP_SCRIPT = """
import json, sys
import torch
from torch import nn
from accelerate import PartialState
from relsafe.editing.trainer import TrainerConfig, train_loop

out, ckpt = sys.argv[1:3]
state = PartialState(cpu=True)  # MULTI_CPU (gloo) under the torchrun that --multi_gpu starts
rank = state.process_index


class Quadratic(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([3.0]))

    def forward(self):
        return (self.w**2).sum()


def terms(model, ctx):
    # rank 0's monitored term keeps improving, rank 1's gets worse: decided per process,
    # rank 1 would stop alone and rank 0 would wait for it forever
    drift = 1.0 / ctx.step if rank == 0 else float(ctx.step)
    return {"sq": model() * 0.0 + drift}  # through forward: DDP syncs the gradients


cfg = TrainerConfig.from_params({
    "steps": 200, "lr": 0.0, "log_every": 5, "progress": False, "device": "cpu",
    "grad_clip": None,
    "early_stop": {"monitor": "sq", "patience": 2, "min_delta": 0.0},
    "checkpoint": {"dir": ckpt, "every": 5, "resume": False, "keep": True},
})
result = train_loop(Quadratic(), terms, {"sq": 1.0}, cfg)
with open(f"{out}/rank{rank}.json", "w") as fh:
    json.dump({"steps_run": result.steps_run, "stopped_early": result.stopped_early,
               "num_processes": state.num_processes}, fh)
"""


def test_two_processes_stop_early_at_the_same_step(tmp_path):
    """Issue 18 item 9: under 2 CPU processes the early stop is decided once (the monitored
    value averaged across processes, the main process's decision broadcast), so no rank is
    left waiting in ``wait_for_everyone`` or a gradient all-reduce."""
    (tmp_path / "stop.py").write_text(STOP_SCRIPT)
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [
        str(accelerate),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
    ]  # torchrun; gloo on CPU
    cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    cmd += ["--main_process_port", str(_free_port())]
    cmd += [str(tmp_path / "stop.py"), str(tmp_path), str(tmp_path / "ckpt")]
    try:
        proc = subprocess.run(
            cmd,
            env={**kedro_env(), "ACCELERATE_USE_CPU": "true", "CUDA_VISIBLE_DEVICES": ""},
            capture_output=True,
            text=True,
            timeout=180,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"deadlock: the two processes did not finish within 180 s ({exc})")
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["num_processes"] == 2
    assert ranks[0] == ranks[1], ranks
    assert ranks[0]["stopped_early"] and ranks[0]["steps_run"] < 200
