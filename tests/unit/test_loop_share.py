"""LoopShare: how long a user's connection stops being read after spending loop time."""

from __future__ import annotations

import pytest

from broker.frontdoor.pacing import LoopShare


def test_within_the_burst_nothing_pauses() -> None:
    share = LoopShare(share=0.25, burst=0.1)
    assert share.charge(0.0, 0.05) == 0.0
    assert share.charge(0.0, 0.05) == 0.0


def test_beyond_it_the_pause_pays_the_time_back_at_the_share() -> None:
    share = LoopShare(share=0.25, burst=0.1)
    assert share.charge(0.0, 0.2) == pytest.approx(0.4)  # 0.1 in debt, repaid at 0.25 a second
    assert share.charge(0.4, 0.0) == 0.0
    assert share.balance == pytest.approx(0.0)


def test_a_flood_gets_its_share_and_no_more() -> None:
    share = LoopShare(share=0.25, burst=0.1)
    now = spent = 0.0
    while now < 60.0:  # a connection that always has a 20 ms read ready when resumed
        spent += 0.02
        now += 0.02 + share.charge(now, 0.02)
    assert spent / now == pytest.approx(0.25, abs=0.01)


def test_idle_time_saves_no_more_than_the_burst() -> None:
    share = LoopShare(share=0.25, burst=0.1)
    share.charge(0.0, 0.0)
    assert share.charge(3600.0, 0.3) == pytest.approx(0.8)
    assert share.charge(1.0, 0.0) > 0  # a clock that goes back gives nothing
