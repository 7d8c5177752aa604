"""Who is asking: every service call takes an :class:`Actor`, so no query can forget the
organization it is scoped to or the role that limits it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from segmint.errors import PermissionDenied

Role = Literal["admin", "manager", "rep", "system"]


@dataclass(frozen=True)
class Actor:
    """An organization and a role; ``user_id`` is None for Segmint itself (worker, scheduler,
    CLI scripts run by whoever owns the machine)."""

    organization_id: int
    role: Role
    user_id: int | None = None
    org_slug: str = ""
    sales_rep: str | None = None

    @classmethod
    def system(cls, organization_id: int, org_slug: str = "") -> Actor:
        return cls(organization_id=organization_id, role="system", org_slug=org_slug)

    @property
    def can_manage(self) -> bool:
        """Managers, admins and Segmint itself edit segment types, run them and override."""
        return self.role in ("admin", "manager", "system")

    def require_manager(self, action: str) -> None:
        if not self.can_manage:
            raise PermissionDenied(
                f"{action} needs the manager or admin role (you are {self.role})"
            )

    def require_admin(self, action: str) -> None:
        if self.role not in ("admin", "system"):
            raise PermissionDenied(f"{action} needs the admin role (you are {self.role})")
