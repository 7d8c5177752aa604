"""Connections between organizations and the VAT-based segment types they share.

A connection is mutual: an admin of one organization invites another (by its slug), an admin of
that one accepts, and from then on each sees the other's *shared* VAT-based segment types on its
own customers, matched by VAT number, read-only. Either side ends it. See ``docs/sharing.md``.
"""
