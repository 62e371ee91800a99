"""``manage.py add_member USERNAME --store CODE --role ROLE``: a login with a role (idempotent).

The password is read from the REGULARS_PASSWORD environment variable, or asked for
(twice) on a terminal. Re-running updates the email, role and password of the same
user and membership; it never creates a second one.
"""

import getpass
import os
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from customers.models import AuditEntry, Membership, Role, Store
from customers.services import audit_record

PASSWORD_ENV = "REGULARS_PASSWORD"


class Command(BaseCommand):
    help = "Create or update a user and give them a role: owner (all stores), manager or staff of --store."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--store", default=None, help="store code (required for manager and staff)")
        parser.add_argument("--email", default=None)
        parser.add_argument("--first-name", default=None)
        parser.add_argument("--last-name", default=None)
        parser.add_argument(
            "--keep-password",
            action="store_true",
            help="when the user exists, do not change the password (and do not ask for one)",
        )

    def handle(self, *args, username, role, store, email, first_name, last_name, keep_password, **options):
        username = username.strip()
        user_model = get_user_model()
        try:
            user_model._meta.get_field("username").run_validators(username)
        except ValidationError as exc:
            raise CommandError(f"username: {' '.join(exc.messages)}") from exc
        if not username:
            raise CommandError("username: must not be empty")
        role = Role(role)
        if role == Role.OWNER:
            if store:
                raise CommandError("An owner sees every store: leave out --store.")
            store_obj = None
        else:
            if not store:
                raise CommandError(f"A {role.value} works in a store: pass --store CODE.")
            store_obj = Store.objects.filter(code=store.strip().upper()).first()
            if store_obj is None:
                known = ", ".join(Store.objects.values_list("code", flat=True)) or "none yet (see add_store)"
                raise CommandError(f"No store with code {store!r}. Known stores: {known}.")
        if email:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise CommandError(f"email: {email!r} is not a valid address") from exc

        existing = user_model.objects.filter(username=username).first()
        password = None
        if not (keep_password and existing):
            password = self._password(user_model(username=username, email=email or ""))

        with transaction.atomic():
            user = existing or user_model(username=username)
            if email is not None:
                user.email = email
            if first_name is not None:
                user.first_name = first_name
            if last_name is not None:
                user.last_name = last_name
            user.is_active = True
            if password is not None:
                user.set_password(password)
            user.save()
            membership, created = self._membership(user=user, role=role, store=store_obj)
        where = store_obj.code if store_obj else "all stores"
        verb = "Created" if existing is None else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {username}: {role.label} of {where}."))
        if role == Role.OWNER and Membership.objects.filter(user=user).exclude(pk=membership.pk).exists():
            self.stdout.write("Note: the user keeps their store memberships; as owner they see every store.")

    def _membership(self, *, user, role: Role, store: Store | None) -> tuple[Membership, bool]:
        """One row per (user, store); an owner's single row has no store (see Membership constraints)."""
        membership, created = Membership.objects.select_for_update().get_or_create(
            user=user, store=store, defaults={"role": role, "is_active": True}
        )
        if not created and (membership.role != role or not membership.is_active):
            before = membership.role
            membership.role = role
            membership.is_active = True
            membership.save(update_fields=["role", "is_active"])
            audit_record(
                actor=None, action=AuditEntry.Action.ROLE, target=user, store=store,
                details={"from": before, "to": role, "via": "add_member"},
            )  # fmt: skip
        elif created:
            audit_record(
                actor=None, action=AuditEntry.Action.ROLE, target=user, store=store,
                details={"from": "", "to": role, "via": "add_member"},
            )  # fmt: skip
        return membership, created

    def _password(self, user) -> str:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if not sys.stdin or not sys.stdin.isatty():
                raise CommandError(f"No terminal to ask for a password: set {PASSWORD_ENV}.")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("password: " + " ".join(exc.messages)) from exc
        return password
