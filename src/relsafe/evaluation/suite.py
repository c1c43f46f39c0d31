"""Run a whole evaluation for one model family: load the base once, switch adapters on and
off, and gather metrics and tables for the base, the edit and the baseline."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from relsafe.editing import AdapterBundle
from relsafe.editing.attach import attach_adapter
from relsafe.evaluation.compositionality import (
    CompositionalityConfig,
    build_items,
    compositionality_metrics,
    score_items,
)
from relsafe.evaluation.encoder_eval import BASE, EvaluationResult, compare_encoder_variants
from relsafe.evaluation.intervals import bootstrap_interval
from relsafe.evaluation.judges import get_judge
from relsafe.evaluation.lm_eval import (
    LMEvalConfig,
    attack_rows,
    evaluate_lm_variants,
    flatten_lm,
    lm_examples,
    lm_per_rule,
    select_prompts,
    split_paragraphs,
)
from relsafe.evaluation.relation_recognition import (
    recognition_texts,
    relation_items,
    relation_recognition,
)

logger = logging.getLogger(__name__)


def check_adapter_family(name: str, adapter: AdapterBundle, family: str) -> None:
    """Refuse an adapter trained for another model family (its manifest says which)."""
    trained_for = (adapter.manifest or {}).get("family")
    if trained_for and trained_for != family:
        raise ValueError(
            f"{name} adapter was trained for family {trained_for!r} but model.family is {family!r}"
        )


def _attach(model, adapter: AdapterBundle, merge: bool = True):
    """Attach an adapter; merged into the weights (reversibly) so inference runs at base speed."""
    peft_model = attach_adapter(model, adapter)
    if merge:
        peft_model.merge_adapter()
    return peft_model


def _detach(model):
    """Undo :func:`_attach`: unmerge, then remove the LoRA layers, returning the bare base model."""
    if not (hasattr(model, "unload") and hasattr(model, "peft_config")):
        return model
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Already unmerged")  # adapters attached unmerged
        model.unmerge_adapter()
    return model.unload()


def encode_unique(encode, texts: list[str], batch_size: int = 128) -> np.ndarray:
    """Encode each distinct text once, in length order (less padding), rows back in input order."""
    unique = sorted(set(texts), key=lambda t: (len(t), t))
    if not unique:
        return encode([], batch_size=batch_size)
    emb = encode(unique, batch_size=batch_size)
    index = {t: i for i, t in enumerate(unique)}
    return emb[[index[t] for t in texts]]


def _relation_inputs(eval_set: pd.DataFrame, cfg: Mapping) -> pd.DataFrame | None:
    if not cfg.get("enabled", True):
        return None
    frames = []
    if cfg.get("items"):
        frames.append(relation_items(cfg["items"]))
    if cfg.get("use_eval_tuples", True) and {"subject", "relation", "object"} <= set(
        eval_set.columns
    ):
        benign = eval_set[(eval_set["label"] == "benign")].dropna(
            subset=["subject", "relation", "object"]
        )
        benign = benign[
            (
                benign[["subject", "relation", "object"]].astype(str).apply(lambda c: c.str.strip())
                != ""
            ).all(axis=1)
        ]
        if len(benign):
            n = min(int(cfg.get("max_eval_items", 40)), len(benign))
            frames.append(relation_items(benign.sample(n=n, random_state=0)))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True).drop_duplicates().reset_index(drop=True)


def _clip_enabled(model: Mapping, cfg: Mapping) -> bool:
    flag = cfg.get("enabled", "auto")
    if flag == "auto":
        return model.get("kind") == "clip_text"
    return bool(flag)


def evaluate_encoder(
    model: Mapping,
    adapters: Mapping[str, AdapterBundle],
    eval_set: pd.DataFrame,
    retain_set: pd.DataFrame | None,
    params: Mapping,
    compositionality_captions: pd.DataFrame | None = None,
) -> EvaluationResult:
    """Encoder family: paired retrieval, drift, relation recognition, compositionality, and
    (CLIP) image metrics. ``compositionality_captions``: captions with gold scene graphs."""
    from relsafe.models import EncoderConfig, load_encoder, resolve_model_dir

    start = time.perf_counter()
    for name, adapter in adapters.items():
        check_adapter_family(name, adapter, "encoder")
    if "gallery_text" not in eval_set.columns:
        raise ValueError(
            "eval_set lacks column 'gallery_text'; rebuild it with "
            "`kedro run --pipelines build_sets` (paired retrieval needs it)"
        )
    ks = tuple(int(k) for k in params.get("ks", (1, 5)))
    enc = load_encoder(EncoderConfig.from_params(dict(model)))
    texts = eval_set["text"].astype(str).tolist()
    marginal = pd.DataFrame(columns=["text", "rule_id"])
    if retain_set is not None and "kind" in retain_set:
        marginal = retain_set[
            retain_set["kind"].astype(str).str.startswith("marginal")
        ].drop_duplicates("text")
    m_texts = marginal["text"].astype(str).tolist()
    m_rules = marginal["rule_id"].astype(str).tolist() if "rule_id" in marginal else None

    rel_cfg = params.get("relation_recognition", {}) or {}
    items = _relation_inputs(eval_set, rel_cfg)
    candidates = list(rel_cfg.get("candidates", []))
    rel_syntax = str(rel_cfg.get("gallery_syntax", "passive_is"))
    comp_cfg = CompositionalityConfig.from_params(params.get("compositionality"))
    comp_items = (
        build_items(compositionality_captions, comp_cfg)
        if comp_cfg.enabled and compositionality_captions is not None
        else None
    )
    n_boot = int(params.get("bootstrap_samples", 1000))
    clip_cfg = params.get("clip_images", {}) or {}
    clip_on = _clip_enabled(model, clip_cfg)
    image_emb, captions = None, []
    if clip_on:
        from relsafe.evaluation.clip_images import (
            ClipImageTower,
            attacked_image_embeddings,
            load_sample_image,
            shrink,
        )
        from relsafe.evaluation.image_folder import load_image_folder

        folder = load_image_folder(params.get("image_folder"), labels=False)
        max_side = int(clip_cfg.get("max_side", 256))
        if folder is not None:  # the user's images of the policy's relations
            from PIL import Image

            captions = folder["caption"].tolist()
            images = []
            for path in folder["path"]:
                with Image.open(path) as img:
                    images.append(shrink(np.asarray(img.convert("RGB")), max_side))
        else:  # fallback: the bundled sample photos
            images_cfg = dict(clip_cfg.get("images", {}))
            captions = list(images_cfg.values())
            images = [shrink(load_sample_image(name), max_side) for name in images_cfg]
        try:
            tower = ClipImageTower(resolve_model_dir(str(model["name_or_path"])))
        except (ValueError, OSError, KeyError) as exc:
            raise ValueError(
                f"evaluate_edit.clip_images: cannot load the CLIP image tower of {model['name_or_path']!r} "
                f"(set clip_images.enabled: false for text-only checkpoints): {exc}"
            ) from exc
        image_emb = attacked_image_embeddings(
            tower, images, list(clip_cfg.get("attacks", [])), seed=int(clip_cfg.get("seed", 0))
        )

    bs = int(params.get("encode_batch_size", 128))

    def encode(batch: list[str]) -> np.ndarray:
        return encode_unique(enc.encode, batch, bs)

    embeddings: dict[str, np.ndarray] = {}
    marginal_emb: dict[str, np.ndarray] = {}
    extra: dict[str, dict[str, float]] = {}
    relrec_rows, clip_rows, comp_rows = [], [], []
    rel_gallery = gallery_emb = None
    for name in [BASE, *adapters]:
        if name != BASE:
            enc.model = _attach(
                enc.model, adapters[name], merge=bool(params.get("merge_adapters", True))
            )
        else:  # the base embeds the galleries (the image stand-ins)
            gallery_emb = encode(eval_set["gallery_text"].astype(str).tolist())
        embeddings[name] = encode(texts)
        marginal_emb[name] = encode(m_texts)
        extra[name] = {}
        if items is not None and len(items) and candidates:
            if rel_gallery is None:
                rel_gallery = encode(recognition_texts(items, candidates, rel_syntax)[0])
            rr = relation_recognition(items, candidates, rel_gallery, encode, rel_syntax)
            extra[name]["relrec_acc"] = float(rr["correct"].mean())
            relrec_rows.append(rr.assign(variant=name))
        if comp_items is not None and len(comp_items):
            scored = score_items(comp_items, encode)
            extra[name].update(compositionality_metrics(scored))
            lo, hi = bootstrap_interval(scored["correct"].to_numpy(), n_boot)
            extra[name].update({"comp_acc_lo": lo, "comp_acc_hi": hi})
            comp_rows.append(scored.assign(variant=name))
        if image_emb is not None:
            from relsafe.evaluation.clip_images import image_retrieval_metrics

            m, rows = image_retrieval_metrics(image_emb, encode(captions), ks)
            extra[name].update(m)
            clip_rows.append(rows.assign(variant=name))
        enc.model = _detach(enc.model)
    result = compare_encoder_variants(
        eval_set.reset_index(drop=True),
        embeddings[BASE],
        {k: v for k, v in embeddings.items() if k != BASE},
        gallery_emb,
        ks,
        marginal_texts=m_texts,
        marginal_emb=marginal_emb,
        marginal_rules=m_rules,
        suppression_k=params.get("suppression_k"),
        collateral_k=params.get("collateral_k"),
        examples_per_rule=int(params.get("examples_per_rule", 2)),
        extra_metrics=extra,
        n_boot=n_boot,
    )
    if comp_rows:
        result.extra["compositionality"] = pd.concat(comp_rows, ignore_index=True)
    if relrec_rows:
        result.extra["relation_recognition"] = pd.concat(relrec_rows, ignore_index=True)
    if clip_rows:
        result.extra["clip_images"] = pd.concat(clip_rows, ignore_index=True)
    result.metrics["eval_seconds"] = round(time.perf_counter() - start, 2)
    logger.info(
        "encoder evaluation: %d texts x %d variants in %.1fs",
        len(texts),
        len(adapters) + 1,
        result.metrics["eval_seconds"],
    )
    return result


def evaluate_lm(
    model: Mapping,
    adapters: Mapping[str, AdapterBundle],
    lm_sets: pd.DataFrame,
    plain_text: str,
    params: Mapping,
    family=None,
    extra_modalities=None,
    answer_cache: pd.DataFrame | None = None,
) -> EvaluationResult:
    """Generative families: ASR / refusals with robustness attacks, and plain-text perplexity.

    ``family`` (:class:`relsafe.families.base.Family`, default ``causal_lm``) loads the base;
    ``extra_modalities(variant, model, base) -> (metrics, rows)``, when given, scores more
    inputs per variant with the same judge (the VLM family's image-borne attacks).
    ``answer_cache`` (a completion-cache table; ``evaluate_edit.lm.cache_base_answers``)
    serves the unedited model's answers it holds and gains the ones generated; the updated
    table is ``extra["answer_cache"]`` of the result.
    """
    from relsafe.families import get_family

    family = family or get_family("causal_lm")
    start = time.perf_counter()
    for name, adapter in adapters.items():
        check_adapter_family(name, adapter, family.name)
    cfg = LMEvalConfig.from_params(params.get("lm", {}))
    judge_cfg = dict(cfg.judge)
    judge = get_judge(judge_cfg.pop("name", "refusal_phrases"), **judge_cfg)
    rows = attack_rows(select_prompts(lm_sets, cfg), cfg)
    base = family.load_base(dict(model))
    base_model, tok = family.model_and_tokenizer(base)
    state = {"model": base_model}

    def activate(name: str):
        state["model"] = _detach(state["model"])
        if name != BASE:
            state["model"] = _attach(
                state["model"], adapters[name], merge=bool(params.get("merge_adapters", True))
            )
        return state["model"], tok

    extra_rows: list[pd.DataFrame] = []
    after_variant = None
    if extra_modalities is not None:

        def after_variant(name: str, model, metrics: dict[str, float]) -> None:
            more, more_rows = extra_modalities(name, model, base, judge, cfg)
            metrics.update(more)
            extra_rows.append(more_rows)

    cache = base_answer_cache(model, cfg, answer_cache)

    def wrap_generate(name: str, generate):
        return cache.wrap(generate) if cache is not None and name == BASE else generate

    per_variant, scored = evaluate_lm_variants(
        [BASE, *adapters],
        activate,
        rows,
        judge,
        cfg,
        split_paragraphs(plain_text or ""),
        after_variant=after_variant,
        wrap_generate=wrap_generate,
    )
    metrics = flatten_lm(per_variant)
    metrics["eval_seconds"] = round(time.perf_counter() - start, 2)
    metrics["n_generations"] = float(scored["text"].nunique() * (len(adapters) + 1))
    logger.info(
        "LM evaluation: %d distinct prompts x %d variants in %.1fs",
        scored["text"].nunique(),
        len(adapters) + 1,
        metrics["eval_seconds"],
    )
    if cache is not None:
        metrics["base_answers_cached"] = float(cache.hits)
        logger.info(
            "LM evaluation: %d base answers from the cache, %d generated",
            cache.hits,
            cache.generated,
        )
    if extra_rows:
        scored = pd.concat([scored, *extra_rows], ignore_index=True)
    empty_drift = pd.DataFrame(columns=["text", "group", "rule_id", "variant", "drift"])
    return EvaluationResult(
        metrics=metrics,
        rows=scored,
        per_rule=lm_per_rule(scored),
        drift=empty_drift,
        examples=lm_examples(scored, int(params.get("examples_per_set", 3))),
        extra={} if cache is None else {"answer_cache": cache.frame()},
    )


def base_answer_cache(model: Mapping, cfg: LMEvalConfig, table: pd.DataFrame | None):
    """The unedited model's answer cache (None when off or when no table was given).

    The key holds everything the answer depends on besides the prompt: the model's weights
    and params (:func:`~relsafe.models.completion_cache.model_fingerprint`) and the decoding
    (greedy, chat template, ``max_new_tokens``)."""
    if table is None or not cfg.cache_base_answers:
        return None
    from relsafe.models.completion_cache import (
        CompletionCache,
        greedy_chat_params,
        model_fingerprint,
    )

    return CompletionCache.from_frame(
        table, model_fingerprint(model), greedy_chat_params(cfg.max_new_tokens)
    )
