# Docker helpers for scripts/*: the engine and the locally built agent-server image. Sourced, not run.
# Needs scripts/lib/common.sh.

# The agent-server image the tests and benchmarks use, built here because no registry is reachable. Its contents are
# the lock locks/agent-server.txt (the agent-server's version is read from it), so the tag names the recipe's
# revision and the lock's hash: a changed recipe or lock gets a new tag and the cache stays honest.
_lock="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/locks/agent-server.txt"
AGENT_SERVER_VERSION=$(sed -n 's/^openhands-agent-server==\([^ ]*\).*/\1/p' "$_lock")
AGENT_IMAGE_RECIPE_REV=4
LOCAL_AGENT_IMAGE="openhands-lsp/agent-server:${AGENT_SERVER_VERSION}-local${AGENT_IMAGE_RECIPE_REV}-$(sha256sum "$_lock" | cut -c1-8)"
unset _lock

# ensure_docker_engine: starts dockerd if nothing answers on the socket (ensure_system_packages installs it).
ensure_docker_engine() {
  command -v dockerd >/dev/null 2>&1 || die "dockerd not found (scripts/system-packages names docker.io)"
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

# ensure_agent_image: builds $LOCAL_AGENT_IMAGE unless it exists.
ensure_agent_image() {
  if docker image inspect "$LOCAL_AGENT_IMAGE" >/dev/null 2>&1; then
    return 0
  fi
  "$(dirname "${BASH_SOURCE[0]}")/../build-agent-image" "$LOCAL_AGENT_IMAGE"
}

# Projects' base images for the docker tests (scripts/build-test-base-images): bump the revision when the recipe changes.
TEST_BASE_REV=1
TEST_MAKE_BASE="openhands-lsp-test/bookworm-make:$TEST_BASE_REV"
TEST_CARGO_BASE="openhands-lsp-test/bookworm-cargo:$TEST_BASE_REV"
TEST_MUSL_BASE="openhands-lsp-test/musl-sh:$TEST_BASE_REV"
ensure_test_base_images() {
  if docker image inspect "$TEST_MAKE_BASE" "$TEST_CARGO_BASE" "$TEST_MUSL_BASE" >/dev/null 2>&1; then
    return 0
  fi
  "$(dirname "${BASH_SOURCE[0]}")/../build-test-base-images" "$TEST_MAKE_BASE" "$TEST_CARGO_BASE" "$TEST_MUSL_BASE"
}

# A local registry (Debian's docker-registry) for the pull tests: no public registry is reachable here.
TEST_REGISTRY=127.0.0.1:5055
ensure_test_registry() {
  if curl -sf "http://$TEST_REGISTRY/v2/" >/dev/null 2>&1; then
    return 0
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
