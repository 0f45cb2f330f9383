"""Error base classes. A `GongwuError` is a user-facing failure: its message says what was wrong, where
and what to do, and the CLI and API show it without a traceback."""

from __future__ import annotations


class GongwuError(Exception):
    """Base of every error a user should see as a one-line message."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(GongwuError):
    status_code = 500


class NotFound(GongwuError):
    status_code = 404


class Conflict(GongwuError):
    status_code = 409


class ValidationFailed(GongwuError):
    status_code = 422


class PermissionDenied(GongwuError):
    status_code = 403
