"""Config models of the plugins that ``runbookd.yml`` configures (``command:``, ``actions.http``).

They sit below both ``receiver.settings`` (which embeds them) and the action plugins (which read them),
so settings imports no plugin and no plugin imports settings at run time (docs/architecture.md).
Leaf modules: no other runbookd imports.
"""
