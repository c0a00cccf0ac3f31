"""`python -m agent bench`: how many calls one worker process carries, measured offline.

The question the deployment needs answered is "how much CPU and memory does a call cost, and
when does the worker itself start making callers wait?". Only simulated calls can answer it on
any machine, without accounts or a LiveKit server: the bench runs whole calls through the
production call path (:func:`agent.simulator.live.run_scenario`: the job's composition root,
real silero VAD, real turn handling, signed webhooks to a real receiver on 127.0.0.1) with
offline STT/LLM/TTS stand-ins whose latencies are configured, so whatever a turn takes beyond
them is the worker's.

- :mod:`.scenario`: the benchmark call (greeting, a few caller turns, hang-up), built in code;
- :mod:`.level`: one concurrency level in one fresh process (CPU, RSS, turn timings);
- :mod:`.figures`: what a level and the whole run report (the JSON contract);
- :mod:`.command`: the CLI, the loopback receiver, and the ramp from level to level.
"""
