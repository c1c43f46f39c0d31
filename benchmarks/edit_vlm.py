"""Benchmark: textual unlearning of a real small VLM, scored per modality.

Trains the edit with the ``vlm`` env params (LoRA on the language model only, text-only
training on the LM sets' train split), then scores the base and the edit with the LM judge
on held-out prompts and per modality (relsafe.evaluation.vlm_eval): text-only, typographic
(FigStep-style), image + text (scene cards or evaluate_edit.image_folder) and benign images.
Prints ASR / refusal per modality, base -> edit.

The weights must already be local (a folder, or a hub id in the HF cache, e.g.
``HuggingFaceTB/SmolVLM-256M-Instruct``); nothing is downloaded (HF_HUB_OFFLINE=1). When
they are missing it says so and exits 2. Runs on the GPU when one is visible
(``train_edit.device: auto``). The LM sets come from
``kedro run --env vlm --pipelines build_sets`` (the base VLM's own completions).

    .venv/bin/python benchmarks/edit_vlm.py [--model HuggingFaceTB/SmolVLM-256M-Instruct]
        [--params train_edit.steps=60] [--max-per-modality 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # never download
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

ROOT = Path(__file__).resolve().parents[1]
MODALITIES = ("text", "typographic", "image_text", "benign_image")


def _set(block: dict, dotted: str, value: str) -> None:
    import yaml

    *path, last = dotted.split(".")
    for key in path:
        block = block.setdefault(key, {})
    block[last] = yaml.safe_load(value)


def weights_present(ref: str) -> bool:
    """True when ``ref`` is a local folder or a hub id whose snapshot is in the HF cache."""
    from relsafe.registry.base_ref import local_model_dir

    found = local_model_dir(ref)
    return isinstance(found, Path) and any(found.glob("*.safetensors"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model.name_or_path (default: conf/vlm)")
    parser.add_argument("--params", default="", help="k=v,... overrides, e.g. train_edit.steps=60")
    parser.add_argument("--max-per-modality", type=int, default=None)
    parser.add_argument("--sets", type=Path, default=ROOT / "data/05_model_input/vlm")
    parser.add_argument("--json", type=Path, default=None, help="write the metrics here")
    args = parser.parse_args(argv)

    from relsafe.config_loader import RelsafeConfigLoader
    from relsafe.settings import CONFIG_LOADER_ARGS

    params = RelsafeConfigLoader(conf_source=str(ROOT / "conf"), env="vlm", **CONFIG_LOADER_ARGS)[
        "parameters"
    ]
    if args.model:
        params["model"]["name_or_path"] = args.model
    for item in filter(None, args.params.split(",")):
        key, value = item.split("=", 1)
        _set(params, key, value)
    if args.max_per_modality:
        params["evaluate_edit"]["vlm"]["max_per_modality"] = args.max_per_modality
    model = params["model"]
    ref = str(model["name_or_path"])
    if not weights_present(ref):
        print(
            f"edit_vlm: the weights of {ref!r} are not on this machine (no local folder, not in "
            "the HF cache); this benchmark never downloads. Put the model in the HF cache or "
            "pass --model /path/to/folder.",
            file=sys.stderr,
        )
        return 2
    sets = {n: args.sets / f"lm_{n}_set.parquet" for n in ("forget", "retain", "eval")}
    missing = [str(p) for p in sets.values() if not p.is_file()]
    if missing:
        print(
            f"edit_vlm: LM sets missing {missing}; run `kedro run --env vlm --pipelines "
            "build_sets` first (the base VLM completes them).",
            file=sys.stderr,
        )
        return 1

    import pandas as pd
    import torch
    import yaml

    from relsafe.editing.runner import run_edit
    from relsafe.families import get_family
    from relsafe.policy import load_policy

    policy_data = yaml.safe_load((ROOT / "conf/base/safety_policy.yml").read_text())
    frames = {n: pd.read_parquet(p) for n, p in sets.items()}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"edit_vlm: {ref} on {device}")
    start = time.perf_counter()
    bundle, history = run_edit(
        "edit",
        model,
        params["train_edit"],
        load_policy(policy_data, source="conf/base/safety_policy.yml"),
        None,
        None,
        frames["forget"],
        frames["retain"],
    )
    train_s = time.perf_counter() - start
    family = get_family("vlm")
    inputs = {
        "lm_forget_set": frames["forget"],
        "lm_retain_set": frames["retain"],
        "lm_eval_set": frames["eval"],
        "plain_text": (ROOT / "data/01_raw/plain_text.txt").read_text(),
        "policy_data": policy_data,
        "eval_params": params["evaluate_edit"],
    }
    start = time.perf_counter()
    eval_params = {**params["evaluate_edit"], "log_mlflow": False}
    result = family.evaluate(model, {"edit": bundle}, inputs, eval_params)
    eval_s = time.perf_counter() - start
    m = result.metrics
    print(f"train {train_s:.0f} s ({bundle.manifest.get('steps_run')} steps), eval {eval_s:.0f} s")
    print(f"{'modality':<14}{'metric':<10}{'base':>8}{'edit':>8}{'n':>6}")
    for mod in MODALITIES:
        for kind in ("asr", "refusal"):
            key = f"{kind}_mm_{mod}"
            if key in m:
                print(
                    f"{mod:<14}{kind:<10}{m.get('base_' + key, float('nan')):>8.3f}"
                    f"{m[key]:>8.3f}{int(m.get(f'n_mm_{mod}', 0)):>6}"
                )
    for key in ("asr_heldout", "refusal_benign", "ppl_ratio"):
        if key in m:
            print(f"{key:<24}{m.get('base_' + key, float('nan')):>8.3f}{m[key]:>8.3f}")
    if args.json:
        args.json.write_text(json.dumps(m, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
