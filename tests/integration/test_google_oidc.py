"""Google's push and scheduler ID tokens, verified against a real Google stand-in over HTTP.

The stand-in mints RS256 tokens and serves ``/oauth2/v1/certs`` (and ``/v3/certs``) with Google's
``Cache-Control: max-age=300``; forged tokens are built by hand or with PyJWT and our own keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from local_stack.google_standin.oauth import subject_for
from local_stack.google_standin.standin import GoogleStandIn
from shared.errors import Forbidden, Retryable, Unauthenticated
from shared.google_apis.oidc import CachingRequest, GoogleCaller, GoogleOidcVerifier

PUSH_AUDIENCE = "https://europe-west1-crm-google.cloudfunctions.net/gmail_push"
SCHEDULER_AUDIENCE = "https://europe-west1-crm-google.cloudfunctions.net/renew_watches"
PUSHER = "gmail-push@crm-google.iam.gserviceaccount.com"
SCHEDULER = "scheduler@crm-google.iam.gserviceaccount.com"
STRANGER = "someone-else@other-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def standin() -> Iterator[GoogleStandIn]:
    with GoogleStandIn() as running:
        yield running


@pytest.fixture
def verifier(standin: GoogleStandIn) -> GoogleOidcVerifier:
    return GoogleOidcVerifier(
        audiences=[PUSH_AUDIENCE, SCHEDULER_AUDIENCE],
        allowed_emails=[PUSHER, SCHEDULER],
        certs_url=standin.certs_url,
    )


def mint(standin: GoogleStandIn, **overrides: Any) -> str:
    arguments: dict[str, Any] = {"audience": PUSH_AUDIENCE, "email": PUSHER}
    arguments.update(overrides)
    return standin.oauth.mint_id_token(**arguments)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def push_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": PUSH_AUDIENCE,
        "sub": subject_for(PUSHER),
        "azp": subject_for(PUSHER),
        "email": PUSHER,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return claims


def current_kid(standin: GoogleStandIn) -> str:
    kid = jwt.get_unverified_header(mint(standin))["kid"]
    assert isinstance(kid, str)
    return kid


def refused(verifier: GoogleOidcVerifier, authorization: str | None) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(authorization)
    assert not isinstance(caught.value, Forbidden)
    return caught.value


def forbidden(verifier: GoogleOidcVerifier, authorization: str) -> Forbidden:
    with pytest.raises(Forbidden) as caught:
        verifier.verify(authorization)
    return caught.value


# --- the happy paths ----------------------------------------------------------------------------------


def test_a_valid_push_token_names_the_calling_service_account(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    caller = verifier.verify(bearer(mint(standin)))

    assert caller == GoogleCaller(email=PUSHER, subject=subject_for(PUSHER))


def test_each_of_several_allowed_audiences_is_accepted(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    push = verifier.verify(bearer(mint(standin, audience=PUSH_AUDIENCE)))
    scheduled = verifier.verify(bearer(mint(standin, audience=SCHEDULER_AUDIENCE, email=SCHEDULER)))

    assert (push.email, scheduled.email) == (PUSHER, SCHEDULER)


def test_the_allowed_email_matches_whatever_its_case(standin: GoogleStandIn) -> None:
    verifier = GoogleOidcVerifier(
        audiences=[PUSH_AUDIENCE], allowed_emails=[PUSHER.upper()], certs_url=standin.certs_url
    )

    assert verifier.verify(bearer(mint(standin, email=PUSHER))).email == PUSHER


def test_the_issuer_without_scheme_is_google_too(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    assert verifier.verify(bearer(mint(standin, issuer="accounts.google.com"))).email == PUSHER


def test_email_verified_as_the_string_true_is_accepted(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    token = mint(standin, extra_claims={"email_verified": "true"})

    assert verifier.verify(bearer(token)).email == PUSHER


def test_a_scheme_in_any_case_and_extra_spaces_are_accepted(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    assert verifier.verify(f"  bearer   {mint(standin)}  ").email == PUSHER


def test_a_token_expired_within_the_clock_skew_is_accepted(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    assert verifier.verify(bearer(mint(standin, lifetime=-3))).email == PUSHER


def test_certificates_in_jwk_set_format_verify_too(standin: GoogleStandIn) -> None:
    verifier = GoogleOidcVerifier(
        audiences=[PUSH_AUDIENCE],
        allowed_emails=[PUSHER],
        certs_url=standin.base_url + "/oauth2/v3/certs",
    )

    assert verifier.verify(bearer(mint(standin))).email == PUSHER
    refused(verifier, bearer(mint(standin, audience="https://elsewhere.example/push")))


# --- no token: 401 missing_token ----------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_a_request_without_a_token_is_unauthenticated(
    verifier: GoogleOidcVerifier, authorization: str | None
) -> None:
    assert refused(verifier, authorization).code == "missing_token"


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc.def.ghi"])
def test_an_authorization_that_is_not_a_bearer_token_is_unauthenticated(
    verifier: GoogleOidcVerifier, authorization: str
) -> None:
    assert refused(verifier, authorization).code == "missing_token"


# --- a token that is not valid: 401 invalid_token -----------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b.c",
        "a.b",
        "..",
        segment({"alg": "RS256", "kid": "x"}) + ".%%%.###",
        b64(b"not json") + "." + segment({}) + ".c2ln",
        segment({"alg": "RS256", "kid": "x"}) + "." + segment({}) + ".c2ln.extra",
        "x" * 20_000,
    ],
)
def test_a_malformed_token_is_invalid(verifier: GoogleOidcVerifier, token: str) -> None:
    assert refused(verifier, bearer(token)).code == "invalid_token"


def test_an_unsigned_alg_none_token_is_invalid_and_costs_no_fetch(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": current_kid(standin)}
    token = segment(header) + "." + segment(push_claims()) + "."

    assert refused(verifier, bearer(token)).code == "invalid_token"
    assert verifier.fetches == 0


def test_an_hs256_token_signed_with_some_secret_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    token = jwt.encode(
        push_claims(),
        "an-attacker-chosen-secret-of-enough-length!",
        algorithm="HS256",
        headers={"kid": current_kid(standin)},
    )

    assert refused(verifier, bearer(token)).code == "invalid_token"
    assert verifier.fetches == 0  # refused on its header, before any certificate fetch


def test_an_hs256_token_keyed_with_googles_public_certificate_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    """The classic algorithm confusion: HMAC with the public key as the secret."""
    kid = current_kid(standin)
    certificate = standin.oauth.certs_v1()[kid].encode()
    signing_input = segment({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + segment(push_claims())
    signature = hmac.new(certificate, signing_input.encode(), hashlib.sha256).digest()

    assert refused(verifier, bearer(signing_input + "." + b64(signature))).code == "invalid_token"
    assert verifier.fetches == 0


def test_a_token_with_a_tampered_payload_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    header, _, signature = mint(standin, audience="https://elsewhere.example/push").split(".")
    token = ".".join([header, segment(push_claims()), signature])

    assert refused(verifier, bearer(token)).code == "invalid_token"


def test_a_token_signed_by_another_key_under_googles_kid_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(push_claims(), own_key, algorithm="RS256", headers={"kid": current_kid(standin)})

    assert refused(verifier, bearer(token)).code == "invalid_token"


def test_a_token_for_another_audience_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    token = mint(standin, audience="https://attacker.example/their-push-endpoint")

    assert refused(verifier, bearer(token)).code == "invalid_token"


def test_an_expired_token_is_invalid(standin: GoogleStandIn, verifier: GoogleOidcVerifier) -> None:
    assert refused(verifier, bearer(mint(standin, lifetime=-60))).code == "invalid_token"


def test_a_token_issued_in_the_future_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    token = mint(standin, extra_claims={"iat": int(time.time()) + 600, "exp": int(time.time()) + 3600})

    assert refused(verifier, bearer(token)).code == "invalid_token"


def test_a_signed_token_with_non_numeric_times_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    token = mint(standin, extra_claims={"iat": "yesterday"})

    assert refused(verifier, bearer(token)).code == "invalid_token"


@pytest.mark.parametrize("issuer", ["https://evil.example", "https://accounts.google.com.evil.example", ""])
def test_a_token_from_another_issuer_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier, issuer: str
) -> None:
    assert refused(verifier, bearer(mint(standin, issuer=issuer))).code == "invalid_token"


def test_a_token_signed_by_a_key_google_never_published_is_invalid(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(push_claims(), own_key, algorithm="RS256", headers={"kid": "f" * 40})

    assert refused(verifier, bearer(token)).code == "invalid_token"


def test_unknown_key_ids_force_at_most_one_refetch(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for number in range(20):
        token = jwt.encode(push_claims(), own_key, algorithm="RS256", headers={"kid": f"made-up-{number}"})
        assert refused(verifier, bearer(token)).code == "invalid_token"

    assert verifier.fetches == 2  # the first fill, then one refetch for a possible rotation


# --- a valid token from a caller we do not accept: 403 caller_not_allowed -----------------------------


def test_a_valid_token_from_another_service_account_is_forbidden(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    assert forbidden(verifier, bearer(mint(standin, email=STRANGER))).code == "caller_not_allowed"


@pytest.mark.parametrize("email_verified", [False, "false", None, "yes"])
def test_a_valid_token_with_an_unverified_email_is_forbidden(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier, email_verified: object
) -> None:
    token = mint(standin, extra_claims={"email_verified": email_verified})

    assert forbidden(verifier, bearer(token)).code == "caller_not_allowed"


def test_a_valid_token_without_an_email_is_forbidden(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    token = mint(standin, extra_claims={"email": None})

    assert forbidden(verifier, bearer(token)).code == "caller_not_allowed"


def test_refusals_never_repeat_the_token_or_its_claims(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    stranger = mint(standin, email=STRANGER)
    elsewhere = mint(standin, audience="https://attacker.example/push")
    errors = [
        forbidden(verifier, bearer(stranger)),
        refused(verifier, bearer(elsewhere)),
        refused(verifier, bearer(mint(standin, issuer="https://evil.example"))),
    ]

    for error in errors:
        text = f"{error} {error.detail} {error.errors}"
        for secret in (
            stranger,
            elsewhere,
            STRANGER,
            "attacker.example",
            "evil.example",
            subject_for(STRANGER),
        ):
            assert secret not in text


# --- certificates: cached, refetched on rotation, outages are retryable -------------------------------


def test_certificates_are_fetched_once_for_many_verifications(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    for _ in range(25):
        verifier.verify(bearer(mint(standin)))
    refused(verifier, bearer(mint(standin, audience="https://elsewhere.example/push")))

    assert verifier.fetches == 1


def test_concurrent_first_verifications_share_one_certificate_fetch(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    tokens = [mint(standin) for _ in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        callers = list(pool.map(lambda token: verifier.verify(bearer(token)), tokens))

    assert {caller.email for caller in callers} == {PUSHER}
    assert verifier.fetches == 1


def test_certificates_are_fetched_again_once_their_max_age_has_passed(standin: GoogleStandIn) -> None:
    now = [1_000.0]
    request = CachingRequest(clock=lambda: now[0])
    verifier = GoogleOidcVerifier(
        audiences=[PUSH_AUDIENCE], allowed_emails=[PUSHER], certs_url=standin.certs_url, request=request
    )

    verifier.verify(bearer(mint(standin)))
    now[0] += 299  # the stand-in answers max-age=300, as Google does (with a longer age)
    verifier.verify(bearer(mint(standin)))
    assert verifier.fetches == 1

    now[0] += 2
    verifier.verify(bearer(mint(standin)))
    assert verifier.fetches == request.fetches == 2


def test_a_token_signed_with_a_rotated_key_verifies_after_exactly_one_refetch(
    standin: GoogleStandIn, verifier: GoogleOidcVerifier
) -> None:
    old_token = mint(standin)
    verifier.verify(bearer(old_token))
    assert verifier.fetches == 1

    standin.oauth.rotate_signing_key()
    new_token = mint(standin)
    assert jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(old_token)["kid"]

    assert verifier.verify(bearer(new_token)).email == PUSHER
    assert verifier.verify(bearer(old_token)).email == PUSHER  # the old key is still published
    assert verifier.fetches == 2


def test_unreachable_certificates_are_a_retryable_fault_not_a_refusal(standin: GoogleStandIn) -> None:
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused at once
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    verifier = GoogleOidcVerifier(
        audiences=[PUSH_AUDIENCE],
        allowed_emails=[PUSHER],
        certs_url=f"http://127.0.0.1:{closed_port}/oauth2/v1/certs",
    )

    with pytest.raises(Retryable) as caught:
        verifier.verify(bearer(mint(standin)))

    assert caught.value.code == "certs_unavailable"


def test_a_certificates_endpoint_answering_an_error_is_retryable(standin: GoogleStandIn) -> None:
    verifier = GoogleOidcVerifier(
        audiences=[PUSH_AUDIENCE],
        allowed_emails=[PUSHER],
        certs_url=standin.base_url + "/oauth2/v1/no-such-certs",
    )

    with pytest.raises(Retryable):
        verifier.verify(bearer(mint(standin)))
    with pytest.raises(Retryable):
        verifier.verify(bearer(mint(standin)))

    assert verifier.fetches == 2  # an error answer is not cached: the next call asks again


# --- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"audiences": [], "allowed_emails": [PUSHER]},
        {"audiences": PUSH_AUDIENCE, "allowed_emails": [PUSHER]},
        {"audiences": [""], "allowed_emails": [PUSHER]},
        {"audiences": [PUSH_AUDIENCE], "allowed_emails": []},
        {"audiences": [PUSH_AUDIENCE], "allowed_emails": [" "]},
        {"audiences": [PUSH_AUDIENCE], "allowed_emails": [PUSHER], "clock_skew_seconds": -1},
    ],
)
def test_a_verifier_that_would_accept_anyone_cannot_be_built(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        GoogleOidcVerifier(**arguments)
