# cxpulse image: one image for every role (worker, exporter, simulate, publish);
# choose the role with the command, e.g. `docker run IMAGE cxpulse exporter --host 0.0.0.0`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY cxpulse ./cxpulse
COPY streams ./streams
COPY processors ./processors
COPY exporters ./exporters
RUN pip install .

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin cxpulse
USER cxpulse
WORKDIR /home/cxpulse

EXPOSE 9477
CMD ["cxpulse", "--help"]
