"""``segmint users create``."""

from __future__ import annotations

from sqlalchemy import select

from segmint.accounts.models import User
from segmint.accounts.service import verify_password
from segmint.metadata.database import Database
from segmint.settings import Settings
from tests.cli.conftest import ORG, Cli


def _user(email: str) -> User | None:
    with Database.from_settings(Settings()).read_session() as session:
        return session.scalars(select(User).where(User.email == email)).first()


def test_create_with_password_from_stdin(cli: Cli) -> None:
    result = cli(
        "users", "create", "Ann@Example.com", "--role", "manager", "--org", ORG,
        "--name", "Ann Example", "--password-stdin", input="correct horse battery\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Created manager ann@example.com (user 1) in alpha-wholesale." in result.output
    user = _user("ann@example.com")
    assert user is not None and (user.role, user.name) == ("manager", "Ann Example")
    assert verify_password(user, "correct horse battery")
    assert not verify_password(user, "correct horse battery\n")


def test_create_with_a_hidden_prompt(cli: Cli) -> None:
    result = cli(
        "users", "create", "rep@example.com", "--role", "rep", "--org", ORG,
        "--sales-rep", "R07", input="s3cret-enough\ns3cret-enough\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "s3cret-enough" not in result.output
    user = _user("rep@example.com")
    assert user is not None and user.sales_rep == "R07"
    assert verify_password(user, "s3cret-enough")


def test_errors(cli: Cli) -> None:
    def create(email: str, password: str = "long enough pw", *extra: str):
        return cli("users", "create", email, "--role", "admin", "--org", ORG,
                   "--password-stdin", *extra, input=password + "\n")  # fmt: skip

    assert create("a@example.com").exit_code == 0
    duplicate = create("A@example.com")
    assert duplicate.exit_code == 1
    assert duplicate.output.strip() == (
        "error: email: a user with e-mail a@example.com already exists"
    )
    short = create("b@example.com", "short")
    assert short.exit_code == 1
    assert short.output.strip() == "error: password needs at least 10 characters"
    bad = create("not-an-email")
    assert bad.exit_code == 1
    assert bad.output.strip() == "error: email 'not-an-email' is not an e-mail address"
    role = cli("users", "create", "c@example.com", "--role", "boss", "--org", ORG)
    assert role.exit_code == 2


def test_a_new_organization_is_created_for_users_only(cli: Cli) -> None:
    result = cli("users", "create", "x@new.example", "--role", "admin", "--org", "newco",
                 "--password-stdin", input="long enough pw\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "in newco." in result.output
    bad = cli("users", "create", "y@new.example", "--role", "admin", "--org", "New Co",
              "--password-stdin", input="long enough pw\n")  # fmt: skip
    assert bad.exit_code == 1
    assert bad.output.startswith("error: org: organization 'New Co': use lower-case letters")
