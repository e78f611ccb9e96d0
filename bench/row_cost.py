"""Per-row Python cost of a write into the record store, without a database.

    python bench/row_cost.py                  # 50,000 generated businesses, 5 rounds
    python bench/row_cost.py --rows 20000 --rounds 3
    PYTHONPATH=/tmp/before python bench/row_cost.py     # the same on another checkout

Times, per row, what a bulk write and a full sync do in Python before PostgreSQL sees a row:
validation and normalisation (``prepare_rows`` on chunks of 5,000, which also makes the
canonical JSON and the content hash), the normalisation alone, and the connector's raw-row
digest. Only public functions are called, so an older checkout can be timed by the same
script side by side (``PYTHONPATH``). Prints the median of the rounds in microseconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

if not any(Path(p, "catalog").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog import values as values_module
from catalog.baseline import BUSINESS, LAND_PARCEL
from catalog.bulk_write import prepare_rows
from catalog.crypto import FieldKeys
from catalog.models import Dataset
from connectors.mapping import Digester, make_plan
from hub.demo import generate

CHUNK = 5_000


def view_of(spec: Any) -> Dataset:
    """A detached dataset (as ``catalog.bulk_write.detached_view`` makes) from a baseline spec."""
    fields = [
        SimpleNamespace(**{**dataclasses.asdict(f), "enum_values": list(f.enum_values or ())})
        for f in spec.fields
    ]
    return cast(Dataset, SimpleNamespace(code=spec.code, key_field=spec.key_field, fields=fields))


def per_row(rows: list[dict[str, Any]], work: Callable[[list[dict[str, Any]]], object]) -> float:
    started = time.perf_counter()
    for first in range(0, len(rows), CHUNK):
        work(rows[first : first + CHUNK])
    return (time.perf_counter() - started) / len(rows) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    keys = FieldKeys(keys={"k1": bytes(32)}, active_kid="k1", blind_key=bytes(32))
    datasets = {
        "business": (view_of(BUSINESS), generate.businesses(args.rows)),
        "land_parcel": (view_of(LAND_PARCEL), generate.land_parcels(args.rows, [])),
    }
    print(f"catalog from {Path(values_module.__file__).resolve().parent}")
    for code, (view, rows) in datasets.items():
        shown = ", ".join(
            f"{name} {statistics.median(t):.1f}"
            for name, t in measure(view, rows, keys, args.rounds).items()
        )
        print(f"{code} ({len(rows):,} rows, {len(view.fields)} fields), µs a row: {shown}")


def measure(
    view: Dataset, rows: list[dict[str, Any]], keys: FieldKeys, rounds: int
) -> dict[str, list[float]]:
    make = getattr(values_module, "record_normaliser", None)  # absent before 2026-12-02
    normalise = make(view) if make else lambda row: values_module.normalise_record(view, row)
    digest = Digester(make_plan(view, None, keys))
    timings: dict[str, list[float]] = {"prepare_rows": [], "normalise": [], "digest": []}
    for _ in range(rounds):
        timings["prepare_rows"].append(
            per_row(rows, lambda chunk: prepare_rows(view, chunk, keys, reject_invalid=True))
        )
        timings["normalise"].append(per_row(rows, lambda chunk: [normalise(r) for r in chunk]))
        timings["digest"].append(per_row(rows, lambda chunk: [digest(r) for r in chunk]))
    return timings


if __name__ == "__main__":
    main()
