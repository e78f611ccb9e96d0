"""The connector file (DESIGN.md §7): parsed from TOML and YAML alike, refused with the key at
fault, secrets split from what may be shown, ``${VAR}`` expanded only when opening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog.errors import InvalidInput
from connectors.spec import (
    SECRET_MARK,
    join_secrets,
    next_run,
    parse_connector,
    parse_schedule,
    read_connector_file,
    source_config,
    split_secrets,
)

DESIGN_EXAMPLE = """
name = "dkkd_postgres"          # unique, snake_case
dataset = "business"            # a dataset owned by the connector's agency
kind = "postgres"               # postgres | mysql | csv | xlsx | http
schedule = "every 15m"          # or a cron expression; omit for manual runs only
[source]
dsn = "postgresql://user:${DKKD_PASSWORD}@host:5432/dkkd"
table = "doanh_nghiep"
cursor = "cap_nhat_luc"
[mapping]
tax_code = "ma_so_thue"
name = "ten_doanh_nghiep"
"""

SAME_IN_YAML = """
name: dkkd_postgres
dataset: business
kind: postgres
schedule: every 15m
source:
  dsn: postgresql://user:${DKKD_PASSWORD}@host:5432/dkkd
  table: doanh_nghiep
  cursor: cap_nhat_luc
mapping:
  tax_code: ma_so_thue
  name: ten_doanh_nghiep
"""


def test_the_design_example_parses_and_yaml_says_the_same() -> None:
    toml_spec = parse_connector(DESIGN_EXAMPLE, fmt="toml", origin="a.toml")
    yaml_spec = parse_connector(SAME_IN_YAML, fmt="yaml", origin="a.yaml")
    assert toml_spec == yaml_spec
    assert toml_spec.cursor == "cap_nhat_luc"
    assert toml_spec.source_columns() == ["ma_so_thue", "ten_doanh_nghiep", "cap_nhat_luc"]
    assert toml_spec.parsed_schedule is not None
    assert toml_spec.parsed_schedule.interval == timedelta(minutes=15)


def test_secrets_are_split_from_what_is_shown_and_joined_back_unexpanded() -> None:
    spec = parse_connector(DESIGN_EXAMPLE, fmt="toml", origin="a.toml")
    public, secrets = split_secrets(spec)
    assert public["source"]["dsn"] == SECRET_MARK
    assert "DKKD_PASSWORD" not in repr(public)
    assert secrets == {"dsn": "postgresql://user:${DKKD_PASSWORD}@host:5432/dkkd"}
    assert join_secrets(public, secrets) == spec


def test_environment_references_expand_when_the_source_is_opened() -> None:
    spec = parse_connector(DESIGN_EXAMPLE, fmt="toml", origin="a.toml")
    config = source_config(spec, {"DKKD_PASSWORD": "s3cret"})
    assert config["dsn"] == "postgresql://user:s3cret@host:5432/dkkd"
    with pytest.raises(InvalidInput, match=r"source\.dsn: environment variable DKKD_PASSWORD"):
        source_config(spec, {})


def test_headers_tables_expand_per_value() -> None:
    text = """
name = "vb_http"
dataset = "legal_document"
kind = "http"
[source]
url = "http://127.0.0.1:9/docs"
headers = { Authorization = "Bearer ${VB_TOKEN}" }
[mapping]
number = "so_hieu"
"""
    spec = parse_connector(text, fmt="toml", origin="h.toml")
    assert split_secrets(spec)[0]["source"]["headers"] == SECRET_MARK
    config = source_config(spec, {"VB_TOKEN": "t"})
    assert config["headers"] == {"Authorization": "Bearer t"}
    with pytest.raises(InvalidInput, match=r"source\.headers\.Authorization: .*VB_TOKEN"):
        source_config(spec, {})


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('name = "x"\n[source\n', "toml", r"b\.toml: not valid TOML: .*line 2"),
        ("name: [unclosed\n", "yaml", r"b\.toml: not valid YAML: line 2"),
        ("- a\n- b\n", "yaml", r"expected a table of keys at the top level"),
        (DESIGN_EXAMPLE.replace('"dkkd_postgres"', '"DKKD"'), "toml", r"name: .*snake_case"),
        (DESIGN_EXAMPLE.replace('"postgres"  ', '"oracle"  '), "toml", r"kind: "),
        (DESIGN_EXAMPLE.replace('"every 15m"', '"sometimes"'), "toml", r"schedule: .*every N"),
        (DESIGN_EXAMPLE.replace('"every 15m"', '"every 5s"'), "toml", r"at least every 30s"),
        (DESIGN_EXAMPLE + "colour = 3\n", "toml", r"mapping\.colour: .*valid string"),
        (DESIGN_EXAMPLE.replace("[source]", "[elsewhere]"), "toml", r"source: Field required"),
        (DESIGN_EXAMPLE.replace('"ten_doanh_nghiep"', '" "'), "toml", r"empty column name"),
        ("batch_size = 0\n" + DESIGN_EXAMPLE, "toml", r"batch_size: .*greater than"),
    ],
)
def test_bad_files_are_refused_with_the_key_at_fault(text: str, fmt: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_connector(text, fmt=fmt, origin="b.toml")  # type: ignore[arg-type]


def test_an_unknown_top_level_key_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"c\.toml: colour: Extra inputs"):
        parse_connector('colour = "blue"\n' + DESIGN_EXAMPLE, fmt="toml", origin="c.toml")


def test_a_missing_mapping_is_named() -> None:
    text = DESIGN_EXAMPLE[: DESIGN_EXAMPLE.index("[mapping]")]
    with pytest.raises(InvalidInput, match=r"mapping: Field required"):
        parse_connector(text, fmt="toml", origin="d.toml")


def test_files_are_read_by_suffix_and_bad_files_named(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text(SAME_IN_YAML, encoding="utf-8")
    assert read_connector_file(tmp_path / "c.yml").name == "dkkd_postgres"
    (tmp_path / "c.toml").write_bytes(b'name = "\xff"\n')
    with pytest.raises(InvalidInput, match=r"c\.toml: not UTF-8 \(byte 8\)"):
        read_connector_file(tmp_path / "c.toml")
    with pytest.raises(InvalidInput, match=r"missing\.toml: No such file"):
        read_connector_file(tmp_path / "missing.toml")
    (tmp_path / "big.toml").write_text("# " + "x" * 70_000, encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"larger than 64 KiB"):
        read_connector_file(tmp_path / "big.toml")


def test_schedules_interval_and_cron() -> None:
    start = datetime(2026, 12, 1, 10, 7, tzinfo=UTC)
    assert parse_schedule("every  2h").next_after(start) == start + timedelta(hours=2)
    nightly = parse_schedule("0 2 * * *")
    assert nightly.next_after(start) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="five-field cron"):
        parse_schedule("0 2 * *")
    manual = parse_connector(
        DESIGN_EXAMPLE.replace('schedule = "every 15m"', ""), fmt="toml", origin="e.toml"
    )
    assert next_run(manual, start) is None
