"""What the profile commands share: find the account, read its profile, write a changed one whole."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from roamline.cloud.cmd.common import open_store, wall_now
from roamline.cloud.errors import UsageError
from roamline.cloud.records import Account
from roamline.cloud.sqlite_store import SqliteStore
from roamline.wire import profile as wp


def add_account_arg(parser: argparse.ArgumentParser) -> None:
    from roamline.wire import validate

    parser.add_argument("account", type=validate.DisplayName(), help="account id or (unique) name")


def find(store: SqliteStore, name: str) -> Account:
    account = store.find_account(name)
    if account is None:
        raise UsageError(f"no account {name!r}")
    return account


def current(store: SqliteStore, account_id: str) -> dict[str, Any]:
    """The account's profile as JSON (the empty profile when it has none)."""
    stored = store.get_profile(account_id)
    return wp.EMPTY.to_json() if stored is None else wp.parse(stored[0]).to_json()


def change(store: SqliteStore, account: Account, edit: Callable[[dict[str, Any]], None], now: float,
           what: str) -> tuple[wp.Profile, int]:
    """Apply ``edit`` to the profile's JSON, check the whole profile, store it (the registry pushes it to
    the holder's boxes within a sweep). A profile that no longer holds together is a usage error."""
    with store.transaction():
        obj = current(store, account.account_id)
        edit(obj)
        try:
            profile = wp.parse(obj)
        except wp.ProfileError as exc:
            raise UsageError(f"{what}: {exc}") from None
        version = store.put_profile(account.account_id, profile.to_json(), now)
        store.add_event(now, "profile-changed", {"account": account.account_id, "what": what,
                                                 "version": version})
    return profile, version


def upsert(entries: list[dict[str, Any]], new: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``entries`` with ``new`` in place of the one that has its ``key`` (``new`` goes last)."""
    return [e for e in entries if e[key] != new[key]] + [new]


def keyed_entries(args: argparse.Namespace, field: str, key: str, order: Callable[[dict[str, Any]], Any],
                  what: str) -> tuple[Account, list[dict[str, Any]]]:
    """What ``speed-dials`` and ``local-dials`` do with one keyed list of a holder's profile (``field``,
    each entry named by ``key``): each ``--set`` replaces the entry with its key, each ``--clear`` removes
    a key, the list is kept sorted by ``order``, and the whole profile is checked and stored (``what``
    names the change). The account and the list as stored afterwards (unchanged without --set/--clear)."""
    store = open_store(args.data)
    try:
        account = find(store, args.account)
        if args.set or args.clear:
            cleared = {str(k) for k in args.clear}

            def edit(obj: dict[str, Any]) -> None:
                for spec in args.set:
                    obj[field] = upsert(obj[field], spec, key)
                obj[field] = sorted((e for e in obj[field] if e[key] not in cleared), key=order)

            change(store, account, edit, wall_now(), what)
        entries: list[dict[str, Any]] = current(store, account.account_id)[field]
    finally:
        store.close()
    return account, entries
