#!/usr/bin/env bash
# swarm-down.sh undoes swarm-up.sh: removes the services and networks the
# tests created (label swarmdns-test), leaves the swarm if swarm-up.sh
# initialised it, and stops the dockerd that swarm-up.sh started. A swarm or
# dockerd that was there before is left running.
set -euo pipefail

STATE_DIR=${SWARMDNS_STATE_DIR:-/tmp/swarmdns-e2e}
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker || true)

log() { echo "swarm-down: $*" >&2; }

if [ -n "$DOCKER" ] && "$DOCKER" info >/dev/null 2>&1; then
	if [ -e "$STATE_DIR/swarm-initialised" ]; then
		log "leaving swarm"
		"$DOCKER" swarm leave --force >/dev/null 2>&1 || true
		rm -f "$STATE_DIR/swarm-initialised"
	else
		services=$("$DOCKER" service ls -q --filter label=swarmdns-test 2>/dev/null || true)
		[ -z "$services" ] || "$DOCKER" service rm $services >/dev/null
		# Networks stay in use until the removed services' tasks are gone.
		for _ in $(seq 1 30); do
			networks=$("$DOCKER" network ls -q --filter label=swarmdns-test)
			[ -z "$networks" ] && break
			"$DOCKER" network rm $networks >/dev/null 2>&1 || sleep 1
		done
	fi
fi

if [ -e "$STATE_DIR/dockerd.pid" ]; then
	pid=$(cat "$STATE_DIR/dockerd.pid")
	if kill -0 "$pid" 2>/dev/null; then
		log "stopping dockerd ($pid)"
		kill "$pid"
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
	fi
	rm -f "$STATE_DIR/dockerd.pid"
fi
