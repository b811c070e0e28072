"""Prometheus metrics of runbookd (prefix ``runbookd_``), on a registry owned by the app.

Names follow DESIGN.md; durations are seconds, as Prometheus conventions ask.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Every metric runbookd exports, registered on one ``CollectorRegistry`` (no globals)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.alerts_received = Counter(
            "runbookd_alerts_received", "Alerts received in webhook bodies, by alert status.",
            ["status"], registry=r)
        self.alerts_truncated = Counter(
            "runbookd_alerts_truncated", "Alerts Alertmanager left out of bodies (truncatedAlerts).",
            registry=r)
        self.webhook_requests = Counter(
            "runbookd_webhook_requests", "Webhook requests by HTTP status code.", ["code"], registry=r)
        self.webhook_nul_replaced = Counter(
            "runbookd_webhook_nul_replaced", "U+0000 replaced by U+FFFD at ingest, by field "
            "(labels, annotations, generatorURL): PostgreSQL text cannot hold it.", ["field"], registry=r)
        self.webhook_legacy_bodies = Counter(
            "runbookd_webhook_legacy_bodies", "Webhook bodies of older senders accepted, by reason "
            "(no_version, no_fingerprint).", ["reason"], registry=r)
        self.webhook_duration = Histogram(
            "runbookd_webhook_request_duration_seconds", "Time to answer a webhook request.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.rule_matches = Counter(
            "runbookd_rule_matches", "Alert state changes matched per rule.", ["rule"], registry=r)
        self.incidents_opened = Counter(
            "runbookd_incidents_opened", "Incidents opened (or reopened), by severity.",
            ["severity"], registry=r)
        self.incidents_open = Gauge(
            "runbookd_incidents_open", "Unresolved incidents by severity.", ["severity"], registry=r)
        self.actions = Counter(
            "runbookd_actions", "Playbook step executions by action and outcome.",
            ["action", "outcome"], registry=r)
        self.notifications = Counter(
            "runbookd_notifications", "Notifications by receiver and outcome.",
            ["receiver", "outcome"], registry=r)
        self.twilio_callbacks = Counter(
            "runbookd_twilio_callbacks", "Twilio call callbacks (POST /twilio/voice) by outcome (acknowledged, "
            "not_acknowledged, refused, duplicate, failed, bad_signature).", ["outcome"], registry=r)
        self.queue_depth = Gauge(
            "runbookd_store_queue_depth", "Work rows pending or running, by kind.", ["kind"], registry=r)
        self.claim_duration = Histogram(
            "runbookd_store_claim_duration_seconds",
            "Time of one claim of due work rows (one store transaction), whether or not it found any.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.lease_takeovers = Counter(
            "runbookd_store_lease_takeovers", "Work rows taken over after their claimer's lease ran out.",
            registry=r)
        self.config_reload_success = Gauge(
            "runbookd_config_last_reload_successful", "Whether the last rule reload succeeded.",
            registry=r)
        self.config_reload_time = Gauge(
            "runbookd_config_last_reload_success_timestamp_seconds",
            "Time of the last successful rule reload.", registry=r)
        self.automation_paused = Gauge(
            "runbookd_automation_paused", "1 while automation is paused.", registry=r)
        self.alerts_quarantined = Counter(
            "runbookd_alerts_quarantined",
            "Alert states set aside because the processor cannot apply them (docs/operations.md).", registry=r)
        self.oldest_pending_age = Gauge(
            "runbookd_alerts_oldest_pending_age_seconds",
            "Age of the oldest alert state waiting for the processor (0 when none waits).", registry=r)
        # Response targets (receiver.escalation.targets): seconds from an incident's (re)opening.
        response_buckets = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)
        self.time_to_acknowledge = Histogram(
            "runbookd_incident_time_to_acknowledge_seconds", "Time from an incident's opening to its acknowledgement.",
            ["severity"], buckets=response_buckets, registry=r)
        self.time_to_resolve = Histogram(
            "runbookd_incident_time_to_resolve_seconds", "Time from an incident's opening to its resolution.",
            ["severity"], buckets=response_buckets, registry=r)
        self.response_breaches = Counter(
            "runbookd_response_target_breaches", "Incidents not acknowledged within respond_within, by severity.",
            ["severity"], registry=r)
        for sev in ("P0", "P1", "P2", "P3"):
            self.incidents_open.labels(severity=sev).set(0)
            self.response_breaches.labels(severity=sev)
        for status in ("firing", "resolved"):
            self.alerts_received.labels(status=status)
