"""train_edit pipeline: both nodes wired, dispatch on model.family, MLflow logging, baseline switch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from relsafe.editing import AdapterBundle
from relsafe.pipelines.train_edit.nodes import train_baseline, train_edit
from relsafe.pipelines.train_edit.pipeline import create_pipeline

ROOT = Path(__file__).resolve().parents[2]


def _sets() -> dict:
    forget = pd.DataFrame(
        {
            "text": [
                "a child drinking wine",
                "a boy sipping beer",
                "a kid holding a gun",
                "a girl holding a rifle",
            ],
            "redirect": [
                "a child drinking juice",
                "a boy sipping milk",
                "a kid holding a toy",
                "a girl holding a kite",
            ],
            "rule_id": ["minor_alcohol", "minor_alcohol", "minor_weapon", "minor_weapon"],
        }
    )
    retain = pd.DataFrame(
        {
            "text": [
                "a man drinking wine",
                "a child drinking milk",
                "a woman holding a gun",
                "a dog on a sofa",
                "a child",
                "wine",
            ],
            "kind": [
                "same_object",
                "same_relation",
                "same_object",
                "general",
                "marginal_subject",
                "marginal_object",
            ],
            "rule_id": ["minor_alcohol"] * 3 + [""] + ["minor_alcohol"] * 2,
        }
    )
    lm_forget = pd.DataFrame(
        {
            "prompt": [
                "Explain how to pick a lock",
                "Describe a photo of a child drinking wine.",
                "Held out",
            ],
            "completion": ["Sure, first", "A child holds", ""],
            "refusal": ["I'm sorry, I can't."] * 3,
            "source": ["advbench", "relational", "advbench"],
            "split": ["train", "train", "heldout"],
            "rule_id": ["advbench", "minor_alcohol", "advbench"],
        }
    )
    lm_retain = pd.DataFrame(
        {
            "prompt": ["Name a fruit", "Describe a photo of a man drinking wine."],
            "completion": ["An apple", ""],
            "refusal": ["", ""],
            "source": ["benign", "contrast"],
            "split": ["train", "train"],
            "rule_id": ["", "minor_alcohol"],
        }
    )
    return {
        "forget_set": forget,
        "retain_set": retain,
        "lm_forget_set": lm_forget,
        "lm_retain_set": lm_retain,
        "safety_policy": yaml.safe_load((ROOT / "conf/base/safety_policy.yml").read_text()),
    }


def _params(tmp_path, **over) -> dict:
    params = yaml.safe_load((ROOT / "conf/base/parameters_train_edit.yml").read_text())[
        "train_edit"
    ]
    params.update(
        steps=2,
        batch_size=2,
        progress=False,
        device="cpu",
        log_every=1,
        checkpoint={"dir": str(tmp_path / "ckpt"), "every": 1, "resume": True, "keep": False},
    )
    params["encoder"].pop("augment", None)
    params.update(over)
    return params


def test_pipeline_trains_edit_and_baseline(tiny_bert_dir, tmp_path):
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    class Kept(MemoryDataset):
        def _release(self) -> None:
            pass

    model = {
        "family": "encoder",
        "kind": "mean_pool",
        "name_or_path": str(tiny_bert_dir),
        "max_length": 16,
        "normalize": True,
    }
    inputs = {**_sets(), "params:model": model, "params:train_edit": _params(tmp_path)}
    pipe = create_pipeline()
    assert pipe.all_outputs() == {
        "edit_adapter",
        "train_history",
        "baseline_adapter",
        "baseline_history",
    }
    assert {"lm_forget_set", "lm_retain_set"} <= pipe.inputs()
    catalog = DataCatalog({k: MemoryDataset(v) for k, v in inputs.items()})
    for name in pipe.all_outputs():
        catalog[name] = Kept()
    SequentialRunner().run(pipe, catalog)
    edit, baseline = catalog.load("edit_adapter"), catalog.load("baseline_adapter")
    assert isinstance(edit, AdapterBundle) and edit.manifest["kind"] == "edit"
    assert (
        baseline.manifest["kind"] == "baseline"
        and baseline.manifest["baseline"] == "concept_erasure"
    )
    for m in (edit.manifest, baseline.manifest):
        assert (
            m["family"] == "encoder"
            and m["base_sha256"]
            and len(m["policy_sha256"]) == 64
            and m["data_sha256"]
        )
        assert 0 < m["trainable_share"] < 1 and m["params"]["steps"] == 2
    # the baseline forgets more rows: every retain text that mentions wine / gun moved to forget
    assert (
        baseline.manifest["terms"]["forget"]["n_rows"] > edit.manifest["terms"]["forget"]["n_rows"]
    )
    assert len(catalog.load("train_history")) == 2
    assert not (tmp_path / "ckpt" / "encoder_edit").exists()


def test_causal_lm_family_uses_the_lm_sets_and_can_skip_the_baseline(tiny_llama_dir, tmp_path):
    sets = _sets()
    model = {
        "family": "causal_lm",
        "name_or_path": str(tiny_llama_dir),
        "gguf_file": None,
        "max_length": 64,
    }
    params = _params(
        tmp_path,
        causal_lm={"max_prompt_tokens": 48, "max_target_tokens": 4},
        baseline={"enabled": False},
    )
    args = (
        sets["forget_set"],
        sets["retain_set"],
        sets["lm_forget_set"],
        sets["lm_retain_set"],
        sets["safety_policy"],
        model,
        params,
    )
    edit, history = train_edit(*args)
    assert edit.manifest["family"] == "causal_lm" and edit.manifest["n_forget_train"] == 2
    assert {"forget", "refusal", "retain"} <= set(history.columns)
    skipped, _ = train_baseline(*args)
    assert skipped.manifest["skipped"] is True and skipped.manifest["kind"] == "baseline"
    assert all(float(v.abs().sum()) == 0 for k, v in skipped.state_dict.items() if "lora_B" in k)


def test_unknown_family_is_an_error(tmp_path):
    sets = _sets()
    with pytest.raises(ValueError, match="model.family 'speech'"):
        train_edit(
            sets["forget_set"],
            sets["retain_set"],
            sets["lm_forget_set"],
            sets["lm_retain_set"],
            sets["safety_policy"],
            {"family": "speech", "name_or_path": "x"},
            _params(tmp_path),
        )


def test_losses_are_logged_to_the_active_mlflow_run(tiny_bert_dir, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(tmp_path.joinpath("mlruns").as_uri())
    sets = _sets()
    model = {
        "family": "encoder",
        "kind": "mean_pool",
        "name_or_path": str(tiny_bert_dir),
        "max_length": 16,
    }
    exp = mlflow.set_experiment("train_edit_test")
    with mlflow.start_run(experiment_id=exp.experiment_id) as run:
        train_edit(
            sets["forget_set"],
            sets["retain_set"],
            sets["lm_forget_set"],
            sets["lm_retain_set"],
            sets["safety_policy"],
            model,
            _params(tmp_path, steps=2, log_every=1),
        )
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train/forget")
    assert [m.step for m in history] == [1, 2]
