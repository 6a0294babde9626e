"""``GET/PUT /v1/people/{id}/notification-preferences``: a person reads and edits their own; admins anyone's.

Authenticated with the platform's bearer tokens (attain/platform/identity.py). PUT takes the whole
preferences as JSON (the fields of ``attain.notify.preferences.Preferences``; ``push`` is a list of
browser PushSubscription JSON objects) and answers 400 naming the field that is wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from aiohttp import web

from attain.notify.preferences import Preferences, PreferencesError, PushSubscription
from attain.platform.identity import AuthError, TokenVerifier
from services.notifier.milestones import Store

ROUTE = "/v1/people/{person_id}/notification-preferences"


def as_json(preferences: Preferences) -> dict[str, Any]:
    data = dataclasses.asdict(preferences)
    data["channels"] = list(preferences.channels)
    data["push"] = [{"endpoint": p.endpoint, "keys": {"p256dh": p.p256dh, "auth": p.auth}} for p in preferences.push]
    return data


def from_json(person_id: str, body: Any) -> Preferences:
    if not isinstance(body, dict):
        raise PreferencesError("the body must be a JSON object")
    known = {f.name for f in dataclasses.fields(Preferences)} - {"person_id"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise PreferencesError(f"unknown fields: {', '.join(unknown)}")
    values = dict(body)
    try:
        values["channels"] = tuple(values.get("channels", ()))
        values["push"] = tuple(PushSubscription(p["endpoint"], p["keys"]["p256dh"], p["keys"]["auth"])
                               for p in values.get("push", ()))
    except (KeyError, TypeError):
        raise PreferencesError("push: each item is a PushSubscription: {endpoint, keys: {p256dh, auth}}") from None
    for name, value in values.items():
        if name not in ("channels", "push") and not isinstance(value, str):
            raise PreferencesError(f"{name}: must be text")
    return Preferences(person_id, **values).check()


def add_preferences_routes(app: web.Application, store: Store, verifier: TokenVerifier) -> None:
    async def caller(request: web.Request) -> str:
        person_id = request.match_info["person_id"]
        try:
            identity = await asyncio.to_thread(verifier.verify_header, request.headers.get("Authorization"))
        except AuthError as error:
            raise web.HTTPUnauthorized(text=str(error)) from None
        if identity.subject != person_id and not identity.is_admin:
            raise web.HTTPForbidden(text=f"{identity.subject} may not see {person_id}'s notification preferences")
        return identity.subject

    async def get(request: web.Request) -> web.Response:
        await caller(request)
        person_id = request.match_info["person_id"]
        return web.json_response(as_json(store.preferences.get(person_id) or Preferences(person_id)))

    async def put(request: web.Request) -> web.Response:
        subject = await caller(request)
        try:
            preferences = from_json(request.match_info["person_id"], await request.json())
        except ValueError as error:  # PreferencesError, or a body that is not JSON
            return web.json_response({"error": str(error)}, status=400)
        await asyncio.to_thread(store.put_preferences, preferences, subject)
        return web.json_response(as_json(preferences))

    app.router.add_get(ROUTE, get)
    app.router.add_put(ROUTE, put)
