#!/usr/bin/env bash
# swarm-up.sh brings up a one-node Docker Swarm on this machine for the
# end-to-end tests: installs docker.io, busybox-static and dnsutils if missing,
# starts dockerd when none answers, initialises the swarm and builds the test
# image swarmdns-test/busybox:latest from the static busybox (no image
# registry is reachable). Safe to run again: each step checks first.
set -euo pipefail

STATE_DIR=${SWARMDNS_STATE_DIR:-/tmp/swarmdns-e2e}
IMAGE=${SWARMDNS_TEST_IMAGE:-swarmdns-test/busybox:latest}
mkdir -p "$STATE_DIR"

log() { echo "swarm-up: $*" >&2; }

need_install=()
command -v dockerd >/dev/null 2>&1 || need_install+=(docker.io)
# The image needs the static build: Debian's plain busybox is dynamic.
dpkg -s busybox-static >/dev/null 2>&1 || need_install+=(busybox-static)
command -v dig >/dev/null 2>&1 || need_install+=(dnsutils)
command -v nsenter >/dev/null 2>&1 || need_install+=(util-linux)
if [ ${#need_install[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${need_install[@]}" >"$STATE_DIR/apt.log" 2>&1; then
		log "updating package lists"
		apt-get update >>"$STATE_DIR/apt.log" 2>&1
		apt-get install -y --no-install-recommends "${need_install[@]}" >>"$STATE_DIR/apt.log" 2>&1
	fi
	log "installed ${need_install[*]}"
fi

# Prefer Debian's client, which matches the daemon it ships with.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)

if ! "$DOCKER" info >/dev/null 2>&1; then
	log "starting dockerd (log: $STATE_DIR/dockerd.log)"
	# setsid: dockerd must outlive the shell that started it. --dns on
	# loopback keeps the embedded resolver's forwarded queries (names it does
	# not know) on this machine.
	# Every descriptor above stderr is closed first: dockerd must not keep
	# what the caller holds, such as the lock of `flock FILE make e2e`,
	# which would stay held for as long as dockerd runs.
	(
		for fd in $(ls "/proc/$BASHPID/fd"); do
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec setsid dockerd --dns "${SWARMDNS_DOCKERD_DNS:-127.0.0.1}" >"$STATE_DIR/dockerd.log" 2>&1 </dev/null
	) &
	echo $! >"$STATE_DIR/dockerd.pid"
	for _ in $(seq 1 120); do
		"$DOCKER" info >/dev/null 2>&1 && break
		sleep 0.5
	done
	if ! "$DOCKER" info >/dev/null 2>&1; then
		log "dockerd did not answer; last log lines:"
		tail -n 30 "$STATE_DIR/dockerd.log" >&2
		exit 1
	fi
fi

if [ "$("$DOCKER" info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
	log "initialising swarm"
	"$DOCKER" swarm init --advertise-addr 127.0.0.1 >/dev/null
	touch "$STATE_DIR/swarm-initialised"
fi

if ! "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
	log "building $IMAGE"
	rootfs=$(mktemp -d)
	trap 'rm -rf "$rootfs"' EXIT
	mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/var/www"
	cp /bin/busybox "$rootfs/bin/busybox"
	for applet in sh ls cat echo sleep nslookup wget httpd nc ip ifconfig hostname ps kill top env; do
		ln -s busybox "$rootfs/bin/$applet"
	done
	echo "swarmdns test image" >"$rootfs/var/www/index.html"
	tar -C "$rootfs" -cf "$STATE_DIR/rootfs.tar" .
	"$DOCKER" import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' \
		"$STATE_DIR/rootfs.tar" "$IMAGE" >/dev/null
	rm -f "$STATE_DIR/rootfs.tar"
fi

log "swarm ready, image $IMAGE"
