# pocketdesk: one process, SQLite on the /data volume, configuration mounted at /config.
#
#   docker build -t pocketdesk .
#   docker run -d -v pocketdesk-data:/data \
#     -v "$PWD/pocketdesk.toml:/config/pocketdesk.toml:ro" \
#     -e POCKETDESK_TELEGRAM__TOKEN pocketdesk
#
# See docs/configuration.md for the file and the POCKETDESK_* environment variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 pocketdesk \
    && useradd --system --uid 10001 --gid pocketdesk --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin pocketdesk

# The runtime install only: no dev extras, and the sources are removed once installed.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY brokers ./brokers
COPY migrations ./migrations
RUN pip install . \
    && rm -rf /src

# The database (and paper account state files) live on the volume; /data must belong to the
# service user before VOLUME, or a fresh named volume is created owned by root.
RUN mkdir -p /data /config \
    && chown pocketdesk:pocketdesk /data
VOLUME /data
WORKDIR /data
USER pocketdesk

ENTRYPOINT ["pocketdesk"]
CMD ["run", "--config", "/config/pocketdesk.toml"]
