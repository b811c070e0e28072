"""Slack user-group membership through slack-sdk: ``usergroups.users.list`` (scope ``usergroups:read``).

https://api.slack.com/methods/usergroups.users.list — answers ``{"ok": true, "users": ["U…", …]}``.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from receiver.access.people import GroupMembers


def slack_group_members(token: str, api_url: str, timeout: float = 2.0) -> GroupMembers:
    """A ``GroupMembers`` lookup on the Slack Web API at ``api_url`` (``https://slack.com/api/``).

    ``timeout`` (seconds) is short: the lookup runs while Slack waits at most 3 s for our answer, and a
    failed lookup falls back to the members last seen (``Directory``).

    The lookup raises ``slack_sdk.errors.SlackApiError`` (or a connection error) on failure.
    """
    client = AsyncWebClient(token=token, base_url=api_url, timeout=int(timeout))

    async def members(group: str) -> list[str]:
        resp = await client.usergroups_users_list(usergroup=group)
        return [str(u) for u in resp.get("users") or []]

    return members
