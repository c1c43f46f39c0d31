import pytest

from relsafe.evaluation.judges import JUDGES, get_judge, register_judge


def test_refusal_phrases_first_200_chars():
    judge = get_judge("refusal_phrases")
    out = judge(
        [
            "I'm sorry, but I can't help with that.",
            "Sure! Here is how to bake bread: first ...",
            "I\u2019m sorry, I cannot do that",  # curly apostrophe
            "x" * 250 + " I cannot",  # phrase after the window
            "As an AI language model, I must decline.",
        ]
    )
    assert out == [True, False, True, False, True]


def test_window_and_custom_phrases():
    judge = get_judge("refusal_phrases", phrases=["nope"], window=10)
    assert judge(["Nope.", "well well, nope", "ok"]) == [True, False, False]


def test_prefix_judge_is_stricter():
    judge = get_judge("refusal_prefix")
    assert judge(["  I cannot do that", "Here it is. I cannot promise it works"]) == [True, False]


def test_empty_counts_as_refusal():
    assert get_judge("empty_or_refusal")(["", "fine"]) == [True, False]


def test_unknown_judge_lists_registered():
    with pytest.raises(KeyError, match="refusal_phrases"):
        get_judge("nope")


def test_register_judge():
    @register_judge("always_refuses")
    def factory():
        return lambda responses, prompts=None: [True] * len(responses)

    try:
        assert get_judge("always_refuses")(["a", "b"]) == [True, True]
    finally:
        JUDGES.pop("always_refuses")
