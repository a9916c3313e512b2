#!/usr/bin/env bash
# Makes a Docker engine with compose v2 and a local debian:bookworm-slim answer on this machine,
# for `make test-docker`. Each step is skipped when its result is already there:
#   1. the engine: Debian's docker.io, dockerd started in the background (log: $DOCKERD_LOG);
#   2. compose v2: the self-contained plugin from Debian trixie's docker-compose package, taken
#      with `apt-get download` from a temporary trixie sources entry that is removed right after;
#   3. the base image: no registry is reachable, so debootstrap builds bookworm (minbase) and
#      `docker import` names it debian:bookworm-slim.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/ande-dockerd.log}
say() { echo "provision-docker: $*" >&2; }
need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    say "$1 needs root; run as root or install it yourself"
    exit 1
  fi
}
apt_updated=
apt_install() {
  need_root "installing $*"
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
# The Debian mirror this machine is configured with (never written down anywhere).
debian_mirror() {
  sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1
}

# 1. Engine.
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    say "installing Debian's docker.io"
    apt_install docker.io
  fi
  need_root "starting dockerd"
  say "starting dockerd (log: $DOCKERD_LOG)"
  nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { say "dockerd did not answer in 60 s; see $DOCKERD_LOG"; tail -20 "$DOCKERD_LOG" >&2; exit 1; }
fi

# 2. Compose v2.
if ! docker compose version >/dev/null 2>&1; then
  need_root "installing the compose plugin"
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { say "no Debian mirror found in /etc/apt/sources.list.d/debian.sources"; exit 1; }
  say "fetching compose v2 from Debian trixie's docker-compose package"
  list=/etc/apt/sources.list.d/ande-trixie-compose.list
  work=$(mktemp -d)
  chmod 755 "$work" # apt downloads as the _apt user
  trap 'rm -f "$list"; rm -rf "$work"; apt-get update -qq >/dev/null 2>&1 || true' EXIT
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$list"
  apt-get update -qq
  (cd "$work" && apt-get download -qq docker-compose/trixie >/dev/null)
  dpkg -x "$work"/docker-compose_*.deb "$work/x"
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-compose" "$HOME/.docker/cli-plugins/docker-compose"
  rm -f "$list"
  rm -rf "$work"
  trap - EXIT
  apt-get update -qq
  apt_updated=1
  docker compose version >&2
fi

# 3. Base image.
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || apt_install debootstrap
  need_root "debootstrap"
  root=$(mktemp -d)
  say "building debian:bookworm-slim with debootstrap (about a minute)"
  debootstrap --variant=minbase bookworm "$root" "$(debian_mirror)" >/dev/null
  # Same apt sources inside the image as on the host, so `RUN apt-get install` works in builds.
  rm -f "$root/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
  # Trimmed as the official slim image is: no docs, man pages or locales, now or from later
  # installs (the same dpkg path excludes).
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/share/lintian/*
  rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old "$root"/var/log/*
  tar -C "$root" -c . | docker import - debian:bookworm-slim >/dev/null
  rm -rf "$root"
fi
say "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"
