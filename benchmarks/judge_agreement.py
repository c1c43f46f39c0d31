"""Benchmark: how well the LM judges agree with labels a person assigned by reading answers.

Step 1 (needs an edit adapter, e.g. after ``kedro run --env lm``) samples held-out prompts
(stratified over the LM eval sets: unseen relational formats and their contrasts, harmful
requests in non-AdvBench styles, benign-but-alarming prompts, the held-out AdvBench and benign
split), generates the base model's and the edit's greedy answers exactly as ``evaluate_edit``
does, and writes them without any judge's verdict, for reading:

    .venv/bin/python benchmarks/judge_agreement.py generate --adapter data/06_models/causal_lm/edit_adapter \\
        --n 50 --out benchmarks/data/judge_responses.csv

Step 2: write ``benchmarks/data/judge_labels.csv`` (``id``, ``label`` in refusal | compliance |
empty | degenerate) by reading every answer, then score every judge against it:

    .venv/bin/python benchmarks/judge_agreement.py score

It prints, per judge, four-way agreement with the labels (degenerate checks included), the
refusal-vs-rest agreement and Cohen's kappa, and the confusion table.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks/data"
#: sampled share per source (the rest of ``--n`` goes to the first source)
SOURCES = {
    "relational_formats": 0.2,
    "contrast_formats": 0.14,
    "harmful_styles": 0.2,
    "benign_alarming": 0.2,
    "advbench": 0.12,
    "benign": 0.14,
}


def sample_prompts(n: int, seed: int, folder: Path) -> pd.DataFrame:
    frames = [
        pd.read_parquet(folder / f) for f in ("lm_forget_set.parquet", "lm_retain_set.parquet")
    ]
    frames.append(pd.read_parquet(folder / "lm_eval_set.parquet"))
    pool = pd.concat(frames, ignore_index=True)
    pool = pool[pool["split"] == "heldout"]
    parts = []
    for source, share in SOURCES.items():
        part = pool[pool["source"] == source]
        k = min(len(part), round(n * share))
        parts.append(part.sample(n=k, random_state=seed))
    out = pd.concat(parts, ignore_index=True)[["prompt", "source", "kind", "category"]]
    return out.drop_duplicates("prompt").reset_index(drop=True)


def generate(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    import yaml

    from relsafe.editing import AdapterBundle
    from relsafe.editing.attach import attach_adapter
    from relsafe.models.causal_lm import CausalLMConfig, generate_responses, load_causal_lm

    model_params = yaml.safe_load((ROOT / "conf/lm/parameters_train_edit.yml").read_text())["model"]
    lm_cfg = yaml.safe_load((ROOT / "conf/base/parameters_evaluate_edit.yml").read_text())
    lm_cfg = lm_cfg["evaluate_edit"]["lm"]
    prompts = sample_prompts(args.n, args.seed, Path(args.sets_dir))
    model, tok = load_causal_lm(CausalLMConfig.from_params(model_params))
    rows = []
    for variant in ("base", "edit"):
        if variant == "edit":
            model = attach_adapter(model, AdapterBundle.load(args.adapter))
        answers = generate_responses(
            model,
            tok,
            prompts["prompt"].tolist(),
            max_new_tokens=int(lm_cfg.get("max_new_tokens", 48)),
            batch_size=int(lm_cfg.get("batch_size", 16)),
        )
        rows.append(prompts.assign(variant=variant, response=answers))
    out = pd.concat(rows, ignore_index=True)
    out.insert(0, "id", range(len(out)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    print(f"{len(out)} answers ({len(prompts)} prompts x base, edit) -> {args.out}")


def kappa(a: pd.Series, b: pd.Series) -> float:
    """Cohen's kappa of two label series."""
    labels = sorted(set(a) | set(b))
    po = float((a == b).mean())
    pe = sum(float((a == x).mean()) * float((b == x).mean()) for x in labels)
    return (po - pe) / (1 - pe) if pe < 1 else 1.0


def score(args) -> None:
    from relsafe.evaluation.judges import JUDGES, get_judge, label_responses

    answers = pd.read_csv(args.responses, keep_default_na=False)
    labels = pd.read_csv(args.labels, keep_default_na=False)
    data = answers.merge(labels[["id", "label"]], on="id", validate="one_to_one")
    if len(data) != len(answers):
        sys.exit(f"{len(answers) - len(data)} answers have no label in {args.labels}")
    print(
        f"{len(data)} labelled answers; person's labels: {data['label'].value_counts().to_dict()}"
    )
    for name in sorted(JUDGES):
        if name == "empty_or_refusal":
            continue
        got = pd.Series(
            label_responses(data["response"].tolist(), get_judge(name), data["prompt"].tolist()),
            index=data.index,
        )
        agree = float((got == data["label"]).mean())
        ref_h, ref_j = data["label"] == "refusal", got == "refusal"
        print(
            f"\n{name}: 4-way agreement {agree:.3f} (kappa {kappa(got, data['label']):.3f}); "
            f"refusal vs rest {float((ref_h == ref_j).mean()):.3f} "
            f"(kappa {kappa(ref_h, ref_j):.3f}); refusal precision "
            f"{float(ref_h[ref_j].mean()) if ref_j.any() else float('nan'):.3f}, recall "
            f"{float(ref_j[ref_h].mean()) if ref_h.any() else float('nan'):.3f}"
        )
        print(pd.crosstab(data["label"], got, rownames=["person"], colnames=[name]).to_string())
        if args.show:
            for _, r in data[got != data["label"]].iterrows():
                print(f"  #{r['id']} person={r['label']} judge={got[_]}: {r['response'][:140]!r}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--adapter", default=str(ROOT / "data/06_models/causal_lm/edit_adapter"))
    g.add_argument(
        "--sets-dir",
        default=str(ROOT / "data/05_model_input/causal_lm"),
        help="folder of lm_forget_set / lm_retain_set / lm_eval_set (kedro run --env lm)",
    )
    g.add_argument("--n", type=int, default=50, help="prompts (each answered by base and edit)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--out", default=str(DATA / "judge_responses.csv"))
    s = sub.add_parser("score")
    s.add_argument("--responses", default=str(DATA / "judge_responses.csv"))
    s.add_argument("--labels", default=str(DATA / "judge_labels.csv"))
    s.add_argument("--show", action="store_true", help="print every disagreement")
    args = ap.parse_args()
    generate(args) if args.cmd == "generate" else score(args)


if __name__ == "__main__":
    main()
