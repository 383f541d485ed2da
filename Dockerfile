# Eddy: slim, non-root, with a healthcheck.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    EDDY_HOST=0.0.0.0 EDDY_PORT=8888 EDDY_DATA_DIR=/data
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY run.py ./
COPY server ./server
COPY handlers ./handlers
COPY domain ./domain
COPY storage ./storage
COPY tracker ./tracker
COPY webui ./webui
RUN useradd --system --uid 10001 --home-dir /app eddy && mkdir -p /data && chown eddy /data
USER eddy
VOLUME ["/data"]
EXPOSE 8888
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8888/healthz', timeout=2).status == 200 else 1)"
STOPSIGNAL SIGTERM
CMD ["python", "run.py"]
