"""Segmint's exception tree. Every error the domain raises derives from one root::

    SegmintError
    ├── ConfigError            settings that cannot be used (e.g. a default secret in production)
    ├── ImportFailed           a file that cannot be imported at all (missing column, unreadable)
    │   └── StrictImportRejected   --strict and at least one row was rejected
    ├── SourceError            an analysis source (file, glob, store:ORG) that cannot be read
    ├── ValidationError        parameters that break a rule (thresholds, cut points, periods)
    ├── NotFound               no such thing in the actor's organization (never "it is elsewhere")
    ├── Conflict               the request clashes with what is stored (a name in use, a segment
    │                          that manual overrides still point to)
    ├── PermissionDenied       the actor's role does not allow this
    └── RunFailed              a segmentation run could not complete (the previous result stays)

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


class NotFound(SegmintError):
    """Nothing of that kind with that id or name in the actor's organization."""


class Conflict(SegmintError):
    """The change clashes with stored data; ``field`` names the field when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PermissionDenied(SegmintError):
    """The actor's role does not allow the action."""


class RunFailed(SegmintError):
    """A run stopped before its result was swapped in; the previous result is untouched."""
