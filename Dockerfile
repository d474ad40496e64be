# One image for the web server and the workers. GPU hosts: the default TORCH_INDEX_URL installs a CUDA
# build of torch; pass --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu for CPU-only hosts.
FROM python:3.12-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext libgomp1 libgs-common \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 exaone

WORKDIR /app
COPY pyproject.toml README.md ./
COPY exaone_web exaone_web
COPY accounts accounts
COPY assistant assistant
COPY catalog catalog
COPY studio studio
COPY inference inference
RUN pip install --index-url "$TORCH_INDEX_URL" "torch>=2.6,<2.15" \
    && pip install -e '.[ml,s3]'
COPY . .
RUN mkdir -p /data/models /data/media /data/var && chown -R exaone /data
USER exaone
EXPOSE 8000
CMD ["python", "-m", "exaone_web.serve", "-b", "0.0.0.0", "-p", "8000", "exaone_web.asgi:application"]
