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
