"""Self-hosted LiveKit voice agent worker.

Data flow (and package layout): config -> providers -> session -> lifecycle -> call record
-> events -> sinks. See README.md for the contracts.
"""

__version__ = "0.1.0"
