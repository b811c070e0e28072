"""Slack user-group membership through slack-sdk: ``usergroups.users.list`` (scope ``usergroups:read``).

https://api.slack.com/methods/usergroups.users.list — answers ``{"ok": true, "users": ["U…", …]}``.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from receiver.access.people import GroupMembers


def slack_group_members(token: str, api_url: str, timeout: float = 10.0) -> GroupMembers:
    """A ``GroupMembers`` lookup on the Slack Web API at ``api_url`` (``https://slack.com/api/``).

    The lookup raises ``slack_sdk.errors.SlackApiError`` (or a connection error) on failure.
    """
    client = AsyncWebClient(token=token, base_url=api_url, timeout=int(timeout))

    async def members(group: str) -> list[str]:
        resp = await client.usergroups_users_list(usergroup=group)
        return [str(u) for u in resp.get("users") or []]

    return members
