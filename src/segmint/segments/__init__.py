"""Segment types and their segments: what an organization segments by, and into what."""
