"""Segmint's exception tree. Every error the domain raises derives from one root::

    SegmintError
    ├── ConfigError            settings that cannot be used (e.g. a default secret in production)
    ├── ImportFailed           a file that cannot be imported at all (missing column, unreadable)
    │   └── StrictImportRejected   --strict and at least one row was rejected
    ├── SourceError            an analysis source (file, glob, store:ORG) that cannot be read
    └── ValidationError        parameters that break a rule (thresholds, cut points, periods)

HTTP and the CLI map these to their own shapes at the edge; the domain never imports either.
"""

from __future__ import annotations


class SegmintError(Exception):
    """Root of every error Segmint raises on purpose."""


class ConfigError(SegmintError):
    """A setting has a value Segmint refuses to run with."""


class ImportFailed(SegmintError):
    """The file as a whole cannot be imported; nothing was written."""


class StrictImportRejected(ImportFailed):
    """A ``--strict`` import found rejected rows; nothing was written."""

    def __init__(self, message: str, *, rejected_rows: int) -> None:
        super().__init__(message)
        self.rejected_rows = rejected_rows


class SourceError(SegmintError):
    """An analysis source cannot be read."""


class ValidationError(SegmintError):
    """A parameter breaks a rule; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
