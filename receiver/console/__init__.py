"""The operator console: server-rendered HTML pages at ``/`` (docs/console.md).

``routes.Console`` serves the pages; ``sessions`` signs people in with a personal token and keeps the
session in the store; ``guard`` finds who is asking and refuses what their role does not allow;
``events`` streams "something changed" to open pages (server-sent events). Every action goes through
the same lifecycle functions as the admin API, so it is on the timeline and in the audit log.
"""

from receiver.console.routes import Console

__all__ = ["Console"]
