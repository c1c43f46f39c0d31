"""Bad captions never crash extraction; each row keeps a reason."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from relsafe.oro.cleaning import clean_caption, looks_english
from relsafe.oro.corpus import CaptionColumnError, CaptionSourceError, extract_table, read_captions

BAD = [
    ("", "empty"),
    ("   \t\n", "empty"),
    (None, "missing"),
    (np.nan, "missing"),
    (42, "not a string (int)"),
    (["a", "list"], "not a string (list)"),
    ("\U0001f600\U0001f436", "empty"),
    ("<p></p>", "empty"),
    ("un chien assis sur le canapé avec une balle", "non-english"),
    ("一只狗坐在沙发上", "non-english"),
    ("собака сидит на диване", "non-english"),
]


@pytest.mark.parametrize(("value", "status"), BAD)
def test_clean_caption_reasons(value, status):
    cleaned = clean_caption(value)
    assert cleaned.status == status and cleaned.skipped and cleaned.text == ""


def test_cleaning_keeps_usable_text():
    assert clean_caption("a <b>dog</b> on a sofa").status == "html stripped"
    assert clean_caption("a <b>dog</b> on a sofa").text == "a dog on a sofa"
    assert clean_caption("a dog \U0001f436 on a sofa").text == "a dog on a sofa"
    long = clean_caption("a dog on a sofa " * 1000, max_chars=1000)
    assert long.status == "truncated" and len(long.text) <= 1000
    assert looks_english("man riding horse") and looks_english("a café on the corner")


def test_extract_table_keeps_every_row(extractor, caplog):
    values = [
        "a child drinking wine",
        "",
        None,
        np.nan,
        7,
        "x" * 10_000,
        "a dog on a sofa " * 700,
        "\U0001f600",
        "<div>a man <i>with</i> an umbrella</div>",
        "un homme avec un parapluie sur la plage",
        "hello",
    ]
    frame = pd.DataFrame({"id": range(len(values)), "caption": values})
    with caplog.at_level(logging.INFO, logger="relsafe.oro.corpus"):
        out = extract_table(frame, extractor, source="unit", progress=False)
    assert list(out["id"]) == list(range(len(values)))
    assert list(out["status"]) == [
        "ok",
        "empty",
        "missing",
        "missing",
        "not a string (int)",
        "truncated",
        "truncated",
        "empty",
        "html stripped",
        "non-english",
        "ok",
    ]
    tuples = [json.loads(t) for t in out["tuples"]]
    assert [len(t) for t in tuples] == list(out["n_tuples"])
    assert tuples[0][0]["relation"] == "drink"
    assert tuples[8][0]["object"] == "umbrella"
    assert all(t == [] for t in tuples[1:5] + tuples[7:8] + tuples[9:])
    assert "unit: 11 rows" in caplog.text and "status counts" in caplog.text


def test_missing_column_names_source_and_column(extractor):
    frame = pd.DataFrame({"text": ["a dog"]})
    with pytest.raises(CaptionColumnError, match=r"my_file.csv: caption column 'caption'"):
        extract_table(frame, extractor, source="my_file.csv", progress=False)
    with pytest.raises(KeyError):
        extract_table(frame, extractor, progress=False)


def test_read_captions_errors(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(CaptionSourceError, match="nope.csv"):
        read_captions(missing)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(CaptionSourceError, match="broken.parquet"):
        read_captions(broken)
    wrong = tmp_path / "wrong.csv"
    pd.DataFrame({"text": ["a"]}).to_csv(wrong, index=False)
    with pytest.raises(CaptionColumnError, match=r"wrong.csv.*'caption'"):
        read_captions(wrong)
    good = tmp_path / "good.jsonl"
    pd.DataFrame({"caption": ["a dog"]}).to_json(good, orient="records", lines=True)
    assert list(read_captions(good)["caption"]) == ["a dog"]


def test_extract_handles_non_strings_directly(extractor):
    assert extractor.extract([None, 3.5, "a man with a hat"])[2]  # type: ignore[list-item]


def test_the_table_holds_the_cleaned_text(extractor):
    """Issue 18 item 6: rows reported as cleaned went into the sets uncleaned."""
    frame = pd.DataFrame(
        {
            "caption": [
                "a <script>x</script> child drinking wine",
                "a dog on a sofa " * 100,
                "a man riding a horse",
                None,
            ]
        }
    )
    out = extract_table(frame, extractor, source="unit", max_chars=200, progress=False)
    assert list(out["status"][:3]) == ["html stripped", "truncated", "ok"]
    assert "<script>" not in out["caption"][0] and out["caption"][0].endswith("drinking wine")
    assert len(out["caption"][1]) <= 200
    assert out["caption"][2] == "a man riding a horse"
    assert out["caption_raw"][1] == frame["caption"][1]  # the raw value stays beside it


def test_a_bad_byte_is_a_row_status(tmp_path, extractor):
    """Issue 18 item 6: one invalid UTF-8 byte stopped the whole file."""
    from kedro_datasets.pandas import CSVDataset

    path = tmp_path / "captions.csv"
    path.write_bytes(b"caption\na dog on a sofa\na cat \xff on a mat\n")
    frame = CSVDataset(filepath=str(path), load_args={"encoding_errors": "replace"}).load()
    out = extract_table(frame, extractor, source="unit", progress=False)
    assert list(out["status"]) == ["ok", "invalid bytes replaced"]
    assert out["caption"][1] == "a cat on a mat"


def test_shipped_catalog_reads_captions_with_replacement():
    import yaml
    from tests_support import PROJECT_ROOT

    catalog = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog.yml").read_text())
    for name in ("factual_captions", "safety_captions"):
        assert catalog[name]["load_args"]["encoding_errors"] == "replace"
