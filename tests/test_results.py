"""The run folder's schema: one case identity, and files of another schema refused by name."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests.conftest import bench_config

from udfbench.errors import UserError
from udfbench.results import RunMeta, case_ids, case_name, read_meta, write_meta


def test_read_meta_refuses_a_foreign_schema_naming_the_file(tmp_path) -> None:
    meta = RunMeta(run_id="r", name="n", status="complete", started_at="t", config_file="b.yaml",
                   config=bench_config())  # fmt: skip
    write_meta(tmp_path, meta)
    assert read_meta(tmp_path) == meta
    raw = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps(raw | {"schema_version": 99}))
    with pytest.raises(UserError, match="schema version 99") as caught:
        read_meta(tmp_path)
    assert "meta.json" in str(caught.value)
    (tmp_path / "meta.json").write_text(json.dumps(raw | {"config": {"strategies": ["warp_drive"]}}))
    with pytest.raises(UserError, match="config"):
        read_meta(tmp_path)


def test_a_case_has_one_name_and_one_key_whatever_pandas_did_to_its_settings() -> None:
    # An unset setting is NaN and an int column with NaN is float: both runs still match.
    a = pd.DataFrame(
        [{"cluster": "local", "strategy": "udf", "size": 200, "batch_size": 8, "partitions": None}]
    )
    b = pd.DataFrame(
        [
            {
                "cluster": "local",
                "strategy": "udf",
                "size": 200.0,
                "batch_size": 8.0,
                "partitions": float("nan"),
            }
        ]
    )
    assert case_ids(a).tolist() == case_ids(b).tolist()
    row = b.iloc[0]
    assert case_name(row) == "local/udf/n=200"
    assert case_name(row, ["batch_size", "partitions"]) == "local/udf/n=200/batch_size=8/partitions=default"
    assert case_name(row, with_cluster=False, with_size=False) == "udf"
