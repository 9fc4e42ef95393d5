# jobq: jobqd, jobqctl and jobq-bench on Debian 12.
#   docker build -t jobq .
#   docker run -p 7070:7070 -p 7071:7071 -v jobq-data:/var/lib/jobq jobq
# The build stage installs exactly what `make` installs (scripts/deps.txt);
# the runtime stage installs scripts/runtime-deps.txt. CI builds this file
# with buildah and runs the image (deploy/check-image.sh).
#
# JOBQ_BUILD_BASE is the build stage's base: Debian 12, where the stage
# installs what `make` installs and compiles. CI gives instead Debian 12
# with /build/bin already holding the binaries `make` built on a Debian 12
# host (deploy/check-image.sh), and the stage keeps them as they are.
ARG JOBQ_BUILD_BASE=debian:bookworm

FROM ${JOBQ_BUILD_BASE} AS build
RUN [ -x /build/bin/jobqd ] || { apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*; }
WORKDIR /src
COPY scripts/ scripts/
RUN [ -x /build/bin/jobqd ] || scripts/install-deps.sh scripts/deps.txt
COPY . .
RUN [ -x /build/bin/jobqd ] || make build BUILD_DIR=/build

FROM debian:bookworm-slim
COPY scripts/install-deps.sh scripts/runtime-deps.txt /tmp/jobq/
RUN /tmp/jobq/install-deps.sh /tmp/jobq/runtime-deps.txt \
 && rm -rf /var/lib/apt/lists/* /tmp/jobq \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/jobq \
      --shell /usr/sbin/nologin jobq \
 && mkdir -p /var/lib/jobq /etc/jobq \
 && chown jobq:jobq /var/lib/jobq
COPY --from=build /build/bin/jobqd /build/bin/jobqctl /build/bin/jobq-bench /usr/local/bin/

# Every flag has a JOBQ_* variable; a YAML file can be mounted and named with
# JOBQ_CONFIG=/etc/jobq/jobqd.yaml. Listening beyond loopback is what a
# container is for, so jobqd starts only with TLS and tokens
# (JOBQ_TLS_CERT, JOBQ_TLS_KEY, JOBQ_AUTH_TOKENS), or with JOBQ_INSECURE=true
# for a trial behind a port bound to localhost (docs/security.md).
# JOBQ_ADDR is where jobqctl (and the health check) talk.
ENV JOBQ_LISTEN=0.0.0.0:7070 \
    JOBQ_ADDR=127.0.0.1:7070 \
    JOBQ_HTTP_LISTEN=0.0.0.0:7071 \
    JOBQ_DATA_DIR=/var/lib/jobq \
    JOBQ_LOG_FORMAT=json
USER jobq
VOLUME /var/lib/jobq
EXPOSE 7070 7071
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["jobqctl", "--timeout-ms", "2000", "health"]
ENTRYPOINT ["jobqd"]
