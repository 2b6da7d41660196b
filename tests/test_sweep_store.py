"""The shipped sweep store (docs/sweep) is reproducible: every model row has its weights beside the store, with the
row's hash, and every run row's reproduce command starts from them."""

import os
import sqlite3

import pytest

from checker.model import weights_sha256
from generator.modelio import load_model

SWEEP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "sweep")


def _rows(query: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{os.path.join(SWEEP, 'results.sqlite')}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_every_model_of_the_store_is_shipped_with_its_hash():
    models = _rows("SELECT model_sha256, model_path FROM models")
    assert len(models) >= 301
    for row in models:
        cfg, params, _ = load_model(os.path.join(SWEEP, row["model_path"]))
        assert weights_sha256(cfg, params) == row["model_sha256"], row["model_path"]
    shipped = set(os.listdir(os.path.join(SWEEP, "models")))
    assert shipped == {os.path.basename(r["model_path"]) for r in models}  # nothing else


def test_every_row_of_the_store_is_reproduced_from_its_shipped_model():
    pytest.importorskip("torch")
    from generator.sweep import reproduce_command

    runs = _rows("SELECT * FROM runs")
    for row in runs:
        if row["model_path"] is None:  # refused before a model existed: nothing to reproduce
            continue
        assert row["train_arithmetic"] is None  # trained with the CPU's own kernels, before the portable arithmetic
        command = reproduce_command(row)
        assert command.startswith(f"certify generate {os.path.join('.', row['model_path'])} ")
        assert os.path.exists(os.path.join(SWEEP, row["model_path"]))
