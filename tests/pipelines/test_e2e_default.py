"""End-to-end: the default chain in a temporary copy of the project, on tiny models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests_support import PROJECT_ROOT, kedro_env

pytestmark = pytest.mark.slow


def _deep_update(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def make_project_copy(
    dest: Path, model: dict, caption_limit: int = 300, extra: dict | None = None, env: str = "local"
) -> Path:
    """Copy conf/, bundled raw data and src into ``dest`` with tiny-run overrides in ``conf/<env>``.

    Overrides are merged into the env's existing files (Kedro refuses duplicate keys within one
    environment, and a run with ``--env lm`` reads base + lm only, not local).
    """
    shutil.copytree(PROJECT_ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    shutil.copytree(
        PROJECT_ROOT / "data" / "01_raw", dest / "data" / "01_raw"
    )  # bundled inputs only
    shutil.copy(PROJECT_ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(
        PROJECT_ROOT / "src",
        dest / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    env_dir = dest / "conf" / env
    env_dir.mkdir(exist_ok=True)
    overrides = {
        "parameters_extract_tuples.yml": {"extract_tuples": {"limit": caption_limit}},
        "parameters_train_edit.yml": {"model": model, "train_edit": {"steps": 6, "batch_size": 8}},
    }
    for name, data in (extra or {}).items():
        _deep_update(overrides.setdefault(name, {}), data)
    for name, data in overrides.items():
        path = env_dir / name
        current = yaml.safe_load(path.read_text()) if path.exists() else {}
        path.write_text(yaml.safe_dump(_deep_update(current or {}, data)))
    return dest


def run_kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).with_name("kedro")), "run", *args]
    proc = subprocess.run(
        cmd, cwd=project, env=kedro_env(), capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        pytest.fail(
            f"kedro run {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


@pytest.mark.parametrize("family", ["tiny_bert", "tiny_clip"])
def test_default_pipeline_end_to_end(family, tmp_path, request):
    model_dir = request.getfixturevalue(f"{family}_dir")
    model = {
        "family": "encoder",
        "kind": "clip_text" if family == "tiny_clip" else "mean_pool",
        "name_or_path": str(model_dir),
        "tokenizer": None,
        "max_length": 32,
        "normalize": True,
    }
    project = make_project_copy(tmp_path / "proj", model)
    run_kedro(project)

    tuples = pd.read_parquet(project / "data/03_primary/caption_tuples.parquet")
    assert tuples["n_tuples"].sum() > 100, "extraction found too few tuples"
    assert len(tuples) == 300 + len(pd.read_csv(project / "data/01_raw/safety_captions.csv"))

    sets = {
        n: pd.read_parquet(project / f"data/05_model_input/{n}_set.parquet")
        for n in ("forget", "retain", "eval")
    }
    assert all(len(df) > 0 for df in sets.values())
    texts = {n: set(df["text"]) for n, df in sets.items()}
    assert not texts["forget"] & texts["retain"]
    assert not texts["eval"] & (texts["forget"] | texts["retain"])

    from safetensors.torch import load_file

    weights = load_file(project / "data/06_models/edit_adapter/adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(float(v.abs().sum()) > 0 for v in lora_b), "LoRA B weights never moved"

    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    assert {"unsafe_r5", "benign_r1"} <= set(metrics)

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    version = mlflow.MlflowClient().get_model_version_by_alias("relsafe-encoder", "challenger")
    assert str(version.version) == "1"
    cwd = os.getcwd()
    os.chdir(project)  # artifact paths in the sqlite store are relative to the project root
    try:
        pyfunc = mlflow.pyfunc.load_model("models:/relsafe-encoder@challenger")
        emb = pyfunc.predict(pd.DataFrame({"text": ["a child drinking juice", "a dog"]}))
    finally:
        os.chdir(cwd)
    assert emb.shape[0] == 2 and emb.shape[1] in (16, 32)


def test_causal_lm_family_end_to_end(tiny_llama_dir, tmp_path):
    """`--env lm`-style run on a tiny Llama: LM sets completed, NPO edit, ASR metrics, relsafe-lm."""
    model = {
        "family": "causal_lm",
        "name_or_path": str(tiny_llama_dir),
        "gguf_file": None,
        "max_length": 64,
    }
    extra = {
        "parameters_train_edit.yml": {"train_edit": {"steps": 3, "batch_size": 2}},
        "parameters_build_sets.yml": {
            "build_sets": {
                "lm": {
                    "max_completions": 6,
                    "max_new_tokens": 4,
                    "advbench_max": 40,
                    "benign_max": 30,
                }
            }
        },
        "parameters_evaluate_edit.yml": {
            "evaluate_edit": {
                "lm": {
                    "max_per_source": 3,
                    "max_attack_prompts": 2,
                    "max_new_tokens": 4,
                    "source_caps": dict.fromkeys(
                        [
                            "relational_formats",
                            "contrast_formats",
                            "harmful_styles",
                            "benign_alarming",
                        ],
                        3,
                    ),
                }
            }
        },
    }
    project = make_project_copy(tmp_path / "proj", model, caption_limit=100, extra=extra, env="lm")
    run_kedro(project, "--env", "lm")

    lm_forget = pd.read_parquet(project / "data/05_model_input/causal_lm/lm_forget_set.parquet")
    assert (lm_forget["completion"].str.len() > 0).sum() > 0, "base completions were not generated"
    metrics = json.loads((project / "data/08_reporting/causal_lm/metrics.json").read_text())
    assert {"asr_heldout", "refusal_benign", "asr_formats", "asr_harmful_styles"} <= set(metrics)
    assert {"refusal_alarming", "refusal_alarming_lo", "degenerate_alarming"} <= set(metrics)
    # each family writes its own outputs: nothing landed where the encoder family writes
    assert not (project / "data/08_reporting/metrics.json").exists()
    assert not (project / "data/06_models/edit_adapter").exists()
    assert (project / "data/06_models/causal_lm/edit_adapter/manifest.json").is_file()
    # conf/lm trains no baseline: it is absent, not the unedited model under its name
    assert not any(k.startswith("baseline_") for k in metrics)
    assert (
        "baseline"
        not in pd.read_csv(project / "data/08_reporting/causal_lm/comparison.csv").columns
    )
    # the base completions are cached: rebuilding unchanged sets generates nothing
    cache = pd.read_parquet(project / "data/04_feature/causal_lm/lm_completion_cache.parquet")
    assert len(cache) == 12 and cache["key"].is_unique
    run_kedro(project, "--env", "lm", "--pipelines", "build_sets")
    pd.testing.assert_frame_equal(
        pd.read_parquet(project / "data/04_feature/causal_lm/lm_completion_cache.parquet"), cache
    )  # nothing new was generated (tests/pipelines/test_build_sets.py counts the calls)
    rebuilt = pd.read_parquet(project / "data/05_model_input/causal_lm/lm_forget_set.parquet")
    pd.testing.assert_series_equal(rebuilt["completion"], lm_forget["completion"])

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    version = mlflow.MlflowClient().get_model_version_by_alias("relsafe-lm", "challenger")
    assert str(version.version) == "1"
    cwd = os.getcwd()
    os.chdir(project)
    try:
        lm = mlflow.pyfunc.load_model("models:/relsafe-lm@challenger")
        out = lm.predict(
            pd.DataFrame({"prompt": ["Say hello."]}), params={"base": False, "max_new_tokens": 3}
        )
    finally:
        os.chdir(cwd)
    assert list(out.columns) == ["response"] and len(out) == 1


def test_vlm_family_end_to_end(tiny_vlm_dir, tmp_path):
    """`kedro run --env vlm` on a tiny LLaVA: LM sets completed by the VLM, LoRA on its
    language model only, metrics per modality, relsafe-vlm registered, loaded and run with
    and without an image; the vision tower is untouched."""
    import torch
    from transformers import AutoModelForImageTextToText

    from relsafe.models.vlm import encode_png, vision_parameters

    model = {"family": "vlm", "name_or_path": str(tiny_vlm_dir), "max_length": 64}
    small = dict.fromkeys(
        ["relational_formats", "contrast_formats", "harmful_styles", "benign_alarming"], 2
    )
    extra = {
        "parameters_train_edit.yml": {
            "train_edit": {"steps": 3, "batch_size": 2, "checkpoint": {"every": 0}}
        },
        "parameters_build_sets.yml": {
            "build_sets": {
                "lm": {
                    "max_completions": 6,
                    "max_new_tokens": 4,
                    "advbench_max": 40,
                    "benign_max": 30,
                }
            }
        },
        "parameters_evaluate_edit.yml": {
            "evaluate_edit": {
                "lm": {
                    "max_per_source": 2,
                    "max_attack_prompts": 1,
                    "max_new_tokens": 3,
                    "source_caps": small,
                    "bootstrap_samples": 50,
                },
                "vlm": {
                    "max_per_modality": 2,
                    "sample_images": {"astronaut": ""},
                    "card": {"size": 64, "font_size": 10, "margin": 4},
                },
            }
        },
    }
    project = make_project_copy(tmp_path / "proj", model, caption_limit=100, extra=extra, env="vlm")
    run_kedro(project, "--env", "vlm")

    lm_forget = pd.read_parquet(project / "data/05_model_input/vlm/lm_forget_set.parquet")
    assert (lm_forget["completion"].str.len() > 0).sum() > 0, "the VLM completed no LM prompt"
    metrics = json.loads((project / "data/08_reporting/vlm/metrics.json").read_text())
    for modality in ("text", "typographic", "image_text"):
        assert {f"asr_mm_{modality}", f"base_asr_mm_{modality}"} <= set(metrics), modality
    assert {"refusal_mm_benign_image", "base_refusal_mm_benign_image", "asr_heldout"} <= set(
        metrics
    )
    comparison = pd.read_csv(project / "data/08_reporting/vlm/comparison.csv")
    assert comparison["metric"].astype(str).str.startswith("asr_mm_").any()
    assert "asr_mm_typographic" in (project / "data/08_reporting/vlm/report.html").read_text()

    from safetensors.torch import load_file

    weights = load_file(project / "data/06_models/vlm/edit_adapter/adapter_model.safetensors")
    assert weights and all("language_model" in k for k in weights), sorted(weights)[:5]

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    version = mlflow.MlflowClient().get_model_version_by_alias("relsafe-vlm", "challenger")
    assert str(version.version) == "1"
    from PIL import Image

    img = Image.new("RGB", (40, 30), (200, 10, 10))
    img.save(tmp_path / "red.png")
    cwd = os.getcwd()
    os.chdir(project)
    try:
        vlm = mlflow.pyfunc.load_model("models:/relsafe-vlm@challenger")
        params = {"base": False, "max_new_tokens": 3}
        text_only = vlm.predict(pd.DataFrame({"prompt": ["Say hello."]}), params=params)
        mixed = vlm.predict(
            pd.DataFrame(
                {
                    "prompt": ["Describe this.", "Say hello.", "And this?"],
                    "image": [encode_png(img), None, str(tmp_path / "red.png")],
                }
            ),
            params=params,
        )
        base = vlm.predict(
            pd.DataFrame({"prompt": ["Describe this."], "image": [encode_png(img)]}),
            params={"base": True, "max_new_tokens": 3},
        )
        with pytest.raises(Exception, match="row 1"):
            vlm.predict(
                pd.DataFrame({"prompt": ["a", "b"], "image": [None, "not-an-image"]}),
                params=params,
            )
        served = vlm.unwrap_python_model().model
    finally:
        os.chdir(cwd)
    assert list(text_only.columns) == ["response"] and len(text_only) == 1
    assert len(mixed) == 3 and len(base) == 1
    fresh = AutoModelForImageTextToText.from_pretrained(tiny_vlm_dir)
    before = vision_parameters(fresh)
    after = vision_parameters(served.get_base_model())  # peft wraps it; LoRA sits inside
    assert before and set(after) == set(before)
    assert all(torch.equal(after[n], before[n]) for n in before), "the vision tower changed"
    assert not any("lora" in n for n in after)
