FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build DATABASE_URL=postgres://build/build REDIS_URL=redis://build:6379/0 \
    STATIC_ROOT=/app/static python manage.py collectstatic --noinput \
    && useradd --create-home app
USER app
ENV STATIC_ROOT=/app/static
EXPOSE 8000 8001
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--blocking-threads", "2", "--no-ws", "leaderboard_project.wsgi:application"]
