"""From a person's email and groups (an OIDC ID token, or a trusted auth proxy's headers) to an
:class:`~shared.auth.Identity`: allowed domains, group → role and group → queue scope.

One mapping for both ways of signing on, so an OIDC login and the same person behind
oauth2-proxy get the same role and queues (issue 22).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.auth import Identity, Role
from shared.config import Settings

#: Longest email accepted (RFC 5321's path limit).
MAX_EMAIL_CHARS = 254
#: Most groups looked at per person (a claim may list hundreds; the mapping needs few).
MAX_GROUPS = 200
#: Roles from weakest to strongest: a person gets the strongest of their groups'.
RANK = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


def _pairs(entries: Iterable[str]) -> list[tuple[str, str]]:
    return [(group, value) for group, _, value in (entry.rpartition(":") for entry in entries)]


def domain_allowed(settings: Settings, email: str) -> bool:
    if not settings.sso_allowed_domains:
        return True
    domain = email.rpartition("@")[2].lower()
    return domain in {d.lower().lstrip("@") for d in settings.sso_allowed_domains}


def map_person(settings: Settings, email: str, groups: Iterable[str], kind: str) -> Identity | None:
    """The identity of a signed-on person, or None when they may not in (domain, no role)."""
    email = email.strip()
    if not email or len(email) > MAX_EMAIL_CHARS or "@" not in email or not domain_allowed(settings, email):
        return None
    mine = {group.strip() for group, _ in zip(groups, range(MAX_GROUPS), strict=False) if group.strip()}
    roles = [Role(role) for group, role in _pairs(settings.sso_group_roles) if group in mine]
    if not roles and settings.sso_default_role:
        roles = [Role(settings.sso_default_role)]
    if not roles:
        return None
    role = max(roles, key=RANK.index)
    queues = frozenset(queue for group, queue in _pairs(settings.sso_group_queues) if group in mine)
    scope = None if role is Role.ADMIN or not queues else queues
    return Identity(email, role, scope, kind=kind)


def split_groups(raw: object) -> list[str]:
    """Groups from a claim: a list of strings, or a comma-separated string as proxies send them.
    Anything else (an object, a number, a missing claim) is no groups; so are a list's items that
    are not strings. A provider's odd claim then maps like a person in no group, never a 500."""
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()][:MAX_GROUPS]
    if isinstance(raw, list):
        return [item for item in raw[:MAX_GROUPS] if isinstance(item, str)]
    return []
