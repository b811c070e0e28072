"""Email notifier: one plain-text email per message over SMTP (aiosmtplib), threaded per incident.

Standards followed: RFC 5321 reply codes (4xx transient → retryable, 5xx permanent → not), RFC 5322
threading headers (the page's ``Message-ID`` is the ``ref``; follow-ups carry it in ``In-Reply-To``
and ``References``, so mail clients show one thread per incident, like Slack threads), RFC 3834
``Auto-Submitted: auto-generated`` (so vacation auto-replies stay quiet). Bodies are rendered from the
message templates (``receiver/templates/*.j2``) by a ``MessageRenderer``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from secrets import token_hex
from typing import Any

import aiosmtplib

from receiver.clock import Clock, SystemClock
from receiver.errors import DeliveryError
from receiver.notify.base import Delivery, Message
from receiver.notify.render import MessageRenderer
from receiver.rules.receivers import EmailTarget
from receiver.settings import Settings, SmtpConfig

NOT_CONFIGURED = "smtp not configured (SMTP_HOST unset)"
NO_EDIT = "email cannot edit a message already sent"
#: Message kind → (template, subject word). Kinds not listed are sent as updates; ``refresh`` is skipped.
KINDS: dict[str, tuple[str, str]] = {
    "page": ("alert.txt.j2", "FIRING"),
    "update": ("update.txt.j2", "UPDATE"),
    "ack": ("update.txt.j2", "ACKNOWLEDGED"),
    "resolve": ("resolved.txt.j2", "RESOLVED"),
    "approval": ("update.txt.j2", "APPROVAL NEEDED"),
    "digest": ("digest.txt.j2", "Daily digest"),
    "deadman": ("deadman.txt.j2", "ALERTING PIPELINE BROKEN"),
}
#: Kinds whose ``message.text``, when given, is the whole pre-rendered body.
PRE_RENDERED = frozenset({"digest", "deadman"})
_SUBJECT_MAX = 200
_MSGID = re.compile(r"^<[^<>\s]+@[^<>\s]+>$")


def kind_of(message: Message) -> str:
    """The message's kind for email; a message whose ``status`` is ``"digest"`` counts as a digest."""
    return "digest" if message.status == "digest" else str(message.kind)


def subject(message: Message) -> str:
    """``[P1] FIRING: <title>`` (``UPDATE``, ``ACKNOWLEDGED``, ``RESOLVED``), ``[P3] Daily digest: …``.

    One line, at most 200 characters; ``[DRY-RUN] `` in front of dry-run messages.
    """
    kind = kind_of(message)
    _, word = KINDS.get(kind, KINDS["update"])
    title = " ".join(message.title.split())
    if kind == "digest" and title.lower().startswith("daily digest"):
        text = f"[{message.severity}] {title}"
    else:
        text = f"[{message.severity}] {word}: {title}"
    if message.dry_run:
        text = "[DRY-RUN] " + text
    return text if len(text) <= _SUBJECT_MAX else text[: _SUBJECT_MAX - 1] + "…"


def _domain(sender: str) -> str:
    _, addr = parseaddr(sender)
    domain = addr.rpartition("@")[2]
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain or "") else "runbookd.invalid"


class EmailNotifier:
    """Delivers incident messages by email to ``EmailTarget.to`` through the SMTP server of ``config``.

    ``send`` returns ``Delivery(ref=<Message-ID>, data={"message_id", "to", …})``. With no
    ``config.host`` it sends nothing and returns ``Delivery(None, {"skipped": NOT_CONFIGURED})``.
    ``timeout`` bounds the whole SMTP conversation, in seconds; ``clock`` dates the messages.
    Connection security: ``config.tls`` (implicit TLS, port 465) or ``config.starttls`` (upgrade on
    a plain port); neither means plain SMTP (no opportunistic upgrade). ``config.username`` and
    ``config.password`` log in when both are set; the password is never logged or recorded.
    """

    #: Follow-ups are replies to the page's mail; a sent mail cannot be edited; nobody answers by mail.
    replies_in_thread = True
    edits_in_place = False
    chat = False
    syncs_ack = False

    def __init__(self, config: SmtpConfig, templates: MessageRenderer, *, timeout: float = 10.0,
                 clock: Clock | None = None) -> None:
        self._config = config
        self._templates = templates
        self._timeout = timeout
        self._clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings: Settings, templates: MessageRenderer | None = None) -> EmailNotifier | None:
        """The email channel of ``runbookd.yml`` (``smtp:``; off without ``smtp.host``, its messages recorded
        as skipped), or ``None`` when it is off and no ``templates`` are given (nothing to build it with).

        Raises ``ValueError`` when ``smtp.host`` is set and ``templates`` is not: the channel renders its
        bodies through them.
        """
        if templates is None and not settings.smtp.host:
            return None
        if templates is None:
            raise ValueError("the email notifier needs templates (a MessageRenderer)")
        return cls(settings.smtp, templates, timeout=settings.notify.email.read)

    def compose(self, target: EmailTarget, message: Message) -> EmailMessage:
        """Build the email for ``message``: headers (subject, threading, incident) and the rendered body."""
        kind = kind_of(message)
        name, _ = KINDS.get(kind, KINDS["update"])
        now = self._clock.now()
        if kind in PRE_RENDERED and message.text:
            body = message.text
        else:
            body = self._templates.render_message(name, message, now=now)
        email = EmailMessage()
        email["From"] = self._config.sender
        email["To"] = ", ".join(target.to)
        email["Subject"] = subject(message)
        email["Date"] = formatdate(now, usegmt=True)
        ident = re.sub(r"[^A-Za-z0-9-]", "-", message.incident_id) or "runbookd"
        message_id = f"<{ident}.{token_hex(6)}@{_domain(self._config.sender)}>"
        email["Message-ID"] = message_id
        if kind != "page" and message.ref and _MSGID.match(message.ref):
            email["In-Reply-To"] = message.ref
            email["References"] = message.ref
        email["Auto-Submitted"] = "auto-generated"
        if message.incident_id:
            email["X-Runbookd-Incident"] = message.incident_id
        email["X-Runbookd-Severity"] = message.severity
        email["X-Runbookd-Kind"] = kind
        if message.severity in ("P0", "P1") and kind in ("page", "deadman", "approval"):
            email["Importance"] = "high"
        email.set_content(body if body.endswith("\n") else body + "\n", charset="utf-8")
        return email

    async def send(self, target: EmailTarget, message: Message) -> Delivery:
        """Email ``message`` to every address of ``target``.

        ``page`` → alert template, new thread; ``update`` → update template; ``ack`` → update template
        saying who acknowledged; ``resolve`` → resolved template; ``digest`` / ``deadman`` →
        ``message.text`` when given, else their templates (a message with ``status == "digest"`` is a
        digest too); ``approval`` → update template with the step awaiting approval (answered with
        Slack's buttons); ``refresh`` → nothing (``skipped``).
        Follow-ups reply to ``message.ref`` (the page's Message-ID). Recipients refused while others
        accepted are listed in ``data["refused"]``.

        Raises ``DeliveryError``: not retryable when every recipient is refused permanently or the
        server answers 5xx (bad sender, authentication failed, message rejected), or the server lacks
        a required extension (STARTTLS, AUTH); retryable for 4xx answers, refused or dropped
        connections and timeouts.
        """
        if not self._config.host:
            return Delivery(None, {"skipped": NOT_CONFIGURED})
        if message.kind == "refresh":
            return Delivery(None, {"skipped": NO_EDIT})
        email = self.compose(target, message)
        cfg = self._config
        try:
            async with asyncio.timeout(self._timeout):
                refused, _ = await aiosmtplib.send(
                    email,
                    hostname=cfg.host,
                    port=cfg.port,
                    username=cfg.username if cfg.username and cfg.password else None,
                    password=cfg.password if cfg.username and cfg.password else None,
                    use_tls=cfg.tls,
                    start_tls=cfg.starttls and not cfg.tls,
                    timeout=self._timeout,
                )
        except (aiosmtplib.SMTPException, OSError, ValueError) as e:
            raise _classify(e, self._timeout) from e
        message_id = str(email["Message-ID"]).strip()
        data: dict[str, Any] = {"message_id": message_id, "to": list(target.to)}
        if "In-Reply-To" in email:
            data["in_reply_to"] = str(email["In-Reply-To"]).strip()
        if refused:
            data["refused"] = {addr: f"{r.code} {r.message}" for addr, r in refused.items()}
        if message.dry_run:
            data["dry_run"] = True
        return Delivery(message_id, data)


def _classify(e: Exception, timeout: float) -> DeliveryError:
    """Translate an aiosmtplib / socket error into a classified ``DeliveryError`` (RFC 5321 codes)."""
    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in e.recipients]
        refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in e.recipients)
        transient = bool(codes) and all(400 <= c < 500 for c in codes)
        return DeliveryError(f"smtp: every recipient refused: {refused}", retryable=transient)
    if isinstance(e, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"smtp: {e.code} {e.message}", retryable=400 <= e.code < 500)
    if isinstance(e, TimeoutError):
        return DeliveryError(f"smtp: timed out after {timeout:g}s", retryable=True)
    if isinstance(e, aiosmtplib.SMTPNotSupported):
        return DeliveryError(f"smtp: {e}", retryable=False)
    if isinstance(e, ssl.SSLCertVerificationError):
        return DeliveryError(f"smtp: TLS certificate not trusted: {e.verify_message}", retryable=False)
    if isinstance(e, OSError):
        return DeliveryError(f"smtp: {type(e).__name__}: {e}", retryable=True)
    return DeliveryError(f"smtp: {type(e).__name__}: {e}", retryable=False)
