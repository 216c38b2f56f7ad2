"""``GoogleStandIn``: the whole stand-in behind one object: start it, add accounts, drive their
mailboxes (Gmail), calendars (Calendar) and Drives (Drive), script faults, read the call log and push
deliveries. Tests and the demo use this Python API; the admin HTTP API (``/standin/...``) offers the same
levers to other processes.
"""

from __future__ import annotations

import functools
import threading
import urllib.parse
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Self

from local_stack.google_standin.calendar_http import calendar_routes
from local_stack.google_standin.calendar_push import CalendarPush
from local_stack.google_standin.calendar_store import CalendarAccount, CalendarSettings
from local_stack.google_standin.calls import CallLog
from local_stack.google_standin.clock import StandInClock
from local_stack.google_standin.drive_http import drive_routes
from local_stack.google_standin.drive_push import DrivePush
from local_stack.google_standin.drive_store import DriveAccount, DriveSettings
from local_stack.google_standin.errors import not_found
from local_stack.google_standin.faults import FaultScript
from local_stack.google_standin.gmail_http import gmail_routes
from local_stack.google_standin.gmail_mailbox import Mailbox
from local_stack.google_standin.limits import LimitSettings
from local_stack.google_standin.oauth import OAuthServer
from local_stack.google_standin.oauth_http import oauth_routes
from local_stack.google_standin.push import GmailPush, PushSettings
from local_stack.google_standin.push_channels import ChannelRegistry
from local_stack.google_standin.server import StandInServer

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

DEFAULT_CLIENT_ID = "standin-client.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "standin-client-secret"  # noqa: S105 - a local stand-in's fixed test client
DEFAULT_REDIRECT_URI = "http://127.0.0.1/oauth2/callback"


@dataclass
class StandInSettings:
    limits: LimitSettings = field(default_factory=LimitSettings)
    push: PushSettings = field(default_factory=PushSettings)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    drive: DriveSettings = field(default_factory=DriveSettings)
    history_retention: int | None = None  # history records kept per mailbox; None: all until forgotten
    access_token_lifetime: int = 3600
    refresh_token_lifetime: int | None = (
        None  # None: until revoked; 604800 mimics a consent screen in Testing
    )


@dataclass(frozen=True)
class Grant:
    access_token: str
    refresh_token: str | None
    scopes: frozenset[str]


class GoogleStandIn:
    def __init__(self, settings: StandInSettings | None = None) -> None:
        self.settings = settings or StandInSettings()
        self.clock = StandInClock()
        self.oauth = OAuthServer(
            clock=self.clock.now,
            access_token_lifetime=self.settings.access_token_lifetime,
            refresh_token_lifetime=self.settings.refresh_token_lifetime,
        )
        self.oauth.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [DEFAULT_REDIRECT_URI])
        self.server = StandInServer(
            clock=self.clock, limits=self.settings.limits, resolve_token=self._resolve
        )
        self.push = GmailPush(self.settings.push, clock=self.clock.now, mint_token=self._mint_push_token)
        # One registry for every web-hook channel (Calendar's and Drive's), one delivery worker.
        self.push_channels = ChannelRegistry(clock=self.clock.now)
        self.calendar_push = CalendarPush(
            self.settings.calendar, clock=self.clock.now, registry=self.push_channels
        )
        self.drive_push = DrivePush(self.settings.drive, clock=self.clock.now, registry=self.push_channels)
        self._mailboxes: dict[str, Mailbox] = {}
        self._calendars: dict[str, CalendarAccount] = {}
        self._drives: dict[str, DriveAccount] = {}
        self._lock = threading.Lock()
        self.server.add_plain_routes(oauth_routes(self.oauth))
        self.server.add_api_routes(gmail_routes(self.mailbox))
        self.server.add_api_routes(
            calendar_routes(self.calendars, self.calendar_push, is_standin_account=self._is_account)
        )
        self.server.add_api_routes(drive_routes(self.drive, self.drive_push))
        from local_stack.google_standin.admin_http import admin_routes

        self.server.add_plain_routes(admin_routes(self))
        self._base_url: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._base_url = self.server.start(host, port)
        return self._base_url

    def stop(self) -> None:
        self.server.stop()
        self.push.close()
        self.push_channels.close()

    def __enter__(self) -> Self:
        if self._base_url is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the stand-in is not started")
        return self._base_url

    @property
    def api_root(self) -> str:
        """What replaces https://gmail.googleapis.com/ and https://www.googleapis.com/ in discovery
        (Calendar's and Drive's root too)."""
        return self.base_url + "/"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revoke_uri(self) -> str:
        return f"{self.base_url}/revoke"

    @property
    def auth_uri(self) -> str:
        return f"{self.base_url}/o/oauth2/v2/auth"

    @property
    def certs_url(self) -> str:
        return f"{self.base_url}/oauth2/v1/certs"

    # --- accounts, mailboxes and calendars ----------------------------------------------------------

    def add_account(self, email: str) -> Mailbox:
        """A Google account with an empty Gmail mailbox, a primary calendar (id: the email, lower
        case; time zone UTC) and an empty Drive. Adding one that exists returns its mailbox."""
        with self._lock:
            if email.lower() not in self._mailboxes:
                self.oauth.add_account(email)
                mailbox = Mailbox(
                    email, clock=self.clock.now, history_retention=self.settings.history_retention
                )
                mailbox.on_change = self.push.on_change
                mailbox.on_sent = functools.partial(self._deliver, email.lower())
                self._mailboxes[email.lower()] = mailbox
                self._calendars[email.lower()] = CalendarAccount(
                    email,
                    clock=self.clock.now,
                    settings=self.settings.calendar,
                    on_change=self.calendar_push.on_change,
                )
                self._drives[email.lower()] = DriveAccount(
                    email,
                    clock=self.clock.now,
                    settings=self.settings.drive,
                    on_change=self.drive_push.on_change,
                )
            return self._mailboxes[email.lower()]

    def mailbox(self, email: str) -> Mailbox:
        with self._lock:
            mailbox = self._mailboxes.get(email.lower())
        if mailbox is None:
            raise not_found()
        return mailbox

    def calendars(self, email: str) -> CalendarAccount:
        """The account's calendars; 404 (Google's error) for an account the stand-in does not have."""
        with self._lock:
            account = self._calendars.get(email.lower())
        if account is None:
            raise not_found()
        return account

    def drive(self, email: str) -> DriveAccount:
        """The account's Drive; 404 (Google's error) for an account the stand-in does not have."""
        with self._lock:
            account = self._drives.get(email.lower())
        if account is None:
            raise not_found()
        return account

    @property
    def accounts(self) -> list[str]:
        with self._lock:
            return sorted(mailbox.email for mailbox in self._mailboxes.values())

    # --- levers -------------------------------------------------------------------------------------

    @property
    def faults(self) -> FaultScript:
        return self.server.faults

    @property
    def calls(self) -> CallLog:
        return self.server.calls

    @property
    def limits(self) -> LimitSettings:
        return self.server.limits

    def advance_clock(self, seconds: float) -> None:
        """Move the stand-in's time on: tokens and watches expire, quota windows roll over."""
        self.clock.advance(seconds)

    # --- the non-interactive consent path, for tests and the demo -------------------------------------

    def authorize(
        self,
        account: str,
        scopes: list[str],
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        redirect_uri: str = DEFAULT_REDIRECT_URI,
        granted: list[str] | None = None,
        code_challenge: str | None = None,
        state: str = "standin",
        access_type: str = "offline",
    ) -> str:
        """What the browser comes back with after the consent page: the redirect URL holding the code."""
        params = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "state": state,
            "access_type": access_type,
            "prompt": "consent",
        }
        if code_challenge is not None:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        pending = self.oauth.begin_authorization(params)
        return self.oauth.approve(pending.request_id, account=account, granted_scopes=granted)

    def grant(self, account: str, scopes: list[str], *, granted: list[str] | None = None) -> Grant:
        """Consent and code exchange in one step, with the default client: tokens for ``account``."""
        redirect = self.authorize(account, scopes, granted=granted)
        code = urllib.parse.parse_qs(urllib.parse.urlparse(redirect).query)["code"][0]
        answer = self.oauth.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": DEFAULT_REDIRECT_URI,
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            }
        )
        return Grant(answer["access_token"], answer.get("refresh_token"), frozenset(answer["scope"].split()))

    def credentials(self, account: str, scopes: list[str]) -> Credentials:
        """google-auth credentials for ``account``, refreshing against the stand-in's token endpoint."""
        from google.oauth2.credentials import Credentials

        grant = self.grant(account, scopes)
        return Credentials(  # type: ignore[no-untyped-call]  # google-auth leaves __init__ unannotated
            token=grant.access_token,
            refresh_token=grant.refresh_token,
            token_uri=self.token_uri,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            scopes=sorted(grant.scopes),
        )

    # --- internals ------------------------------------------------------------------------------------

    def _deliver(self, sender: str, raw: bytes, recipients: list[str]) -> None:
        """Mail sent from one account arrives in the mailboxes of the stand-in's own accounts among its
        recipients (everyone else is outside the stand-in: it goes nowhere)."""
        with self._lock:
            local = [self._mailboxes[r] for r in recipients if r in self._mailboxes and r != sender]
        for mailbox in local:
            mailbox.deliver(raw)

    def _is_account(self, email: str) -> bool:
        with self._lock:
            return email.lower() in self._mailboxes

    def _resolve(self, token: str) -> tuple[str, frozenset[str]] | None:
        grant = self.oauth.resolve_access_token(token)
        return None if grant is None else (grant.account, grant.scopes)

    def _mint_push_token(self, audience: str, service_account: str) -> str:
        return self.oauth.mint_id_token(audience=audience, email=service_account)
