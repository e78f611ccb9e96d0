"""The in-process sliding window counter (``limits``' algorithm): bursts then a steady rate,
the previous window weighted by how much of it is still covered, a wait that names when a
retry can pass, and a table that does not grow without bound."""

from __future__ import annotations

from limits import parse

from hub.rate_counter import LocalWindowCounters

START = 1_800_000_000.0  # a window boundary for periods of 1, 2, 10 and 60 s


def test_a_burst_then_about_the_rate() -> None:
    counters = LocalWindowCounters()
    item = parse("200/2 seconds")
    admitted = sum(counters.hit(item, "client", "c", START + 0.001) == 0 for _ in range(250))
    assert admitted == 200
    # Over the next 10 s at 1,000 attempts a second, about 100/s pass.
    passed = sum(
        counters.hit(item, "client", "c", START + 2 + i / 1000) == 0 for i in range(10_000)
    )
    assert 950 <= passed <= 1_050


def test_the_wait_is_when_a_retry_passes() -> None:
    counters = LocalWindowCounters()
    item = parse("3/minute")
    for _ in range(3):
        assert counters.hit(item, "client", "c", START + 10) == 0
    wait = counters.hit(item, "client", "c", START + 10)
    assert 0 < wait <= 60
    assert counters.hit(item, "client", "c", START + 10 + wait - 0.5) > 0
    assert counters.hit(item, "client", "c", START + 10 + wait + 0.01) == 0


def test_callers_and_scopes_count_apart() -> None:
    counters = LocalWindowCounters()
    item = parse("1/minute")
    assert counters.hit(item, "client", "a", START) == 0
    assert counters.hit(item, "client", "a", START) > 0
    assert counters.hit(item, "client", "b", START) == 0
    assert counters.hit(item, "agency", "a", START) == 0


def test_the_previous_window_counts_by_how_much_of_it_is_still_covered() -> None:
    counters = LocalWindowCounters()
    item = parse("10/10 seconds")
    for _ in range(10):
        assert counters.hit(item, "client", "c", START + 5) == 0
    # 3 s into the next window, 70 % of the previous one is covered: 7 counted, 3 more pass.
    passed = sum(counters.hit(item, "client", "c", START + 13) == 0 for _ in range(5))
    assert passed == 3


def test_stale_windows_are_dropped() -> None:
    counters = LocalWindowCounters()
    item = parse("10/second")
    for n in range(60_000):
        counters.hit(item, "anon", f"10.0.{n // 256}.{n % 256}", START + n / 1000)
    assert len(counters._windows) < 60_000
