# Docker helpers for scripts/*: the engine and the locally built agent-server image. Sourced, not run.
# Needs scripts/lib/common.sh.

# The agent-server image the tests and benchmarks use, built here because no registry is reachable. The tag names
# what is inside it, so a changed recipe gets a new tag and the cache stays honest.
AGENT_SERVER_VERSION=1.58.0
AGENT_IMAGE_RECIPE_REV=3
LOCAL_AGENT_IMAGE="openhands-lsp/agent-server:${AGENT_SERVER_VERSION}-local${AGENT_IMAGE_RECIPE_REV}"

# ensure_docker_engine: installs docker.io if dockerd is missing and starts it if nothing answers on the socket.
ensure_docker_engine() {
  if ! command -v dockerd >/dev/null 2>&1; then
    log "installing the Docker engine (apt-get install docker.io)"
    apt_install docker.io
  fi
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST"
  fi
  log "starting dockerd (log: /tmp/openhands-lsp-dockerd.log)"
  as_root sh -c 'nohup dockerd >/tmp/openhands-lsp-dockerd.log 2>&1 &'
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  tail -20 /tmp/openhands-lsp-dockerd.log >&2 || true
  die "dockerd did not answer within 30 s"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: installs Debian packages, refreshing the package lists once if they are stale or missing.
apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 && return 0
  as_root apt-get update -q >/dev/null 2>&1 || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null || die "apt-get install $* failed"
}

# ensure_agent_image: builds $LOCAL_AGENT_IMAGE unless it exists.
ensure_agent_image() {
  if docker image inspect "$LOCAL_AGENT_IMAGE" >/dev/null 2>&1; then
    return 0
  fi
  "$(dirname "${BASH_SOURCE[0]}")/../build-agent-image" "$LOCAL_AGENT_IMAGE" "$AGENT_SERVER_VERSION"
}

# A local registry (Debian's docker-registry) for the pull tests: no public registry is reachable here.
TEST_REGISTRY=127.0.0.1:5055
ensure_test_registry() {
  if curl -sf "http://$TEST_REGISTRY/v2/" >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v docker-registry >/dev/null 2>&1; then
    log "installing a local image registry (apt-get install docker-registry)"
    apt_install docker-registry
  fi
  local dir=/var/tmp/openhands-lsp-registry
  mkdir -p "$dir/data"
  cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $TEST_REGISTRY
YAML
  log "starting a local registry on $TEST_REGISTRY"
  nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  local i
  for i in $(seq 1 40); do
    curl -sf "http://$TEST_REGISTRY/v2/" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  tail -20 "$dir/registry.log" >&2 || true
  die "the local registry did not start"
}
