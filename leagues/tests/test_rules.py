"""The zones and the next level (``leagues.rules``): competition ranks, ties on the better side, bounds."""

from __future__ import annotations

import pytest

from leagues.rules import DEMOTE, PROMOTE, STAY, next_level, zone


@pytest.mark.parametrize(
    ("rank", "ranked", "promote", "demote", "expected"),
    [
        (1, 30, 5, 5, PROMOTE),
        (5, 30, 5, 5, PROMOTE),
        (6, 30, 5, 5, STAY),
        (25, 30, 5, 5, STAY),
        (26, 30, 5, 5, DEMOTE),
        (30, 30, 5, 5, DEMOTE),
        (4, 30, 5, 5, PROMOTE),  # a tie at rank 4 spanning positions 4..8 is promoted whole
        (24, 30, 5, 5, STAY),  # a tie at rank 24 spanning positions 24..30 stays whole
        (1, 3, 2, 2, PROMOTE),  # fewer players than promote + demote: promotion wins
        (3, 3, 2, 2, DEMOTE),
        (1, 1, 0, 0, STAY),
        (1, 1, 0, 1, DEMOTE),
    ],
)
def test_a_rank_falls_in_one_zone(rank, ranked, promote, demote, expected):
    assert zone(rank=rank, ranked=ranked, promote=promote, demote=demote) == expected


def test_the_next_level_is_bounded_by_the_lowest_and_the_top():
    assert next_level(level=0, zone_name=PROMOTE, top_level=3) == 1
    assert next_level(level=3, zone_name=PROMOTE, top_level=3) == 3
    assert next_level(level=0, zone_name=DEMOTE, top_level=3) == 0
    assert next_level(level=2, zone_name=DEMOTE, top_level=3) == 1
    assert next_level(level=2, zone_name=STAY, top_level=3) == 2
    assert next_level(level=5, zone_name=STAY, top_level=3) == 3  # levels removed since
