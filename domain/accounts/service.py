"""The account services of one process, built together (server/services.py attaches them to the context)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts.access import BearerAuthenticator
from domain.accounts.account_tokens import AccountTokens
from domain.accounts.api_keys import KeyService
from domain.accounts.emails import AccountEmails
from domain.accounts.google import GoogleSignIn
from domain.accounts.invitations import InvitationService
from domain.accounts.keys import KeyAuthenticator
from domain.accounts.members import MemberService
from domain.accounts.metric_configs import MetricConfigService
from domain.accounts.passwords import PasswordHasher
from domain.accounts.registration import Registration
from domain.accounts.sessions import SessionService
from domain.accounts.sites import SiteService
from domain.accounts.throttle import API_PER_USER, Limit, Throttle
from domain.accounts.tokens import TokenService
from domain.accounts.two_factor import TwoFactor
from domain.accounts.users import UserService
from domain.mail.outbox import Mailer
from domain.snippets import Snippets
from storage.ports import Stores


@dataclass
class Accounts:
    """Users, sessions, sites, members, keys, metric configs and their throttles."""

    hasher: PasswordHasher
    throttle: Throttle
    sessions: SessionService
    users: UserService
    sites: SiteService
    members: MemberService
    keys: KeyService
    metric_configs: MetricConfigService
    registration: Registration
    emails: AccountEmails
    invitations: InvitationService
    two_factor: TwoFactor
    google: GoogleSignIn
    snippets: Snippets


def build_accounts(
    stores: Stores,
    tokens: TokenService,
    bearer: BearerAuthenticator,
    keys: KeyAuthenticator,
    *,
    hash_key: bytes,
    pepper: bytes,
    max_retention_days: int,
    mailer: Mailer,
    api_rate_limit: int = API_PER_USER.hits,
    registration_mode: str | None = None,
) -> Accounts:
    """Every account service over these stores: `api_rate_limit` management API requests per user per
    minute (EDDY_API_RATE_LIMIT), and the registration mode fixed by EDDY_REGISTRATION (None: the
    instance admin chooses)."""
    hasher = PasswordHasher(pepper)
    api_limit = Limit(api_rate_limit, API_PER_USER.window)
    throttle = Throttle(stores.kv, api_user=api_limit)
    sessions = SessionService(tokens, stores.docs, bearer)
    metric_configs = MetricConfigService(stores.docs, stores.bus)
    registration = Registration(stores.docs, registration_mode)
    emails = AccountEmails(
        stores.docs, mailer, AccountTokens(stores.docs, hash_key), hasher, sessions, throttle
    )
    users = UserService(stores.docs, hasher, sessions, throttle, registration, emails)
    two_factor = TwoFactor(stores.docs, users, throttle, hash_key)
    users.second_factor = two_factor.check
    return Accounts(
        hasher=hasher,
        throttle=throttle,
        sessions=sessions,
        registration=registration,
        emails=emails,
        two_factor=two_factor,
        invitations=InvitationService(stores.docs, users, sessions, mailer, hash_key),
        users=users,
        sites=SiteService(stores.docs, stores.events, keys, max_retention_days, metric_configs),
        members=MemberService(stores.docs),
        keys=KeyService(stores.docs, hash_key, keys),
        metric_configs=metric_configs,
        google=GoogleSignIn(stores.kv, stores.docs, users, sessions),
        snippets=Snippets(stores.docs),
    )
