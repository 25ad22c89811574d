"""A real OpenID Connect provider that plays FranceConnect on loopback, for development and tests.

It speaks the authorization code flow as FranceConnect does (https://docs.partenaires.franceconnect.gouv.fr):
``state`` and ``nonce`` are mandatory, the client authenticates at the token endpoint with its secret
(``client_secret_post`` or ``client_secret_basic``), the ID token is signed (RS256 by default, ES256 on
request) with a key published at ``/jwks``, ``/userinfo`` answers FranceConnect's identity claims
(given_name, family_name, preferred_username, birthdate, gender, birthplace, birthcountry, email) and
``/logout`` ends the session and sends the browser back to ``post_logout_redirect_uri``.

Instead of a login form, ``/authorize`` shows the demo identities to choose from. It is a plain WSGI
application (standard library + cryptography + PyJWT), independent of Django, so that it can run as its own
process (`permis fcdev`) or in a thread of a test (``FcDevServer``). It never listens beyond loopback.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

CODE_LIFETIME = 60  # seconds: FranceConnect's authorization codes are short-lived and single-use
TOKEN_LIFETIME = 60 * 5
SCOPE_CLAIMS = {
    "given_name": "given_name",
    "family_name": "family_name",
    "preferred_username": "preferred_username",
    "birthdate": "birthdate",
    "gender": "gender",
    "birthplace": "birthplace",
    "birthcountry": "birthcountry",
    "email": "email",
    "profile": "given_name family_name preferred_username birthdate gender",
    "birth": "birthplace birthcountry",
    "identite_pivot": "given_name family_name birthdate gender birthplace birthcountry",
}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass(frozen=True)
class Identity:
    """One person the provider can sign in, with FranceConnect's claims (the identity pivot and more)."""

    given_name: str  # every given name, space-separated, as in the civil register
    family_name: str  # the birth name
    birthdate: str  # YYYY-MM-DD
    gender: str  # "female" | "male"
    birthplace: str = ""  # COG code of the commune of birth; empty when born abroad
    birthcountry: str = "99100"  # COG code of the country of birth (99100: France)
    preferred_username: str = ""  # the used name, when there is one
    email: str = ""
    note: str = ""  # what this identity is for, shown on the choice page

    def claims(self) -> dict[str, str]:
        values = asdict(self)
        values.pop("note")
        return values

    def subject(self, client_id: str) -> str:
        """A pairwise subject, as FranceConnect's: stable for one client, different for another."""
        pivot = "|".join(
            (
                self.family_name,
                self.given_name,
                self.birthdate,
                self.gender,
                self.birthplace,
                self.birthcountry,
            )
        )
        return hashlib.sha256(f"{client_id}|{pivot}".encode()).hexdigest() + "v1"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    scope: set[str]
    identity: Identity
    expires: float
    used: bool = False


@dataclass
class Provider:
    """The provider's state: clients, signing key, identities, and the codes and tokens it issued."""

    issuer: str
    clients: dict[str, str]  # client_id -> client_secret
    identities: Callable[[], list[Identity]]
    algorithm: str = "RS256"
    key_file: Path | None = None
    redirect_uris: tuple[str, ...] = ()  # exact registered URIs; empty: any http URI on loopback
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _tokens: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.issuer = self.issuer.rstrip("/")
        if self.algorithm not in {"RS256", "ES256"}:
            raise ValueError(f"algorithm {self.algorithm!r}: RS256 or ES256")
        self.private_key = self._load_or_make_key()
        public = self.private_key.public_key()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")
        tool = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        jwk = tool.to_jwk(public, as_dict=True)
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        self.jwk = jwk

    def _load_or_make_key(self) -> Any:
        if self.key_file is not None and self.key_file.exists():
            key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
            wanted = rsa.RSAPrivateKey if self.algorithm == "RS256" else ec.EllipticCurvePrivateKey
            if not isinstance(key, wanted):
                raise ValueError(f"{self.key_file}: not a key for {self.algorithm}")
            return key
        if self.algorithm == "RS256":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        if self.key_file is not None:
            self.key_file.parent.mkdir(parents=True, exist_ok=True)
            self.key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            self.key_file.chmod(0o600)
        return key

    # --- the endpoints ---------------------------------------------------------------------------------------

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": [self.algorithm],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": ["openid", *SCOPE_CLAIMS],
            "claims_supported": ["sub", *(k for k, v in SCOPE_CLAIMS.items() if k == v)],
            "acr_values_supported": ["eidas1"],
        }

    def redirect_allowed(self, uri: str) -> bool:
        if self.redirect_uris:
            return uri in self.redirect_uris
        parts = urlsplit(uri)
        return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS and not parts.fragment

    def authorize_problem(self, params: dict[str, str]) -> str | None:
        """Why an authorization request is refused before any redirect (shown on the page), or None."""
        if params.get("client_id") not in self.clients:
            return "client_id inconnu (unknown client_id)"
        if not self.redirect_allowed(params.get("redirect_uri", "")):
            return "redirect_uri non enregistrée (redirect_uri not registered)"
        return None

    def authorize_error(self, params: dict[str, str]) -> str | None:
        """The OAuth error code to send back to the client for this request, or None."""
        if params.get("response_type") != "code":
            return "unsupported_response_type"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope"
        if not params.get("state") or not params.get("nonce"):
            return "invalid_request"  # FranceConnect requires both
        return None

    def issue_code(self, params: dict[str, str], identity: Identity) -> str:
        code = secrets.token_urlsafe(32)
        grant = _Grant(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            nonce=params["nonce"],
            scope=set(params.get("scope", "").split()),
            identity=identity,
            expires=time.time() + CODE_LIFETIME,
        )
        with self._lock:
            self._codes[code] = grant
        return code

    def authenticate_client(self, form: dict[str, str], authorization: str) -> str | None:
        """client_secret_basic or client_secret_post; the client's id, or None."""
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[6:], validate=True).decode()
                client_id, _, secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            from urllib.parse import unquote_plus

            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        expected = self.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected.encode(), secret.encode()):
            return None
        return client_id

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        client_id = self.authenticate_client(form, authorization)
        if client_id is None:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._codes.get(form.get("code", ""))
            if grant is not None:
                already_used, grant.used = grant.used, True
        if (
            grant is None
            or already_used
            or grant.expires < time.time()
            or grant.client_id != client_id
            or grant.redirect_uri != form.get("redirect_uri")
        ):
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = grant
            del self._codes[form["code"]]
        id_token = jwt.encode(
            {
                "iss": self.issuer,
                "sub": grant.identity.subject(client_id),
                "aud": client_id,
                "exp": now + TOKEN_LIFETIME,
                "iat": now,
                "auth_time": now,
                "nonce": grant.nonce,
                "acr": "eidas1",
                "amr": ["pwd"],
            },
            self.private_key,
            algorithm=self.algorithm,
            headers={"kid": self.kid},
        )
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "id_token": id_token,
            "scope": " ".join(sorted(grant.scope)),
        }

    def userinfo(self, authorization: str) -> tuple[int, dict[str, Any]]:
        token = authorization[7:] if authorization.startswith("Bearer ") else ""
        with self._lock:
            grant = self._tokens.get(token)
        if grant is None or grant.expires + TOKEN_LIFETIME < time.time():
            return 401, {"error": "invalid_token"}
        allowed: set[str] = set()
        for scope in grant.scope:
            allowed.update(SCOPE_CLAIMS.get(scope, "").split())
        claims = {k: v for k, v in grant.identity.claims().items() if k in allowed}
        claims["sub"] = grant.identity.subject(grant.client_id)
        return 200, claims

    def logout_target(self, params: dict[str, str]) -> str | None:
        """Where /logout sends the browser back, or None when the request is not acceptable."""
        target = params.get("post_logout_redirect_uri", "")
        try:
            claims = jwt.decode(
                params.get("id_token_hint", ""),
                self.private_key.public_key(),
                algorithms=[self.algorithm],
                options={"verify_aud": False, "verify_exp": False},
                issuer=self.issuer,
            )
        except jwt.InvalidTokenError:
            return None
        if claims.get("aud") not in self.clients or not self.redirect_allowed(target):
            return None
        state = params.get("state", "")
        return target + (("&" if "?" in target else "?") + urlencode({"state": state}) if state else "")

    # --- WSGI ------------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        form: dict[str, str] = {}
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(min(length, 65536)).decode("utf-8", "replace")
            form = {k: v[0] for k, v in parse_qs(body).items()}
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if path == "/.well-known/openid-configuration":
            return _json(start_response, 200, self.configuration())
        if path == "/jwks":
            return _json(start_response, 200, {"keys": [self.jwk]})
        if path == "/authorize":
            return self._authorize(method, query, form, start_response)
        if path == "/token" and method == "POST":
            status, answer = self.token(form, authorization)
            return _json(start_response, status, answer)
        if path == "/userinfo":
            status, answer = self.userinfo(authorization)
            return _json(start_response, status, answer)
        if path == "/logout":
            target = self.logout_target(query)
            if target is None:
                return _page(
                    start_response,
                    400,
                    "Déconnexion refusée",
                    "<p>Requête de déconnexion invalide "
                    '(id_token_hint ou post_logout_redirect_uri). <span lang="en">Invalid logout '
                    "request.</span></p>",
                )
            return _redirect(start_response, target)
        return _json(start_response, 404, {"error": "not_found", "path": path})

    def _authorize(
        self, method: str, query: dict[str, str], form: dict[str, str], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        params = form if method == "POST" else query
        problem = self.authorize_problem(params)
        if problem:
            return _page(start_response, 400, "Demande refusée", f"<p>{html.escape(problem)}</p>")
        back = params["redirect_uri"]
        error = self.authorize_error(params)
        if error:
            return _redirect(start_response, _add_query(back, error=error, state=params.get("state", "")))
        identities = self.identities()
        if method == "POST":
            if "cancel" in form:
                return _redirect(
                    start_response, _add_query(back, error="access_denied", state=params.get("state", ""))
                )
            try:
                identity = identities[int(form.get("identity", ""))]
            except (ValueError, IndexError):
                identity = None
            if identity is not None:
                code = self.issue_code(params, identity)
                return _redirect(start_response, _add_query(back, code=code, state=params["state"]))
        return _page(start_response, 200, "Choisir une identité", _choice_form(params, identities))


def _add_query(uri: str, **values: str) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode({k: v for k, v in values.items() if v})


def _json(start_response: Callable[..., Any], status: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
    ]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
    start_response(_status(status), headers)
    return [data]


def _redirect(start_response: Callable[..., Any], location: str) -> list[bytes]:
    start_response(
        "302 Found", [("Location", location), ("Content-Length", "0"), ("Cache-Control", "no-store")]
    )
    return [b""]


def _status(code: int) -> str:
    from http import HTTPStatus

    return f"{code} {HTTPStatus(code).phrase}"


def _page(start_response: Callable[..., Any], status: int, title: str, body: str) -> list[bytes]:
    document = f"""<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — FranceConnect (développement)</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; color: #161616; background: #f6f6f6; }}
header {{ background: #000091; color: #fff; padding: 1rem; }}
header p {{ margin: 0; font-weight: bold; }}
main {{ max-width: 44rem; margin: 0 auto; padding: 1rem; }}
fieldset {{ border: 1px solid #929292; background: #fff; padding: 1rem; }}
legend {{ font-weight: bold; padding: 0 .25rem; }}
.choice {{ display: flex; gap: .5rem; align-items: flex-start; padding: .5rem 0; border-bottom: 1px solid #ddd; }}
.choice input {{ margin-top: .3rem; width: 1.2rem; height: 1.2rem; }}
.note {{ display: block; color: #3a3a3a; font-size: .9rem; }}
button {{ font: inherit; padding: .6rem 1.2rem; margin: 1rem .5rem 0 0; border: 2px solid #000091; cursor: pointer; }}
.primary {{ background: #000091; color: #fff; }}
.secondary {{ background: #fff; color: #000091; }}
:focus-visible {{ outline: 3px solid #0a76f6; outline-offset: 2px; }}
</style>
</head>
<body>
<header><p>FranceConnect — fournisseur de développement <span lang="en">(development provider)</span></p></header>
<main>
<h1>{html.escape(title)}</h1>
{body}
</main>
</body>
</html>"""
    data = document.encode()
    start_response(
        _status(status),
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            ("X-Frame-Options", "DENY"),
        ],
    )
    return [data]


def _choice_form(params: dict[str, str], identities: list[Identity]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k in {"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "acr_values"}
    )
    choices = []
    for index, person in enumerate(identities):
        born = "/".join(reversed(person.birthdate.split("-")))
        place = f"commune {person.birthplace}" if person.birthplace else "à l’étranger"
        female = person.gender == "female"
        label = (
            f"{html.escape(person.given_name)} {html.escape(person.family_name)}"
            f'<span class="note">{"femme, née" if female else "homme, né"} le {born}, {html.escape(place)} '
            f"(pays {html.escape(person.birthcountry)})"
            f"{' — ' + html.escape(person.note) if person.note else ''}</span>"
        )
        checked = " checked" if index == 0 else ""
        choices.append(
            f'<div class="choice"><input type="radio" name="identity" id="identity-{index}" value="{index}"{checked}>'
            f'<label for="identity-{index}">{label}</label></div>'
        )
    if not choices:
        return (
            "<p>Aucune identité de démonstration : chargez la démonstration (<code>permis demo</code>).</p>"
        )
    return (
        "<p>Ce fournisseur joue FranceConnect pour le développement et les tests : choisissez la personne "
        'sous l’identité de laquelle vous connecter. <span lang="en">Choose the identity to sign in '
        "with.</span></p>"
        f'<form method="post" action="/authorize">{hidden}'
        "<fieldset><legend>Identités de démonstration</legend>" + "".join(choices) + "</fieldset>"
        '<button class="primary" type="submit">Se connecter avec cette identité</button>'
        '<button class="secondary" type="submit" name="cancel" value="1">Annuler</button>'
        "</form>"
    )


# --- serving it -----------------------------------------------------------------------------------------------


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class FcDevServer:
    """The provider served on 127.0.0.1 in a background thread (tests, `permis fcdev` uses ``serve``)."""

    def __init__(
        self,
        identities: Callable[[], list[Identity]] | list[Identity],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clients: dict[str, str] | None = None,
        algorithm: str = "RS256",
        key_file: Path | None = None,
        verbose: bool = False,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"host {host!r}: the development provider listens on loopback only")
        source = identities if callable(identities) else (lambda: list(identities))  # type: ignore[arg-type]
        self._server = make_server(
            host, port, lambda e, s: self.provider(e, s), _ThreadingServer, _QuietHandler
        )
        self._server.verbose = verbose  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.provider = Provider(
            issuer=self.url,
            clients=clients or {"permis-dev": "permis-dev-secret"},
            identities=source,
            algorithm=algorithm,
            key_file=key_file,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)

    def start(self) -> FcDevServer:
        self._thread.start()
        return self

    def serve(self) -> None:
        self._server.serve_forever(0.5)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> FcDevServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
