"""The base-completion cache: keys, hits, batching order, invalidation."""

import pandas as pd
import pytest

from relsafe.models.completion_cache import (
    CACHE_COLUMNS,
    CompletionCache,
    completion_key,
    model_fingerprint,
)


def test_keys_depend_on_model_prompt_and_params():
    k = completion_key("m", "hi", {"max_new_tokens": 4})
    assert k == completion_key("m", "hi", {"max_new_tokens": 4})
    assert k != completion_key("m2", "hi", {"max_new_tokens": 4})
    assert k != completion_key("m", "hi!", {"max_new_tokens": 4})
    assert k != completion_key("m", "hi", {"max_new_tokens": 5})


def test_only_missing_prompts_are_generated_once_each_in_length_order():
    calls = []

    def gen(prompts):
        calls.append(list(prompts))
        return [p.upper() for p in prompts]

    cache = CompletionCache.from_frame(None, "m", {"max_new_tokens": 4})
    wrapped = cache.wrap(gen)
    assert wrapped(["ccc", "a", "bb", "a"]) == ["CCC", "A", "BB", "A"]
    assert calls == [["a", "bb", "ccc"]] and cache.generated == 3 and cache.hits == 0
    assert wrapped(["bb", "dddd"]) == ["BB", "DDDD"] and calls[-1] == ["dddd"] and cache.hits == 1
    frame = cache.frame()
    assert list(frame.columns) == CACHE_COLUMNS and len(frame) == 4
    # a new cache from the saved table answers everything without generating
    again = CompletionCache.from_frame(frame, "m", {"max_new_tokens": 4})
    assert again.wrap(lambda p: pytest.fail("generated"))(["a", "dddd"]) == ["A", "DDDD"]
    other = CompletionCache.from_frame(frame, "other-model", {"max_new_tokens": 4})
    assert other.wrap(gen)(["a"]) == ["A"] and calls[-1] == ["a"]


def test_bad_cache_table_and_bad_generator():
    with pytest.raises(ValueError, match="delete the cache file"):
        CompletionCache.from_frame(pd.DataFrame({"key": ["x"]}), "m", {})
    cache = CompletionCache.from_frame(None, "m", {})
    with pytest.raises(RuntimeError, match="1 responses for 2 prompts"):
        cache.wrap(lambda p: ["one"])(["a", "b"])


def test_fingerprint_hashes_the_weights(tiny_llama_dir):
    params = {"name_or_path": str(tiny_llama_dir), "gguf_file": None, "dtype": "float32"}
    fp = model_fingerprint(params)
    assert '"weights_sha256": "' in fp and '"weights_sha256": ""' not in fp
    assert fp != model_fingerprint({**params, "dtype": "bfloat16"})
