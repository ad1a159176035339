"""The admin: league settings editable, leagues and members listed read-only."""

from __future__ import annotations

import pytest

from leaderboard.tests.factories import BoardFactory, LeagueMemberFactory, LeagueSettingsFactory, UserFactory
from leagues.models import LeagueSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_league_settings_are_added_and_listed_in_the_admin(admin_client):
    board = BoardFactory()
    response = admin_client.post(
        "/admin/leagues/leaguesettings/add/",
        {"board": board.pk, "period": "weekly", "size": 20, "promote": 3, "demote": 3, "levels": "Bronze,Gold"},
    )
    assert response.status_code == 302, response.content
    assert LeagueSettings.objects.get().levels == ["Bronze", "Gold"]
    assert admin_client.get("/admin/leagues/leaguesettings/").status_code == 200


def test_leagues_and_members_are_listed_read_only(admin_client):
    LeagueSettingsFactory()
    member = LeagueMemberFactory()
    assert admin_client.get("/admin/leagues/league/").status_code == 200
    assert admin_client.get("/admin/leagues/leaguemember/").status_code == 200
    assert admin_client.get(f"/admin/leagues/league/{member.league.pk}/change/").status_code == 200
    assert admin_client.get("/admin/leagues/league/add/").status_code == 403
    assert admin_client.post(f"/admin/leagues/leaguemember/{member.pk}/delete/").status_code == 403
