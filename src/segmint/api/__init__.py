"""The REST API under ``/api/v1``: one JSON shape for every answer and every failure, accounts
and tokens, and the organization's data seen through its actor's role."""
