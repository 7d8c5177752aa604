"""Who is in which segment: automatic assignments per run, manual overrides, the effective
segment, and every change kept as history."""
