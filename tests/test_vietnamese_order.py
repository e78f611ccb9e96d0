"""Vietnamese order of text (DESIGN.md §8): ``hub_vi_sort_key`` (migration 0006) and its Python
twin give the same bytes; both order real Vietnamese as ICU's ``vi-x-icu`` does on the
machine's PostgreSQL; typed ``orderBy`` on a text field pages in that order with cursors,
backed by the per-field sort key index."""

from __future__ import annotations

import importlib.util
import random
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from catalog.collation import vietnamese_sort_key
from catalog.indexes import index_statements
from catalog.models import Dataset
from catalog.record_sql import typed_value
from hub.db import Database
from hub.demo import generate
from hub.migrate import upgrade
from hub.runtime import Hub
from schema.records.keyset import Ordering
from tests.database_copies import downgrade_to
from tests.records_fixtures import load_rows
from tests.vietnamese_names import (
    NAME_PAGE,
    NAMES,
    all_name_pages,
    load_named_businesses,
    name_order,
)

Gql = Callable[..., Awaitable[dict[str, Any]]]

MIGRATION = Path(__file__).parent.parent / "migrations/versions/0006_vietnamese_sort_key.py"
MACHINE_SERVER = "postgresql://postgres@127.0.0.1:5432/test"

# Real names, places and words: provinces, districts, communes, people, firms, everyday words
# with every vowel letter and tone, case variants, digits and punctuation.
CORPUS = """
An Giang|Bà Rịa – Vũng Tàu|Bạc Liêu|Bắc Giang|Bắc Kạn|Bắc Ninh|Bến Tre|Bình Dương|Bình Định
Bình Phước|Bình Thuận|Cà Mau|Cao Bằng|Cần Thơ|Đà Nẵng|Đắk Lắk|Đắk Nông|Điện Biên|Đồng Nai
Đồng Tháp|Gia Lai|Hà Giang|Hà Nam|Hà Nội|Hà Tĩnh|Hải Dương|Hải Phòng|Hậu Giang|Hòa Bình
Hưng Yên|Khánh Hòa|Kiên Giang|Kon Tum|Lai Châu|Lâm Đồng|Lạng Sơn|Lào Cai|Long An|Nam Định
Nghệ An|Ninh Bình|Ninh Thuận|Phú Thọ|Phú Yên|Quảng Bình|Quảng Nam|Quảng Ngãi|Quảng Ninh
Quảng Trị|Sóc Trăng|Sơn La|Tây Ninh|Thái Bình|Thái Nguyên|Thanh Hóa|Thừa Thiên Huế
Tiền Giang|TP. Hồ Chí Minh|Trà Vinh|Tuyên Quang|Vĩnh Long|Vĩnh Phúc|Yên Bái|Đà Lạt|Buôn Ma Thuột
Thị xã Từ Sơn|Phường Đình Bảng|Phường Đồng Nguyên|Phường Tương Giang|Xã Phù Chẩn|Quận 1|Quận 10
Quận 3|Phường 12|Phường 2|Huyện Đắk Mil|Xã Ea Tu|Xã Ia Grai|Thị trấn Chờ|Huyện Yên Phong
Huyện Quế Võ|Huyện Tiên Du|Huyện Thuận Thành|Huyện Gia Bình|Huyện Lương Tài|Xã Ô Diên
Nguyễn|Trần|Lê|Phạm|Hoàng|Huỳnh|Phan|Vũ|Võ|Đặng|Bùi|Đỗ|Hồ|Ngô|Dương|Lý|Đào|Đoàn|Đinh|Lâm
Mai|Trịnh|Tạ|Tô|Châu|Âu|Ông|Ưng|Ân|Ấn|Ẩn|Ơn|Ớt|Ư|Ừ|Ửng|Ý|Yên|Ỷ|Ỵ|Ẽ|Ệ|Ể
Nguyễn Văn An|Nguyễn Văn Ân|Nguyễn Văn Ấn|Nguyễn Thị Ánh|Nguyễn Thị Ảnh|Nguyễn thị Ánh
Trần Thị Bích Ngọc|Trần Thị Bích Ngà|Lê Hữu Đức|Lê Hữu Dũng|Phạm Minh Đạt|Phạm Minh Dat
Hoàng Đức Anh|Hoàng Đức Ánh|Huỳnh Tấn Phát|Võ Nguyên Giáp|Đặng Thùy Trâm|Bùi Xuân Phái
Đỗ Mười|Hồ Xuân Hương|Ngô Bảo Châu|Dương Quảng Hàm|Lý Thường Kiệt|Đào Duy Từ|Đinh Bộ Lĩnh
Công ty TNHH Một thành viên Đông Á|Công ty Cổ phần Ánh Dương|Công ty cổ phần Âu Lạc
Doanh nghiệp tư nhân Hùng Vương|Hợp tác xã Ước Lễ|Công ty TNHH Ưu Việt|Công ty TNHH Ơn Trời
Chi nhánh Công ty Đại Việt tại Từ Sơn|Cửa hàng Bánh mì 37|Quán Phở 24|Nhà sách Fahasa
ma|mà|mả|mã|má|mạ|Ma|Mà|MA|ba|bà|bả|bã|bá|bạ|ca|cà|cả|cá|cạ|an|ăn|ân|ấn|ẩn|ẫn|ặn|ằn|ắn
da|dạ|đa|đà|đá|Đa|Đà|đã|tam|tâm|tăm|tầm|tắm|tấm|tẩm|tạm|các|cách|cạch|cả|cầu|cẩu|cậu
Anh|Ánh|Ảnh|Ạnh|Ãnh|Ành|ấp|ập|ắp|ặp|ươi|ười|ưởi|ướt|ượt|uốn|uổng|uông|ương|ướng|ưu
e|è|ẻ|ẽ|é|ẹ|ê|ề|ể|ễ|ế|ệ|o|ò|ỏ|õ|ó|ọ|ô|ồ|ổ|ỗ|ố|ộ|ơ|ờ|ở|ỡ|ớ|ợ|u|ù|ủ|ũ|ú|ụ|ư|ừ|ử|ữ|ứ|ự
i|ì|ỉ|ĩ|í|ị|y|ỳ|ỷ|ỹ|ý|ỵ|a|à|ả|ã|á|ạ|ă|ằ|ẳ|ẵ|ắ|ặ|â|ầ|ẩ|ẫ|ấ|ậ|d|đ|D|Đ
đất đai|đất|Đất|đât|dat dai|Dat|dất|quyền sử dụng đất|giấy chứng nhận|thửa đất số 12
thửa đất số 2|thửa đất số 120|tờ bản đồ số 7|Số 12 đường Lê Lợi|Số 2 đường Lê Lợi
Số 10, ngõ 3|Tổ 3, ấp Bình An|K2/14 Hùng Vương|Khu phố 4 (cũ)|Lô A-12|Lô A 12|Lô A12
người|ngươi|ngừơi|nghĩa|nghìn|nghiêng|nhà|nhá|nhả|nha|khoa|khoá|khóa|quà|qua|quả|quạ|gì|gia
giá|già|giã|giả|giạ|trăng|trắng|trằng|tràng|thương|thường|thưởng|thượng|phở|phố|phô|phó|phò
xe|xé|xẻ|xè|xem|xanh|xưa|xứ|sư|sứ|sữa|rượu|rừng|rửa|vịt|việt|Việt Nam|việt nam|VIỆT NAM
Zalo|Zeta|Oanh|Uyên|Ánh Dương|Ánh dương|ánh dương|zó|ZÓ|wifi|Wifi|fax|jean|Nguyen|NGUYỄN
""".replace("\n", "|")
REAL_WORDS = sorted({w.strip() for w in CORPUS.split("|") if w.strip()})

# Syllables as Vietnamese spells them: onset, vowel nucleus carrying a tone, final.
ONSETS = (
    *("", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng"),
    *("ngh", "nh", "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x"),
)
NUCLEI = (
    *("a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "ai", "ao", "au", "ay"),
    *("âu", "ây", "eo", "êu", "ia", "iê", "iu", "oa", "oă", "oe", "oi", "ôi", "ơi", "ua"),
    *("uâ", "uê", "ui", "uô", "uơ", "uy", "ưa", "ưi", "ươ", "ưu", "yê", "uyê", "ươi", "uôi"),
)
FINALS = ("", "c", "ch", "m", "n", "ng", "nh", "p", "t")
TONES = ("", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323")


def _syllable(rng: random.Random) -> str:
    nucleus, tone = rng.choice(NUCLEI), rng.choice(TONES)
    at = len(nucleus) - 1 if len(nucleus) > 1 and rng.random() < 0.5 else 0
    word = rng.choice(ONSETS) + nucleus[: at + 1] + tone + nucleus[at + 1 :] + rng.choice(FINALS)
    word = unicodedata.normalize("NFC", word)
    if rng.random() < 0.4:
        word = word[0].upper() + word[1:]
    return word.upper() if rng.random() < 0.05 else word


def generated_phrases(count: int, seed: int = 7) -> list[str]:
    """Vietnamese-spelled phrases: 1-4 syllables, spaces, hyphens, commas, some numbers."""
    rng = random.Random(seed)
    phrases = []
    for _ in range(count):
        sep = rng.choice((" ", " ", " ", "-", ", "))
        phrase = sep.join(_syllable(rng) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
        if rng.random() < 0.1:
            phrase += f" {rng.randint(0, 120)}"
        phrases.append(phrase)
    return phrases


# Keys past 1,024 bytes are cut (an index entry must fit a third of a page).
LONG_TEXTS = ["Hà Nội " * 150, "Hà Nội " * 150 + "A", "Đ" * 3000, "Nguyễn Văn Ánh " * 400]

# Text of any kind the hub may hold: Vietnamese letters (composed and decomposed), ASCII, Latin
# letters with other marks, combining marks alone, punctuation, other scripts.
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯ ,.-'"),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0xA0, max_codepoint=0x24F),
        st.characters(min_codepoint=0x300, max_codepoint=0x36F),
        st.characters(min_codepoint=0x1E00, max_codepoint=0x1EFF),
        st.characters(min_codepoint=0x2010, max_codepoint=0x2030),
        st.sampled_from("αΣσЖж中文한\u20ab\u20ac\U0001f600\U0010fffc"),
    ),
    max_size=24,
)


def _draw_texts(count: int) -> list[str]:
    """``count`` texts from ``ANY_TEXT``, the same on every run."""
    drawn: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(ANY_TEXT)
    def collect(value: str) -> None:
        drawn.append(value)

    collect()
    return drawn


async def _sql_keys(conn: asyncpg.Connection, words: list[str], function: str) -> list[bytes]:
    rows = await conn.fetch(
        f"SELECT {function}(w) AS k FROM unnest($1::text[]) WITH ORDINALITY AS u(w, i) ORDER BY i",
        words,
    )
    return [bytes(r["k"]) for r in rows]


# -- the key itself ------------------------------------------------------------------------------


def test_alphabet_tones_and_case_in_vietnamese_order() -> None:
    letters = list("aăâbcdđeêghiklmnoôơpqrstuưvxy")
    assert sorted(reversed(letters), key=vietnamese_sort_key) == letters
    tones = ["ma", "mà", "mả", "mã", "má", "mạ"]  # none, huyền, hỏi, ngã, sắc, nặng
    assert sorted(reversed(tones), key=vietnamese_sort_key) == tones
    # Alphabet first, then tones, then case (small before capital), as ICU vi.
    words = ["an", "An", "AN", "àn", "ăn", "Ăn", "ân", "anh", "Đà Lạt", "Zeta", "dz", "Dak Lak"]
    assert sorted(words, key=vietnamese_sort_key) == [
        "an", "An", "AN", "àn", "anh", "ăn", "Ăn", "ân", "Dak Lak", "dz", "Đà Lạt", "Zeta",
    ]  # fmt: skip
    # Decomposed input sorts as its NFC form.
    assert vietnamese_sort_key(unicodedata.normalize("NFD", "Quảng Ngãi")) == vietnamese_sort_key(
        "Quảng Ngãi"
    )
    assert vietnamese_sort_key("") < vietnamese_sort_key(" ") < vietnamese_sort_key("0")
    assert vietnamese_sort_key("9") < vietnamese_sort_key("a")


async def test_python_key_is_the_sql_key_on_thousands_of_texts(database: Database) -> None:
    texts = _draw_texts(3000) + generated_phrases(2000) + REAL_WORDS + LONG_TEXTS
    async with database.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, asyncpg.Connection)
        sql = await _sql_keys(driver, texts, "hub_vi_sort_key")
        # STRICT: no value, no key (keyset pagination's NULL rules rely on it).
        assert await driver.fetchval("SELECT hub_vi_sort_key(NULL)") is None
    mismatched = [t for t, k in zip(texts, sql, strict=True) if vietnamese_sort_key(t) != k]
    assert not mismatched, mismatched[:5]
    assert max(len(k) for k in sql) == 1024


# -- against ICU on the machine's PostgreSQL -------------------------------------------------------


@pytest.fixture(scope="module")
async def icu_server() -> AsyncIterator[asyncpg.Connection]:
    """A connection to the machine's PostgreSQL (it has ICU) with ``pg_temp.hub_vi_sort_key``
    created from migration 0006, inside a transaction rolled back at the end."""
    spec = importlib.util.spec_from_file_location("migration_0006", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    create = migration._function_sql().replace(
        "CREATE FUNCTION hub_vi_sort_key", "CREATE FUNCTION pg_temp.hub_vi_sort_key", 1
    )
    conn = await asyncpg.connect(MACHINE_SERVER, timeout=5)
    transaction = conn.transaction()
    await transaction.start()
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_collation WHERE collname='vi-x-icu'")
        await conn.execute(create)
        yield conn
    finally:
        await transaction.rollback()
        await conn.close()


async def _icu_and_key_orders(
    conn: asyncpg.Connection, words: list[str]
) -> tuple[list[str], list[str]]:
    icu = await conn.fetch(
        'SELECT w FROM unnest($1::text[]) AS u(w) ORDER BY w COLLATE "vi-x-icu"', words
    )
    keyed = await conn.fetch(
        "SELECT w FROM unnest($1::text[]) AS u(w) ORDER BY pg_temp.hub_vi_sort_key(w), "
        'w COLLATE "C"',
        words,
    )
    return [r["w"] for r in icu], [r["w"] for r in keyed]


async def test_sort_key_orders_real_vietnamese_as_icu_vi(icu_server: asyncpg.Connection) -> None:
    icu, keyed = await _icu_and_key_orders(icu_server, REAL_WORDS)
    assert keyed == icu
    assert icu.index("Zeta") > icu.index("Đà Lạt") > icu.index("Dương")


async def test_sort_key_orders_generated_phrases_as_icu_vi(icu_server: asyncpg.Connection) -> None:
    phrases = sorted(set(generated_phrases(20000)))
    icu, keyed = await _icu_and_key_orders(icu_server, phrases)
    differing = [(i, a, b) for i, (a, b) in enumerate(zip(icu, keyed, strict=True)) if a != b]
    assert not differing, differing[:5]


async def test_python_key_is_the_sql_key_on_the_icu_server(icu_server: asyncpg.Connection) -> None:
    texts = _draw_texts(1000) + REAL_WORDS
    sql = await _sql_keys(icu_server, texts, "pg_temp.hub_vi_sort_key")
    assert [vietnamese_sort_key(t) for t in texts] == sql


async def test_known_differences_from_icu_are_outside_vietnamese(
    icu_server: asyncpg.Connection,
) -> None:
    """Documented in ``catalog.collation``: unlisted non-ASCII punctuation sorts after the
    letters (ICU: before); breve on a letter Vietnamese does not use makes a letter."""
    icu, keyed = await _icu_and_key_orders(icu_server, ["a\u2030", "ab"])  # per mille sign
    assert icu == ["a\u2030", "ab"] and keyed == ["ab", "a\u2030"]
    icu, keyed = await _icu_and_key_orders(icu_server, ["\u012d", "ia"])  # ĭ: i + breve
    assert icu == ["\u012d", "ia"] and keyed == ["ia", "\u012d"]


# -- typed orderBy through GraphQL ---------------------------------------------------------------

# The shared names, and two that tie on the sort key: keys are cut at 1,024 bytes.
LONG_NAMES = ["Hà Nội " * 150 + "B", "Hà Nội " * 150 + "A"]


@pytest.fixture
async def named_businesses(hub: Hub, app: Any) -> list[dict[str, Any]]:
    return await load_named_businesses(hub, [*NAMES, *LONG_NAMES])


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_order_by_name_pages_in_vietnamese_order(
    gql: Gql, named_businesses: list[dict[str, Any]], direction: str
) -> None:
    seen = await all_name_pages(gql, f"NAME_{direction}")
    expected = name_order(named_businesses, direction)
    assert seen == expected
    names = [name for name, _ in seen]
    if direction == "ASC":
        assert names.index("Dương") < names.index("Đà Lạt") < names.index("Zeta")
        assert names[names.index("ma") : names.index("ma") + 6] == [
            "ma",
            "Ma",
            "MA",
            "mà",
            "mả",
            "mã",
        ]


async def test_a_cursor_value_positions_by_its_sort_key(
    gql: Gql, named_businesses: list[dict[str, Any]]
) -> None:
    """The cursor carries the name as shown; the hub recomputes its key, so a cursor made from
    any name continues at that name's place in Vietnamese order."""
    import base64

    import orjson

    cursor = base64.b64encode(orjson.dumps(["name:ASC", "Đ", ""])).decode()
    body = await gql(NAME_PAGE, order="NAME_ASC", after=cursor)
    assert "errors" not in body, body
    names = [e["node"]["name"] for e in body["data"]["businessList"]["edges"]]
    assert names[0] == "Đà Lạt"  # after every D…, before Đà… and E…
    assert all(vietnamese_sort_key(n) > vietnamese_sort_key("Đ") for n in names)


@pytest.mark.parametrize("value", [7, "Đ\u0000", None])
async def test_a_cursor_with_a_bad_value_is_bad_input(
    gql: Gql, named_businesses: list[dict[str, Any]], value: Any
) -> None:
    import base64

    import orjson

    cursor = base64.b64encode(orjson.dumps(["name:ASC", value, ""])).decode()
    body = await gql(NAME_PAGE, order="NAME_ASC", after=cursor)
    assert not (body.get("data") or {}).get("businessList"), body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert "not a cursor this hub issued" in body["errors"][0]["message"]


# -- the index ------------------------------------------------------------------------------------


async def test_order_by_text_reads_the_sort_key_index(hub: Hub, app: Any) -> None:
    await load_rows(hub, "business", generate.businesses(3000, seed=5))
    async with hub.db.sessions() as session:
        business = await session.get(Dataset, "business")
        assert business is not None
        name = next(f for f in business.fields if f.name == "name")
        ordering = Ordering(
            typed_value("c", name), "c.key", "ASC", nullable=False, by_key=False, vietnamese=True
        )
        base = "SELECT c.key FROM records c WHERE c.dataset_code = 'business' AND NOT c.deleted"
        first = f"{base} ORDER BY {ordering.order_by} LIMIT 20"
        after = ordering.after("'Đà Lạt'", "'0100000000'", "text")
        later = f"{base} AND {after} ORDER BY {ordering.order_by} LIMIT 20"
        await session.execute(text("ANALYZE records"))
        plans = []
        for sql in (first, later):
            rows = await session.execute(text("EXPLAIN " + sql))
            plans.append("\n".join(r[0] for r in rows))
    for plan in plans:
        assert "ix_vi_business_name_" in plan and "Sort" not in plan, plan
    assert "Index Cond" in plans[1], plans[1]  # the cursor bounds the scan


async def _sort_key_indexes(database: Database) -> set[str]:
    async with database.sessions() as session:
        rows = await session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexdef LIKE '%hub_vi_sort_key%'")
        )
        return {r[0] for r in rows}


async def test_migration_indexes_the_text_fields_of_datasets_published_before_it(
    database: Database, seeded: None
) -> None:
    async with database.sessions() as session:
        business = await session.get(Dataset, "business")
        assert business is not None
        wanted = [s for s in index_statements(business) if "hub_vi_sort_key" in s]
    assert [s.split()[5] for s in wanted] == [
        f"ix_vi_business_{f}_" + s.split()[5].rsplit("_", 1)[1]
        for f, s in zip(("name", "legal_form", "status"), wanted, strict=True)
    ]
    published = await _sort_key_indexes(database)
    assert len(published) >= len(wanted)
    async with database.engine.begin() as conn:
        await conn.run_sync(downgrade_to, "0005")
    assert await _sort_key_indexes(database) == set()
    await upgrade(database.engine)
    assert await _sort_key_indexes(database) == published
