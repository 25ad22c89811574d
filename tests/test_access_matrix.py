"""The role-by-route matrix (PRODUCT.md, the actors table and capability 10): every URL of the project and every
API operation, called by every role, answers as the table says.

- Every URL pattern (``get_resolver()``, walked recursively) must carry a declaration (``view.permis_access``,
  permis.config.access) and every API operation an authentication (a ``KeyAuth(scope)`` or the holder's token);
  only the API's documentation is public, by name, below. A route missing from the expected matrix, or an entry
  of the matrix that is no route any more, fails too: adding a page means saying here who may open it.
- Each route is then called by each actor with sample values in its path (the objects of the `world` fixture).
  Allowed: any answer but a refusal, never a server error. Refused: 401, 403, 404, or a redirect to a sign-in
  or linking page; never a 200 carrying the holder's data (their licence number, dossier number or name).

The expected matrix is data: route name → the actors that may open it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from ninja.constants import NOT_SET

from permis.accounts.app_sessions import open_session
from permis.accounts.models import Account, HolderLink
from permis.api.models import ApiKey
from permis.api.v1 import api
from permis.audit.services import create_share
from permis.backoffice.models import CorrectionRequest, HolderCorrectionRequest
from permis.backoffice.roles import assign_role
from permis.config.access import declaration_of
from permis.notices import services as notice_services
from permis.notices.models import Delivery
from permis.registry.models import Event, Holder, Licence, Notice
from tests.api.partners import APPROVAL, centre
from tests.notices.document_helpers import licence_with

# -- the actors ---------------------------------------------------------------------------------------------------
ANONYMOUS, ACCOUNT, HOLDER, OTHER_HOLDER = "anonymous", "account", "holder", "other_holder"
AGENT, AGENT_ELSEWHERE, SUPERVISOR, AUDITOR = "agent", "agent_elsewhere", "supervisor", "auditor"
WEB_ACTORS = (ANONYMOUS, ACCOUNT, HOLDER, OTHER_HOLDER, AGENT_ELSEWHERE, AGENT, SUPERVISOR, AUDITOR)

SCOPES = ("feed", "post", "course_centre", "police", "police_balance", "third_party")
NO_KEY, HOLDER_TOKEN, OTHER_HOLDER_TOKEN = "no_key", "holder_token", "other_holder_token"
API_ACTORS = (NO_KEY, *SCOPES, HOLDER_TOKEN, OTHER_HOLDER_TOKEN)

EVERYONE = frozenset(WEB_ACTORS)
SIGNED_IN = EVERYONE - {ANONYMOUS}
# Holders' accounts (an ``Account`` row), linked or not: never an agent's user (docs/accounts.md).
ACCOUNTS = frozenset({ACCOUNT, HOLDER, OTHER_HOLDER})
# A holder's pages without an id show the signed-in holder's own file: the other holder opens their own.
HOLDERS = frozenset({HOLDER, OTHER_HOLDER})
# A holder's pages with an id of the holder's (a letter, a document, a share code).
THE_HOLDER = frozenset({HOLDER})
STAFF = frozenset({AGENT_ELSEWHERE, AGENT, SUPERVISOR})  # agents wherever they work, and supervisors
# A file in the agent's département (75): not the agent of another département, never the auditor.
THE_FILE = frozenset({AGENT, SUPERVISOR})

# -- the expected matrix: web pages -------------------------------------------------------------------------------
WEB_MATRIX: dict[str, frozenset[str]] = {
    "healthz": EVERYONE,
    "portal:home": EVERYONE,
    "portal:simulator": EVERYONE,
    "verifier:verify": EVERYONE,
    # Holders' accounts: signing in and up is public; the account's own pages need a holders' account (an
    # agent's user is refused: it could link a file there and read it in /mon-espace/, review H2).
    "accounts:login": EVERYONE,
    "accounts:totp_login": EVERYONE,
    "accounts:fc_login": EVERYONE,
    "accounts:fc_callback": EVERYONE,
    "accounts:fc_failed": EVERYONE,
    "accounts:signup": EVERYONE,
    "accounts:resend": EVERYONE,
    "accounts:verify": EVERYONE,
    "accounts:logout": EVERYONE,
    "accounts:logged_out": EVERYONE,
    "accounts:password_reset": EVERYONE,
    "accounts:password_reset_done": EVERYONE,
    "accounts:password_reset_confirm": EVERYONE,
    "accounts:password_reset_complete": EVERYONE,
    "accounts:home": ACCOUNTS,
    "accounts:link": ACCOUNTS,
    "accounts:security": ACCOUNTS,
    "accounts:totp_setup": ACCOUNTS,
    "accounts:totp_disable": ACCOUNTS,
    "accounts:logout_everywhere": ACCOUNTS,
    # One of the account's application sessions (its id): an account has one only while linked to a file.
    "accounts:app_session_revoke": THE_HOLDER,
    # The holder's own file and errands.
    "dossier:dashboard": HOLDERS,
    "dossier:history": HOLDERS,
    "dossier:forecast": HOLDERS,
    "dossier:forecast_ics": HOLDERS,
    "dossier:simulator": HOLDERS,
    "dossier:digital_licence": HOLDERS,
    "demarches:notices": HOLDERS,
    "demarches:notice": THE_HOLDER,
    "demarches:notice_pdf": THE_HOLDER,
    "demarches:preferences": HOLDERS,
    "demarches:preferences_confirm": HOLDERS,  # each their own link (another's is as unknown as a bad one)
    "demarches:documents": HOLDERS,
    "demarches:attestation_pdf": THE_HOLDER,
    "demarches:rii_pdf": THE_HOLDER,
    "demarches:courses": HOLDERS,
    "demarches:share": HOLDERS,
    "demarches:share_revoke": THE_HOLDER,
    "demarches:access_log": HOLDERS,
    "demarches:corrections": HOLDERS,  # each their own requests
    "demarches:correction": THE_HOLDER,  # one request of the holder's
    # The back office: the agents' sign-in is public; letters' figures for agents and supervisors; retrying a
    # letter of a file of the 75: its département's agents and supervisors.
    "agent:login": EVERYONE,
    "agent:login_code": EVERYONE,  # the second factor's steps, after the password (else back to the login)
    "agent:login_enrol": EVERYONE,
    "agent:logout": EVERYONE,
    "agent:notices": STAFF,
    "agent:retry": THE_FILE,
    "backoffice:home": STAFF | {AUDITOR},
    "backoffice:search": STAFF,
    "backoffice:file": THE_FILE,
    "backoffice:purpose": THE_FILE,
    "backoffice:close": THE_FILE,
    "backoffice:rii": THE_FILE,
    "backoffice:attestation": THE_FILE,
    "backoffice:letter": THE_FILE,
    "backoffice:record": THE_FILE,
    "backoffice:correct": THE_FILE,
    "backoffice:corrections": STAFF,
    "backoffice:review": THE_FILE,
    "backoffice:holder_request": THE_FILE,  # a holder's request: a read of the file, its département's agents
    "backoffice:centres": STAFF,
    "backoffice:withdraw": THE_FILE,  # a centre of the 75: its département's agents and supervisors
    "backoffice:dashboard": frozenset({SUPERVISOR}),
    "backoffice:integrity": frozenset({SUPERVISOR, AUDITOR}),
    # The access log: the auditor's alone (PRODUCT.md: "reads the access log"); agents and supervisors read files.
    "backoffice:journal": frozenset({AUDITOR}),
}

# -- the expected matrix: the partner API (operation id → actors) --------------------------------------------------
API_MATRIX: dict[str, frozenset[str]] = {
    "post_offences": frozenset({"feed"}),
    "get_offence": frozenset({"feed"}),
    "post_receipts": frozenset({"post"}),
    "create_session": frozenset({"course_centre"}),
    "list_sessions": frozenset({"course_centre"}),
    "check_eligibility": frozenset({"course_centre"}),
    "submit_attendance": frozenset({"course_centre"}),
    "check_licence": frozenset({"police"}),
    "check_licence_balance": frozenset({"police_balance"}),  # L225-4: a scope of its own
    "check_qr_code": frozenset({"police"}),
    "check_share_code": frozenset({"third_party"}),
    "check_attestation": frozenset({"third_party"}),
    "me": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),  # each their own file
    "my_movements": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
    "my_letters": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
    # An id of the holder's (a letter, a share code): the other holder's token gets the 404 of an unknown id.
    "my_letter_pdf": frozenset({HOLDER_TOKEN}),
    "my_forecast": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
    "my_access_log": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
    "my_share_codes": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
    "create_share_code": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
    "revoke_share_code": frozenset({HOLDER_TOKEN}),
    # The account's application sessions: each their own (ending the current one with a provider token is 404).
    "open_app_session": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
    "my_app_sessions": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
    "close_app_session": frozenset({HOLDER_TOKEN, OTHER_HOLDER_TOKEN}),
}
# The API's only public routes: its description (OpenAPI), its documentation page, its root (to the page), and
# the JSON 404 of any other path.
API_PUBLIC = {"api-v1:openapi-json", "api-v1:openapi-view", "api-v1:api-root"}


# -- walking the routes -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    name: str
    route: str  # with its converters, e.g. "mon-espace/courriers/<int:notice_id>/"
    callback: Any
    default_kwargs: tuple[tuple[str, Any], ...]


def walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = (
                f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else pattern.namespace
            )
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner or namespace)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else (pattern.name or "")
            yield Route(
                name, prefix + str(pattern.pattern), pattern.callback, tuple(pattern.default_args.items())
            )


ROUTES = list(walk(get_resolver().url_patterns))
API_PREFIX = "api/v1/"
WEB_ROUTES = [r for r in ROUTES if not r.route.startswith(API_PREFIX)]
API_ROUTES = [r for r in ROUTES if r.route.startswith(API_PREFIX)]


def api_operations() -> Iterator[tuple[str, str, str, Any]]:
    """(operation id, method, path under /api/v1/, operation) of every operation of the API's routers."""
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for method in operation.methods:
                    yield (
                        operation.view_func.__name__,
                        method,
                        re.sub("/+", "/", prefix + path).strip("/"),
                        operation,
                    )


def auth_of(op_id: str) -> list[Any]:
    """The authentication an operation runs: its own (``auth=`` on the operation), else its router's, else the
    API's."""
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                if operation.view_func.__name__ != op_id:
                    continue
                for auth in (operation.auth_param, router.auth, api.auth):
                    if auth is not NOT_SET and auth is not None:
                        return list(auth) if isinstance(auth, (list, tuple)) else [auth]
    return []


# -- every route declares who may call it -------------------------------------------------------------------------
def test_every_web_route_declares_who_may_open_it() -> None:
    undeclared = [
        f"/{r.route} ({r.name or 'no name'})" for r in WEB_ROUTES if declaration_of(r.callback) is None
    ]
    assert not undeclared, "routes without a declaration (permis.config.access): " + ", ".join(undeclared)
    names = [r.name for r in WEB_ROUTES]
    assert all(names), "every route has a name, to appear in the matrix"
    assert set(names) == set(WEB_MATRIX), (
        f"routes missing from WEB_MATRIX: {sorted(set(names) - set(WEB_MATRIX))}; "
        f"entries that are no route: {sorted(set(WEB_MATRIX) - set(names))}"
    )


def test_every_declaration_matches_the_matrix() -> None:
    """A declaration says the same as the matrix: public routes are open to all, role routes to those roles."""
    for route in WEB_ROUTES:
        declared = declaration_of(route.callback)
        expected = WEB_MATRIX[route.name]
        if declared == "public":
            assert expected == EVERYONE, route.name
        elif declared == "signed_in":
            assert expected == SIGNED_IN, route.name
        elif declared == "account":
            assert expected == ACCOUNTS, route.name
        elif declared == "holder":
            assert expected <= HOLDERS, route.name
        else:
            kind, roles = declared
            assert kind in {"role", "permission"}, (route.name, declared)
            assert expected <= {AGENT, AGENT_ELSEWHERE, SUPERVISOR, AUDITOR}, route.name
            assert {SUPERVISOR, AUDITOR} & expected == {SUPERVISOR, AUDITOR} & set(roles), (route.name, roles)
            assert (AGENT in expected or AGENT_ELSEWHERE in expected) == ("agent" in roles), route.name


def test_every_api_operation_has_an_authentication_or_is_public_by_name() -> None:
    operations = {op_id: operation for op_id, _, _, operation in api_operations()}
    assert set(operations) == set(API_MATRIX), (
        f"operations missing from API_MATRIX: {sorted(set(operations) - set(API_MATRIX))}; "
        f"entries that are no operation: {sorted(set(API_MATRIX) - set(operations))}"
    )
    for op_id in operations:
        assert auth_of(op_id), f"{op_id} has no authentication"
    for route in API_ROUTES:
        if route.name in API_PUBLIC or declaration_of(route.callback) == "public":
            continue
        assert route.name.removeprefix("api-v1:") in API_MATRIX, (
            f"/{route.route} is neither an operation nor public"
        )


# -- the world the routes are called in ---------------------------------------------------------------------------
@dataclass
class World:
    users: dict[str, User | None]
    keys: dict[str, str]
    licence: Licence
    other_licence: Licence
    values: dict[str, Any]  # path parameters by name
    secrets: list[str]  # what only the holder (and the agents of the file) may see


def _holder_user(username: str, holder: Holder, sub: str) -> User:
    user = User.objects.create_user(username, email=f"{username}@example.fr")  # no password: no hashing
    HolderLink.objects.create(user=user, holder=holder, method="licence_form")
    Account.objects.create(user=user, franceconnect_sub=sub)
    return user


def _account_user(username: str) -> User:
    """A holders' account (signed up, verified) not linked to any file."""
    user = User.objects.create_user(username, email=f"{username}@example.fr")
    Account.objects.create(user=user)
    return user


def _agent(username: str, role: str, departements: list[str]) -> User:
    user = User.objects.create_user(username, first_name="Alex", last_name=role.title())
    assign_role(user, role, departements, service="Préfecture")
    return user


def _token(sub: str) -> str:
    """A holder's token, as the provider signs it for this service (its key primed in the cache)."""
    from tests.api.partners import holder_token

    return holder_token(sub)


@pytest.fixture
def world(db: Any) -> World:
    lic = licence_with("48")
    Holder.objects.filter(pk=lic.holder_id).update(
        postal_code="75011", city="Paris", birth_name="LAFLEUR", given_names="Hortense"
    )
    other = licence_with("48")
    Holder.objects.filter(pk=other.holder_id).update(postal_code="75012", city="Paris", birth_name="DURAND")
    notice_services.plan_deliveries()
    notice = Notice.objects.get(licence=lic, code="48")
    share, _ = create_share(lic.holder, 7)
    ctr = centre(APPROVAL)
    requester = _agent("requester", "agent", ["75"])
    correction = CorrectionRequest.objects.create(
        licence=lic,
        target=Event.objects.filter(licence=lic).order_by("seq").last(),
        replacement=None,
        reason="test",
        requested_by=requester,
    )
    holder_user = _holder_user("holder", lic.holder, "sub-holder")
    holder_request = HolderCorrectionRequest.objects.create(
        reference="DC-TEST0001",
        holder=lic.holder,
        licence=lic,
        target=None,
        subject="Autre",
        message="LAFLEUR : ma date de permis est fausse.",
        requested_by=holder_user,
    )
    users: dict[str, User | None] = {
        ANONYMOUS: None,
        ACCOUNT: _account_user("account"),
        HOLDER: holder_user,
        OTHER_HOLDER: _holder_user("other", other.holder, "sub-other"),
        AGENT_ELSEWHERE: _agent("agent13", "agent", ["13"]),
        AGENT: _agent("agent75", "agent", ["75", "92"]),
        SUPERVISOR: _agent("supervisor", "supervisor", []),
        AUDITOR: _agent("auditor", "auditor", []),
    }
    # The agent of the file's département is even linked to the holder's file (as the citizen linking form let
    # an agent do, review H2): the holder's space must still refuse them.
    HolderLink.objects.create(user=users[AGENT], holder=lic.holder, method="licence_form")
    keys = {NO_KEY: ""}
    for scope in SCOPES:
        sender = {"feed": "ANTAI", "course_centre": APPROVAL}.get(scope, "")
        keys[scope] = ApiKey.objects.issue(name=f"key {scope}", sender=sender, scopes=[scope])[1]
        # Sent to the holder's endpoints, a partner key is a token the provider refuses (its answer cached).
        cache.set("api:holder:userinfo:" + hashlib.sha256(keys[scope].encode()).hexdigest(), {}, 600)
    keys[HOLDER_TOKEN] = _token("sub-holder")
    keys[OTHER_HOLDER_TOKEN] = _token("sub-other")
    lic.refresh_from_db()
    values = {
        "notice_id": notice.pk,
        "licence_id": lic.pk,
        "share_id": share.pk,
        "pk": lic.pk,  # the back office's files; review, withdraw and retry have their own, below
        "seq": Event.objects.filter(licence=lic).order_by("seq").last().seq,
        "kind": "suspension",
        "token": "invalid-token",
        "uidb64": "MQ",
        "number": lic.number,
        "sender_ref": "ANTAI-1",
        "session_id": 1,
        "request_id": holder_request.pk,
    }
    per_route = {
        "backoffice:review": {"pk": correction.pk},
        "backoffice:holder_request": {"pk": holder_request.pk},
        "backoffice:withdraw": {"pk": ctr.pk},
        "agent:retry": {"pk": Delivery.objects.filter(notice=notice).first().pk},
        "accounts:app_session_revoke": {
            "session_id": open_session(holder_user.pk, lic.holder, "Téléphone", {"sub": "s", "iat": 0})[0].pk
        },
    }
    values["per_route"] = per_route
    secrets = [lic.number, lic.dossier_number, "LAFLEUR"]
    return World(users, keys, lic, other, values, secrets)


CONVERTER = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


def fill(route: str, values: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group("name")
        assert name in values, f"no sample value for <{name}> in {route}"
        return str(values[name])

    return "/" + CONVERTER.sub(value, route)


LOGIN_PAGES = ("/compte/connexion/", "/gestion/connexion/")
LINK_PAGE = "/compte/rattachement/"  # where a holder's page sends an account with no file


def refused(response: Any, holder_page: bool = False) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    if response.status_code in (301, 302, 303, 307):
        where = response["Location"].split("?")[0]
        return where.startswith(LOGIN_PAGES) or (holder_page and where.startswith(LINK_PAGE))
    return False


def body_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def call_web(client: Client, url: str) -> Any:
    """GET, or POST (an empty form) when the page takes POST only."""
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    return response


# -- the matrix, route by route -----------------------------------------------------------------------------------
@pytest.mark.parametrize("route", WEB_ROUTES, ids=[r.name for r in WEB_ROUTES])
def test_each_actor_gets_into_a_page_exactly_when_the_matrix_says(route: Route, world: World) -> None:
    values = {**world.values, **world.values["per_route"].get(route.name, {})}
    url = fill(route.route, values)
    allowed = WEB_MATRIX[route.name]
    declared = declaration_of(route.callback)
    wrong = []
    for actor in WEB_ACTORS:
        response = call_web(client_for(world.users[actor]), url)
        assert response.status_code < 500, f"{actor} on {url}: server error {response.status_code}"
        no = refused(response, holder_page=declared == "holder")
        # A public page may well send to a sign-in page (a second factor with no sign-in under way, a logout).
        if actor in allowed and no and declared != "public":
            wrong.append(f"{actor} is refused ({response.status_code} {response.get('Location', '')})")
        elif actor not in allowed and not no:
            wrong.append(f"{actor} gets in ({response.status_code})")
        if actor not in allowed | {HOLDER} and response.status_code == 200:
            content = body_of(response)
            leaked = [secret for secret in world.secrets if secret in content]
            assert not leaked, f"{actor} on {url} sees the holder's {leaked}"
    assert not wrong, f"{url} ({route.name}): " + "; ".join(wrong)


OPERATIONS = sorted({(op_id, method, path) for op_id, method, path, _ in api_operations()})


@pytest.mark.parametrize(("op_id", "method", "path"), OPERATIONS, ids=[f"{o[0]}-{o[1]}" for o in OPERATIONS])
def test_each_key_gets_into_an_operation_exactly_when_the_matrix_says(
    op_id: str, method: str, path: str, world: World
) -> None:
    values = {**world.values, "number": world.licence.number}
    url = "/api/v1/" + re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(values[m.group(1)]), path)
    allowed = API_MATRIX[op_id]
    wrong = []
    for actor in API_ACTORS:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {world.keys[actor]}"} if world.keys[actor] else {}
        client = Client()
        if method == "GET":
            response = client.get(url, **headers)
        else:
            response = client.generic(method, url, b"{}", content_type="application/json", **headers)
        assert response.status_code < 500, f"{actor} on {method} {url}: server error {response.status_code}"
        if actor in allowed and response.status_code in (401, 403):
            wrong.append(f"{actor} is refused ({response.status_code}: {response.content[:120]!r})")
        elif actor not in allowed:
            # Another holder is refused the holder's letter or share code as an unknown id: 404 (docs/access.md).
            refusals = (401, 403, 404) if actor == OTHER_HOLDER_TOKEN else (401, 403)
            if response.status_code not in refusals:
                wrong.append(f"{actor} gets in ({response.status_code})")
            else:
                assert set(response.json()) == {"error"}, (actor, url, response.content)
        if actor not in allowed | {HOLDER_TOKEN, "police", "police_balance"}:
            leaked = [secret for secret in world.secrets[1:] if secret in body_of(response)]
            assert not leaked, f"{actor} on {method} {url} sees the holder's {leaked}"
    assert not wrong, f"{method} {url} ({op_id}): " + "; ".join(wrong)
