"""Demo data: a manufacturer and two wholesalers, generated deterministically and imported.

The generator (numpy, pyarrow) lives in :mod:`segmint.demo.generator` and the loading into the
store in :mod:`segmint.demo.service`; this package itself stays light for the CLI's start-up.
"""

DEFAULT_LINES = 300_000
"""Sales lines over the three organizations: generation and import in a few seconds."""

DEFAULT_SEED = 7
