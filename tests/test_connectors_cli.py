"""``hub connectors add/list/show/remove`` as the operator runs them: the real command in a
subprocess on the test database, real definition files, a real CSV file and the machine's
PostgreSQL as sources. Refusals are one line naming the key, field or column at fault;
secrets never reach the output, the stored definition, the audit log or the logs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from hub.embedded_postgres import to_libpq_url

HUB = str(Path(sys.executable).with_name("hub"))
TIMEOUT = 60
PASSWORD = "Pw-never-printed-7c41"  # the machine's PostgreSQL trusts local root
SOURCE_DSN = f"postgresql://root:{PASSWORD}@127.0.0.1:5432/postgres"

CSV_TEXT = (
    "mst,ten,loai_hinh,ngay_cap,tinh_trang\n"
    "0100000001,Công ty TNHH Một,TNHH_1TV,2020-01-02,DANG_HOAT_DONG\n"
    "0100000002,Công ty Cổ phần Hai,CO_PHAN,2021-03-04,DANG_HOAT_DONG\n"
)
MAPPING = """[mapping]
tax_code = "mst"
name = "ten"
legal_form = "loai_hinh"
registered_on = "ngay_cap"
status = "tinh_trang"
"""

Run = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]


@pytest.fixture
def hub_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_PUBLIC_URL="http://hub.test",
    )
    return env


@pytest.fixture
def hub_cli(hub_env: dict[str, str], seeded: None) -> Run:
    async def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [HUB, *args],
            env={**hub_env, **env},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    return run


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "dkkd.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    return path


def csv_connector(csv_path: Path, name: str = "dkkd_csv", **extra: str) -> str:
    head = [f'name = "{name}"', 'dataset = "business"', 'kind = "csv"']
    head += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(head) + f'\n[source]\npath = "{csv_path}"\n' + MAPPING


def write(tmp_path: Path, text: str, filename: str = "connector.toml") -> Path:
    path = tmp_path / filename
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_add_list_show_remove(hub_cli: Run, tmp_path: Path, csv_file: Path) -> None:
    path = write(tmp_path, csv_connector(csv_file, schedule='"every 15m"'))
    added = await hub_cli("connectors", "add", "--file", str(path))
    assert added.returncode == 0, added.stderr
    assert "added connector dkkd_csv: dataset business, kind csv, schedule every 15m" in (
        added.stdout
    )
    listed = await hub_cli("connectors", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert {k: row[k] for k in ("name", "agency", "dataset", "kind", "schedule", "last_run")} == {
        "name": "dkkd_csv",
        "agency": "SKHDT",
        "dataset": "business",
        "kind": "csv",
        "schedule": "every 15m",
        "last_run": None,
    }
    table = await hub_cli("connectors", "list")
    assert "dkkd_csv" in table.stdout and "never" in table.stdout
    shown = await hub_cli("connectors", "show", "dkkd_csv", "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["definition"]["mapping"]["tax_code"] == "mst"
    assert body["definition"]["source"]["path"] == str(csv_file)
    assert body["runs"] == []
    removed = await hub_cli("connectors", "remove", "dkkd_csv")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "removed connector dkkd_csv"
    assert json.loads((await hub_cli("connectors", "list", "--json")).stdout) == []
    gone = one_line_error(await hub_cli("connectors", "show", "dkkd_csv"))
    assert "connector 'dkkd_csv' does not exist" in gone


async def test_list_shows_the_last_run_after_the_worker_ran_it(
    hub_cli: Run, tmp_path: Path, csv_file: Path
) -> None:
    path = write(tmp_path, csv_connector(csv_file, schedule='"every 1h"'))
    assert (await hub_cli("connectors", "add", "--file", str(path))).returncode == 0
    worked = await hub_cli("worker", "--once")
    assert worked.returncode == 0, worked.stderr
    assert worked.stdout.strip() == "connectors run: dkkd_csv"
    [row] = json.loads((await hub_cli("connectors", "list", "--json")).stdout)
    assert row["last_run"]["status"] == "SUCCEEDED"
    shown = json.loads((await hub_cli("connectors", "show", "dkkd_csv", "--json")).stdout)
    [run] = shown["runs"]
    assert (run["trigger"], run["read"], run["inserted"], run["rejected"]) == ("schedule", 2, 2, 0)
    text = await hub_cli("connectors", "show", "dkkd_csv")
    assert "SUCCEEDED" in text.stdout and "latest runs" in text.stdout


async def test_yaml_file_is_accepted(hub_cli: Run, tmp_path: Path, csv_file: Path) -> None:
    yaml_text = (
        "name: dkkd_yaml\ndataset: business\nkind: csv\n"
        f"source:\n  path: {csv_file}\n"
        "mapping:\n  tax_code: mst\n  name: ten\n  legal_form: loai_hinh\n"
        "  registered_on: ngay_cap\n  status: tinh_trang\n"
    )
    path = write(tmp_path, yaml_text, "connector.yaml")
    added = await hub_cli("connectors", "add", "--file", str(path))
    assert added.returncode == 0, added.stderr
    assert "schedule manual only" in added.stdout


async def test_missing_file_is_refused(hub_cli: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    line = one_line_error(await hub_cli("connectors", "add", "--file", str(missing)))
    assert str(missing) in line and "No such file" in line


async def test_invalid_toml_names_the_line(hub_cli: Run, tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "x"\ndataset = "business"\nkind = csv\n')
    line = one_line_error(await hub_cli("connectors", "add", "--file", str(path)))
    assert "not valid TOML" in line and "line 3" in line, line


async def test_unknown_kind_is_refused(hub_cli: Run, tmp_path: Path, csv_file: Path) -> None:
    text = csv_connector(csv_file).replace('kind = "csv"', 'kind = "oracle"')
    line = one_line_error(await hub_cli("connectors", "add", "--file", str(write(tmp_path, text))))
    assert "kind" in line and "'csv'" in line, line


async def test_unknown_key_is_refused_by_name(hub_cli: Run, tmp_path: Path, csv_file: Path) -> None:
    text = csv_connector(csv_file, colour='"red"')
    line = one_line_error(await hub_cli("connectors", "add", "--file", str(write(tmp_path, text))))
    assert "colour" in line, line


async def test_unknown_field_is_refused_by_name(
    hub_cli: Run, tmp_path: Path, csv_file: Path
) -> None:
    text = csv_connector(csv_file) + 'shoe_size = "ten"\n'
    line = one_line_error(await hub_cli("connectors", "add", "--file", str(write(tmp_path, text))))
    assert "'shoe_size'" in line and "business" in line, line


async def test_missing_source_column_is_refused_by_name(
    hub_cli: Run, tmp_path: Path, csv_file: Path
) -> None:
    text = csv_connector(csv_file).replace('status = "tinh_trang"', 'status = "trang_thai"')
    line = one_line_error(await hub_cli("connectors", "add", "--file", str(write(tmp_path, text))))
    assert "'trang_thai'" in line and "does not exist" in line, line
    assert json.loads((await hub_cli("connectors", "list", "--json")).stdout) == []


async def test_duplicate_name_is_refused_and_the_first_kept(
    hub_cli: Run, tmp_path: Path, csv_file: Path
) -> None:
    first = write(tmp_path, csv_connector(csv_file, schedule='"every 1h"'), "first.toml")
    assert (await hub_cli("connectors", "add", "--file", str(first))).returncode == 0
    second = write(tmp_path, csv_connector(csv_file), "second.toml")
    line = one_line_error(await hub_cli("connectors", "add", "--file", str(second)))
    assert "'dkkd_csv' already exists" in line
    shown = json.loads((await hub_cli("connectors", "show", "dkkd_csv", "--json")).stdout)
    assert shown["schedule"] == "every 1h"


async def test_remove_unknown_connector_is_one_line(hub_cli: Run) -> None:
    line = one_line_error(await hub_cli("connectors", "remove", "no_such"))
    assert "connector 'no_such' does not exist" in line


async def test_secrets_never_printed_stored_or_logged(
    hub_cli: Run, tmp_path: Path, database_url: str
) -> None:
    table = "connectors_cli_secret_src"
    source = await asyncpg.connect(SOURCE_DSN)
    try:
        await source.execute(f"DROP TABLE IF EXISTS {table}")
        await source.execute(
            f"CREATE TABLE {table} (mst text, ten text, loai_hinh text, ngay_cap date, "
            "tinh_trang text)"
        )
        await source.execute(
            f"INSERT INTO {table} VALUES "
            "('0100000009', 'Công ty Chín', 'TU_NHAN', '2019-09-09', 'DANG_HOAT_DONG')"
        )
        text = (
            'name = "dkkd_pg"\ndataset = "business"\nkind = "postgres"\nschedule = "every 1h"\n'
            f'[source]\ndsn = "{SOURCE_DSN}"\ntable = "{table}"\n' + MAPPING
        )
        path = write(tmp_path, text)
        outputs = [await hub_cli("connectors", "add", "--file", str(path), HUB_LOG_LEVEL="DEBUG")]
        outputs.append(await hub_cli("worker", "--once", HUB_LOG_LEVEL="DEBUG"))
        outputs += [
            await hub_cli(*args, HUB_LOG_LEVEL="DEBUG")
            for args in (
                ("connectors", "list"),
                ("connectors", "list", "--json"),
                ("connectors", "show", "dkkd_pg"),
                ("connectors", "show", "dkkd_pg", "--json"),
            )
        ]
    finally:
        await source.execute(f"DROP TABLE IF EXISTS {table}")
        await source.close()
    for result in outputs:
        assert result.returncode == 0, result.stderr
        assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
    shown = json.loads(outputs[-1].stdout)
    assert shown["definition"]["source"]["dsn"] == "<secret>"
    assert shown["runs"][0]["status"] == "SUCCEEDED"
    assert "<secret>" in outputs[-2].stdout
    hub = await asyncpg.connect(to_libpq_url(database_url))
    try:
        stored = await hub.fetchval(
            "SELECT definition::text || coalesce(secrets::text, '') FROM connectors"
        )
        audit = await hub.fetchval("SELECT string_agg(detail::text, ' ') FROM audit_events")
    finally:
        await hub.close()
    assert PASSWORD not in stored and "<secret>" in stored
    assert PASSWORD not in (audit or "")


async def test_quarantine_and_findings_of_the_latest_run(hub_cli: Run, tmp_path: Path) -> None:
    business = tmp_path / "business.csv"
    business.write_text(
        CSV_TEXT + "0100000003,Công ty Ba,CO_PHAN,not-a-date,DANG_HOAT_DONG\n", encoding="utf-8"
    )
    parcels = tmp_path / "parcels.csv"
    parcels.write_text(
        "ma_thua,to,thua,huyen,xa,dien_tich,muc_dich,mst_chu\n"
        "27-TS-1-1,1,1,Thị xã Từ Sơn,Phường Đông Ngàn,120.5,ODT,0109999999\n",
        encoding="utf-8",
    )
    parcel_toml = (
        'name = "parcels_csv"\ndataset = "land_parcel"\nkind = "csv"\nschedule = "every 1h"\n'
        f'[source]\npath = "{parcels}"\n[mapping]\nparcel_id = "ma_thua"\nmap_sheet = "to"\n'
        'parcel_number = "thua"\ndistrict = "huyen"\ncommune = "xa"\narea_m2 = "dien_tich"\n'
        'land_use = "muc_dich"\nholder_tax_code = "mst_chu"\n'
    )
    for text, filename in (
        (csv_connector(business, schedule='"every 1h"'), "business.toml"),
        (parcel_toml, "parcels.toml"),
    ):
        added = await hub_cli("connectors", "add", "--file", str(write(tmp_path, text, filename)))
        assert added.returncode == 0, added.stderr
    none_yet = one_line_error(await hub_cli("connectors", "quarantine", "dkkd_csv"))
    assert "connector 'dkkd_csv' has no runs" in none_yet
    assert (await hub_cli("worker", "--once")).returncode == 0
    runs = (await hub_cli("connectors", "show", "dkkd_csv")).stdout
    shown = await hub_cli("connectors", "quarantine", "dkkd_csv")
    assert shown.returncode == 0, shown.stderr
    assert "1 row(s) quarantined" in shown.stdout, runs
    assert "line 4: " in shown.stdout and "registered_on" in shown.stdout
    assert '"ngay_cap": "not-a-date"' in shown.stdout
    report = json.loads((await hub_cli("connectors", "quarantine", "dkkd_csv", "--json")).stdout)
    assert [r["position"] for r in report["rows"]] == ["line 4"] and report["more"] is False
    found = await hub_cli("connectors", "findings", "parcels_csv")
    assert found.returncode == 0, found.stderr
    assert "1 unresolved reference(s)" in found.stdout
    assert "holder_tax_code: 1 UNRESOLVED_REFERENCE (against business)" in found.stdout
    assert "27-TS-1-1: holder_tax_code UNRESOLVED_REFERENCE value 0109999999" in found.stdout
    wrong = one_line_error(
        await hub_cli("connectors", "findings", "parcels_csv", "--run", str(report["run"]))
    )
    assert f"connector 'parcels_csv' has no run {report['run']}" in wrong


async def test_a_source_refusing_the_connection_is_one_line_without_the_secret(
    hub_cli: Run, tmp_path: Path
) -> None:
    dsn = f"postgresql://root:{PASSWORD}@127.0.0.1:1/postgres"
    text = (
        'name = "dkkd_down"\ndataset = "business"\nkind = "postgres"\n'
        f'[source]\ndsn = "{dsn}"\ntable = "doanh_nghiep"\n' + MAPPING
    )
    result = await hub_cli("connectors", "add", "--file", str(write(tmp_path, text)))
    line = one_line_error(result)
    assert "dkkd_down" in line and PASSWORD not in line and PASSWORD not in result.stdout
    assert json.loads((await hub_cli("connectors", "list", "--json")).stdout) == []
