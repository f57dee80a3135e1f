# wherelog in a container, on Debian 12 with Debian's libraries (the same as the .deb).
#
#   docker build -t wherelog .
#   docker run -d --name wherelog -p 8083:8083 -v wherelog-data:/var/lib/wherelog \
#       -e WHERELOG_MQTT_HOST=broker.example.lan \
#       -v /srv/wherelog/htpasswd:/etc/wherelog/htpasswd:ro \
#       -e WHERELOG_HTTP_AUTH_FILE=/etc/wherelog/htpasswd \
#       wherelog
#
# The server listens on 0.0.0.0:8083 inside the container, which turns HTTP sign-in on: it
# will not start without an htpasswd file (htpasswd -B -c htpasswd USER; bcrypt or yescrypt),
# readable by the container's user (uid 10001). Behind a reverse proxy that signs users in,
# pass -e WHERELOG_HTTP_AUTH=off instead, and publish the port to the proxy only
# (-p 127.0.0.1:8083:8083). Any other setting: -e WHERELOG_<NAME>=value, or flags after the
# image name (docker run ... wherelog --mqtt-port 8883 --mqtt-cafile /etc/ssl/certs/ca-certificates.crt).
# The store is the volume /var/lib/wherelog; a bind-mounted directory must belong to uid 10001.
#
# BASE is any Debian 12 image. Where no registry is reachable, packaging/dev container
# imports a root made by packaging/root and builds with --build-arg BASE=that image
# (tests/package/test_container.py). Podman and buildah keep the HEALTHCHECK only with
# --format docker (the OCI image format has no health check).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
# packaging/dev's BUILD_PACKAGES; no test tools (-Dtests=disabled), no git (.dockerignore keeps
# .git out of the context, so the version's git part is meson's fallback).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        meson ninja-build pkg-config gcc libc6-dev \
        libmosquitto-dev liblmdb-dev libjson-c-dev libsodium-dev libmicrohttpd-dev \
        libgnutls28-dev libwslay-dev libcrypt-dev libsystemd-dev libxml2-dev libglib2.0-dev \
        libgeonames-dev libcurl4-gnutls-dev
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release --prefix=/usr -Dtests=disabled \
 && ninja -C /build \
 && meson install -C /build --no-rebuild --destdir /staging

FROM ${BASE}
# Only what the binary links (the .deb's shlibs), Leaflet for the map, CA certificates for
# MQTT over TLS and the geocoders' HTTPS; no compiler, no headers. Documentation, man pages and
# translations are left out (debian:bookworm-slim already does this; a plain Debian root does
# not), and apt's downloads and lists are removed in the same layer so that they never reach the
# image.
RUN printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
        'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
        'path-include /usr/share/doc/*/copyright' > /etc/dpkg/dpkg.cfg.d/wherelog-nodoc \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
        libmosquitto1 liblmdb0 libjson-c5 libsodium23 libmicrohttpd12 libgnutls30 \
        libwslay1 libcrypt1 libsystemd0 libxml2 libgeonames0 libcurl3-gnutls \
        libglib2.0-0 tzdata \
        libjs-leaflet ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
RUN groupadd --gid 10001 wherelog \
 && useradd --uid 10001 --gid wherelog --home-dir /var/lib/wherelog \
        --no-create-home --shell /usr/sbin/nologin wherelog \
 && install -d -o wherelog -g wherelog -m 0700 /var/lib/wherelog
COPY --from=build /staging/usr/bin/wherelog /usr/bin/wherelog
COPY --from=build /staging/usr/share/wherelog /usr/share/wherelog

# Environment rather than flags, so that docker run -e can change them.
ENV WHERELOG_STORAGE=/var/lib/wherelog \
    WHERELOG_HTTP_HOST=0.0.0.0 \
    WHERELOG_HTTP_PORT=8083
USER wherelog
WORKDIR /var/lib/wherelog
VOLUME /var/lib/wherelog
EXPOSE 8083
# GET /healthz is open without sign-in and says 200 when the store is writable and MQTT is
# connected. The image has no curl or wget, and needs none: bash's /dev/tcp speaks the one
# request. Plain HTTP only: with --http-tls-cert, override the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${WHERELOG_HTTP_PORT:-8083} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 4 _ status _ <&3 && [ \"$status\" = 200 ]"]
# serve stops cleanly on SIGTERM (docker stop); it blocks its signals and reads them from a
# signalfd, so it needs no init process as PID 1.
ENTRYPOINT ["/usr/bin/wherelog", "serve"]
