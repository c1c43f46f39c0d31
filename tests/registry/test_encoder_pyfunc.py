"""Input checks shared by both pyfuncs: a bad row is a 400-class error naming the row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from relsafe.registry.encoder_pyfunc import column_values


def test_good_rows_pass_through():
    assert column_values(pd.DataFrame({"text": ["a", "b c"]}), "text") == ["a", "b c"]
    assert column_values({"text": ["a"]}, "text") == ["a"]
    assert column_values(["a", "b"], "text") == ["a", "b"]


def test_null_nan_non_string_and_empty_rows_are_named():
    frame = pd.DataFrame({"text": ["ok", None, np.nan, 5, "  ", "fine"]})
    with pytest.raises(MlflowException) as err:
        column_values(frame, "text")
    assert err.value.get_http_status_code() == 400
    msg = err.value.message
    assert msg.startswith("4 of 6 rows cannot be scored")
    for part in (
        "row 1: 'text' is null",
        "row 2: 'text' is null",
        "row 3: 'text' is not a string (got int)",
        "row 4: 'text' is empty",
    ):
        assert part in msg
    assert "row 0" not in msg and "row 5" not in msg


def test_missing_column_is_a_bad_request():
    with pytest.raises(MlflowException, match="no 'prompt' column") as err:
        column_values(pd.DataFrame({"text": ["a"]}), "prompt")
    assert err.value.get_http_status_code() == 400
