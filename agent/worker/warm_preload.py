"""Imported by the forkserver (AgentServer `preload_modules`): builds the warm process image
every job process is forked from (agent/worker/warm.py says what is in it, and why)."""

from agent.worker.warm import warm_image

warm_image()
