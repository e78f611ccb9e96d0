"""``Access.filters_within_view``: a field's row condition is dropped only where the rows
that reach it (those the caller sees) all satisfy it; elsewhere it is kept exactly."""

from __future__ import annotations

from catalog.access import Access, AccessRule
from catalog.rowfilter import Condition, RowFilter

TUSON = RowFilter((Condition("district", "eq", "Thị xã Từ Sơn"),))
QUEVO = RowFilter((Condition("district", "eq", "Huyện Quế Võ"),))
BASIC = frozenset({"district", "commune"})


def access(*rules: AccessRule) -> Access:
    return Access("citizen", rules, frozenset(), False, "test")


def test_one_row_filtered_rule_makes_its_fields_unconditional_within_the_view() -> None:
    view = access(AccessRule(BASIC | {"full_name"}, TUSON))
    assert view.filters_for_field("full_name") == (TUSON,)
    assert view.filters_within_view("full_name") is None
    assert view.filters_within_view("phone") == ()


def test_a_field_granted_under_one_of_two_filters_keeps_its_condition() -> None:
    view = access(AccessRule(BASIC | {"full_name"}, TUSON), AccessRule(BASIC, QUEVO))
    assert view.filters_within_view("full_name") == (TUSON,)
    assert view.filters_within_view("district") is None


def test_a_field_missing_from_an_unconditional_rule_keeps_its_condition() -> None:
    view = access(AccessRule(BASIC, None), AccessRule(BASIC | {"full_name"}, TUSON))
    assert view.filters_within_view("full_name") == (TUSON,)
    assert view.filters_within_view("commune") is None


def test_equal_filters_of_separate_grants_count_as_the_same_rows() -> None:
    same = RowFilter((Condition("district", "eq", "Thị xã Từ Sơn"),))
    view = access(AccessRule(BASIC, TUSON), AccessRule(BASIC | {"full_name"}, same))
    assert view.filters_within_view("full_name") is None
