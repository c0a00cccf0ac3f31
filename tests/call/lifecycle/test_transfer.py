"""A SIP transfer and the caller's leg leaving: the REFER working is not a hang-up."""

from __future__ import annotations

from agent.call.lifecycle import SilenceSettings
from agent.contracts.end_reason import EndReason
from tests.support.lifecycle_fakes import make_call

QUIET = SilenceSettings(enabled=False)


def test_caller_leaving_during_a_transfer_is_transferred() -> None:
    # The REFER moves the caller's leg out of the room; the disconnect can reach us before the
    # transfer request itself returns.
    clock, session, call = make_call(silence=QUIET)
    clock.advance(5.0)
    call.on_transfer_started()
    call.on_caller_left("CLIENT_INITIATED")
    call.on_transfer_finished(True)  # arrives after: ignored, the first cause already won
    assert call.end_reason is EndReason.TRANSFERRED
    assert call.end_detail == "caller_left_during_transfer"
    assert session.hang_ups == [5.0]


def test_caller_leaving_after_a_failed_transfer_is_a_hangup() -> None:
    clock, _session, call = make_call(silence=QUIET)
    call.on_transfer_started()
    call.on_transfer_finished(False)
    clock.advance(3.0)
    call.on_caller_left("CLIENT_INITIATED")
    assert call.end_reason is EndReason.USER_HANGUP
