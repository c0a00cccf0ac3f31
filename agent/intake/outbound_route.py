"""How an outbound call is dialled: the SIP trunk it goes through and the caller id it shows.

The document, the operator's number table (`VOICE_AGENT_SIP_NUMBER_TRUNKS`) and the operator's
default trunk each may name the trunk; the order in which they win is the one rule here, apart
from the parser (agent/intake/dispatch.py) that applies it to every outbound call.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.errors import ConfigError
from agent.intake.document import CallInfo, CallType
from agent.worker.settings import NumberRoute


def outbound_route(
    call: CallInfo,
    *,
    number_trunks: Mapping[str, NumberRoute],
    default_trunk_id: str | None,
    warnings: list[str],
    transient: bool,
) -> tuple[CallInfo, str | None]:
    """The trunk an outbound call dials through, and the caller id it shows.

    An explicit `call.sip_trunk_id` wins; else `number_id` through the operator's number table
    (with no table, `number_id` is taken as the trunk id itself, as before the table existed);
    else the operator's default outbound trunk.
    """
    if call.type is not CallType.OUTBOUND_PHONE:
        return call, None
    if not call.destination:
        raise ConfigError("an outbound_phone_call needs `destination`", path="call.destination")
    route: NumberRoute | None = None
    trunk = call.sip_trunk_id
    if call.number_id is not None and number_trunks:
        route = number_trunks.get(call.number_id)
        if route is None and trunk is None:
            raise ConfigError(
                "not in the worker's number table (VOICE_AGENT_SIP_NUMBER_TRUNKS)",
                path="number_id",
            )
    if trunk is None:
        trunk = route.trunk_id if route else call.number_id or default_trunk_id
    if trunk is None:
        raise ConfigError(
            "an outbound_phone_call needs `number_id`, `call.sip_trunk_id` or the worker's "
            "VOICE_AGENT_SIP_OUTBOUND_TRUNK_ID",
            path="call.sip_trunk_id",
        )
    if transient and call.number_id is None and call.sip_trunk_id is None:
        warnings.append(
            "number_id is missing (the platform requires it with a transient assistant); "
            "dialling through the worker's default outbound trunk"
        )
    return call.model_copy(update={"sip_trunk_id": trunk}), route.number if route else None
