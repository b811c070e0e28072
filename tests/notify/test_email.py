"""EmailNotifier: the real aiosmtplib client against a real aiosmtpd SMTP server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from receiver.clock import FakeClock
from receiver.errors import DeliveryError
from receiver.escalation.templates import Templates
from receiver.notify import build_notifiers
from receiver.notify.email import NO_EDIT, NOT_CONFIGURED, EmailNotifier
from receiver.rules.model import EmailTarget
from receiver.settings import Settings, SmtpConfig
from tests.notify.conftest import make_message

ONCALL = EmailTarget(to=["oncall@example.com"])
SENDER = "runbookd@alerts.example.com"
PASSWORD = "s3cret-smtp-password"


def free_port() -> int:
    """A loopback TCP port nobody listens on (just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler: records accepted envelopes, refuses the addresses in ``refuse`` with their reply."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse: dict[str, str] = {}
        self.logins: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.login == b"runbookd" and auth_data.password == PASSWORD.encode()
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 235 / 535 itself

    def messages(self) -> list[EmailMessage]:
        """Every accepted email, parsed."""
        return [cast(EmailMessage, message_from_bytes(cast(bytes, e.original_content), policy=policy.default))
                for e in self.envelopes]


def header(msg: EmailMessage, name: str) -> str | None:
    """A header's value without the folding whitespace a long value may carry."""
    value = msg[name]
    return None if value is None else " ".join(str(value).split())


def body(msg: EmailMessage) -> str:
    """The decoded text body."""
    return cast(str, msg.get_content()).replace("\r\n", "\n")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A running aiosmtpd server on 127.0.0.1 (AUTH offered without TLS); yields (mailbox, port)."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=box.authenticate)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def smtp(mailbox: tuple[Mailbox, int]) -> SmtpConfig:
    """SMTP configured against the mailbox server, plain, no login."""
    return SmtpConfig(host="127.0.0.1", port=mailbox[1], sender=SENDER)


@pytest.fixture
def box(mailbox: tuple[Mailbox, int]) -> Mailbox:
    """The mailbox alone."""
    return mailbox[0]


def notifier(config: SmtpConfig, templates: Templates | None = None, **kw: Any) -> EmailNotifier:
    """An EmailNotifier with the default templates and a fake clock at the incident's start + 10 min."""
    return EmailNotifier(config, templates or Templates(), clock=FakeClock(1_800_000_600.0), **kw)


async def test_a_page_is_emailed_with_severity_title_summary_and_runbook(box: Mailbox, smtp: SmtpConfig) -> None:
    delivery = await notifier(smtp).send(ONCALL, make_message())
    [envelope] = box.envelopes
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == ["oncall@example.com"]
    [msg] = box.messages()
    assert msg["Subject"] == "[P0] FIRING: TradingSystemDown"
    assert msg["From"] == SENDER and msg["To"] == "oncall@example.com"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Runbookd-Incident"] == "inc-42"
    text = body(msg)
    assert "🚨 INCIDENT ALERT 🚨" in text
    assert "Severity: P0" in text
    assert "Issue: TradingSystemDown — Trading system is down" in text
    assert "Impact: No heartbeat from execution for 2m" in text
    assert "Runbook: https://runbooks.example.com/trading-down" in text
    assert "stop-trading (http): ok — 200" in text
    assert "Started: 2027-01-15 08:00:00 UTC" in text
    assert delivery.data["to"] == ["oncall@example.com"]


async def test_the_page_message_id_is_the_ref_and_follow_ups_reply_to_it(box: Mailbox, smtp: SmtpConfig) -> None:
    email = notifier(smtp)
    page = await email.send(ONCALL, make_message())
    [sent] = box.messages()
    assert page.ref is not None and page.ref == header(sent, "Message-ID")
    assert page.ref.startswith("<inc-42.") and page.ref.endswith("@alerts.example.com>")
    assert "In-Reply-To" not in sent

    update = await email.send(ONCALL, make_message(kind="update", ref=page.ref, text="still down"))
    resolved = await email.send(ONCALL, make_message(kind="resolve", ref=page.ref, status="resolved",
                                                     resolved_at=1_800_000_725.0))
    _, upd, res = box.messages()
    for msg, delivery in ((upd, update), (res, resolved)):
        assert header(msg, "In-Reply-To") == page.ref and header(msg, "References") == page.ref
        assert header(msg, "Message-ID") != page.ref and delivery.ref == header(msg, "Message-ID")
        assert delivery.data["in_reply_to"] == page.ref
    assert upd["Subject"] == "[P0] UPDATE: TradingSystemDown"
    assert "📊 INCIDENT UPDATE 📊" in body(upd) and "Update: still down" in body(upd)
    assert "Open for: 10m" in body(upd)
    assert res["Subject"] == "[P0] RESOLVED: TradingSystemDown"
    assert "✅ INCIDENT RESOLVED ✅" in body(res)
    assert "Duration: 2027-01-15 08:00:00 UTC - 2027-01-15 08:12:05 UTC (12m 5s)" in body(res)


async def test_an_ack_is_an_update_saying_who_acknowledged(box: Mailbox, smtp: SmtpConfig) -> None:
    await notifier(smtp).send(ONCALL, make_message(kind="ack", status="acknowledged", acknowledged_by="alice",
                                                   ref="<page.1@alerts.example.com>"))
    [msg] = box.messages()
    assert msg["Subject"] == "[P0] ACKNOWLEDGED: TradingSystemDown"
    assert header(msg, "In-Reply-To") == "<page.1@alerts.example.com>"
    assert "Acknowledged by alice: paging has stopped" in body(msg)
    assert "Status: MITIGATING (acknowledged by alice)" in body(msg)


async def test_a_refresh_sends_no_email(box: Mailbox, smtp: SmtpConfig) -> None:
    delivery = await notifier(smtp).send(ONCALL, make_message(kind="refresh", ref="<p@x>"))
    assert delivery.ref is None and delivery.data == {"skipped": NO_EDIT}
    assert box.envelopes == []


async def test_without_an_smtp_host_email_is_skipped(box: Mailbox) -> None:
    delivery = await notifier(SmtpConfig()).send(ONCALL, make_message())
    assert delivery.ref is None and delivery.data == {"skipped": NOT_CONFIGURED}
    assert NOT_CONFIGURED == "smtp not configured (SMTP_HOST unset)"
    assert box.envelopes == []


async def test_a_digest_uses_its_pre_rendered_text_as_the_body(box: Mailbox, smtp: SmtpConfig) -> None:
    digest = "📋 DAILY DIGEST — P3 incidents\nIncidents: 2 (0 open, 2 resolved)\n"
    await notifier(smtp).send(ONCALL, make_message(kind="digest", severity="P3", title="2027-01-15 (2 incidents)",
                                                   text=digest))
    [msg] = box.messages()
    assert msg["Subject"] == "[P3] Daily digest: 2027-01-15 (2 incidents)"
    assert body(msg) == digest


async def test_a_digest_sent_as_an_update_with_status_digest_is_a_digest(box: Mailbox, smtp: SmtpConfig) -> None:
    await notifier(smtp).send(ONCALL, make_message(kind="update", status="digest", severity="P3", incident_id="",
                                                   title="Daily digest: 2 P3 incident(s)", text="- one\n- two\n"))
    [msg] = box.messages()
    assert msg["Subject"] == "[P3] Daily digest: 2 P3 incident(s)"
    assert body(msg) == "- one\n- two\n"


async def test_an_approval_request_says_which_step_waits_and_until_when(box: Mailbox, smtp: SmtpConfig) -> None:
    approval = {"step": "close-positions", "action": "alpaca.close_all_positions", "params": {},
                "approvers": ["alice", "bob"], "deadline": 1_800_000_900.0, "on_timeout": "approve"}
    await notifier(smtp).send(ONCALL, make_message(kind="approval", approval=approval, ref="<p.1@x.example>"))
    [msg] = box.messages()
    assert msg["Subject"] == "[P0] APPROVAL NEEDED: TradingSystemDown"
    assert header(msg, "In-Reply-To") == "<p.1@x.example>"
    text = body(msg)
    assert "Approval needed: step close-positions (alpaca.close_all_positions) from alice, bob\n" in text
    assert "Without an answer by 2027-01-15 08:15:00 UTC: approve\n" in text


async def test_a_dead_mans_switch_page_has_its_own_subject_and_template(box: Mailbox, smtp: SmtpConfig) -> None:
    await notifier(smtp).send(ONCALL, make_message(kind="deadman", title="no Watchdog for 10m"))
    [msg] = box.messages()
    assert msg["Subject"] == "[P0] ALERTING PIPELINE BROKEN: no Watchdog for 10m"
    assert "🚨 ALERTING PIPELINE BROKEN 🚨" in body(msg)
    assert msg["Importance"] == "high"


async def test_a_dry_run_message_is_marked_in_subject_and_body(box: Mailbox, smtp: SmtpConfig) -> None:
    delivery = await notifier(smtp).send(ONCALL, make_message(dry_run=True))
    [msg] = box.messages()
    assert msg["Subject"] == "[DRY-RUN] [P0] FIRING: TradingSystemDown"
    assert body(msg).startswith("[DRY-RUN]")
    assert delivery.data["dry_run"] is True


async def test_alert_data_is_not_a_template_and_cannot_break_the_headers(box: Mailbox, smtp: SmtpConfig) -> None:
    labels = {"alertname": "X", "team": "{{ 7*7 }}", "bad": "{% raw %}"}
    await notifier(smtp).send(ONCALL, make_message(title="Evil\r\nBcc: victim@example.com 🚨", labels=labels,
                                                   summary="{{ config }}"))
    [envelope] = box.envelopes
    assert envelope.rcpt_tos == ["oncall@example.com"]
    [msg] = box.messages()
    assert header(msg, "Subject") == "[P0] FIRING: Evil Bcc: victim@example.com 🚨"
    assert msg["Bcc"] is None
    text = body(msg)
    assert "team={{ 7*7 }}" in text and "49" not in text
    assert "bad={% raw %}" in text and "{{ config }}" in text


async def test_some_recipients_refused_is_delivered_to_the_others(box: Mailbox, smtp: SmtpConfig) -> None:
    box.refuse["gone@example.com"] = "550 5.1.1 no such user"
    target = EmailTarget(to=["oncall@example.com", "gone@example.com"])
    delivery = await notifier(smtp).send(target, make_message())
    assert [e.rcpt_tos for e in box.envelopes] == [["oncall@example.com"]]
    assert delivery.data["refused"] == {"gone@example.com": "550 5.1.1 no such user"}


async def test_a_refused_recipient_is_not_retryable(box: Mailbox, smtp: SmtpConfig) -> None:
    box.refuse["oncall@example.com"] = "550 5.1.1 no such user"
    with pytest.raises(DeliveryError) as exc:
        await notifier(smtp).send(ONCALL, make_message())
    assert exc.value.retryable is False
    assert "oncall@example.com: 550" in exc.value.reason
    assert box.envelopes == []


async def test_a_temporarily_refused_recipient_is_retryable(box: Mailbox, smtp: SmtpConfig) -> None:
    box.refuse["oncall@example.com"] = "450 4.2.1 mailbox busy, try later"
    with pytest.raises(DeliveryError) as exc:
        await notifier(smtp).send(ONCALL, make_message())
    assert exc.value.retryable is True
    assert "450" in exc.value.reason


async def test_a_refused_connection_is_retryable() -> None:
    config = SmtpConfig(host="127.0.0.1", port=free_port())
    with pytest.raises(DeliveryError) as exc:
        await notifier(config).send(ONCALL, make_message())
    assert exc.value.retryable is True
    assert exc.value.reason.startswith("smtp: ")


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never says a word; yields its port."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_greets_times_out_as_retryable(silent_server: int) -> None:
    config = SmtpConfig(host="127.0.0.1", port=silent_server)
    started = time.monotonic()
    with pytest.raises(DeliveryError) as exc:
        await notifier(config, timeout=0.3).send(ONCALL, make_message())
    assert time.monotonic() - started < 2.0
    assert exc.value.retryable is True


async def test_it_logs_in_with_the_configured_credentials(box: Mailbox, smtp: SmtpConfig) -> None:
    config = smtp.model_copy(update={"username": "runbookd", "password": PASSWORD})
    await notifier(config).send(ONCALL, make_message())
    assert box.logins == ["runbookd"] and len(box.envelopes) == 1


async def test_a_wrong_password_is_not_retryable_and_not_in_the_reason(box: Mailbox, smtp: SmtpConfig) -> None:
    config = smtp.model_copy(update={"username": "runbookd", "password": "wrong-password-123"})
    with pytest.raises(DeliveryError) as exc:
        await notifier(config).send(ONCALL, make_message())
    assert exc.value.retryable is False
    assert "535" in exc.value.reason
    assert "wrong-password-123" not in exc.value.reason and "wrong-password-123" not in repr(exc.value)
    assert box.envelopes == []


async def test_starttls_required_but_not_offered_is_not_retryable(box: Mailbox, smtp: SmtpConfig) -> None:
    config = smtp.model_copy(update={"starttls": True})
    with pytest.raises(DeliveryError) as exc:
        await notifier(config).send(ONCALL, make_message())
    assert exc.value.retryable is False
    assert "STARTTLS" in exc.value.reason
    assert box.envelopes == []


async def test_an_operator_template_shapes_the_body(box: Mailbox, smtp: SmtpConfig, tmp_path: Path) -> None:
    (tmp_path / "alert.txt.j2").write_text("PAGE {{ severity }} {{ title }} see {{ runbook_url }}\n")
    await notifier(smtp, Templates(tmp_path)).send(ONCALL, make_message())
    [msg] = box.messages()
    assert body(msg) == "PAGE P0 TradingSystemDown see https://runbooks.example.com/trading-down\n"


def test_build_notifiers_builds_email_with_templates() -> None:
    """With templates the email channel is built (off without smtp.host); a configured host needs them."""
    without = build_notifiers(Settings())
    assert set(without) == {"slack", "pagerduty", "sms", "voice"}
    with_smtp = build_notifiers(Settings(), Templates())
    assert set(with_smtp) == {"slack", "pagerduty", "email", "sms", "voice"}
    assert isinstance(with_smtp["email"], EmailNotifier)
    with pytest.raises(ValueError, match="needs templates"):  # notify/ does not reach up for a default
        build_notifiers(Settings(smtp=SmtpConfig(host="mail.example.com")))
