# atlas-sa as a container: a non-root process serving on 0.0.0.0:8080, its SQLite database and development key in
# the /data volume, PostgreSQL instead through ATLAS_SA_DATABASE_URL (README, "Container").
#
#   docker build -t atlas-sa .
#   docker run -p 8080:8080 -v atlas-sa-data:/data atlas-sa
#
# Build arguments:
#   BASE     the Python 3.11 image to build on. Another base must have python3 with venv and useradd, and
#            PATH set (scripts/container-smoke builds on a Debian one it makes, where no registry is reachable).
#   OFFLINE  set to 1 to install without a package index, only from the wheels in .wheelhouse/
#            (scripts/container-smoke puts them there). Either way every dependency is checked against the
#            hashes in requirements.lock.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ARG OFFLINE=
ENV PIP_FIND_LINKS=/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/atlas-sa
COPY .wheelhouse/ /wheelhouse/
COPY requirements.lock /src/
# The locked dependencies first, in their own layer: a code change rebuilds only the layer below.
RUN /opt/atlas-sa/bin/pip install ${OFFLINE:+--no-index} --require-hashes --no-deps -r /src/requirements.lock
COPY pyproject.toml README.md /src/
COPY src/ /src/src/
RUN /opt/atlas-sa/bin/pip install ${OFFLINE:+--no-index} --no-deps /src

FROM ${BASE}
ENV PATH=/opt/atlas-sa/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ATLAS_SA_HOST=0.0.0.0 \
    ATLAS_SA_PORT=8080 \
    ATLAS_SA_DATABASE_URL=sqlite:////data/atlas-sa.db \
    ATLAS_SA_DATA_DIR=/data
# A fixed numeric id, so that volume ownership is predictable and Kubernetes' runAsNonRoot can check it.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin atlas-sa \
 && mkdir /data && chown 10001:10001 /data && chmod 0700 /data
# The installed environment only: no compiler, no pip cache, no source tree. Root owns it; the server cannot
# change its own code.
COPY --from=build /opt/atlas-sa /opt/atlas-sa
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8080
# No curl in the slim images: Python asks /healthz on the port the server was told to use.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ATLAS_SA_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["atlas-sa"]
CMD ["serve"]
