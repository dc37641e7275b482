"""Who a signed-on person is (shared/sso.py) and the settings behind it: pure, no Redis."""

from __future__ import annotations

import pytest

from shared.auth import Identity, Permission, Role, check_credentials
from shared.config import Settings, SettingsError
from shared.sso import map_person, split_groups

MAPPED = Settings(
    sso_allowed_domains=("example.com",),
    sso_group_roles=("admins:admin", "ops:operator", "staff:viewer"),
    sso_group_queues=("team-a:alpha", "team-b:beta"),
)


@pytest.mark.parametrize(
    ("email", "groups", "role", "queues"),
    [
        ("ada@example.com", ["staff"], Role.VIEWER, None),
        ("ada@EXAMPLE.com", ["staff", "ops"], Role.OPERATOR, None),
        ("ada@example.com", ["ops", "team-a", "team-b"], Role.OPERATOR, frozenset({"alpha", "beta"})),
        ("ada@example.com", ["admins", "team-a"], Role.ADMIN, None),  # admins act on every queue
        ("ada@example.com", ["nobody"], None, None),  # no mapped group, no default role
        ("eve@example.org", ["admins"], None, None),  # another domain
        ("not-an-email", ["admins"], None, None),
    ],
)
def test_groups_map_to_the_strongest_role_and_their_queues(
    email: str, groups: list[str], role: Role | None, queues: frozenset[str] | None
) -> None:
    person = map_person(MAPPED, email, groups, "oidc")
    if role is None:
        assert person is None
    else:
        assert person == Identity(email, role, queues, kind="oidc")


def test_a_default_role_admits_people_in_no_group() -> None:
    settings = Settings(sso_default_role="viewer")
    assert map_person(settings, "bob@anywhere.net", [], "proxy") == Identity(
        "bob@anywhere.net", Role.VIEWER, kind="proxy"
    )


def test_groups_come_as_a_list_or_a_comma_separated_header() -> None:
    assert split_groups("a, b,,c") == ["a", "b", "c"]
    assert split_groups(["a", 3, None, {"b": 1}]) == ["a"]
    assert split_groups(None) == []


@pytest.mark.parametrize("claim", [{"fq-admins": True}, 7, 1.5, True, {"groups": ["fq-admins"]}])
def test_a_groups_claim_that_is_neither_a_string_nor_a_list_is_no_groups(claim: object) -> None:
    # An object or a number in the groups claim used to raise TypeError (a 500 on the callback)
    assert split_groups(claim) == []


@pytest.mark.parametrize(
    ("permission", "queue", "viewer", "operator", "admin"),
    [
        (Permission.READ, None, True, True, True),
        (Permission.ACT, None, False, True, True),
        (Permission.ADMIN, None, False, False, True),
        (Permission.ACT, "alpha", False, True, True),
        (Permission.READ, "beta", False, False, True),  # outside the scope of the scoped ones
    ],
)
def test_roles_grant_permissions_within_their_scope(
    permission: Permission, queue: str | None, viewer: bool, operator: bool, admin: bool
) -> None:
    scope = frozenset({"alpha"})
    assert Identity("v", Role.VIEWER, scope).allows(permission, queue) is viewer
    assert Identity("o", Role.OPERATOR, scope).allows(permission, queue) is operator
    assert Identity("a", Role.ADMIN).allows(permission, queue) is admin


def test_who_keeps_the_audit_fields_apart() -> None:
    assert Identity("a|b", Role.OPERATOR).who("10.0.0.1") == "a/b|operator|10.0.0.1"


@pytest.mark.parametrize(
    "bad",
    [
        {"sso_group_roles": ("admins:root",)},
        {"sso_group_roles": ("admins",)},
        {"sso_group_queues": ("team-a:",)},
        {"sso_default_role": "owner"},
        {"oidc_issuer": "https://login.example.com"},  # without a client id
        {"auth_proxy": True},  # without trusted proxies
    ],
)
def test_bad_sign_on_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(SettingsError):
        Settings(**bad).validate()  # type: ignore[arg-type]


def test_sign_on_without_a_secret_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="FQ_SECRET"):
        check_credentials(Settings(oidc_issuer="https://login.example.com", oidc_client_id="fq"))
