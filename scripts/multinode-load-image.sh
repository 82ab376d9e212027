#!/usr/bin/env bash
# multinode-load-image.sh IMAGE… loads images into every engine of the
# multi-node test bed (multinode-up.sh), as `docker save | docker load`, so
# that services can run them with --no-resolve-image / --resolve-image never.
# An image is taken from this machine's own engine (where `make image`
# builds swarmdns:latest) when it has it, else from sw1
# (DOCKER_HOST=unix:///run/sw1/docker.sock make image builds it there).
set -euo pipefail
MN_SELF=multinode-load-image
. "$(dirname "$0")/multinode-lib.sh"

[ $# -gt 0 ] || { echo "usage: $0 IMAGE…" >&2; exit 2; }
[ -f "$MN_DIR/nodes" ] || { mn_log "no test bed: run scripts/multinode-up.sh"; exit 1; }
mapfile -t nodes < <(awk '!/^#/ {print $1}' "$MN_DIR/nodes")

for image in "$@"; do
	if "$MN_DOCKER" image inspect "$image" >/dev/null 2>&1; then
		from=("$MN_DOCKER")
		from_name="this machine's engine"
	elif mn_docker "$MN_FIRST" image inspect "$image" >/dev/null 2>&1; then
		from=("$MN_DOCKER" -H "unix:///run/$MN_FIRST/docker.sock")
		from_name=$MN_FIRST
	else
		mn_log "no image $image in this machine's engine nor in $MN_FIRST"
		exit 1
	fi
	tar=$(mktemp "$MN_DIR/image.XXXXXX.tar")
	trap 'rm -f "$tar"' EXIT
	"${from[@]}" save "$image" >"$tar"
	pids=() into=()
	for n in "${nodes[@]}"; do
		[ "$from_name" = "$n" ] && continue
		mn_docker "$n" load -q -i "$tar" >/dev/null &
		pids+=($!) into+=("$n")
	done
	rc=0
	for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
	rm -f "$tar"
	[ $rc = 0 ] || { mn_log "loading $image failed"; exit 1; }
	mn_log "$image ($("${from[@]}" image inspect --format '{{.Id}}' "$image" | cut -c1-19)) from $from_name into ${into[*]}"
done
