"""A cache of base-model completions keyed by (model, prompt, generation params).

Building the LM sets asks the frozen base model for its own greedy answer to every train
prompt (~1,600 prompts, the slowest part of ``build_sets`` on CPU). Those answers depend only
on the model's weights, the prompt and the decoding settings, so they are cached in a table
(``data/04_feature/lm_completion_cache.parquet``) keyed by a sha256 of the three; a rerun
with unchanged prompts generates nothing. Greedy decoding makes the cached answer the one a
fresh run would give, up to padding effects in batched generation (batch composition is not
part of the key).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from relsafe.models.sources import content_hash, resolve_model_dir, weights_files

logger = logging.getLogger(__name__)

CACHE_COLUMNS = ["key", "model", "prompt", "completion"]
#: Model params that change what the model generates (besides its weight files).
_MODEL_KEYS = ("name_or_path", "gguf_file", "tokenizer", "dtype", "max_length")


def model_fingerprint(model_params: Mapping[str, Any]) -> str:
    """The model's identity for the cache: its generation-relevant params and the sha256 of
    its weight files (so replacing the weights behind the same path invalidates the cache)."""
    ident = {k: model_params.get(k) for k in _MODEL_KEYS}
    model_dir = resolve_model_dir(str(model_params["name_or_path"]))
    ident["weights_sha256"] = content_hash(weights_files(model_dir, model_params.get("gguf_file")))
    return json.dumps(ident, sort_keys=True, default=str)


def completion_key(model_id: str, prompt: str, gen_params: Mapping[str, Any]) -> str:
    """sha256 of (model id, prompt, generation params)."""
    payload = json.dumps([model_id, prompt, dict(gen_params)], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def greedy_chat_params(max_new_tokens: int) -> dict[str, Any]:
    """The decoding part of a cache key: greedy, chat-templated, ``max_new_tokens`` long."""
    return {"max_new_tokens": int(max_new_tokens), "decoding": "greedy", "chat": True}


def empty_cache() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=str) for c in CACHE_COLUMNS})


@dataclass
class CompletionCache:
    """An in-memory view of the cache table; ``frame()`` gives the table to save."""

    model_id: str
    gen_params: dict[str, Any]
    table: pd.DataFrame
    hits: int = 0
    generated: int = 0

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame | None, model_id: str, gen_params: Mapping[str, Any]
    ) -> CompletionCache:
        if frame is None or frame.empty:
            frame = empty_cache()
        missing = set(CACHE_COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(
                f"completion cache: expected columns {CACHE_COLUMNS}; missing {sorted(missing)} "
                "(delete the cache file to rebuild it)"
            )
        table = frame[CACHE_COLUMNS].drop_duplicates("key", keep="last").reset_index(drop=True)
        return cls(model_id, dict(gen_params), table)

    def wrap(self, generate: Callable[[list[str]], list[str]]) -> Callable[[list[str]], list[str]]:
        """``generate`` with the cache in front: only prompts without a cached answer reach
        it, once each, in length order (similar lengths batch together: less padding)."""

        def cached(prompts: Sequence[str]) -> list[str]:
            keys = [completion_key(self.model_id, p, self.gen_params) for p in prompts]
            known = dict(zip(self.table["key"], self.table["completion"]))
            todo = {k: p for k, p in zip(keys, prompts) if k not in known}
            self.hits += len(prompts) - sum(1 for k in keys if k in todo)
            if todo:
                order = sorted(todo, key=lambda k: (len(todo[k]), todo[k]))
                answers = generate([todo[k] for k in order])
                if len(answers) != len(order):
                    raise RuntimeError(
                        f"generate returned {len(answers)} responses for {len(order)} prompts"
                    )
                new = pd.DataFrame(
                    {
                        "key": order,
                        "model": self.model_id,
                        "prompt": [todo[k] for k in order],
                        "completion": [str(a) for a in answers],
                    }
                )
                self.table = pd.concat([self.table, new], ignore_index=True)
                known.update(zip(new["key"], new["completion"]))
                self.generated += len(order)
            return [known[k] for k in keys]

        return cached

    def frame(self) -> pd.DataFrame:
        return self.table.reset_index(drop=True)
