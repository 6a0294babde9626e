"""Delivery channels: Web Push (VAPID), Slack and Microsoft Teams incoming webhooks, e-mail (SMTP).

Each ``send`` raises on failure (the deliverer retries with backoff, then dead-letters); each carries the
milestone key as its idempotency id: the push ``Topic`` header (a hash: it must be short) and the key in
the payload, an ``Idempotency-Key`` header and the key in the webhook body, the mail's ``Message-ID``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
from pywebpush import WebPushException, webpush

from attain.notify.preferences import Preferences


@dataclass(frozen=True)
class Outgoing:
    """One notification for one person: the idempotency id, the sentence in their language, the fields."""

    key: str
    kind: str
    sentence: str
    fields: dict[str, str]

    def payload(self) -> dict[str, Any]:
        return {"id": self.key, "kind": self.kind, "text": self.sentence, "fields": self.fields}


class DeliveryError(Exception):
    """A channel refused or could not be reached; the message says which and why."""


def short_id(key: str) -> str:
    """32 URL-safe characters naming ``key`` (the Web Push ``Topic`` header allows no more)."""
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()[:32]


def slack_body(item: Outgoing) -> dict[str, Any]:
    """Slack's incoming-webhook format: ``text`` (the notification) and Block Kit blocks."""
    return {"text": item.sentence, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": item.sentence}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{item.kind} · `{item.key}`"}]},
    ], "metadata": {"event_type": "attain_milestone", "event_payload": item.payload()}}


def teams_body(item: Outgoing) -> dict[str, Any]:
    """A Teams incoming-webhook (Workflows) message carrying one Adaptive Card."""
    facts = [{"title": name, "value": value} for name, value in sorted(item.fields.items()) if value]
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": [{"type": "TextBlock", "text": item.sentence, "wrap": True},
                                       {"type": "FactSet", "facts": facts}]}
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


@dataclass(frozen=True)
class ChannelSettings:
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "attain@localhost"
    vapid_private_key: str = ""  # the application server's key: PEM file path or base64url raw key
    vapid_subject: str = "mailto:attain@localhost"
    timeout: float = 5.0


class Channels:
    def __init__(self, settings: ChannelSettings) -> None:
        self._settings = settings
        self._client = httpx.AsyncClient(timeout=settings.timeout)

    async def send(self, channel: str, preferences: Preferences, item: Outgoing) -> None:
        if channel == "slack":
            await self._post(preferences.slack_webhook, slack_body(item), item.key)
        elif channel == "teams":
            await self._post(preferences.teams_webhook, teams_body(item), item.key)
        elif channel == "email":
            await asyncio.to_thread(self._mail, preferences.email, item)
        elif channel == "push":
            await asyncio.to_thread(self._push, preferences, item)
        else:
            raise DeliveryError(f"no channel {channel!r}")

    async def _post(self, url: str, body: dict[str, Any], key: str) -> None:
        try:
            answer = await self._client.post(url, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook unreachable: {type(error).__name__}: {error}") from None
        if answer.status_code >= 300:
            raise DeliveryError(f"webhook answered {answer.status_code}: {answer.text[:200]}")

    def _mail(self, to: str, item: Outgoing) -> None:
        if not self._settings.smtp_host:
            raise DeliveryError("no SMTP server (ATTAIN_NOTIFIER_SMTP_HOST)")
        message = EmailMessage()
        message["From"], message["To"] = self._settings.smtp_from, to
        message["Subject"] = item.sentence
        message["Message-ID"] = f"<{short_id(item.key)}@attain.notifications>"
        message["X-Attain-Milestone-Key"] = item.key
        message.set_content(item.sentence + "\n\n" + "\n".join(f"{k}: {v}" for k, v in sorted(item.fields.items())))
        try:
            with smtplib.SMTP(self._settings.smtp_host, self._settings.smtp_port,
                              timeout=self._settings.timeout) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"SMTP: {type(error).__name__}: {error}") from None

    def _push(self, preferences: Preferences, item: Outgoing) -> None:
        if not self._settings.vapid_private_key:
            raise DeliveryError("no VAPID key (ATTAIN_NOTIFIER_VAPID_PRIVATE_KEY)")
        for subscription in preferences.push:
            try:
                webpush({"endpoint": subscription.endpoint,
                         "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
                        data=json.dumps(item.payload()), vapid_private_key=self._settings.vapid_private_key,
                        vapid_claims={"sub": self._settings.vapid_subject}, ttl=86400,
                        headers={"Topic": short_id(item.key)}, timeout=self._settings.timeout)
            except WebPushException as error:
                raise DeliveryError(f"push service refused: {error}") from None
            except OSError as error:
                raise DeliveryError(f"push service unreachable: {error}") from None

    async def close(self) -> None:
        await self._client.aclose()
