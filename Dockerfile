# The flows image: what the ECS work pool (`cv-analytics-ecs`, prefect.ecs.yaml) runs.
#   docker build -t cv-analytics-flows:<tag> .
# The code lives in /opt/cv-analytics, where the ECS deployments' pull step goes
# (`set_working_directory`); dependencies come from uv.lock exactly (no dev tools).
# It holds what the flows import (flows/, tasks/, lambdas/) and nothing of the local stack:
# deployments/ (moto, the demo, the template tooling) stays out (.dockerignore too).
FROM python:3.13-slim

COPY --from=ghcr.io/astral-sh/uv:0.8 /uv /usr/local/bin/uv

ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/opt/cv-analytics \
    PREFECT_LOGGING_EXTRA_LOGGERS=botocore,boto3

WORKDIR /opt/cv-analytics

# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project \
    && rm /usr/local/bin/uv

COPY lambdas/ lambdas/
COPY tasks/ tasks/
COPY flows/ flows/

# A user of its own; it may write the rendered reports under out/ and nothing else.
RUN groupadd --gid 10001 cv-analytics \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin cv-analytics \
    && install -d -o cv-analytics -g cv-analytics out
# Numeric, so that the runtime needs no passwd lookup to know it is not root.
USER 10001:10001

# The ECS worker supplies the command (the flow run); this is for a quick check:
#   docker run --rm cv-analytics-flows:<tag>
CMD ["python", "-c", "import flows.weekly_report, flows.report_regeneration; print('cv-analytics flows image OK')"]
