"""Error base classes. A `GongwuError` is a user-facing failure: its message says what was wrong, where
and what to do, and the CLI and API show it without a traceback."""

from __future__ import annotations


class GongwuError(Exception):
    """Base of every error a user should see as a one-line message. `status_code` is the API's answer,
    `exit_code` the command line's (README: 1 failed and nothing changed, 2 usage error)."""

    status_code = 400
    exit_code = 1
    headers: dict[str, str] | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(GongwuError):
    status_code = 500


class UsageError(GongwuError):
    """A command was given arguments that do not fit together (exit code 2, like a bad option)."""

    status_code = 422
    exit_code = 2


class NotInitialised(GongwuError):
    """The database has no schema yet, or an older one: `gongwu init` creates or upgrades it."""

    status_code = 503


class NotFound(GongwuError):
    status_code = 404  # so is another unit's object: it is not told apart from a missing one


class Conflict(GongwuError):
    status_code = 409  # a key taken, two things at once


class ValidationFailed(GongwuError):
    status_code = 422  # data a rule refuses


class PermissionDenied(GongwuError):
    status_code = 403  # signed in, but not allowed


class NotAuthenticated(GongwuError):
    """401: no credential, or one that is invalid, expired or revoked."""

    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}


class TooManyAttempts(GongwuError):
    """429: sign-in throttled; `retry_after` seconds until the next attempt is considered."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}
