"""The Twilio part of the settings, checked once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from center.config import Settings

TWILIO_API = "https://api.twilio.com"


class TwilioConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    number: str
    public_url: str  # without a trailing slash
    api_url: str  # without a trailing slash
    timeout_s: float

    @property
    def enabled(self) -> bool:
        """Webhooks are accepted only with an account and token to check them against."""
        return bool(self.account_sid and self.auth_token and self.public_url)

    def public(self, path_qs: str) -> str:
        """The URL Twilio requested (and signed) for a path on this server."""
        return self.public_url + path_qs

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSettings:
        public = settings.public_url.rstrip("/")
        api = (settings.twilio_api_url or TWILIO_API).rstrip("/")
        for name, url in (("CENTER_PUBLIC_URL", public), ("CENTER_TWILIO_API_URL", api)):
            if url and urlsplit(url).scheme not in ("http", "https"):
                raise TwilioConfigError(f"{name} must be an http(s) URL: {url!r}")
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            number=settings.twilio_number,
            public_url=public,
            api_url=api,
            timeout_s=settings.twilio_timeout_s,
        )
