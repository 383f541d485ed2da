# Eddy: slim, non-root, with a healthcheck.
#   docker build -t eddy .   then   docker run -p 8888:8888 -v eddy-data:/data eddy
# The image holds only what runs (see .dockerignore): the Python packages, the code, the built tracker
# (tracker/dist) and the dashboard files. Everything written at run time goes to /data.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EDDY_HOST=0.0.0.0 \
    EDDY_PORT=8888 \
    EDDY_DATA_DIR=/data

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-compile -r requirements.txt

# Code owned by root and read-only to the service user; only /data is writable.
COPY run.py ./
COPY server ./server
COPY handlers ./handlers
COPY domain ./domain
COPY storage ./storage
COPY web ./web
COPY runtime ./runtime
COPY settings ./settings
COPY tracker ./tracker
COPY webui ./webui
RUN python -m compileall -q /app \
    && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin eddy \
    && mkdir -p /data && chown eddy:eddy /data && chmod 0700 /data
USER eddy
VOLUME ["/data"]
EXPOSE 8888
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8888/healthz', timeout=2).status == 200 else 1)"]
# SIGTERM: stop accepting, close websockets, flush pending writes, exit 0 (server/runner.py).
STOPSIGNAL SIGTERM
CMD ["python", "run.py"]
