"""League settings refuse what cannot work: a period the board lacks, all_time, moves larger than a league."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from leaderboard.tests.factories import BoardFactory, LeagueFactory, LeagueMemberFactory
from leagues.models import LeagueSettings


def settings_for(board, **fields):
    values = {"period": "weekly", "size": 30, "promote": 5, "demote": 5, "levels": ["Bronze", "Silver"]} | fields
    return LeagueSettings(board=board, **values)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"period": "all_time"}, "period"),
        ({"period": "daily"}, "period"),
        ({"size": 1}, "size"),
        ({"size": 1001}, "size"),
        ({"promote": 20, "demote": 11}, "demote"),
        ({"levels": []}, "levels"),
        ({"levels": ["Gold", "Gold"]}, "levels"),
    ],
)
def test_league_settings_refuse_what_cannot_work(fields, field):
    board = BoardFactory(periods=["weekly", "monthly"])
    with pytest.raises(ValidationError) as caught:
        settings_for(board, **fields).full_clean()
    assert field in caught.value.message_dict


@pytest.mark.django_db
def test_valid_settings_pass_and_the_database_refuses_overfull_moves_and_leagues():
    board = BoardFactory()
    settings_for(board).full_clean()
    with pytest.raises(IntegrityError):
        settings_for(board, promote=20, demote=20).save()


@pytest.mark.django_db
def test_a_league_never_holds_more_than_its_capacity_in_the_database():
    league = LeagueFactory(capacity=2)
    LeagueMemberFactory(league=league)
    league.member_count = 3
    with pytest.raises(IntegrityError):
        league.save()


@pytest.mark.django_db
def test_the_level_name_is_capped_at_the_top():
    settings = settings_for(BoardFactory(), levels=["Bronze", "Silver"])
    assert (settings.level_name(0), settings.level_name(1), settings.level_name(7)) == ("Bronze", "Silver", "Silver")
