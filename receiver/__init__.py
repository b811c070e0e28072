"""runbookd: an Alertmanager webhook receiver and incident auto-responder for trading systems.

The sub-packages follow the path of an alert (see DESIGN.md and STYLE.md): ``ingest`` → ``rules`` →
``incidents`` → ``playbooks`` → ``actions``; ``escalation`` → ``notify``; ``store`` underneath, and
``app`` wires them together.
"""

__version__ = "0.1.0"
