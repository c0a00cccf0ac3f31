"""Local development tools: dispatch a call, mint a join token, watch the webhooks arrive.

None of this runs in production; it is what a newcomer needs to talk to their assistant
against `livekit-server --dev` (docs/local-development.md).
"""
