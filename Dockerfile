# The moderation worker. CPU image by default; a CUDA image with --build-arg TORCH_VARIANT=cuda.
#   docker build -t moderation-worker .
#   docker build -t moderation-worker:cuda --build-arg TORCH_VARIANT=cuda .
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/models/huggingface

WORKDIR /app

# torch and torchvision first, from the CPU index or PyPI's CUDA builds, so the
# project's exact pins (torch==2.13.0, torchvision==0.28.0) are already satisfied.
RUN if [ "$TORCH_VARIANT" = "cpu" ]; then \
      pip install torch==2.13.0 torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu; \
    else \
      pip install torch==2.13.0 torchvision==0.28.0; \
    fi

COPY pyproject.toml README.md ./
COPY worker ./worker
# pdqhash (PDQ perceptual hashes) is published as source only: it compiles Meta's C++
# on install, so a compiler is needed for that step and removed after it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && pip install . \
    && apt-get purge -y --auto-remove g++ \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home moderation \
    && mkdir -p /models \
    && chown moderation /models

USER moderation
EXPOSE 6066
CMD ["moderation-worker", "run"]
