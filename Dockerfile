# syntax=docker/dockerfile:1
# One image for every Attain service; the first argument picks the service:
#   docker build -t attain:0.1.0 .
#   docker run --read-only --tmpfs /tmp -v attain-data:/var/lib/attain attain:0.1.0 ledger migrate
# See docs/operations.md, "Build the image". Every Python package comes from the hashed lock files
# in requirements/ (make lock), the same pins `make setup` and CI install.

# An exact release on an exact Debian; pin its digest at release time (docs/operations.md).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: the virtualenv /opt/attain, copied whole into the runtime stage ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/ requirements/
# Wheels only (no compiler in the image), each checked against its hash in the lock.
# /opt/build holds pip and the build backend; /opt/attain gets neither (no pip, no setuptools at run time).
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements/build-lock.txt \
 && python -m venv --without-pip /opt/attain \
 && /opt/build/bin/pip --python /opt/attain/bin/python install --no-cache-dir --require-hashes --only-binary=:all: \
      -r requirements/lock.txt
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY attain/ attain/
COPY services/ services/
COPY cli/ cli/
# Attain itself: a wheel built with the locked setuptools, installed without resolving anything.
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
 && /opt/build/bin/pip --python /opt/attain/bin/python install --no-cache-dir --no-deps /tmp/wheels/attain-*.whl

# --- runtime: the virtualenv and a user, nothing else ---
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="attain" \
      org.opencontainers.image.description="Attain services: attain-service calculator|ingest|ingest-salesforce|issuer|ledger|notifier" \
      org.opencontainers.image.licenses="Apache-2.0"
# uid/gid 10001, as the Kubernetes manifests' runAsUser
RUN groupadd --system --gid 10001 attain \
 && useradd --system --uid 10001 --gid attain --home-dir /var/lib/attain --create-home --shell /usr/sbin/nologin attain
COPY --from=build /opt/attain /opt/attain
# A read-only root filesystem needs two writable places, both outside the code: /tmp (TMPDIR) and
# /var/lib/attain (the calculator's data, the issuer's keys, the Salesforce replay id): mount an
# emptyDir or a volume on each. Nothing writes bytecode: the wheel's modules were compiled at install.
ENV PATH=/opt/attain/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/attain \
    TMPDIR=/tmp \
    ATTAIN_CALCULATOR_DATA_DIR=/var/lib/attain/calculator \
    ATTAIN_ISSUER_DATA_DIR=/var/lib/attain/issuer \
    ATTAIN_SALESFORCE_REPLAY_FILE=/var/lib/attain/salesforce-replay.json
WORKDIR /var/lib/attain
USER 10001:10001
ENTRYPOINT ["attain-service"]
CMD ["--help"]
