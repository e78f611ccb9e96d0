"""Deterministic generator of realistic Vietnamese demo records for the baseline datasets.

One function per dataset of ``catalog.baseline``; each returns rows keyed by the dataset's
exact field names, with values typed as the hub ingests them: ``str`` for string, enum and
reference fields, ``int`` for int fields, decimals as plain decimal strings ("1500000000",
"152.5"), dates as ``YYYY-MM-DD`` and datetimes as ISO 8601 with the ``+07:00`` offset.

Every generator draws from its own ``random.Random(seed)``, so the same arguments always give
the same rows. "Today" is the fixed :data:`REFERENCE_DATE`, never the clock. All text is NFC.

The names, codes and numbers are synthetic. Place names (districts, communes, streets,
industrial parks, hospitals) are real names of Bắc Ninh; commune and hospital codes are
plausible, not official. The first two legal documents reuse wording of real regulations
(Quyết định 33/2017/QĐ-UBND of Bắc Ninh and a provincial Chỉ thị on IT use); their statuses
are illustrative.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta

from catalog.baseline import DISTRICTS

Row = dict[str, object]

REFERENCE_DATE = date(2025, 6, 30)
"""The demo's "today": ages, validity periods and update times are relative to it."""

PROVINCE_NAME = "Bắc Ninh"
PROVINCE_TAX_PREFIX = "23"
"""First two digits of tax codes issued in Bắc Ninh."""
PROVINCE_CITIZEN_PREFIX = "027"
"""First three digits of citizen ids of people registered in Bắc Ninh."""
PROVINCE_CARD_CODE = "27"
"""Province code inside health-insurance card numbers and hospital codes."""

_TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _nfc_all(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(_nfc(item) for item in items)


def _ascii(text: str) -> str:
    """Vietnamese text without diacritics ("Minh Phát" -> "Minh Phat")."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _expand(weighted: Iterable[tuple[str, int]]) -> tuple[str, ...]:
    """A tuple in which each item appears ``weight`` times, for O(1) weighted picks."""
    return tuple(_nfc(item) for item, weight in weighted for _ in range(weight))


def _vn_date(day: date) -> str:
    """A date as written in Vietnamese documents: 05/9/2017."""
    return f"{day.day:02d}/{day.month}/{day.year}"


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year + years, day=28) + timedelta(days=1)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# --------------------------------------------------------------------------------------------
# Tax codes (mã số thuế)
# --------------------------------------------------------------------------------------------


def tax_code_check_digit(first9: str) -> str:
    """The 10th digit of a Vietnamese tax code (MST) for its first nine digits.

    Weights 31, 29, 23, 19, 17, 13, 7, 5, 3 over the nine digits; the check digit is
    ``10 - (sum % 11)``. When that is 10 no valid code has this prefix: ``ValueError``.
    """
    if len(first9) != 9 or not first9.isascii() or not first9.isdigit():
        raise ValueError(f"a tax code prefix is nine digits, got {first9!r}")
    total = sum(w * int(d) for w, d in zip(_TAX_WEIGHTS, first9, strict=True))
    check = 10 - total % 11
    if check == 10:
        raise ValueError(f"no valid tax code starts with {first9}")
    return str(check)


def is_valid_tax_code(code: str) -> bool:
    """Ten digits with a valid check digit, or those ten plus a branch suffix 001..999."""
    if not code.isascii() or not code.isdigit() or len(code) not in (10, 13):
        return False
    if len(code) == 13 and code[10:] == "000":
        return False
    try:
        return tax_code_check_digit(code[:9]) == code[9]
    except ValueError:
        return False


# Partial weighted sums for the fast path: a Bắc Ninh code is "23" + 7 digits + check.
_TAX_PREFIX_SUM = 2 * 31 + 3 * 29
_TAX_HI = tuple(23 * (n // 100) + 19 * (n // 10 % 10) + 17 * (n % 10) for n in range(1000))
_TAX_LO = tuple(
    13 * (n // 1000) + 7 * (n // 100 % 10) + 5 * (n // 10 % 10) + 3 * (n % 10) for n in range(10000)
)
_MAX_HEAD_OFFICES = 9_000_000  # about 10/11 of the 10**7 seven-digit serials are valid


def _tax_codes(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct valid 10-digit Bắc Ninh tax codes."""
    if count > _MAX_HEAD_OFFICES:
        raise ValueError(f"at most {_MAX_HEAD_OFFICES} distinct head-office tax codes")
    r = rng.random
    hi, lo, base = _TAX_HI, _TAX_LO, _TAX_PREFIX_SUM
    seen: set[int] = set()
    codes: list[str] = []
    while len(codes) < count:
        # 1/11 of the serials have no valid check digit: draw a margin, top up if short.
        need = count - len(codes)
        drawn = [int(r() * 10_000_000) for _ in range(need + need // 8 + 16)]
        fresh = [serial for serial in dict.fromkeys(drawn) if serial not in seen]
        seen.update(fresh)
        checks = [10 - (base + hi[serial // 10000] + lo[serial % 10000]) % 11 for serial in fresh]
        codes.extend(
            f"{PROVINCE_TAX_PREFIX}{serial:07d}{check}"
            for serial, check in zip(fresh, checks, strict=True)
            if check != 10
        )
    return codes[:count]


# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------

_COMMUNES_BY_DISTRICT: dict[str, tuple[str, ...]] = {
    "Thành phố Bắc Ninh": (
        "Phường Vũ Ninh",
        "Phường Đáp Cầu",
        "Phường Thị Cầu",
        "Phường Kinh Bắc",
        "Phường Vệ An",
        "Phường Tiền An",
        "Phường Đại Phúc",
        "Phường Ninh Xá",
        "Phường Suối Hoa",
        "Phường Võ Cường",
        "Phường Hòa Long",
        "Phường Vạn An",
        "Phường Khúc Xuyên",
        "Phường Phong Khê",
        "Phường Kim Chân",
        "Phường Vân Dương",
        "Phường Nam Sơn",
        "Phường Khắc Niệm",
        "Phường Hạp Lĩnh",
    ),
    "Thị xã Từ Sơn": (
        "Phường Đông Ngàn",
        "Phường Đồng Kỵ",
        "Phường Trang Hạ",
        "Phường Đồng Nguyên",
        "Phường Châu Khê",
        "Phường Tân Hồng",
        "Phường Đình Bảng",
        "Phường Phù Khê",
        "Phường Hương Mạc",
        "Phường Tam Sơn",
        "Phường Tương Giang",
        "Phường Phù Chẩn",
    ),
    "Huyện Yên Phong": (
        "Thị trấn Chờ",
        "Xã Dũng Liệt",
        "Xã Tam Đa",
        "Xã Tam Giang",
        "Xã Yên Trung",
        "Xã Thụy Hòa",
        "Xã Hòa Tiến",
        "Xã Đông Tiến",
        "Xã Yên Phụ",
        "Xã Trung Nghĩa",
        "Xã Đông Phong",
        "Xã Long Châu",
        "Xã Văn Môn",
        "Xã Đông Thọ",
    ),
    "Huyện Quế Võ": (
        "Thị trấn Phố Mới",
        "Xã Bằng An",
        "Xã Bồng Lai",
        "Xã Cách Bi",
        "Xã Châu Phong",
        "Xã Chi Lăng",
        "Xã Đại Xuân",
        "Xã Đào Viên",
        "Xã Đức Long",
        "Xã Hán Quảng",
        "Xã Mộ Đạo",
        "Xã Ngọc Xá",
        "Xã Nhân Hòa",
        "Xã Phù Lãng",
        "Xã Phù Lương",
        "Xã Phương Liễu",
        "Xã Phượng Mao",
        "Xã Quế Tân",
        "Xã Việt Hùng",
        "Xã Việt Thống",
        "Xã Yên Giả",
    ),
    "Huyện Tiên Du": (
        "Thị trấn Lim",
        "Xã Phú Lâm",
        "Xã Nội Duệ",
        "Xã Liên Bão",
        "Xã Hiên Vân",
        "Xã Hoàn Sơn",
        "Xã Lạc Vệ",
        "Xã Việt Đoàn",
        "Xã Phật Tích",
        "Xã Tân Chi",
        "Xã Đại Đồng",
        "Xã Tri Phương",
        "Xã Minh Đạo",
        "Xã Cảnh Hưng",
    ),
    "Huyện Thuận Thành": (
        "Thị trấn Hồ",
        "Xã Hoài Thượng",
        "Xã Đại Đồng Thành",
        "Xã Mão Điền",
        "Xã Song Hồ",
        "Xã Đình Tổ",
        "Xã An Bình",
        "Xã Trí Quả",
        "Xã Gia Đông",
        "Xã Thanh Khương",
        "Xã Trạm Lộ",
        "Xã Xuân Lâm",
        "Xã Hà Mãn",
        "Xã Ngũ Thái",
        "Xã Nguyệt Đức",
        "Xã Ninh Xá",
        "Xã Nghĩa Đạo",
        "Xã Song Liễu",
    ),
    "Huyện Gia Bình": (
        "Thị trấn Gia Bình",
        "Xã Vạn Ninh",
        "Xã Thái Bảo",
        "Xã Giang Sơn",
        "Xã Cao Đức",
        "Xã Đại Lai",
        "Xã Song Giang",
        "Xã Bình Dương",
        "Xã Lãng Ngâm",
        "Xã Nhân Thắng",
        "Xã Xuân Lai",
        "Xã Đông Cứu",
        "Xã Đại Bái",
        "Xã Quỳnh Phú",
    ),
    "Huyện Lương Tài": (
        "Thị trấn Thứa",
        "Xã An Thịnh",
        "Xã Trung Kênh",
        "Xã Phú Hòa",
        "Xã Mỹ Hương",
        "Xã Tân Lãng",
        "Xã Quảng Phú",
        "Xã Trừng Xá",
        "Xã Lai Hạ",
        "Xã Trung Chính",
        "Xã Minh Tân",
        "Xã Bình Định",
        "Xã Phú Lương",
        "Xã Lâm Thao",
    ),
}
if set(_COMMUNES_BY_DISTRICT) != set(DISTRICTS):  # pragma: no cover - guards the contract
    raise RuntimeError("hub.demo communes do not match catalog.baseline.DISTRICTS")

_STREETS_BY_DISTRICT: dict[str, tuple[str, ...]] = {
    "Thành phố Bắc Ninh": (
        "Đường Lý Thái Tổ",
        "Đường Trần Phú",
        "Đường Nguyễn Gia Thiều",
        "Đường Ngô Gia Tự",
        "Đường Lê Thái Tổ",
        "Đường Huyền Quang",
        "Đường Nguyễn Văn Cừ",
        "Đường Kinh Dương Vương",
        "Đường Lý Anh Tông",
        "Đường Nguyễn Trãi",
        "Đường Hoàng Quốc Việt",
        "Đường Bình Than",
        "Đường Thiên Đức",
        "Đường Lê Văn Thịnh",
        "Đường Hàn Thuyên",
        "Đường Nguyễn Đăng Đạo",
        "Đường Lý Thường Kiệt",
        "Đường Trần Hưng Đạo",
        "Đường Nguyễn Cao",
        "Đường Lý Nhân Tông",
    ),
    "Thị xã Từ Sơn": (
        "Đường Trần Phú",
        "Đường Minh Khai",
        "Đường Lý Thánh Tông",
        "Đường Nguyễn Văn Cừ",
        "Đường Lê Quang Đạo",
        "Đường Nguyễn Quán Quang",
        "Đường Lý Thái Tổ",
        "Đường Hai Bà Trưng",
        "Đường Tô Hiến Thành",
        "Đường Ngô Gia Tự",
    ),
}
_TOWN_STREETS = (
    "Đường Nguyễn Văn Cừ",
    "Đường Trần Hưng Đạo",
    "Đường Lý Thái Tổ",
    "Đường Trần Phú",
    "Quốc lộ 18",
    "Quốc lộ 38",
    "Đường tỉnh 295",
    "Đường Lê Văn Thịnh",
)
_VILLAGES = (
    "Thôn Đông",
    "Thôn Đoài",
    "Thôn Trung",
    "Thôn Nam",
    "Thôn Bắc",
    "Thôn Thượng",
    "Thôn Hạ",
    "Thôn Chùa",
    "Thôn Giữa",
    "Thôn Tiền",
    "Thôn Hậu",
    "Thôn Ngoài",
    "Thôn Trong",
    "Thôn Đình",
    "Thôn Cầu",
    "Thôn Mới",
)

# (park, district, commune) - real industrial parks of the province and a commune they cover.
_INDUSTRIAL_PARKS = (
    ("Khu công nghiệp Quế Võ", "Huyện Quế Võ", "Xã Phương Liễu"),
    ("Khu công nghiệp Quế Võ II", "Huyện Quế Võ", "Xã Ngọc Xá"),
    ("Khu công nghiệp Tiên Sơn", "Huyện Tiên Du", "Xã Hoàn Sơn"),
    ("Khu công nghiệp Đại Đồng - Hoàn Sơn", "Huyện Tiên Du", "Xã Đại Đồng"),
    ("Khu công nghiệp VSIP Bắc Ninh", "Thị xã Từ Sơn", "Phường Phù Chẩn"),
    ("Khu công nghiệp Yên Phong", "Huyện Yên Phong", "Xã Long Châu"),
    ("Khu công nghiệp Thuận Thành II", "Huyện Thuận Thành", "Xã Mão Điền"),
    ("Khu công nghiệp Gia Bình", "Huyện Gia Bình", "Xã Đông Cứu"),
)


class _Place:
    """A commune (xã, phường, thị trấn) with what addresses in it look like."""

    __slots__ = ("code", "commune", "district", "streets", "suffix", "urban")

    def __init__(self, district: str, commune: str, code: str) -> None:
        self.district = _nfc(district)
        self.commune = _nfc(commune)
        self.code = code
        self.urban = commune.startswith(("Phường", "Thị trấn"))
        if district in _STREETS_BY_DISTRICT:
            self.streets = _nfc_all(_STREETS_BY_DISTRICT[district])
        else:
            self.streets = _nfc_all(_TOWN_STREETS)
        self.suffix = _nfc(f", {commune}, {district}, Tỉnh {PROVINCE_NAME}")


def _build_places() -> tuple[_Place, ...]:
    places: list[_Place] = []
    code = 9169  # plausible 5-digit commune codes, sequential in the province's range
    for district in DISTRICTS:
        for commune in _COMMUNES_BY_DISTRICT[district]:
            places.append(_Place(district, commune, f"{code:05d}"))
            code += 3
    return tuple(places)


_PLACES = _build_places()
_PLACE_BY_NAME = {(p.district, p.commune): p for p in _PLACES}
# Businesses and people cluster in the city and Từ Sơn.
_BUSY_PLACES = tuple(
    p for p in _PLACES for _ in range(3 if p.district in _STREETS_BY_DISTRICT else 1)
)
_PARKS = tuple(
    (_nfc(park), _PLACE_BY_NAME[(_nfc(district), _nfc(commune))])
    for park, district, commune in _INDUSTRIAL_PARKS
)
_VILLAGES_NFC = _nfc_all(_VILLAGES)


def _district_label(district: str) -> str:
    """ "Thành phố Bắc Ninh" -> "thành phố Bắc Ninh", "Huyện Quế Võ" -> "Quế Võ"."""
    if district.startswith("Thành phố"):
        return _lower_first(district)
    return district.split(" ", 2)[-1] if district.startswith("Thị xã") else district[6:]


def _place_address(r: Callable[[], float], place: _Place) -> str:
    if place.urban:
        street = place.streets[int(r() * len(place.streets))]
        number = 1 + int(r() * 280)
        if r() < 0.25:
            return f"Số {number}, ngõ {2 + int(r() * 120)} {street}{place.suffix}"
        return f"Số {number} {street}{place.suffix}"
    return f"{_VILLAGES_NFC[int(r() * len(_VILLAGES_NFC))]}{place.suffix}"


# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------

_FAMILY_NAMES = _expand(
    (
        ("Nguyễn", 36),
        ("Trần", 10),
        ("Lê", 8),
        ("Phạm", 6),
        ("Hoàng", 4),
        ("Vũ", 4),
        ("Đặng", 3),
        ("Bùi", 3),
        ("Đỗ", 3),
        ("Ngô", 3),
        ("Dương", 2),
        ("Đào", 2),
        ("Đinh", 2),
        ("Trịnh", 2),
        ("Phan", 2),
        ("Hà", 1),
        ("Lương", 1),
        ("Cao", 1),
        ("Chu", 1),
        ("Nghiêm", 1),
        ("Lý", 1),
        ("Tạ", 1),
        ("Kim", 1),
        ("Lưu", 1),
    )
)
_MIDDLE_MALE = _expand(
    (
        ("Văn", 30),
        ("Đức", 8),
        ("Minh", 8),
        ("Quang", 6),
        ("Hữu", 5),
        ("Xuân", 5),
        ("Công", 5),
        ("Thành", 4),
        ("Tiến", 4),
        ("Đình", 5),
        ("Mạnh", 3),
        ("Trọng", 3),
        ("Ngọc", 3),
        ("Anh", 3),
        ("Gia", 3),
        ("Bảo", 2),
        ("Hoàng", 3),
    )
)
_MIDDLE_FEMALE = _expand(
    (
        ("Thị", 40),
        ("Thu", 7),
        ("Thanh", 7),
        ("Ngọc", 7),
        ("Minh", 5),
        ("Phương", 5),
        ("Thùy", 5),
        ("Hồng", 5),
        ("Bảo", 3),
        ("Khánh", 3),
        ("Diệu", 3),
        ("Mai", 3),
        ("Kim", 4),
        ("Hải", 3),
    )
)
_GIVEN_MALE = _nfc_all(
    (
        "Hùng",
        "Dũng",
        "Cường",
        "Tuấn",
        "Minh",
        "Hải",
        "Long",
        "Nam",
        "Quân",
        "Sơn",
        "Thắng",
        "Trung",
        "Đức",
        "Hiếu",
        "Hoàng",
        "Khánh",
        "Phong",
        "Tùng",
        "Việt",
        "Anh",
        "Duy",
        "Bình",
        "Thành",
        "Huy",
        "Kiên",
        "Lâm",
        "Nghĩa",
        "Phúc",
        "Tâm",
        "Toàn",
        "Vinh",
        "Đạt",
        "Hưng",
        "Quý",
        "Tiến",
        "Chiến",
        "Thịnh",
        "Khoa",
        "Bảo",
        "Nhật",
    )
)
_GIVEN_FEMALE = _nfc_all(
    (
        "Lan",
        "Hương",
        "Hoa",
        "Mai",
        "Hà",
        "Linh",
        "Trang",
        "Thảo",
        "Huyền",
        "Ngọc",
        "Nga",
        "Hằng",
        "Thủy",
        "Yến",
        "Phương",
        "Nhung",
        "Loan",
        "Dung",
        "Hạnh",
        "Vân",
        "Oanh",
        "Quỳnh",
        "Anh",
        "Chi",
        "My",
        "Ngân",
        "Vy",
        "Nhi",
        "Thư",
        "Hiền",
        "Liên",
        "Tuyết",
    )
)
_OLD_STYLE_MIDDLE = frozenset(_nfc_all(("Văn", "Thị")))

_MOBILE_PREFIXES = (
    "032",
    "033",
    "034",
    "035",
    "036",
    "037",
    "038",
    "039",
    "086",
    "096",
    "097",
    "098",
    "070",
    "076",
    "077",
    "078",
    "079",
    "089",
    "090",
    "093",
    "081",
    "082",
    "083",
    "084",
    "085",
    "088",
    "091",
    "094",
    "056",
    "058",
)

_ETHNICITIES = _expand(
    (
        ("Kinh", 994),
        ("Tày", 1),
        ("Nùng", 1),
        ("Mường", 1),
        ("Sán Dìu", 1),
        ("Hoa", 1),
        ("Thái", 1),
    )
)


_N_FAMILY = len(_FAMILY_NAMES)
_NAME_PARTS = {  # male -> (middle names, their count, given names, their count)
    True: (_MIDDLE_MALE, len(_MIDDLE_MALE), _GIVEN_MALE, len(_GIVEN_MALE)),
    False: (_MIDDLE_FEMALE, len(_MIDDLE_FEMALE), _GIVEN_FEMALE, len(_GIVEN_FEMALE)),
}
_N_MOBILE = len(_MOBILE_PREFIXES)


def _person_name(r: Callable[[], float], male: bool, born: int = 1980) -> str:
    """Family name, middle name and given name; "Văn"/"Thị" are rarer for the young."""
    middles, n_middles, givens, n_givens = _NAME_PARTS[male]
    middle = middles[int(r() * n_middles)]
    if born >= 2000 and middle in _OLD_STYLE_MIDDLE and r() < 0.7:
        middle = middles[int(r() * n_middles)]
    family, given = divmod(int(r() * _N_FAMILY * n_givens), n_givens)
    return f"{_FAMILY_NAMES[family]} {middle} {givens[given]}"


def _phone(r: Callable[[], float]) -> str:
    prefix, number = divmod(int(r() * _N_MOBILE * 10_000_000), 10_000_000)
    return f"{_MOBILE_PREFIXES[prefix]}{number:07d}"


_ISO_FIRST = date(1990, 1, 1).toordinal()
_ISO_DAYS = tuple(
    date.fromordinal(o).isoformat() for o in range(_ISO_FIRST, REFERENCE_DATE.toordinal() + 1)
)
_CLOCK_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(7 * 60, 18 * 60))
_CLOCK_SECONDS = tuple(f"{s:02d}" for s in range(60))


def _iso(ordinal: int) -> str:
    """``date.fromordinal(ordinal).isoformat()``, from a table for recent days."""
    if _ISO_FIRST <= ordinal < _ISO_FIRST + len(_ISO_DAYS):
        return _ISO_DAYS[ordinal - _ISO_FIRST]
    return date.fromordinal(ordinal).isoformat()


def _timestamp(r: Callable[[], float], start: int, end: int) -> str:
    """An office-hours datetime between two date ordinals (within the last ~2.5 years of
    ``end``, which must not pass :data:`REFERENCE_DATE`), Vietnam time."""
    first = max(start, end - 900)
    day, second = divmod(int(r() * (end - first + 1) * 39_600), 39_600)  # 07:00 .. 18:00
    return (
        f"{_ISO_DAYS[first - _ISO_FIRST + day]}T{_CLOCK_MINUTES[second // 60]}:"
        f"{_CLOCK_SECONDS[second % 60]}+07:00"
    )


# --------------------------------------------------------------------------------------------
# Businesses
# --------------------------------------------------------------------------------------------

# (Vietnamese business line, English, VSIC 2018 codes)
_BUSINESS_LINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Thương mại và Dịch vụ", "Trading and Services", ("4690", "4610", "4719")),
    ("Đầu tư Xây dựng", "Construction Investment", ("4101", "4102", "4290")),
    ("Sản xuất và Thương mại", "Production and Trading", ("4690", "2592", "2220")),
    ("Điện tử", "Electronics", ("2610", "2630", "2640")),
    ("Cơ khí Chính xác", "Precision Engineering", ("2592", "2599", "2829")),
    ("Vận tải và Logistics", "Transport and Logistics", ("4933", "5210", "5229")),
    ("Đồ gỗ Mỹ nghệ", "Fine Art Furniture", ("3100", "1629")),
    ("Thép", "Steel", ("2410", "4662")),
    ("Giấy và Bao bì", "Paper and Packaging", ("1701", "1702")),
    ("Gốm sứ", "Ceramics", ("2393",)),
    ("May mặc", "Garment", ("1410", "1430")),
    ("Bất động sản", "Real Estate", ("6810", "6820")),
    ("Xuất nhập khẩu", "Import Export", ("4690", "4610")),
    ("Công nghệ Thông tin", "Information Technology", ("6201", "6202", "6311")),
    ("Thực phẩm", "Food", ("1079", "1071", "1010")),
    ("Nông nghiệp Công nghệ cao", "Hi-tech Agriculture", ("0118", "0146", "0163")),
    ("Môi trường", "Environment", ("3821", "3811", "3700")),
    ("Vật liệu Xây dựng", "Construction Materials", ("4663", "2395", "2392")),
    ("Đầu tư Phát triển", "Development Investment", ("6810", "4101", "7020")),
    ("Dịch vụ Ăn uống", "Food Services", ("5610", "5621")),
)
_LINES_VI = _nfc_all(line[0] for line in _BUSINESS_LINES)
_LINES_EN = tuple(line[1] for line in _BUSINESS_LINES)
_LINES_VSIC = tuple(line[2] for line in _BUSINESS_LINES)

_BRAND_FIRST = _nfc_all(
    (
        "Minh",
        "Hoàng",
        "Thành",
        "Phú",
        "Hưng",
        "Đức",
        "Việt",
        "An",
        "Bảo",
        "Thiên",
        "Kim",
        "Tân",
        "Đại",
        "Hải",
        "Quang",
        "Trường",
        "Phúc",
        "Hòa",
        "Long",
        "Nam",
        "Sơn",
        "Thái",
        "Vạn",
        "Hồng",
        "Ngọc",
        "Gia",
        "Thịnh",
        "Tiến",
        "Hà",
        "Kinh",
        "Đông",
        "Trung",
    )
)
_BRAND_SECOND = _nfc_all(
    (
        "Phát",
        "Long",
        "Đạt",
        "Thịnh",
        "Hưng",
        "An",
        "Phúc",
        "Lộc",
        "Thành",
        "Tín",
        "Vượng",
        "Bắc",
        "Nam",
        "Sơn",
        "Khang",
        "Minh",
        "Tiến",
        "Hải",
        "Anh",
        "Việt",
        "Quang",
        "Hà",
        "Linh",
        "Bình",
        "Phong",
        "Dương",
        "Huy",
        "Nguyên",
        "Á",
        "Đô",
    )
)
_BRAND_FIRST_EN = tuple(_ascii(s) for s in _BRAND_FIRST)
_BRAND_SECOND_EN = tuple(_ascii(s) for s in _BRAND_SECOND)

_LEGAL_FORMS = _expand(
    (("TNHH_1TV", 38), ("TNHH_2TV", 30), ("CO_PHAN", 22), ("TU_NHAN", 9), ("HOP_DANH", 1))
)
_FORM_PREFIX = {
    "TNHH_1TV": _nfc("Công ty TNHH"),
    "TNHH_2TV": _nfc("Công ty TNHH"),
    "CO_PHAN": _nfc("Công ty Cổ phần"),
    "HOP_DANH": _nfc("Công ty Hợp danh"),
    "TU_NHAN": _nfc("Doanh nghiệp tư nhân"),
}
_MTV_PREFIX = _nfc("Công ty TNHH MTV")
_FORM_SUFFIX_EN = {
    "TNHH_1TV": "Company Limited",
    "TNHH_2TV": "Company Limited",
    "CO_PHAN": "Joint Stock Company",
    "HOP_DANH": "Partnership",
    "TU_NHAN": "Private Enterprise",
}
# log10 of the charter-capital range (đồng) per legal form
_CAPITAL_RANGE = {
    "TNHH_1TV": (8.7, 10.8),
    "TNHH_2TV": (9.0, 11.0),
    "CO_PHAN": (9.3, 12.0),
    "HOP_DANH": (8.7, 9.7),
    "TU_NHAN": (8.3, 9.7),
}
_BUSINESS_STATUSES = (
    ("DANG_HOAT_DONG",) * 80 + ("TAM_NGUNG",) * 9 + ("GIAI_THE",) * 9 + ("PHA_SAN",) * 2
)
_FIRST_REGISTRATION = date(1996, 1, 1).toordinal()
_CAPITAL_STEPS = 1024


def _capital(low: float, high: float, r: float) -> str:
    """A log-uniform charter capital between 10**low and 10**high đồng, in round figures."""
    value = 10 ** (low + (high - low) * r)
    unit = 100_000_000 if value >= 1_000_000_000 else 10_000_000
    return str(max(1, round(value / unit)) * unit)


# Quantiles of each form's capital distribution, so a row costs one table lookup.
_CAPITALS = {
    form: tuple(_capital(low, high, (i + 0.5) / _CAPITAL_STEPS) for i in range(_CAPITAL_STEPS))
    for form, (low, high) in _CAPITAL_RANGE.items()
}


def businesses(count: int, seed: int = 1) -> list[Row]:
    """``count`` enterprises registered in Bắc Ninh, keyed by distinct valid tax codes.

    One row in twenty (``count // 20``) is a branch: a 13-digit code made of an earlier head
    office's code and a suffix 001..009, named "Chi nhánh <head office> tại <district>".
    """
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    r = rng.random
    branches_left = count // 20
    codes = iter(_tax_codes(rng, count - branches_left))

    today_ordinal = REFERENCE_DATE.toordinal()
    span = today_ordinal - _FIRST_REGISTRATION
    places, parks = _BUSY_PLACES, _PARKS
    n_places, n_parks = len(places), len(parks)
    forms, statuses = _LEGAL_FORMS, _BUSINESS_STATUSES
    n_forms, n_statuses = len(forms), len(statuses)
    firsts, seconds = _BRAND_FIRST, _BRAND_SECOND
    n_first, n_second, n_lines = len(firsts), len(seconds), len(_LINES_VI)
    prefixes, suffixes_en, capitals = _FORM_PREFIX, _FORM_SUFFIX_EN, _CAPITALS
    days, days_first = _ISO_DAYS, _ISO_FIRST
    timestamp, person, phone = _timestamp, _person_name, _phone

    rows: list[Row] = []
    append = rows.append
    heads: list[Row] = []
    branches_of: dict[str, int] = {}
    for left in range(count, 0, -1):
        if heads and branches_left and r() * left < branches_left:
            branches_left -= 1
            append(_branch(r, heads, branches_of, today_ordinal))
            continue
        form_index, line = divmod(int(r() * n_forms * n_lines), n_lines)
        form = forms[form_index]
        i1, i2 = divmod(int(r() * n_first * n_second), n_second)
        if firsts[i1] == seconds[i2]:
            i2 = (i2 + 1) % n_second
        if form == "TU_NHAN":
            name = f"{prefixes[form]} {firsts[i1]} {seconds[i2]}"
        else:
            prefix = _MTV_PREFIX if form == "TNHH_1TV" and r() < 0.3 else prefixes[form]
            name = f"{prefix} {_LINES_VI[line]} {firsts[i1]} {seconds[i2]}"
        english_name = None
        if form != "TU_NHAN" and r() < 0.4:
            english_name = (
                f"{_BRAND_FIRST_EN[i1]} {_BRAND_SECOND_EN[i2]} {_LINES_EN[line]} "
                f"{suffixes_en[form]}"
            )
        if r() < 0.2:
            park, place = parks[int(r() * n_parks)]
            address = f"Lô CN{1 + int(r() * 12)}-{1 + int(r() * 40)}, {park}{place.suffix}"
        else:
            place = places[int(r() * n_places)]
            address = _place_address(r, place)
        vsic = _LINES_VSIC[line]
        registered = _FIRST_REGISTRATION + int(span * r() ** 0.6)
        row: Row = {
            "tax_code": next(codes),
            "name": name,
            "english_name": english_name,
            "legal_form": form,
            "address": f"{address}, Việt Nam",
            "district": place.district,
            "industry_code": vsic[int(r() * len(vsic))],
            "charter_capital": capitals[form][int(r() * _CAPITAL_STEPS)],
            "registered_on": days[registered - days_first],
            "status": statuses[int(r() * n_statuses)],
            "legal_representative": person(r, r() < 0.72),
            "representative_phone": phone(r) if r() < 0.92 else None,
            "updated_at": timestamp(r, registered, today_ordinal),
        }
        append(row)
        heads.append(row)
    return rows


def _branch(
    r: Callable[[], float], heads: list[Row], branches_of: dict[str, int], today_ordinal: int
) -> Row:
    """A branch (chi nhánh) of one of ``heads`` with fewer than nine branches so far."""
    while True:
        parent = heads[int(r() * len(heads))]
        parent_code = str(parent["tax_code"])
        number = branches_of.get(parent_code, 0) + 1
        if number <= 9:
            break
    branches_of[parent_code] = number
    place = _BUSY_PLACES[int(r() * len(_BUSY_PLACES))]
    opened = date.fromisoformat(str(parent["registered_on"])).toordinal()
    registered = opened + int(r() * (today_ordinal - opened + 1))
    return {
        "tax_code": f"{parent_code}{number:03d}",
        "name": f"Chi nhánh {parent['name']} tại {_district_label(place.district)}",
        "english_name": None,
        "legal_form": parent["legal_form"],
        "address": f"{_place_address(r, place)}, Việt Nam",
        "district": place.district,
        "industry_code": parent["industry_code"],
        "charter_capital": None,
        "registered_on": _iso(registered),
        "status": _BUSINESS_STATUSES[int(r() * len(_BUSINESS_STATUSES))],
        "legal_representative": _person_name(r, r() < 0.72),
        "representative_phone": _phone(r) if r() < 0.92 else None,
        "updated_at": _timestamp(r, registered, today_ordinal),
    }


# --------------------------------------------------------------------------------------------
# Land parcels
# --------------------------------------------------------------------------------------------

_LAND_USE_ORGANISATION = _expand((("SKC", 45), ("TMD", 30), ("ODT", 10), ("DGT", 10), ("CLN", 5)))
_LAND_USE_HOUSEHOLD = _expand((("ONT", 35), ("ODT", 25), ("LUC", 30), ("CLN", 8), ("DGT", 2)))
# (min m², max m²) per land use
_AREA_RANGE = {
    "ODT": (40.0, 300.0),
    "ONT": (80.0, 600.0),
    "SKC": (1_000.0, 60_000.0),
    "TMD": (150.0, 12_000.0),
    "LUC": (300.0, 3_600.0),
    "CLN": (200.0, 5_000.0),
    "DGT": (100.0, 8_000.0),
}
_UPDATES_FROM = date(2019, 1, 1).toordinal()
_CERTIFICATE_SERIES = ("BX", "CD", "CH", "CS", "CY", "DA", "DB", "DD")


def land_parcels(count: int, holder_tax_codes: Sequence[str], seed: int = 2) -> list[Row]:
    """``count`` registered land parcels; about 70% are used by an organisation whose tax
    code is drawn from ``holder_tax_codes`` (none when that is empty), the rest by
    households and individuals (``holder_tax_code`` None)."""
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    r = rng.random
    today_ordinal = REFERENCE_DATE.toordinal()
    holders = tuple(holder_tax_codes)
    sheets = max(60, count // (len(_PLACES) * 400) + 1)
    seen: set[tuple[str, int, int]] = set()
    rows: list[Row] = []
    for _ in range(count):
        holder = holders[int(r() * len(holders))] if holders and r() < 0.7 else None
        uses = _LAND_USE_ORGANISATION if holder else _LAND_USE_HOUSEHOLD
        land_use = uses[int(r() * len(uses))]
        place = _PLACES[int(r() * len(_PLACES))]
        while True:
            sheet = 1 + int(r() * sheets)
            number = 1 + int(r() * 999)
            if (place.code, sheet, number) not in seen:
                seen.add((place.code, sheet, number))
                break
        low, high = _AREA_RANGE[land_use]
        area = low * (high / low) ** r()
        certificate = None
        if r() < 0.9:
            series = _CERTIFICATE_SERIES[int(r() * len(_CERTIFICATE_SERIES))]
            certificate = f"{series} {int(r() * 1_000_000):06d}"
        valid_until: str | None = None  # residential and road land: long-term (lâu dài)
        if land_use in ("SKC", "TMD", "LUC", "CLN"):
            first = 2040 if land_use in ("SKC", "TMD") else 2043
            until = date(first + int(r() * 32), 1 + int(r() * 12), 1 + int(r() * 28))
            valid_until = until.isoformat()
        rows.append(
            {
                "parcel_id": f"{PROVINCE_CARD_CODE}-{place.code}-{sheet}-{number}",
                "map_sheet": sheet,
                "parcel_number": number,
                "district": place.district,
                "commune": place.commune,
                "area_m2": f"{area:.1f}",
                "land_use": land_use,
                "holder_tax_code": holder,
                "certificate_no": certificate,
                "valid_until": valid_until,
                "updated_at": _timestamp(r, _UPDATES_FROM, today_ordinal),
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Citizens
# --------------------------------------------------------------------------------------------


def _citizen_sex_digit(male: bool, birth_year: int) -> str:
    century = 0 if birth_year < 2000 else 2
    return str(century + (0 if male else 1))


def citizens(count: int, seed: int = 3) -> list[Row]:
    """``count`` permanent residents of Bắc Ninh with 12-digit citizen ids.

    The id is "027", the sex/century digit (0 male or 1 female born 1900-1999, 2 male or 3
    female born 2000-2099), the last two digits of the birth year and six random digits.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    if count > 5_000_000:
        raise ValueError("at most 5 000 000 demo citizens")
    rng = random.Random(seed)
    r = rng.random
    today = REFERENCE_DATE
    seen: set[str] = set()
    rows: list[Row] = []
    for _ in range(count):
        age = int(r() * 96)
        while age > 55 and r() < (age - 55) / 45:
            age = int(r() * 96)
        born_ordinal = _add_years(today, -age - 1).toordinal() + 1 + int(r() * 365)
        birth = date.fromordinal(min(born_ordinal, today.toordinal()))
        male = r() < 0.5
        prefix = f"{PROVINCE_CITIZEN_PREFIX}{_citizen_sex_digit(male, birth.year)}"
        prefix += f"{birth.year % 100:02d}"
        citizen_id = f"{prefix}{int(r() * 1_000_000):06d}"
        while citizen_id in seen:
            citizen_id = f"{prefix}{int(r() * 1_000_000):06d}"
        seen.add(citizen_id)
        place = _BUSY_PLACES[int(r() * len(_BUSY_PLACES))]
        rows.append(
            {
                "citizen_id": citizen_id,
                "full_name": _person_name(r, male, birth.year),
                "birth_date": birth.isoformat(),
                "sex": "NAM" if male else "NU",
                "district": place.district,
                "commune": place.commune,
                "address": _place_address(r, place) if r() < 0.97 else None,
                "phone": _phone(r) if age >= 14 and r() < 0.85 else None,
                "ethnicity": _ETHNICITIES[int(r() * len(_ETHNICITIES))],
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Health insurance
# --------------------------------------------------------------------------------------------

# benefit level (mức hưởng) digit of each beneficiary group
_BENEFIT_LEVEL = {
    "TE": "2",
    "HN": "2",
    "BT": "2",
    "HT": "3",
    "CN": "3",
    "DN": "4",
    "HC": "4",
    "HS": "4",
    "SV": "4",
    "GD": "4",
}
_GROUPS_ADULT = _expand((("DN", 45), ("HC", 12), ("GD", 33), ("CN", 5), ("HN", 3), ("BT", 2)))
_GROUPS_YOUNG_ADULT = _expand((("SV", 40), ("DN", 35), ("GD", 25)))
_GROUPS_SCHOOL = _expand((("HS", 95), ("HN", 3), ("CN", 2)))
_GROUPS_ELDERLY = _expand((("HT", 50), ("GD", 35), ("BT", 15)))

_PROVINCIAL_HOSPITALS = (
    ("27001", "Bệnh viện Đa khoa tỉnh Bắc Ninh"),
    ("27002", "Bệnh viện Sản - Nhi tỉnh Bắc Ninh"),
    ("27003", "Bệnh viện Y học cổ truyền tỉnh Bắc Ninh"),
)
_DISTRICT_HEALTH_CENTRES = {
    district: (f"{PROVINCE_CARD_CODE}{11 + i:03d}", f"Trung tâm Y tế {_lower_first(district)}")
    for i, district in enumerate(DISTRICTS)
}
_CHRONIC = _expand(
    (
        ("Tăng huyết áp", 30),
        ("Đái tháo đường típ 2", 18),
        ("Rối loạn chuyển hóa lipid máu", 10),
        ("Bệnh phổi tắc nghẽn mạn tính", 7),
        ("Hen phế quản", 6),
        ("Viêm gan B mạn tính", 6),
        ("Bệnh tim thiếu máu cục bộ", 6),
        ("Thoái hóa khớp gối", 7),
        ("Viêm khớp dạng thấp", 3),
        ("Suy thận mạn", 3),
        ("Bướu giáp nhân", 4),
    )
)


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def health_insurance(citizen_rows: Sequence[Row], seed: int = 4) -> list[Row]:
    """One health-insurance card for about 90% of ``citizen_rows``.

    The card number is the beneficiary group (2 letters), the benefit level digit, "27" and
    the last 10 digits of the holder's citizen id, so it is unique per citizen.
    """
    rng = random.Random(seed)
    r = rng.random
    today = REFERENCE_DATE
    hospitals = tuple((code, _nfc(name)) for code, name in _PROVINCIAL_HOSPITALS)
    centres = {_nfc(d): (code, _nfc(name)) for d, (code, name) in _DISTRICT_HEALTH_CENTRES.items()}
    rows: list[Row] = []
    for citizen in citizen_rows:
        if r() >= 0.9:
            continue
        citizen_id = str(citizen["citizen_id"])
        birth = date.fromisoformat(str(citizen["birth_date"]))
        district = str(citizen["district"])
        age = _age(birth, today)
        if age < 6:
            group = "TE"
            valid_from = birth
            valid_to = _add_years(birth, 6) - timedelta(days=1)
        else:
            if age < 18:
                groups = _GROUPS_SCHOOL
            elif age < 23:
                groups = _GROUPS_YOUNG_ADULT
            elif age < 60:
                groups = _GROUPS_ADULT
            else:
                groups = _GROUPS_ELDERLY
            group = groups[int(r() * len(groups))]
            months_back = int(r() * 12)
            month_index = today.year * 12 + today.month - 1 - months_back
            valid_from = date(month_index // 12, month_index % 12 + 1, 1)
            valid_to = _add_years(valid_from, 1) - timedelta(days=1)
        pick = r()
        if age < 6 and pick < 0.3:
            hospital_code, hospital_name = hospitals[1]
        elif pick < 0.7 and district in centres:
            hospital_code, hospital_name = centres[district]
        elif pick < 0.95:
            hospital_code, hospital_name = hospitals[0]
        else:
            hospital_code, hospital_name = hospitals[2]
        chance = 0.02 if age < 18 else 0.05 if age < 40 else 0.15 if age < 60 else 0.4
        chronic: str | None = None
        if r() < chance:
            chronic = _CHRONIC[int(r() * len(_CHRONIC))]
            if r() < 0.15:
                other = _CHRONIC[int(r() * len(_CHRONIC))]
                if other != chronic:
                    chronic = f"{chronic}; {other}"
        rows.append(
            {
                "card_no": f"{group}{_BENEFIT_LEVEL[group]}{PROVINCE_CARD_CODE}{citizen_id[-10:]}",
                "citizen_id": citizen_id,
                "beneficiary_group": group,
                "hospital_code": hospital_code,
                "hospital_name": hospital_name,
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat(),
                "chronic_conditions": chronic,
                "district": district,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Legal documents
# --------------------------------------------------------------------------------------------

# Bases (căn cứ) cited by topic, each (law, date passed).
# Bases (căn cứ) cited by topic: (slot, law, date passed, date in force). Of the laws in
# force when a document is issued, the latest one of each slot is cited.
_Law = tuple[str, str, date, date]
_BASES: dict[str, tuple[_Law, ...]] = {
    "cntt": (
        ("cntt", "Luật Công nghệ thông tin", date(2006, 6, 29), date(2007, 1, 1)),
        ("gdđt", "Luật Giao dịch điện tử", date(2005, 11, 29), date(2006, 3, 1)),
        ("gdđt", "Luật Giao dịch điện tử", date(2023, 6, 22), date(2024, 7, 1)),
    ),
    "attt": (
        ("cntt", "Luật Công nghệ thông tin", date(2006, 6, 29), date(2007, 1, 1)),
        ("attt", "Luật An toàn thông tin mạng", date(2015, 11, 19), date(2016, 7, 1)),
    ),
    "dat": (
        ("đất", "Luật Đất đai", date(2013, 11, 29), date(2014, 7, 1)),
        ("đất", "Luật Đất đai", date(2024, 1, 18), date(2024, 8, 1)),
    ),
    "dn": (
        ("dn", "Luật Doanh nghiệp", date(2014, 11, 26), date(2015, 7, 1)),
        ("dn", "Luật Doanh nghiệp", date(2020, 6, 17), date(2021, 1, 1)),
    ),
    "phi": (
        ("phí", "Pháp lệnh Phí và lệ phí", date(2001, 8, 28), date(2002, 1, 1)),
        ("phí", "Luật Phí và lệ phí", date(2015, 11, 25), date(2017, 1, 1)),
    ),
    "ngansach": (
        ("nsnn", "Luật Ngân sách nhà nước", date(2002, 12, 16), date(2004, 1, 1)),
        ("nsnn", "Luật Ngân sách nhà nước", date(2015, 6, 25), date(2017, 1, 1)),
    ),
    "giaoduc": (
        ("gd", "Luật Giáo dục", date(2005, 6, 14), date(2006, 1, 1)),
        ("gd", "Luật Giáo dục", date(2019, 6, 14), date(2020, 7, 1)),
    ),
    "bhyt": (("bhyt", "Luật Bảo hiểm y tế", date(2008, 11, 14), date(2009, 7, 1)),),
    "xaydung": (("xd", "Luật Xây dựng", date(2014, 6, 18), date(2015, 1, 1)),),
    "tochuc": (("cbcc", "Luật Cán bộ, công chức", date(2008, 11, 13), date(2010, 1, 1)),),
}

# (agency, its abbreviation in document numbers)
_AGENCIES = {
    "STTTT": ("Sở Thông tin và Truyền thông", "STTTT"),
    "STNMT": ("Sở Tài nguyên và Môi trường", "STNMT"),
    "SKHDT": ("Sở Kế hoạch và Đầu tư", "SKHĐT"),
    "STC": ("Sở Tài chính", "STC"),
    "SXD": ("Sở Xây dựng", "SXD"),
    "SNV": ("Sở Nội vụ", "SNV"),
    "SGDDT": ("Sở Giáo dục và Đào tạo", "SGDĐT"),
    "SYT": ("Sở Y tế", "SYT"),
    "SNN": ("Sở Nông nghiệp và Phát triển nông thôn", "SNN"),
    "CA": ("Công an tỉnh", "CAT"),
    "STP": ("Sở Tư pháp", "STP"),
}

# (title template, sector, basis, lead agency); {year}, {next} = year + 1 and
# {end} = year + 5 are filled in.
_DECISION_TOPICS = (
    (
        "Ban hành Quy chế quản lý, sử dụng các ứng dụng công nghệ thông tin dùng chung tỉnh "
        "Bắc Ninh",
        "Công nghệ thông tin",
        "cntt",
        "STTTT",
    ),
    (
        "Ban hành Quy chế quản lý, vận hành và khai thác Nền tảng tích hợp, chia sẻ dữ liệu "
        "tỉnh Bắc Ninh",
        "Công nghệ thông tin",
        "cntt",
        "STTTT",
    ),
    (
        "Ban hành Quy chế bảo đảm an toàn thông tin mạng trong hoạt động của các cơ quan nhà "
        "nước tỉnh Bắc Ninh",
        "Công nghệ thông tin",
        "attt",
        "STTTT",
    ),
    (
        "Ban hành Quy chế quản lý, sử dụng chữ ký số, chứng thư số trong các cơ quan nhà nước "
        "tỉnh Bắc Ninh",
        "Công nghệ thông tin",
        "cntt",
        "STTTT",
    ),
    ("Quy định bảng giá đất năm {year} trên địa bàn tỉnh Bắc Ninh", "Đất đai", "dat", "STNMT"),
    (
        "Quy định hạn mức giao đất ở và hạn mức công nhận đất ở trên địa bàn tỉnh Bắc Ninh",
        "Đất đai",
        "dat",
        "STNMT",
    ),
    (
        "Ban hành Quy định về bồi thường, hỗ trợ, tái định cư khi Nhà nước thu hồi đất trên địa "
        "bàn tỉnh Bắc Ninh",
        "Đất đai",
        "dat",
        "STNMT",
    ),
    (
        "Quy định về quản lý, cập nhật và khai thác cơ sở dữ liệu đất đai tỉnh Bắc Ninh",
        "Đất đai",
        "dat",
        "STNMT",
    ),
    (
        "Ban hành Quy chế phối hợp quản lý nhà nước đối với doanh nghiệp sau đăng ký thành lập "
        "trên địa bàn tỉnh Bắc Ninh",
        "Doanh nghiệp",
        "dn",
        "SKHDT",
    ),
    (
        "Quy định chức năng, nhiệm vụ, quyền hạn và cơ cấu tổ chức của Sở Thông tin và Truyền "
        "thông tỉnh Bắc Ninh",
        "Tổ chức bộ máy nhà nước",
        "tochuc",
        "SNV",
    ),
    (
        "Ban hành đơn giá bồi thường nhà, công trình xây dựng khi Nhà nước thu hồi đất trên địa "
        "bàn tỉnh Bắc Ninh năm {year}",
        "Xây dựng - Đô thị",
        "xaydung",
        "SXD",
    ),
)
_RESOLUTION_TOPICS = (
    (
        "Quy định mức thu, miễn, giảm, quản lý và sử dụng phí khai thác, sử dụng tài liệu đất "
        "đai trên địa bàn tỉnh Bắc Ninh",
        "Thuế - Phí - Lệ phí",
        "phi",
        "STC",
    ),
    (
        "Quy định mức học phí đối với cơ sở giáo dục mầm non, giáo dục phổ thông công lập năm "
        "học {year}-{next} trên địa bàn tỉnh Bắc Ninh",
        "Giáo dục",
        "giaoduc",
        "SGDDT",
    ),
    (
        "Quy định mức hỗ trợ đóng bảo hiểm y tế cho một số đối tượng trên địa bàn tỉnh Bắc Ninh",
        "Bảo hiểm",
        "bhyt",
        "SYT",
    ),
    (
        "Quy định chính sách hỗ trợ phát triển nông nghiệp ứng dụng công nghệ cao trên địa bàn "
        "tỉnh Bắc Ninh",
        "Nông nghiệp",
        "ngansach",
        "SNN",
    ),
    (
        "Quy định mức chi bảo đảm cho công tác xây dựng văn bản quy phạm pháp luật trên địa bàn "
        "tỉnh Bắc Ninh",
        "Tài chính nhà nước",
        "ngansach",
        "STC",
    ),
    (
        "Quy định phân cấp nguồn thu, nhiệm vụ chi giữa các cấp ngân sách địa phương tỉnh Bắc "
        "Ninh giai đoạn {next}-{end}",
        "Tài chính nhà nước",
        "ngansach",
        "STC",
    ),
    (
        "Quy định mức thu lệ phí cấp giấy chứng nhận quyền sử dụng đất, quyền sở hữu tài sản "
        "gắn liền với đất trên địa bàn tỉnh Bắc Ninh",
        "Thuế - Phí - Lệ phí",
        "phi",
        "STC",
    ),
    (
        "Quy định chính sách thu hút, hỗ trợ nguồn nhân lực công nghệ thông tin, chuyển đổi số "
        "trên địa bàn tỉnh Bắc Ninh",
        "Công nghệ thông tin",
        "cntt",
        "STTTT",
    ),
)
_DIRECTIVE_TOPICS = (
    (
        "Về việc tăng cường ứng dụng công nghệ thông tin trong hoạt động của cơ quan nhà nước "
        "trên địa bàn tỉnh",
        "Công nghệ thông tin",
        "cntt",
        "STTTT",
    ),
    (
        "Về việc tăng cường bảo đảm an toàn, an ninh thông tin mạng trong các cơ quan nhà nước "
        "tỉnh Bắc Ninh",
        "Công nghệ thông tin",
        "attt",
        "STTTT",
    ),
    (
        "Về việc đẩy mạnh chuyển đổi số, phát triển chính quyền số tỉnh Bắc Ninh năm {year}",
        "Công nghệ thông tin",
        "cntt",
        "STTTT",
    ),
    (
        "Về việc tăng cường công tác quản lý nhà nước về đất đai trên địa bàn tỉnh Bắc Ninh",
        "Đất đai",
        "dat",
        "STNMT",
    ),
    (
        "Về việc đẩy mạnh phát triển người tham gia bảo hiểm y tế trên địa bàn tỉnh Bắc Ninh",
        "Bảo hiểm",
        "bhyt",
        "SYT",
    ),
    (
        "Về việc tăng cường bảo vệ dữ liệu cá nhân trong hoạt động của các cơ quan nhà nước tỉnh "
        "Bắc Ninh",
        "Công nghệ thông tin",
        "cntt",
        "CA",
    ),
)
_TOPICS = {
    "QUYET_DINH": _DECISION_TOPICS,
    "NGHI_QUYET": _RESOLUTION_TOPICS,
    "CHI_THI": _DIRECTIVE_TOPICS,
}
_DOC_TYPES = ("QUYET_DINH",) * 6 + ("NGHI_QUYET",) * 3 + ("CHI_THI",) * 1
_NUMBER_SUFFIX = {"QUYET_DINH": "QĐ-UBND", "NGHI_QUYET": "NQ-HĐND", "CHI_THI": "CT-UBND"}
_UBND = "UBND tỉnh Bắc Ninh"
_HDND = "HĐND tỉnh Bắc Ninh"
_COUNCIL_COMMITTEE = {
    "Thuế - Phí - Lệ phí": "Kinh tế - Ngân sách",
    "Tài chính nhà nước": "Kinh tế - Ngân sách",
    "Nông nghiệp": "Kinh tế - Ngân sách",
    "Công nghệ thông tin": "Kinh tế - Ngân sách",
    "Giáo dục": "Văn hóa - Xã hội",
    "Bảo hiểm": "Văn hóa - Xã hội",
}
# The laws on local government and on legal documents, as cited in the preamble.
_GOVERNMENT_LAWS: tuple[_Law, ...] = (
    (
        "cq",
        "Luật Tổ chức Hội đồng nhân dân và Ủy ban nhân dân",
        date(2003, 11, 26),
        date(2004, 1, 1),
    ),
    ("cq", "Luật Tổ chức chính quyền địa phương", date(2015, 6, 19), date(2016, 1, 1)),
    (
        "vb",
        "Luật Ban hành văn bản quy phạm pháp luật của Hội đồng nhân dân, Ủy ban nhân dân",
        date(2004, 12, 3),
        date(2005, 4, 1),
    ),
    ("vb", "Luật Ban hành văn bản quy phạm pháp luật", date(2015, 6, 22), date(2016, 7, 1)),
)
_GOVERNMENT_AMENDMENTS = {
    "Luật Tổ chức chính quyền địa phương": (
        "Luật sửa đổi, bổ sung một số điều của Luật Tổ chức Chính phủ và Luật Tổ chức chính "
        "quyền địa phương",
        date(2019, 11, 22),
        date(2020, 7, 1),
    ),
    "Luật Ban hành văn bản quy phạm pháp luật": (
        "Luật sửa đổi, bổ sung một số điều của Luật Ban hành văn bản quy phạm pháp luật",
        date(2020, 6, 18),
        date(2021, 1, 1),
    ),
}

# Wording of Quyết định 33/2017/QĐ-UBND of UBND tỉnh Bắc Ninh (from the shared seeds).
_SEED_DECISION_TEXT = """QUYẾT ĐỊNH

BAN HÀNH QUY CHẾ QUẢN LÝ, SỬ DỤNG CÁC ỨNG DỤNG CÔNG NGHỆ THÔNG TIN DÙNG CHUNG TỈNH BẮC NINH

ỦY BAN NHÂN DÂN TỈNH BẮC NINH

Căn cứ Luật Tổ chức chính quyền địa phương ngày 19/6/2015;

Căn cứ Luật Ban hành văn bản quy phạm pháp luật ngày 22/6/2015;

Căn cứ Luật Công nghệ thông tin ngày 29/6/2006;

Căn cứ Luật Giao dịch điện tử ngày 29/11/2005;

Căn cứ Nghị định số 64/2007/NĐ-CP ngày 10/4/2007 của Chính phủ về việc ứng dụng Công nghệ \
thông tin trong hoạt động của cơ quan nhà nước;

Căn cứ Nghị định số 43/2011/NĐ-CP ngày 13/6/2011 của Chính phủ Quy định về việc cung cấp \
thông tin và dịch vụ công trực tuyến trên trang thông tin điện tử hoặc cổng thông tin điện tử \
của cơ quan nhà nước;

Xét đề nghị của Sở Thông tin và Truyền thông tại Tờ trình số 44/TT-STTTT ngày 05/9/2017.

QUYẾT ĐỊNH:

Điều 1. Ban hành kèm theo Quyết định này “Quy chế quản lý, sử dụng các ứng dụng công nghệ \
thông tin dùng chung tỉnh Bắc Ninh”.

Điều 2. Quyết định này có hiệu lực thi hành kể từ ngày 15/11/2017.

Điều 3. Chánh Văn phòng UBND tỉnh, Giám đốc các sở, ban, ngành, Chủ tịch UBND các huyện, \
thị xã, thành phố; Chủ tịch UBND các xã, phường, thị trấn, Thủ trưởng các cơ quan, đơn vị và \
các tổ chức, cá nhân có liên quan chịu trách nhiệm thi hành Quyết định này./.

QUY CHẾ
QUẢN LÝ, SỬ DỤNG CÁC ỨNG DỤNG CÔNG NGHỆ THÔNG TIN DÙNG CHUNG TỈNH BẮC NINH
(Ban hành kèm theo Quyết định số 33/2017/QĐ-UBND ngày 30 tháng 10 năm 2017 của UBND tỉnh \
Bắc Ninh)

Chương I
QUY ĐỊNH CHUNG

Điều 1. Phạm vi điều chỉnh và đối tượng áp dụng

1. Phạm vi điều chỉnh: Quy chế này quy định về quản lý, sử dụng và đảm bảo an toàn an ninh \
các ứng dụng công nghệ thông tin dùng chung trong hoạt động của các cơ quan, đơn vị trên địa \
bàn tỉnh Bắc Ninh.

2. Đối tượng áp dụng: Các cơ quan nhà nước, các cơ quan Đảng, các tổ chức chính trị - xã hội \
được ngân sách nhà nước bảo đảm kinh phí hoạt động, các cơ quan Trung ương trên địa bàn tỉnh, \
các đơn vị sự nghiệp công lập; cán bộ, công chức, viên chức làm việc tại cơ quan, đơn vị và \
các tổ chức, cá nhân có liên quan."""

# Wording of a provincial Chỉ thị on IT use in state agencies (from the shared seeds).
_SEED_DIRECTIVE_TEXT = """CHỈ THỊ
VỀ VIỆC TĂNG CƯỜNG ỨNG DỤNG CÔNG NGHỆ THÔNG TIN TRONG HOẠT ĐỘNG CỦA CƠ QUAN NHÀ NƯỚC \
TRÊN ĐỊA BÀN TỈNH

Trong những năm qua, việc ứng dụng công nghệ thông tin (gọi tắt là CNTT) trong hoạt động của \
các cơ quan nhà nước trên địa bàn tỉnh đã được UBND các cấp, các ngành quan tâm thực hiện và \
bước đầu đạt được những kết quả đáng khích lệ, góp phần thiết thực và có hiệu quả cho việc \
triển khai thi hành Luật Công nghệ thông tin. Tuy nhiên nhận thức về việc ứng dụng CNTT trong \
hoạt động của một số cơ quan đơn vị vẫn còn nhiều hạn chế, còn mang tính hình thức và chưa \
mang tính định hướng chung.

Trước thực trạng nêu trên UBND tỉnh yêu cầu thủ trưởng các sở, ngành tỉnh, Chủ tịch UBND các \
huyện, thị xã triển khai thực hiện các nhiệm vụ sau:

1. Nâng cao nhận thức về vai trò, vị trí của CNTT và ứng dụng CNTT trong hoạt động của các \
cơ quan nhà nước

Nâng cao nhận thức về vai trò, vị trí của CNTT và ứng dụng CNTT ở tất cả các cấp các ngành, từ \
cán bộ lãnh đạo, cán bộ quản lý đến từng cán bộ, công chức, viên chức. Thủ trưởng các sở, \
ngành tỉnh, Chủ tịch UBND các huyện, thị xã trực tiếp chỉ đạo, tổ chức triển khai các biện \
pháp để đẩy mạnh ứng dụng CNTT vào công tác chuyên môn và quản lý, phục vụ tốt cho người dân \
và doanh nghiệp.

Giao nhiệm vụ Giám đốc Sở Thông tin và Truyền thông chủ trì phối hợp với Sở Tư pháp và các \
đơn vị liên quan phổ biến rộng rãi và quán triệt đầy đủ các quy định của luật và các văn bản \
dưới luật, hướng dẫn, chỉ đạo về CNTT. Thủ trưởng các sở, ngành có trách nhiệm phổ biến và \
quán triệt đầy đủ các văn bản liên quan về CNTT thuộc lĩnh vực phụ trách đối với các đơn vị \
trong hệ thống của ngành mình.

Yêu cầu thủ trưởng các sở, ngành tỉnh, Chủ tịch UBND các huyện, thị xã và các cơ quan liên \
quan triển khai thực hiện nghiêm túc Chỉ thị này. Trong quá trình thực hiện nếu có vướng mắc \
khó khăn đề nghị phản ánh bằng văn bản về Sở Thông tin và Truyền thông để hướng dẫn, giải \
quyết; các vấn đề vượt thẩm quyền thì báo cáo đề xuất UBND tỉnh xử lý./."""

# Documents taken from the seeds: number, type, title, issuer, signer, issued, effective,
# status, sector, full text.
_SEED_DOCUMENTS: tuple[Row, ...] = (
    {
        "number": "33/2017/QĐ-UBND",
        "doc_type": "QUYET_DINH",
        "title": "Ban hành Quy chế quản lý, sử dụng các ứng dụng công nghệ thông tin dùng chung "
        "tỉnh Bắc Ninh",
        "issuer": _UBND,
        "signer": "Nguyễn Tiến Nhường",
        "issued_on": "2017-10-30",
        "effective_on": "2017-11-15",
        "status": "CON_HIEU_LUC",
        "sector": "Công nghệ thông tin",
        "full_text": _SEED_DECISION_TEXT,
    },
    {
        "number": "02/2009/CT-UBND",
        "doc_type": "CHI_THI",
        "title": "Về việc tăng cường ứng dụng công nghệ thông tin trong hoạt động của cơ quan "
        "nhà nước trên địa bàn tỉnh",
        "issuer": _UBND,
        "signer": None,
        "issued_on": "2009-02-16",
        "effective_on": "2009-02-16",
        "status": "HET_HIEU_LUC",
        "sector": "Công nghệ thông tin",
        "full_text": _SEED_DIRECTIVE_TEXT,
    },
)


def _council_term(day: date) -> str:
    if day >= date(2021, 6, 1):
        return "XIX"
    return "XVIII" if day >= date(2016, 6, 1) else "XVII"


def _bases(basis: str, issued: date) -> list[str]:
    """The "Căn cứ ..." lines for a document issued on ``issued``: laws then in force."""
    latest: dict[str, tuple[str, date]] = {}
    for slot, name, passed, in_force in (*_GOVERNMENT_LAWS, *_BASES[basis]):
        if in_force <= issued:
            latest[slot] = (name, passed)
    lines = []
    for name, passed in latest.values():
        line = f"Căn cứ {name} ngày {_vn_date(passed)}"
        amendment = _GOVERNMENT_AMENDMENTS.get(name)
        if amendment and amendment[2] <= issued:
            line += f"; {amendment[0]} ngày {_vn_date(amendment[1])}"
        lines.append(f"{line};")
    return lines


def _decision_text(
    title: str, basis: str, issued: date, effective: date, agency: str, report: str
) -> str:
    agency_name, _ = _AGENCIES[agency]
    if title.startswith("Ban hành "):
        article1 = f"Điều 1. Ban hành kèm theo Quyết định này {title[len('Ban hành ') :]}."
    else:
        article1 = (
            "Điều 1. Phạm vi điều chỉnh và đối tượng áp dụng\n"
            f"1. Quyết định này {_lower_first(title)}.\n"
            "2. Quyết định này áp dụng đối với các cơ quan nhà nước, tổ chức, hộ gia đình và "
            "cá nhân có liên quan trên địa bàn tỉnh Bắc Ninh."
        )
    return "\n\n".join(
        (
            f"QUYẾT ĐỊNH\n{title.upper()}",
            "ỦY BAN NHÂN DÂN TỈNH BẮC NINH",
            "\n".join(_bases(basis, issued)),
            f"Theo đề nghị của Giám đốc {agency_name} tại {report}.",
            "QUYẾT ĐỊNH:",
            article1,
            f"Điều 2. Giao {agency_name} chủ trì, phối hợp với các sở, ban, ngành và UBND các "
            "huyện, thị xã, thành phố hướng dẫn, theo dõi, kiểm tra việc thực hiện Quyết định "
            "này; định kỳ hằng năm tổng hợp, báo cáo UBND tỉnh.",
            f"Điều 3. Quyết định này có hiệu lực thi hành kể từ ngày {_vn_date(effective)}.",
            "Điều 4. Chánh Văn phòng UBND tỉnh; Giám đốc các sở, Thủ trưởng các ban, ngành "
            "thuộc UBND tỉnh; Chủ tịch UBND các huyện, thị xã, thành phố; Chủ tịch UBND các "
            "xã, phường, thị trấn và các tổ chức, cá nhân có liên quan chịu trách nhiệm thi "
            "hành Quyết định này./.",
        )
    )


def _resolution_text(
    title: str,
    basis: str,
    issued: date,
    effective: date,
    sector: str,
    session: int,
    report: str,
) -> str:
    term = _council_term(issued)
    committee = _COUNCIL_COMMITTEE.get(sector, "Pháp chế")
    return "\n\n".join(
        (
            f"NGHỊ QUYẾT\n{title.upper()}",
            f"HỘI ĐỒNG NHÂN DÂN TỈNH BẮC NINH\nKHÓA {term}, KỲ HỌP THỨ {session}",
            "\n".join(_bases(basis, issued)),
            f"Xét {report} của UBND tỉnh; Báo cáo thẩm tra của Ban {committee} HĐND tỉnh; ý "
            "kiến thảo luận của đại biểu HĐND tỉnh tại kỳ họp.",
            "QUYẾT NGHỊ:",
            "Điều 1. Phạm vi điều chỉnh và đối tượng áp dụng\n"
            f"1. Nghị quyết này {_lower_first(title)}.\n"
            "2. Nghị quyết này áp dụng đối với các cơ quan, tổ chức, cá nhân có liên quan trên "
            "địa bàn tỉnh Bắc Ninh.",
            "Điều 2. Tổ chức thực hiện\n"
            "1. Giao Ủy ban nhân dân tỉnh tổ chức triển khai thực hiện Nghị quyết.\n"
            "2. Giao Thường trực Hội đồng nhân dân, các Ban của Hội đồng nhân dân, các Tổ đại "
            "biểu và đại biểu Hội đồng nhân dân tỉnh giám sát việc thực hiện Nghị quyết.",
            f"Nghị quyết này đã được Hội đồng nhân dân tỉnh Bắc Ninh khóa {term}, kỳ họp thứ "
            f"{session} thông qua ngày {_vn_date(issued)} và có hiệu lực từ ngày "
            f"{_vn_date(effective)}./.",
        )
    )


def _directive_text(title: str, agency: str) -> str:
    agency_name, _ = _AGENCIES[agency]
    subject = _lower_first(title[len("Về việc ") :]) if title.startswith("Về việc ") else title
    work = subject.split(" trên địa bàn")[0].split(" năm ")[0]
    for verb in ("tăng cường ", "đẩy mạnh "):
        work = work.removeprefix(verb)
    if not work.startswith("công tác "):
        work = f"việc {work}"
    return "\n\n".join(
        (
            f"CHỈ THỊ\n{title.upper()}",
            f"Thời gian qua, {work} đã được các cấp, các "
            "ngành quan tâm chỉ đạo và đạt được những kết quả tích cực. Tuy nhiên, việc triển "
            "khai ở một số cơ quan, đơn vị, địa phương còn chậm, chưa đồng bộ, hiệu quả chưa "
            "cao.",
            f"Để {subject}, Chủ tịch UBND tỉnh yêu cầu:",
            f"1. {agency_name} chủ trì, phối hợp với các cơ quan, đơn vị liên quan tham mưu "
            "UBND tỉnh ban hành kế hoạch triển khai; hướng dẫn, đôn đốc, kiểm tra việc thực "
            "hiện Chỉ thị này.",
            "2. Thủ trưởng các sở, ban, ngành; Chủ tịch UBND các huyện, thị xã, thành phố chỉ "
            "đạo quán triệt, tổ chức thực hiện nghiêm túc các nhiệm vụ được giao; bố trí nguồn "
            "lực và định kỳ 6 tháng, hằng năm báo cáo kết quả thực hiện.",
            "3. Sở Tài chính cân đối, bố trí kinh phí thực hiện theo quy định của Luật Ngân "
            "sách nhà nước.",
            "Yêu cầu Thủ trưởng các sở, ban, ngành, Chủ tịch UBND các huyện, thị xã, thành phố "
            "và các cơ quan, đơn vị liên quan nghiêm túc thực hiện Chỉ thị này./.",
        )
    )


def _seed_document(row: Row) -> Row:
    return {k: _nfc(v) if isinstance(v, str) else v for k, v in row.items()}


def legal_documents(count: int, seed: int = 5) -> list[Row]:
    """``count`` legal documents (văn bản quy phạm pháp luật) of HĐND and UBND tỉnh Bắc Ninh.

    The first two reuse wording of real regulations; the rest are built from templates of
    typical subjects, with numbers like "12/2023/QĐ-UBND" matching the document type.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    r = rng.random
    today = REFERENCE_DATE
    rows: list[Row] = [_seed_document(row) for row in _SEED_DOCUMENTS[:count]]
    used = {str(row["number"]) for row in rows}
    first_year, last_year = 2015, today.year
    per_year = 40 + count // 10
    for _ in range(count - len(rows)):
        doc_type = _DOC_TYPES[int(r() * len(_DOC_TYPES))]
        suffix = _NUMBER_SUFFIX[doc_type]
        while True:
            year = first_year + int(r() * (last_year - first_year + 1))
            number = f"{1 + int(r() * per_year):02d}/{year}/{suffix}"
            if number not in used:
                used.add(number)
                break
        year_start = date(year, 1, 5).toordinal()
        year_end = min(date(year, 12, 31), today).toordinal()
        issued = date.fromordinal(year_start + int(r() * (year_end - year_start + 1)))
        template, sector, basis, agency = _TOPICS[doc_type][int(r() * len(_TOPICS[doc_type]))]
        title = _nfc(template.format(year=year, next=year + 1, end=year + 5))
        report_no = 50 + int(r() * 400)
        report_day = issued - timedelta(days=10 + int(r() * 40))
        if doc_type == "QUYET_DINH":
            effective = issued + timedelta(days=10 + int(r() * 10))
            abbr = _AGENCIES[agency][1]
            report = f"Tờ trình số {report_no}/TTr-{abbr} ngày {_vn_date(report_day)}"
            text = _decision_text(title, basis, issued, effective, agency, report)
            issuer = _UBND
        elif doc_type == "NGHI_QUYET":
            next_year = date(issued.year + 1, 1, 1)
            effective = next_year if r() < 0.5 else issued + timedelta(days=10)
            report = f"Tờ trình số {report_no}/TTr-UBND ngày {_vn_date(report_day)}"
            session = 2 + int(r() * 20)
            text = _resolution_text(title, basis, issued, effective, sector, session, report)
            issuer = _HDND
        else:
            effective = issued
            text = _directive_text(title, agency)
            issuer = _UBND
        age_years = today.year - year
        pick = r()
        if pick < 0.04 * age_years:
            status = "HET_HIEU_LUC"
        elif pick < 0.07 * age_years:
            status = "HET_HIEU_LUC_MOT_PHAN"
        else:
            status = "CON_HIEU_LUC"
        rows.append(
            {
                "number": _nfc(number),
                "doc_type": doc_type,
                "title": title,
                "issuer": _nfc(issuer),
                "signer": _person_name(r, r() < 0.85, 1965) if r() < 0.95 else None,
                "issued_on": issued.isoformat(),
                "effective_on": effective.isoformat(),
                "status": status,
                "sector": _nfc(sector),
                "full_text": _nfc(text),
            }
        )
    return rows


__all__ = [
    "REFERENCE_DATE",
    "Row",
    "businesses",
    "citizens",
    "health_insurance",
    "is_valid_tax_code",
    "land_parcels",
    "legal_documents",
    "tax_code_check_digit",
]
