"""Write fake rows through the store's own API (report tests build runs without running a model).

One fake scorer (``test-values``) carries every value; feature names with ``_ref`` go to the shared reference
table, like the fid metric's ground-truth features."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

SCORER = "test-values.0"


def add_cell(store, cell_key: str, backend: str, dataset: str, mask: str, spec: dict[str, Any] | None = None,
             input_key: str | None = None) -> None:
    store.add_generation(cell_key, backend, dataset, mask, input_key or f"{dataset}.{mask}", spec or {})
    store.add_scorer(SCORER, "test-values", "metric", {})


def write_records(store, cell_key: str, rows: Iterable[dict[str, Any]],
                  features: Iterable[tuple[str, str, np.ndarray]] = ()) -> None:
    """``rows`` as the old single-table store took them: sample_id, hole_fraction, area_bin, latency_ms,
    batch_size, values (dict), error (str | None)."""
    rows = list(rows)
    store.write_outputs(cell_key, [{k: v for k, v in r.items() if k != "values"} for r in rows])
    ik = store.input_key(cell_key)
    ok = {r["sample_id"] for r in rows if r.get("error") is None}
    feats = [(SCORER, sid, name, a) for sid, name, a in features if sid in ok and "_ref" not in name]
    refs = [(ik, SCORER, sid, name, a) for sid, name, a in features if sid in ok and "_ref" in name]
    store.write_scores(cell_key, [(r["sample_id"], SCORER, r.get("values") or {}, None) for r in rows
                                  if r.get("error") is None], feats, refs)
