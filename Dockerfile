FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Runtime requirements only: the embedded servers and test tools are requirements-dev.txt's.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build DATABASE_URL=postgres://build/build REDIS_URL=redis://build:6379/0 \
    STATIC_ROOT=/app/static python manage.py collectstatic --noinput \
    && useradd --create-home app
USER app
# HOST, PORT, WS_PORT, WEB_WORKERS, ... fill the Procfile's lines (deploy/proc).
ENV STATIC_ROOT=/app/static HOST=0.0.0.0
EXPOSE 8000 8001
# Every process of the image is a line of the Procfile, started by name: web here, the
# others by docker-compose.yml (ws, worker, beat).
CMD ["/app/deploy/proc", "web"]
