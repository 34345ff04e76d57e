"""One exception root for PurgeWatch.

    PurgeWatchError                     every error the tool raises on purpose
     ├── InputError                     bad user input (file, row, column, what is valid)
     │    └── SchemaError               a file whose header lacks required columns
     ├── StoreError                     the evidence store is missing, locked or damaged
     ├── ConfigError                    a config file or option is wrong
     ├── SourceError                    a platform connector could not do its job
     │    ├── TransportError            network, timeout, 5xx, 429, unparseable body:
     │    │                             never an account status (DESIGN rule 1)
     │    └── RateLimited               over the platform's budget; carries reset time
     └── AnalysisError                  an analysis was asked something the data can't answer

The CLI maps each branch to one exit code in one place (``cli/_errors.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


class PurgeWatchError(Exception):
    """Root of every error PurgeWatch raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


@dataclass(frozen=True)
class Location:
    """Where in an input file a problem is: file, 1-based line, column name."""

    file: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
        if self.column is not None:
            out += f" column '{self.column}'"
        return out


class InputError(PurgeWatchError):
    """User input that cannot be accepted; says where and what would be valid."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
    ) -> None:
        full = f"{location}: {message}" if location is not None else message
        super().__init__(full, hint=hint)
        self.location = location
        self.reason = message


class SchemaError(InputError):
    """A file whose header or shape does not match the expected format."""


class StoreError(PurgeWatchError):
    exit_code = 3


class ConfigError(PurgeWatchError):
    exit_code = 4


class SourceError(PurgeWatchError):
    exit_code = 5


class TransportError(SourceError):
    """The request failed; nothing is known about the account."""


class RateLimited(TransportError):
    def __init__(self, message: str, *, reset_at: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reset_at = reset_at


class AnalysisError(PurgeWatchError):
    exit_code = 6
