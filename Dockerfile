# syntax=docker/dockerfile:1.7
#
# The voice agent worker image. Two stages:
#   build   - uv resolves nothing: it installs exactly uv.lock into /app/.venv, dependencies
#             first (cached layer, rebuilt only when pyproject.toml/uv.lock change), then the
#             project itself as a regular (non-editable) package, all byte-compiled.
#   runtime - plain python slim + that venv, owned by root and run as uid 10001, so the app
#             cannot modify itself and runs unchanged on a read-only root filesystem.
# Build:  docker build -t voice-agent:dev .
# Run:    docker run --rm --read-only --tmpfs /tmp -v outbox:/var/lib/voice-agent/outbox \
#           --stop-timeout 4020 -e LIVEKIT_URL=ws://host.docker.internal:7880 voice-agent:dev
#
# Both stages must carry the same Python minor (3.11): the venv's interpreter symlinks point at
# /usr/local/bin/python3.11, which exists at the same path in both images.

# uv pinned to the version that wrote uv.lock (0.13.8); the python tag floats on 3.11 patch
# releases. Pin both by digest in your registry mirror for bit-for-bit rebuilds.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8-python3.11-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${UV_IMAGE} AS build

# UV_COMPILE_BYTECODE: .pyc written now, because at runtime the filesystem is read-only.
# UV_LINK_MODE=copy: the cache is a separate mount, hard links would dangle in the image.
# UV_PYTHON_DOWNLOADS=0: use the image's interpreter, never fetch another one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src

# Dependencies only: this layer survives every source-only change.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv sync --locked --no-dev --no-install-project

# The project itself (README.md: the package metadata names it as readme).
COPY pyproject.toml uv.lock README.md ./
COPY agent ./agent
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime

# --no-log-init: a high uid otherwise bloats /var/log/faillog (hadolint DL3046).
RUN groupadd --system --gid 10001 voiceagent \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin voiceagent \
    && mkdir -p /var/lib/voice-agent/outbox /run/secrets/voice-agent \
    && chown 10001:10001 /var/lib/voice-agent/outbox

# root-owned on purpose: the worker never writes to its own code.
COPY --from=build /app/.venv /app/.venv

# HOME and TMPDIR point at /tmp, the one writable scratch mount (emptyDir in k8s, --tmpfs in
# docker); multiprocessing puts its forkserver socket there. PYTHONDONTWRITEBYTECODE: the
# bytecode is already compiled, never try to write more. The ~240 MB local end-of-turn weights
# (inside the livekit-local-inference wheel) are not preloaded
# (LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE=0); the worker itself sets that variable from
# VOICE_AGENT_TURN_MODEL when it starts (on: preloaded once in the forkserver).
# DL3064 ignored: it fires on the name VOICE_AGENT_SECRETS_DIR, whose value is a directory
# path (where the Secret volume is mounted), not secret data; no secret is baked in.
# hadolint ignore=DL3064
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE=0 \
    VOICE_AGENT_MODE=production \
    VOICE_AGENT_HEALTH_PORT=8081 \
    VOICE_AGENT_READY_PORT=8082 \
    VOICE_AGENT_PROMETHEUS_PORT=9100 \
    VOICE_AGENT_OUTBOX_DIR=/var/lib/voice-agent/outbox \
    VOICE_AGENT_SECRETS_DIR=/run/secrets/voice-agent

WORKDIR /app
USER 10001:10001

# The silero VAD model ships inside its package; load it once here, as the runtime user on
# the runtime base, so a missing model file or a missing system library fails the build
# instead of the first call.
RUN python -c "from livekit.plugins import silero; silero.VAD.load()"

# 8081 livekit worker health (liveness), 8082 our /livez + /readyz, 9100 Prometheus.
EXPOSE 8081 8082 9100

# Kubernetes ignores HEALTHCHECK and uses the probes; this is for plain docker/compose.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8082/livez', timeout=4).status == 200 else 1)"]

# Exec form: python is PID 1 and receives SIGTERM itself, so the worker drains its calls
# (up to VOICE_AGENT_DRAIN_TIMEOUT_SECONDS) before exiting. A shell form would swallow it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "agent"]
CMD ["start"]
