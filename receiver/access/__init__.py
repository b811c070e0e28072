"""Who may do what: people and roles (``access:`` in runbookd.yml), personal API tokens, actors.

See docs/access.md. ``roles`` holds the ordered roles and what each action needs; ``people`` the
configuration models and the directory that maps a Slack user or an email to a person; ``tokens``
the personal API tokens (only their SHA-256 is stored).
"""

from receiver.access.people import AccessConfig, Actor, Directory, Person
from receiver.access.roles import ROLES, Role, allows, needed_role

__all__ = ["AccessConfig", "Actor", "Directory", "Person", "ROLES", "Role", "allows", "needed_role"]
