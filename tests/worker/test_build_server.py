"""The framework server the worker builds for each executor (agent/worker/main.py build_server)."""

from __future__ import annotations

import pytest
from livekit.agents import JobExecutorType
from pydantic import ValidationError

from agent.worker import warm
from agent.worker.load import CallLoad
from agent.worker.main import build_server
from agent.worker.settings import THREAD_MAX_CONCURRENT_CALLS, Executor, WorkerSettings


def test_job_processes_fork_from_the_warm_image() -> None:
    settings = WorkerSettings(executor=Executor.PROCESS)
    server = build_server(settings, CallLoad(settings.max_concurrent_calls))
    assert server._job_executor_type is JobExecutorType.PROCESS
    assert server._preload_modules == ["agent.worker.warm_preload"]


def test_job_threads_share_the_image_built_on_the_main_thread() -> None:
    settings = WorkerSettings(executor=Executor.THREAD, max_concurrent_calls=4)
    server = build_server(settings, CallLoad(settings.max_concurrent_calls))
    assert server._job_executor_type is JobExecutorType.THREAD
    assert server._preload_modules == []
    assert set(warm.steps_ms) == {
        "imports", "clients", "schemas", "entry_points", "vad", "transcript_pacing"
    }  # fmt: skip
    assert warm.failures == {}


def test_a_thread_executed_worker_takes_at_most_the_calls_one_gil_carries() -> None:
    WorkerSettings(executor=Executor.THREAD, max_concurrent_calls=THREAD_MAX_CONCURRENT_CALLS)
    with pytest.raises(ValidationError, match="run more worker processes"):
        WorkerSettings(
            executor=Executor.THREAD, max_concurrent_calls=THREAD_MAX_CONCURRENT_CALLS + 1
        )
    WorkerSettings(executor=Executor.PROCESS, max_concurrent_calls=64)  # one GIL per call


def test_python_s_warning_level_is_livekit_s_warn() -> None:
    settings = WorkerSettings(log_level="WARNING")
    server = build_server(settings, CallLoad(settings.max_concurrent_calls))
    assert server._log_level == "WARN"
