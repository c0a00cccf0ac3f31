"""Telephony: what a call can do because it is (or may be) a phone call.

LiveKit SIP puts a phone caller in the room as a participant of kind SIP; everything here
talks to that participant through the LiveKit server API (SIP REFER for a transfer,
CreateSIPParticipant for an outbound dial) or through the room (DTMF both ways). No SIP
stack runs in the worker.

- ``caller.py``: who the caller is (SIP or web) and their numbers, from participant attributes.
- ``sip.py``: the two server API calls we make, as ``SipGateway``.
- ``transfer.py``: the ``transfer_call`` tool and the transfer path the control channel shares.
- ``dtmf.py``: keypad digits from the caller to the LLM, and the ``send_dtmf`` tool.
- ``outbound.py``: dialling out, no answer, voicemail.
- ``phone_line.py``: the per-call bundle the composition root (agent/call/assemble.py) builds.

All of it acts on the call through its ``CallHandle`` (agent/call/handle.py), never the LiveCall.
"""
