"""The explorer's Clip button: start a scene clip and follow it from a browser session.

The API's own clip starter and run status route take a key or a principal only; these two
browser routes take the session cookie as well, so a person signed in to the explorer with the
write role can clip a scene without handling a key. The cookie is ``SameSite=Strict`` and the
start needs an ``application/json`` body (which another site cannot send without a CORS
preflight this app never answers), so a page elsewhere cannot start a clip with someone's
session. The status route answers for ``clip`` runs only: a browser session follows the clips
it starts, not every run of the platform.
"""

from __future__ import annotations

from urllib.parse import quote

from dataops.api.auth import Role, has_role
from dataops.api.dispatch import ApiContext, Call, Reply, RunHandler, json_reply
from dataops.api.models import RunAccepted
from dataops.api.problems import ApiError
from dataops.api.starters import CLIP, DATASTREAM_HEADER, run_status, start_clip
from dataops.explorer.html import BASE

__all__ = [
    "CLIP_ROLE",
    "EXPLORER_RUN_HANDLERS",
    "clip_denied_reason",
    "clip_status_url",
]

CLIP_ROLE = Role.WRITE
"""The role a session needs to clip: a clip writes a datastream and a file in the share zone."""


def clip_status_url(instance_id: str) -> str:
    """Where the explorer polls the clip run ``instance_id``."""
    return f"{BASE}/clips/{quote(instance_id, safe='')}"


def clip_denied_reason(call: Call) -> str | None:
    """Why the caller of ``call`` cannot clip (the disabled button's tooltip); None: it can."""
    if call.caller is None or has_role(call.caller, CLIP_ROLE):
        return None
    return (
        f"Clipping needs the write role; this session has the {call.caller.role.name.lower()} "
        "role. Sign in with a write key."
    )


async def explorer_clip_scene(context: ApiContext, call: Call) -> Reply:
    """``POST /explorer/scenes/{id}/clip``: the scene clip, followed at the explorer's route."""
    instance_id, datastream_id = await start_clip(
        context, call.body, scene_id=call.ids["id"], measurement_id=None
    )
    status_url = clip_status_url(instance_id)
    return Reply(
        body=RunAccepted(
            instance_id=instance_id, status_url=status_url, datastream_id=datastream_id
        ),
        headers={
            "Location": status_url,
            DATASTREAM_HEADER: datastream_id,
            "Cache-Control": "no-store",
        },
    )


async def explorer_clip_status(context: ApiContext, call: Call) -> Reply:
    """``GET /explorer/clips/{id}``: a clip run's status; 404 for any other run."""
    status = await run_status(context, call.ids["id"])
    if status.name != CLIP:
        raise ApiError(404, f"no clip run {call.ids['id']}")
    # The output holds the clip's SAS link, a bearer secret: no cache may keep it.
    return json_reply(status, headers={"Cache-Control": "no-store"})


EXPLORER_RUN_HANDLERS: dict[str, RunHandler] = {
    "explorerClipScene": explorer_clip_scene,
    "explorerClipStatus": explorer_clip_status,
}
