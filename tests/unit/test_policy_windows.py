"""Time windows of access rules: parsing, when a window holds, and the rule that decides."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker import cli
from broker.policy.access import AccessRule, decide_access
from broker.policy.windows import (
    Window,
    WindowError,
    open_until,
    parse_days,
    parse_hours,
)

WEEKDAYS = frozenset(range(5))


def t(text: str) -> float:
    """A UTC time like ``2026-12-07 09:30`` (a Monday) as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat,sun", {5, 6}),
        ("mon,wed-fri", {0, 2, 3, 4}),
        ("fri-mon", {4, 5, 6, 0}),
        ("daily", set(range(7))),
        (" Sun ", {6}),
    ],
)
def test_days(text: str, days: set[int]) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["weekdays", "mon-", "", "mon,,fri", "monday"])
def test_bad_days(text: str) -> None:
    with pytest.raises(WindowError):
        parse_days(text)


@pytest.mark.parametrize(
    ("text", "span"),
    [("08:00-18:00", (480, 1080)), ("22:00-06:00", (1320, 360)), ("00:00-24:00", (0, 1440))],
)
def test_hours(text: str, span: tuple[int, int]) -> None:
    assert parse_hours(text) == span


@pytest.mark.parametrize("text", ["8-18", "25:00-26:00", "08:61-09:00", "09:00-09:00", "x"])
def test_bad_hours(text: str) -> None:
    with pytest.raises(WindowError):
        parse_hours(text)


@given(st.text(max_size=40))
def test_hostile_window_text_is_refused_or_read_never_crashes(text: str) -> None:
    for parse in (parse_days, parse_hours):
        with contextlib.suppress(WindowError):
            parse(text)


OFFICE = Window(days=WEEKDAYS, start=8 * 60, end=18 * 60, tz="UTC")
NIGHT = Window(days=frozenset({4}), start=22 * 60, end=6 * 60, tz="UTC")  # fri 22:00 → sat 06:00


@pytest.mark.parametrize(
    ("window", "now", "closes"),
    [
        (OFFICE, "2026-12-07 09:30", "2026-12-07 18:00"),
        (OFFICE, "2026-12-07 07:59", None),
        (OFFICE, "2026-12-07 18:00", None),  # the end is outside
        (OFFICE, "2026-12-12 10:00", None),  # saturday
        (NIGHT, "2026-12-11 23:00", "2026-12-12 06:00"),  # friday night
        (NIGHT, "2026-12-12 05:59", "2026-12-12 06:00"),  # saturday morning, started friday
        (NIGHT, "2026-12-13 05:00", None),  # sunday morning: started saturday, not a day of it
        (NIGHT, "2026-12-10 23:00", None),  # thursday
    ],
)
def test_a_window_holds_now_and_says_when_it_closes(
    window: Window, now: str, closes: str | None
) -> None:
    assert window.closes(t(now)) == (None if closes is None else t(closes))


def test_a_windows_time_zone_is_its_wall_clock_across_dst() -> None:
    berlin = Window(days=WEEKDAYS, start=8 * 60, end=18 * 60, tz="Europe/Berlin")
    # winter: UTC+1, so 07:30 UTC is 08:30 there and it closes 17:00 UTC
    assert berlin.closes(t("2026-12-07 07:30")) == t("2026-12-07 17:00")
    # summer: UTC+2, so 06:30 UTC is 08:30 there and it closes 16:00 UTC
    assert berlin.closes(t("2026-07-06 06:30")) == t("2026-07-06 16:00")
    assert berlin.closes(t("2026-07-06 16:30")) is None


def test_no_windows_is_always_open_and_several_take_the_latest_close() -> None:
    assert open_until((), t("2026-12-07 03:00")) == float("inf")
    late = Window(days=WEEKDAYS, start=17 * 60, end=20 * 60, tz="UTC")
    assert open_until((OFFICE, late), t("2026-12-07 17:30")) == t("2026-12-07 20:00")
    assert open_until((OFFICE, late), t("2026-12-07 21:00")) is None


RULES = (
    AccessRule("prod-office", ("eng",), ("prod-*",), "approval", windows=(OFFICE,)),
    AccessRule("prod-break-glass", ("sre",), ("prod-*",), "approval", approvals=2),
)


def test_the_rule_applies_in_its_window_and_the_decision_names_it_and_its_close() -> None:
    inside = decide_access(RULES, ["eng"], "prod-1", t("2026-12-07 09:00"))
    assert (inside.action, inside.rule, inside.until) == (
        "approval",
        "prod-office",
        t("2026-12-07 18:00"),
    )
    outside = decide_access(RULES, ["eng"], "prod-1", t("2026-12-07 19:00"))
    assert (outside.action, outside.rule) == ("deny", "default-deny")
    assert outside.reason == "rule 'prod-office' applies only in its time windows"
    # outside the window the next matching rule decides
    both = decide_access(RULES, ["eng", "sre"], "prod-1", t("2026-12-07 19:00"))
    assert (both.rule, both.approvals, both.until) == ("prod-break-glass", 2, None)


GOOD = """\
access:
  - {name: prod, groups: [eng], connections: ["prod-*"], action: approval,
     windows: [{days: mon-fri, hours: "08:00-18:00", tz: Europe/Berlin},
               {days: [sat, sun], hours: "10:00-12:00"}]}
  - {name: dev, groups: [eng], connections: [dev], action: allow,
     windows: [{hours: "22:00-06:00"}]}
"""


def write(tmp_path: Path, policy: str) -> Path:
    (tmp_path / "p.yaml").write_text(policy)
    config = tmp_path / "gatehouse.yaml"
    config.write_text(
        "listen: 127.0.0.1:2222\nstate_dir: ./state\nusers: {}\nconnections: {}\n"
        "policies: [p.yaml]\n"
    )
    return config


def test_check_accepts_windows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "-c", str(write(tmp_path, GOOD))]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("days: mon-fri", "days: weekdays", "p.yaml:3: access.0.windows.0.days: unknown day"),
        ('hours: "08:00-18:00"', 'hours: "8-6"', "p.yaml:3: access.0.windows.0.hours: must look"),
        ("tz: Europe/Berlin", "tz: Mars/Olympus", "p.yaml:3: access.0.windows.0.tz: unknown time"),
        ("tz: Europe/Berlin", "zone: UTC", "p.yaml:3: access.0.windows.0.zone: unknown key"),
        ('{hours: "22:00-06:00"}', "{days: daily}", "p.yaml:6: access.1.windows.0.hours: is requ"),
        ('windows: [{hours: "22:00-06:00"}]', "windows: []", "p.yaml:6: access.1.windows: must be"),
        ("days: [sat, sun]", "days: [sat, 7]", "p.yaml:4: access.0.windows.1.days: must be days"),
    ],
)
def test_check_names_file_line_and_key_of_a_bad_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, where: str
) -> None:
    assert old in GOOD
    config = write(tmp_path, GOOD.replace(old, new))
    assert cli.main(["check", "-c", str(config)]) != 0
    assert where in capsys.readouterr().err
