#!/usr/bin/env bash
# e2e-stack.sh deploys deploy/stack.yml on the local one-node Swarm and
# resolves tasks.<svc> through the deployed sidecar from a container. Needs
# the image (`make image`) and the Swarm source; `make e2e-stack` runs it.
# It binds port 53 and 127.0.0.1:8053 of this machine while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

STACK=swarmdns-e2e
SVC=e2eweb
NET=e2enet
IMAGE=${SWARMDNS_TEST_IMAGE:-swarmdns-test/busybox:latest}
log() { echo "e2e-stack: $*" >&2; }
cleanup() {
	docker stack rm "$STACK" >/dev/null 2>&1 || true
	docker service rm "$SVC" >/dev/null 2>&1 || true
	for _ in $(seq 1 15); do
		docker network rm "$NET" >/dev/null 2>&1 && break
		sleep 1
	done
}
trap cleanup EXIT

scripts/swarm-up.sh
docker image inspect swarmdns:latest >/dev/null || { log "no swarmdns:latest: run make image"; exit 1; }

cleanup
docker network create --driver overlay --attachable "$NET" >/dev/null
docker service create --quiet --detach --name "$SVC" --replicas 2 --endpoint-mode dnsrr \
	--network "$NET" "$IMAGE" httpd -f -p 80 >/dev/null
log "deploying $STACK"
DOCKER_GID=$(stat -c %g /var/run/docker.sock) docker stack deploy --resolve-image never -c deploy/stack.yml "$STACK" >/dev/null

log "waiting for /readyz"
for _ in $(seq 1 60); do
	if body=$(curl -fsS http://127.0.0.1:8053/readyz 2>/dev/null); then
		log "$body"
		break
	fi
	sleep 1
done
curl -fsS http://127.0.0.1:8053/readyz >/dev/null || { log "not ready"; docker service logs "${STACK}_swarmdns" | tail -20; exit 1; }

log "waiting for two running tasks of $SVC"
for _ in $(seq 1 60); do
	n=$(curl -fsS "http://127.0.0.1:8053/v1/resolve?name=tasks.$SVC" | grep -c '"type": "A"' || true)
	[ "$n" = 2 ] && break
	sleep 1
done

log "resolving tasks.$SVC through the sidecar from a container"
out=$(docker run --rm --network host "$IMAGE" nslookup "tasks.$SVC" 127.0.0.1)
echo "$out"
n=$(echo "$out" | grep -c '^Address: ' || true)
if [ "$n" -ne 2 ]; then
	log "FAIL: want 2 addresses for tasks.$SVC, got $n"
	exit 1
fi
log "PASS: tasks.$SVC has 2 addresses through the deployed sidecar"
