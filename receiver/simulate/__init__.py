"""Simulation: what runbookd would do with some alerts, with no store, no network and no clock.

``plan`` (``receiver.simulate.plan``) computes one ``Plan`` (a JSON-ready dict) by running the real
incident processor over an in-memory transaction and playing its work rows in time order;
``runbookd simulate`` prints it (``render_text``, or JSON), and ``runbookd test`` checks rule unit
tests against it (``receiver.simulate.unittests``), so the two always agree.
"""

from receiver.simulate.plan import Deployment, SimAlert, alerts_from_payload, default_until, fingerprint, plan
from receiver.simulate.text import render_text

__all__ = ["Deployment", "SimAlert", "alerts_from_payload", "default_until", "fingerprint", "plan", "render_text"]
