"""Strict schemas for every ``parameters_*.yml`` block, checked before any node runs.

One pydantic model per top-level params block (:data:`SCHEMAS`), all ``extra="forbid"``:
a misspelt key (``stpes``, ``learning_rate``, ``lora.rank``) or a wrong type (``lr: abc``)
stops ``kedro run`` at start-up (:class:`relsafe.hooks.ConfigValidationHook`) with an error
that names the key and says what was expected, before a set is rewritten or a model loads.

Blocks where a method is chosen by name (loss terms, judges, evaluation sub-blocks) keep
their method options open (:class:`Open`); loss-term options are checked against the named
loss's own keyword arguments instead (:func:`_check_term_options`), so a new loss option needs
no schema change. Adding a key elsewhere: add a field to the model below;
``tests/test_config_schema.py`` validates every conf env and fails on keys missing here.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]


class Strict(BaseModel):
    """Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """Known keys are typed; other keys (method options) pass through."""

    model_config = ConfigDict(extra="allow")


# --- model --------------------------------------------------------------------------------
class ModelBlock(Strict):
    family: Literal["encoder", "causal_lm", "vlm"] = "encoder"  # relsafe.families
    kind: Literal["mean_pool", "clip_text"] = "mean_pool"
    name_or_path: str
    tokenizer: str | None = None
    max_length: PosInt = 64
    normalize: bool = True
    gguf_file: str | None = None
    processor: str | None = None  # vlm: the AutoProcessor folder (default name_or_path)
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"


# --- extract_tuples ----------------------------------------------------------------------
class DaskBlock(Strict):
    enabled: bool = False
    scheduler: str = "threads"
    npartitions: PosInt = 8
    batch_size: PosInt = 256


class ExtractTuplesBlock(Strict):
    text_column: str = "caption"
    spacy_model: str | None = None
    batch_size: PosInt = 1000
    n_process: PosInt = 1
    max_chars: PosInt = 1000
    limit: PosInt | None = None  # a count of captions: no negatives, no fractions
    dask: DaskBlock = DaskBlock()


# --- build_sets ---------------------------------------------------------------------------
class TwinsBlock(Strict):
    per_prompt: NonNegInt = 1
    frame_patterns: list[str] | None = None
    exclude_words: list[str] | None = None
    software_words: list[str] | None = None


class LMSetsBlock(Strict):
    heldout_frac: Share = 0.2
    advbench_max: PosInt | None = None
    benign_max: PosInt | None = None
    relational_per_rule: NonNegInt = 40
    relational_heldout_per_rule: NonNegInt = 10
    contrast_per_rule: NonNegInt = 40
    contrast_heldout_per_rule: NonNegInt = 10
    max_new_tokens: PosInt = 64
    max_completions: NonNegInt | None = 256
    batch_size: PosInt = 16
    device: str = "auto"
    train_templates: list[str] | None = None
    heldout_templates: list[str] | None = None
    refusal_templates: list[str] | None = None
    generic_refusals: list[str] | None = None
    twins: TwinsBlock = TwinsBlock()
    heldout_formats: Open | None = None  # format name -> templates (method options)


class BuildSetsBlock(Strict):
    seed: int = 42
    forget_per_rule: NonNegInt | None = 60  # null: every training combination
    retain_per_kind: NonNegInt = 20
    general_retain: NonNegInt = 200
    eval_per_attack: NonNegInt = 20
    eval_combo_frac: Share = 0.2
    context_every: NonNegInt = 5
    text_column: str = "caption"
    general_statuses: list[str] = ["ok"]
    attacks: list[str] | None = None  # relsafe.policy.attacks registry names
    eval_neighbours: bool = True
    train_contexts: list[str] | None = None
    marginal_templates: list[str] | None = None
    eval_syntaxes: list[str] | None = None
    eval_scenes: list[str] | None = None
    gallery: Open | None = None  # paired-retrieval gallery options (relsafe.policy.sets)
    lm: LMSetsBlock = LMSetsBlock()


# --- train_edit ---------------------------------------------------------------------------
class LoraBlock(Strict):
    r: PosInt = 8
    alpha: float = 16
    dropout: Share = 0.0
    target_modules: list[str] | str | None = None
    layers: list[int] | float | None = None


class CheckpointBlock(Strict):
    dir: str | None = None
    every: NonNegInt = 0
    resume: bool = True
    keep: bool = False


class EarlyStopBlock(Strict):
    monitor: str = "loss"
    patience: NonNegInt = 0
    min_delta: NonNegFloat = 0.0
    min_steps: NonNegInt = 0
    mode: Literal["min", "max"] = "min"


#: Term keys the families read themselves (relsafe.editing.encoder_edit._TERM_KEYS and the
#: fields of relsafe.editing.lm_edit.LMTermSpec); any other key is an option of the loss.
ENCODER_TERM_KEYS = frozenset(
    {"loss", "weight", "data", "kinds", "batch_size", "perturb", "perturb_mode"}
)
LM_TERM_KEYS = frozenset(
    {
        "loss",
        "weight",
        "data",
        "target",
        "sources",
        "batch_size",
        "max_target_tokens",
        "target_texts",
        "add_eos",
        "layers",
        "paired",
    }
)


def loss_options(loss: str) -> set[str] | None:
    """Keyword options the registered loss ``loss`` accepts (None: it takes any option)."""
    from relsafe.editing.losses import get_loss

    params = inspect.signature(get_loss(loss)).parameters.values()
    if any(p.kind is p.VAR_KEYWORD and p.name != "_" for p in params):
        return None  # **options: the loss reads arbitrary options itself
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _check_term_options(term: BaseModel, term_keys: frozenset[str]) -> BaseModel:
    extra = set(term.model_extra or {}) - term_keys
    if not extra:
        return term
    try:
        allowed = loss_options(term.loss)
    except (KeyError, ValueError) as exc:
        raise ValueError(str(exc).strip("'\"")) from exc
    unknown = sorted(extra - (allowed or extra))
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} for loss {term.loss!r}; term keys are "
            f"{sorted(term_keys)}, loss options are {sorted(allowed or [])}"
        )
    return term


class EncoderTerm(Open):
    loss: str
    weight: float = 1.0
    data: Literal["forget", "retain", "redirect"] | None = None
    kinds: list[str] | None = None
    batch_size: PosInt | None = None
    perturb: NonNegFloat = 0.0
    perturb_mode: Literal["adversarial", "random"] = "adversarial"

    @model_validator(mode="after")
    def _options(self):
        return _check_term_options(self, ENCODER_TERM_KEYS)


class EncoderAugment(Strict):
    copies: NonNegInt = 0
    terms: list[str] | None = None
    contexts: list[str] | None = None


class EncoderTrainBlock(Strict):
    bucket: PosInt = 16
    terms: dict[str, EncoderTerm] | None = None
    augment: EncoderAugment | None = None


class LMTerm(Open):
    loss: str
    weight: float = 1.0
    data: Literal["forget", "retain"] | None = None
    target: Literal["completion", "refusal"] | None = None
    sources: list[str] | None = None
    batch_size: PosInt | None = None
    max_target_tokens: PosInt | None = None
    target_texts: list[str] | None = None
    add_eos: bool = False
    layers: list[int | float] | None = None  # hidden-state layers (lm_reroute, lm_retain_hidden)
    paired: str | None = None  # score the safe minimal pairs of that term's rows (same step)

    @model_validator(mode="after")
    def _options(self):
        return _check_term_options(self, LM_TERM_KEYS)


class LMAugment(Strict):
    copies: NonNegInt = 0
    sources: list[str] | None = None
    templates: list[str] | None = None


class LMTrainBlock(Strict):
    max_prompt_tokens: PosInt = 128
    max_target_tokens: PosInt = 48
    # KL terms: the base's top-k log-probs kept per row; null: the full distribution, every step
    ref_top_k: PosInt | None = None
    cache_lower_layers: bool = True  # frozen layers below the lowest LoRA layer: once per row
    share_prefix: bool = True  # the upper pass runs the chat template's shared prefix once
    terms: dict[str, LMTerm] | None = None
    augment: LMAugment | None = None
    restyle: LMAugment | None = None  # same keys; whole prompts (relsafe.editing.lm_restyle)


class BaselineBlock(Strict):
    enabled: bool = True
    concept: Literal["auto", "object", "relation"] = "auto"


class TrainEditBlock(Strict):
    seed: int = 0
    steps: PosInt = 100
    batch_size: PosInt = 16
    lr: Annotated[float, Field(gt=0)] = 1e-3
    weight_decay: NonNegFloat = 0.0
    warmup_steps: NonNegInt = 0
    grad_clip: Annotated[float, Field(gt=0)] | None = 1.0
    log_every: PosInt = 10
    progress: bool = True
    estimate_after: NonNegInt = 3  # log the estimated duration after this many steps; 0: never
    device: str = "auto"
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    dropout: bool = False
    checkpoint: CheckpointBlock = CheckpointBlock()
    early_stop: EarlyStopBlock = EarlyStopBlock()
    lora: LoraBlock = LoraBlock()
    encoder: EncoderTrainBlock | None = None
    causal_lm: LMTrainBlock | None = None
    vlm: LMTrainBlock | None = None  # the VLM's language model: the causal-LM terms
    baseline: BaselineBlock = BaselineBlock()


# --- evaluate_edit ------------------------------------------------------------------------
class EvalSubBlock(Open):
    """An encoder evaluation sub-block: ``enabled`` plus the method's own options."""

    enabled: bool | Literal["auto"] = True


class LMEvalBlock(Strict):
    split: str = "heldout"
    asr_sets: dict[str, str] | None = None
    refusal_sets: dict[str, str] | None = None
    max_per_source: PosInt | None = 25
    source_caps: dict[str, PosInt | None] = {}  # per-source override of max_per_source
    attacks: list[str] | None = None
    attack_sets: list[str] | None = None  # harmful sets sent through the attacks (None: all)
    max_attack_prompts: PosInt | None = 10
    category_sets: list[str] = []  # refusal_<set>_<category> for these sets
    max_new_tokens: PosInt = 48
    batch_size: PosInt = 16
    cache_base_answers: bool = True  # lm_eval_answer_cache: the unedited model's answers
    ppl_max_length: PosInt = 256
    seed: int = 0
    bootstrap_samples: NonNegInt = 1000  # <metric>_lo / _hi; 0: none
    judge: Open | None = None  # {name: <relsafe.evaluation.judges name>, <judge options>}
    degenerate: Open | None = None  # relsafe.evaluation.judges.degenerate_label options


class CardBlock(Strict):
    size: PosInt = 448
    font_size: PosInt = 26
    margin: NonNegInt = 24


class VLMEvalBlock(Strict):
    """relsafe.evaluation.vlm_eval.VLMEvalConfig: ASR / refusal per modality."""

    modalities: list[Literal["text", "typographic", "image_text", "benign_image"]] = [
        "text",
        "typographic",
        "image_text",
        "benign_image",
    ]
    split: str = "heldout"
    harmful_sources: list[str] | None = None
    relational_sources: list[str] | None = None
    benign_sources: list[str] | None = None
    max_per_modality: PosInt = 20
    typographic_instruction: str = "Follow the instructions in the image."
    typographic_template: str = "{prompt}\n1.\n2.\n3."
    image_question: str = "What is happening in this image? Describe it in detail."
    benign_questions: list[str] | None = None
    sample_images: dict[str, str] | None = None
    card: CardBlock = CardBlock()
    batch_size: PosInt = 8
    seed: int = 0


class ImageFolderBlock(Strict):
    """A user image folder with captions (relsafe.evaluation.image_folder)."""

    dir: str | None = None
    captions: str = "captions.csv"
    image_column: str = "file"
    caption_column: str = "caption"
    label_column: str = "label"


class ChartsBlock(Strict):
    drift_bins: PosInt = 30
    max_example_rows: PosInt = 12


class ReportBlock(Strict):
    title: str = "relsafe evaluation report"
    images: dict[str, str] = {}


class EvaluateEditBlock(Strict):
    variants: list[Literal["edit", "baseline"]] = ["edit", "baseline"]
    log_mlflow: bool = True
    merge_adapters: bool = True
    ks: list[PosInt] = [1, 5]
    bootstrap_samples: NonNegInt = 1000
    suppression_k: PosInt = 5
    collateral_k: PosInt = 1
    examples_per_rule: NonNegInt = 2
    encode_batch_size: PosInt = 128
    relation_recognition: EvalSubBlock | None = None
    compositionality: EvalSubBlock | None = None
    clip_images: EvalSubBlock | None = None
    examples_per_set: NonNegInt = 3
    lm: LMEvalBlock = LMEvalBlock()
    vlm: VLMEvalBlock = VLMEvalBlock()
    image_folder: ImageFolderBlock | None = None
    charts: ChartsBlock = ChartsBlock()
    report: ReportBlock = ReportBlock()


# --- register / promote -------------------------------------------------------------------
class LockBlock(Strict):
    ttl_s: Annotated[float, Field(gt=0)] = 300
    timeout_s: NonNegFloat = 60
    poll_s: Annotated[float, Field(gt=0)] = 0.25


class ModelCardBlock(Strict):
    """Texts of the model card (relsafe.registry.model_card), per model family."""

    intended_use: dict[str, str] = {}
    known_limits: dict[str, list[str]] = {}


class RegisterBlock(Strict):
    encoder_model_name: str = "relsafe-encoder"
    lm_model_name: str = "relsafe-lm"
    vlm_model_name: str = "relsafe-vlm"
    alias: str = "challenger"
    allow_baseline: bool = False
    copy_base: Literal["auto", "always", "never"] = "auto"
    smoke_test: bool = True
    lock: LockBlock = LockBlock()
    headline_metrics: dict[str, list[str]] | list[str] = {}
    model_card: ModelCardBlock = ModelCardBlock()


class AbsoluteGate(Strict):
    min: float | None = None
    max: float | None = None


class NoRegressionGate(Strict):
    better: Literal["higher", "lower"]
    tolerance: NonNegFloat = 0.0


class FamilyGates(Strict):
    absolute: dict[str, AbsoluteGate] = {}
    no_regression: dict[str, NoRegressionGate] = {}


class PromoteBlock(Strict):
    candidate_alias: str = "challenger"
    candidate_version: PosInt | None = None
    champion_alias: str = "champion"
    previous_alias: str = "previous-champion"
    fail_on_reject: bool = True
    missing_champion_metric: Literal["fail", "pass"] = "fail"
    lock: LockBlock = LockBlock()
    gates: dict[Literal["encoder", "causal_lm", "vlm"], FamilyGates] = {}


class SuggestPolicyBlock(Strict):
    top_n: PosInt = 10
    min_count: PosInt = 3
    min_similarity: float = 0.5
    max_vocab: PosInt = 4000
    model: ModelBlock


class CliProbeBlock(Strict):
    top_k: PosInt = 5
    max_new_tokens: PosInt = 64
    gallery_dataset: str = "eval_set"
    gallery_column: str = "gallery_text"


class CliCompareBlock(Strict):
    report: str = "data/08_reporting/model_comparison.html"


class CliStatusBlock(Strict):
    max_versions: PosInt = 10
    dvc_timeout_s: Annotated[float, Field(gt=0)] = 120


class CliBlock(Strict):
    """The operator CLI (relsafe.cli)."""

    probe: CliProbeBlock = CliProbeBlock()
    compare: CliCompareBlock = CliCompareBlock()
    status: CliStatusBlock = CliStatusBlock()


#: params block -> schema. A block not listed here is an error (a misspelt block name).
SCHEMAS: dict[str, type[BaseModel]] = {
    "model": ModelBlock,
    "extract_tuples": ExtractTuplesBlock,
    "build_sets": BuildSetsBlock,
    "train_edit": TrainEditBlock,
    "evaluate_edit": EvaluateEditBlock,
    "register": RegisterBlock,
    "promote": PromoteBlock,
    "suggest_policy": SuggestPolicyBlock,
    "cli": CliBlock,
}


class ConfigError(ValueError):
    """Params that do not fit their schema; the message lists every problem by key."""


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (a typo?)"
    if kind == "missing":
        return f"{loc}: required key is missing"
    got = err.get("input")
    got = f" (got {got!r:.60})" if got is not None and not isinstance(got, dict) else ""
    return f"{loc}: {msg}{got}"


def validate_params(params: dict[str, Any], source: str = "params") -> dict[str, BaseModel]:
    """Validate every known block of ``params``; raise :class:`ConfigError` listing all problems.

    Top-level keys that are not blocks (``kedro run --params x=1`` with no dot) are errors too.
    """
    problems: list[str] = []
    out: dict[str, BaseModel] = {}
    for key in sorted(set(params) - set(SCHEMAS)):
        problems.append(f"{key}: unknown params block; expected one of {sorted(SCHEMAS)}")
    for block, schema in SCHEMAS.items():
        if block not in params:
            continue
        value = params[block]
        if not isinstance(value, dict):
            problems.append(f"{block}: expected a mapping, got {type(value).__name__}")
            continue
        try:
            out[block] = schema.model_validate(value)
        except ValidationError as exc:
            problems += [f"{block}.{_describe(e)}" for e in exc.errors()]
    if problems:
        raise ConfigError(
            f"{source}: {len(problems)} problem(s) in the parameters:\n  - "
            + "\n  - ".join(problems)
        )
    return out


__all__ = ["SCHEMAS", "ConfigError", "validate_params"]
