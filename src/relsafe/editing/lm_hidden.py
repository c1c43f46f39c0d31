"""Hidden states for the causal-LM edit: frozen lower layers computed once, base hidden
states for representation losses, and the edited model's hidden states at chosen layers.

LoRA sits on the top layers only (``train_edit.lora.layers``), so every layer below the
lowest adapted one is frozen: its output for a training row never changes. A
:class:`HiddenPlan` computes, once per (term, row), with the adapter off (the rows a step
draws for the first time in one right-padded batch: causal attention keeps the padding out of
the real tokens' states, so a row's values match its own pass up to float rounding):

- ``lower``: the input of the first adapted layer (the output of the frozen stack), from
  which each step runs only the upper layers (``train_edit.causal_lm.cache_lower_layers``);
- ``ref``: the frozen base's hidden states at the layers a representation loss reads
  (``lm_reroute``, ``lm_retain_hidden``), at that term's positions; the base pass stops
  at the deepest such layer.

The upper-stack pass temporarily gives the decoder only its upper layers and feeds the
cached states as ``inputs_embeds`` (Llama, Mistral, Qwen2, SmolLM, ...); a model whose
decoder changes its inputs before the first layer (Gemma scales the embeddings) fails the
start-up check (:meth:`HiddenPlan.check`) and keeps the full forward.

Every chat-templated row starts with the same system turn and user header (``prefix``
tokens, about a third of a SmolLM2 training row). Causal attention makes that prefix's
states the same in every row, so the upper pass runs it once (batch 1), repeats its key /
value cache over the batch and runs only the rest of each row on top of it. The gradient
through the repeated cache sums over the rows, as it would over separate copies, so the
step is the same computation with less work (``train_edit.causal_lm.share_prefix``).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

logger = logging.getLogger(__name__)


def _peft(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def decoder_layers(model: nn.Module) -> tuple[nn.Module, nn.ModuleList] | None:
    """The decoder of a (peft-wrapped) HF causal LM and its ``layers`` list, or None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    get_decoder = getattr(base, "get_decoder", None)
    decoder = get_decoder() if get_decoder is not None else None
    layers = getattr(decoder, "layers", None)
    if decoder is None or not isinstance(layers, nn.ModuleList) or not len(layers):
        return None
    return decoder, layers


def lowest_trainable_layer(layers: nn.ModuleList) -> int:
    """Index of the lowest decoder layer with a trainable parameter (len(layers) if none)."""
    for i, layer in enumerate(layers):
        if any(p.requires_grad for p in layer.parameters()):
            return i
    return len(layers)


def resolve_layers(layers: Sequence[int | float], n_layers: int, where: str) -> list[int]:
    """Layer indices from ints (negative counts from the top) or fractions in (0, 1)."""
    out = []
    for v in layers:
        if isinstance(v, float) and 0 < v < 1:
            i = min(n_layers - 1, int(round(v * n_layers)))
        else:
            i = int(v)
            i = i + n_layers if i < 0 else i
        if not 0 <= i < n_layers:
            raise ValueError(f"{where}: layer {v} out of range for a model with {n_layers} layers")
        out.append(i)
    return sorted(set(out))


@contextlib.contextmanager
def only_layers(decoder: nn.Module, layers: nn.ModuleList, start: int, stop: int) -> Iterator[None]:
    """The decoder runs ``layers[start:stop]`` only (the module objects themselves)."""
    full = decoder.layers
    decoder._modules["layers"] = nn.ModuleList(list(layers)[start:stop])
    try:
        yield
    finally:
        decoder._modules["layers"] = full


@contextlib.contextmanager
def capture(layers: nn.ModuleList, indices: Sequence[int]) -> Iterator[dict[int, torch.Tensor]]:
    """Forward hooks that keep the output hidden states of ``layers[i]`` for each index."""
    out: dict[int, torch.Tensor] = {}
    handles = []
    for i in indices:

        def hook(_m, _inp, output, i=i):
            out[i] = output[0] if isinstance(output, tuple) else output

        handles.append(layers[i].register_forward_hook(hook))
    try:
        yield out
    finally:
        for h in handles:
            h.remove()


@dataclass
class RowHidden:
    lower: torch.Tensor | None = None  # [len, H] input of the first adapted layer
    ref: torch.Tensor | None = None  # [n_layers, n_positions, H] frozen base, term positions


@dataclass
class HiddenPlan:
    """Which layers to cache and to read; the per-(term, row) cache."""

    start: int  # first adapted layer: rows enter the upper stack here (0: no lower cache)
    ref_layers: dict[str, list[int]]  # term -> layers a representation loss reads
    decoder: nn.Module
    layers: nn.ModuleList
    rows: dict[tuple[str, int], RowHidden] = field(default_factory=dict)
    prefix: int = 0  # tokens every row starts with, run once per upper pass (0: off)

    @property
    def caches_lower(self) -> bool:
        return self.start > 0

    # --- the base pass, once per (term, row) ---------------------------------------------
    def row(
        self, model: nn.Module, term: str, idx: int, ids: list[int], positions: slice
    ) -> RowHidden:
        """The kept entry of (term, idx), computed now if it is new."""
        self.fill(model, [(term, idx, ids, positions)])
        return self.rows[(term, int(idx))]

    @torch.no_grad()
    def fill(self, model: nn.Module, items: Sequence[tuple[str, int, list[int], slice]]) -> None:
        """Compute the (term, idx, ids, positions) rows not yet kept, in one right-padded
        batch (a step's new rows share one forward instead of one each)."""
        todo: dict[tuple[str, int], tuple[list[int], slice]] = {}
        for term, idx, ids, positions in items:
            key = (term, int(idx))
            if key not in self.rows and key not in todo:
                todo[key] = (ids, positions)
        if not todo:
            return
        ref = {i for term, _ in todo for i in self.ref_layers.get(term, [])}
        want = sorted(({self.start - 1} if self.caches_lower else set()) | ref)
        device = next(model.parameters()).device
        seqs = [ids for ids, _ in todo.values()]
        width = max(len(ids) for ids in seqs)
        x = torch.zeros((len(seqs), width), dtype=torch.long, device=device)
        mask = torch.zeros_like(x)
        for r, ids in enumerate(seqs):
            x[r, : len(ids)] = torch.tensor(ids, dtype=torch.long, device=device)
            mask[r, : len(ids)] = 1
        with (
            _peft(model).disable_adapter(),
            only_layers(self.decoder, self.layers, 0, max(want) + 1),
            capture(self.layers, want) as got,
        ):
            self.decoder(input_ids=x, attention_mask=mask, use_cache=False)
        for r, ((term, idx), (ids, positions)) in enumerate(todo.items()):
            layers = self.ref_layers.get(term, [])
            self.rows[(term, idx)] = RowHidden(
                lower=(
                    got[self.start - 1][r, : len(ids)].detach().float().clone()
                    if self.caches_lower
                    else None
                ),
                ref=(
                    torch.stack([got[i][r, : len(ids)][positions].detach().float() for i in layers])
                    if layers
                    else None
                ),
            )

    # --- the upper-stack pass ----------------------------------------------------------
    def upper_hidden(
        self, lowers: list[torch.Tensor], attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Last hidden state (after the final norm) from cached lower outputs, right-padded."""
        width = attention_mask.shape[1]
        h = lowers[0].new_zeros((len(lowers), width, lowers[0].shape[-1]))
        for i, low in enumerate(lowers):
            h[i, : low.shape[0]] = low
        h = h.to(attention_mask.device)
        with only_layers(self.decoder, self.layers, self.start, len(self.layers)):
            if not 0 < self.prefix < min(low.shape[0] for low in lowers):
                return self.decoder(
                    inputs_embeds=h, attention_mask=attention_mask, use_cache=False
                ).last_hidden_state
            with cache_indices_from_zero(list(self.layers)[self.start :]):
                return self._prefix_shared(h, attention_mask)

    def _prefix_shared(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The upper pass with the shared prefix run once (row 0's prefix stands for all)."""
        from transformers import DynamicCache

        n, width, p = h.shape[0], h.shape[1], self.prefix
        cache = DynamicCache()
        name = cache_argument(type(self.decoder))
        head = self.decoder(
            inputs_embeds=h[:1, :p],
            attention_mask=attention_mask[:1, :p],
            use_cache=True,
            **{name: cache},
        )
        cache.batch_repeat_interleave(n)
        positions = torch.arange(p, width, device=h.device).unsqueeze(0)
        rest = self.decoder(
            inputs_embeds=h[:, p:],
            attention_mask=attention_mask,
            use_cache=True,
            position_ids=positions,
            **{name: cache},
        ).last_hidden_state
        return torch.cat([head.last_hidden_state.expand(n, -1, -1), rest], dim=1)


@functools.cache
def cache_argument(decoder_class: type) -> str:
    """The decoder's key / value cache argument: ``cache`` in transformers 5,
    ``past_key_values`` in 4.x (looked up once per class, not every pass)."""
    params = inspect.signature(decoder_class.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


@contextlib.contextmanager
def cache_indices_from_zero(layers: Sequence[nn.Module]) -> Iterator[None]:
    """Number the attention modules of ``layers`` 0, 1, ... while a pass over those layers
    alone uses a key / value cache (the cache reads its length from its first layer)."""
    found = [
        (module, j, module.layer_idx)
        for j, layer in enumerate(layers)
        for module in layer.modules()
        if isinstance(getattr(module, "layer_idx", None), int)
    ]
    for module, j, _ in found:
        module.layer_idx = j
    try:
        yield
    finally:
        for module, _, old in found:
            module.layer_idx = old


def make_plan(
    model: nn.Module, ref_layers: dict[str, Sequence[int | float]], cache_lower: bool
) -> HiddenPlan | None:
    """A plan for ``model`` (peft-wrapped, adapter attached), or None when no cache applies
    (no decoder layer list, or nothing to cache)."""
    parts = decoder_layers(_peft(model))
    if parts is None:
        if ref_layers:
            raise ValueError(
                "representation losses (lm_reroute, lm_retain_hidden) need a decoder with a "
                "`layers` list (HF causal LMs have one)"
            )
        return None
    decoder, layers = parts
    start = lowest_trainable_layer(layers) if cache_lower else 0
    start = start if start < len(layers) else 0
    resolved = {
        t: resolve_layers(v, len(layers), f"train_edit.causal_lm.terms.{t}.layers")
        for t, v in ref_layers.items()
    }
    for t, idx in resolved.items():
        if idx and idx[0] < lowest_trainable_layer(layers):
            logger.warning(
                "LM edit: term %r reads layer %d, below the lowest adapted layer %d: "
                "the adapter cannot change it",
                t,
                idx[0],
                lowest_trainable_layer(layers),
            )
    if not start and not resolved:
        return None
    return HiddenPlan(start=start, ref_layers=resolved, decoder=decoder, layers=layers)
