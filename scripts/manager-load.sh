#!/usr/bin/env bash
# manager-load.sh measures what swarmdns costs the Swarm manager's dockerd
# (docs/benchmarks.md, "The manager's share"). On the local one-node Swarm
# (scripts/swarm-up.sh) it creates a service of PENDING replicas that no
# node can place (they stay pending and listed, without containers), then
# measures, over WINDOW seconds each, dockerd's CPU (utime+stime from
# /proc/<pid>/stat) and swarmdns's own, at rest and under one change a
# second (a second unplaceable service scaled 1 ↔ 2), for: dockerd alone,
# the old binary (OLD_BIN, or built from OLD_REV with git archive) and the
# new one (NEW_BIN, default bin/swarmdns), alternating, ROUNDS times. It
# prints a Markdown table and removes the services it made. Root.
set -euo pipefail

cd "$(dirname "$0")/.."
PENDING=${PENDING:-10000}
WINDOW=${WINDOW:-30}
WARMUP=${WARMUP:-70}       # the new source's reconciliation interval reaches its minute by then
CHURN_WARMUP=${CHURN_WARMUP:-10}
ROUNDS=${ROUNDS:-1}
LOADS=${LOADS:-rest churn}  # which rows: at rest, one change a second
OLD_REV=${OLD_REV:-af4c6911b0ae}
NEW_BIN=${NEW_BIN:-bin/swarmdns}
IMAGE=${SWARMDNS_TEST_IMAGE:-swarmdns-test/busybox:latest}
STATE=$(mktemp -d /tmp/manager-load.XXXXXX)
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)
HZ=$(getconf CLK_TCK)

log() { echo "manager-load: $*" >&2; }

cleanup() {
	[ -n "${churn_pid:-}" ] && kill "$churn_pid" 2>/dev/null || true
	[ -n "${dns_pid:-}" ] && kill "$dns_pid" 2>/dev/null || true
	"$DOCKER" service rm mload-pending mload-churn >/dev/null 2>&1 || true
	rm -rf "$STATE"
}
trap cleanup EXIT

scripts/swarm-up.sh
[ -x "$NEW_BIN" ] || make build >/dev/null
if [ -z "${OLD_BIN:-}" ]; then
	log "building the old source from $OLD_REV"
	mkdir -p "$STATE/old"
	git archive "$OLD_REV" | tar -x -C "$STATE/old"
	(cd "$STATE/old" && CGO_ENABLED=0 go build -trimpath -o "$STATE/swarmdns-old" ./cmd/swarmdns)
	OLD_BIN=$STATE/swarmdns-old
fi

# The dockerd behind /var/run/docker.sock: other dockerds (scripts/multinode-up.sh's
# nodes, in their own namespaces) may run beside it.
dockerd_pid=${DOCKERD_PID:-$(cat /var/run/docker.pid 2>/dev/null || true)}
[ -n "$dockerd_pid" ] && [ "$(cat "/proc/$dockerd_pid/comm" 2>/dev/null)" = dockerd ] ||
	{ log "no dockerd behind /var/run/docker.pid; set DOCKERD_PID"; exit 1; }

# cpu PID: utime+stime in clock ticks; a swarmdns that exited fails the run.
cpu() {
	if [ ! -e "/proc/$1/stat" ]; then
		log "process $1 exited; its log:"
		tail -n 20 "$STATE/log" >&2
		exit 1
	fi
	awk '{print $14 + $15}' "/proc/$1/stat"
}

"$DOCKER" service rm mload-pending mload-churn >/dev/null 2>&1 || true
log "creating $PENDING pending tasks"
for svc in mload-pending:"$PENDING" mload-churn:1; do
	"$DOCKER" service create -d --no-resolve-image --label swarmdns-test=1 --name "${svc%%:*}" \
		--constraint node.labels.nosuch==1 --replicas "${svc##*:}" "$IMAGE" sleep 1000000 >/dev/null
done
for _ in $(seq 1 600); do
	n=$(curl -s --unix-socket /var/run/docker.sock -G http://docker/tasks \
		--data-urlencode 'filters={"desired-state":["running"]}' | grep -o '"ID"' | wc -l)
	[ "$n" -ge "$PENDING" ] && break
	sleep 1
done
log "$n tasks listed; $(curl -s --unix-socket /var/run/docker.sock http://docker/tasks | wc -c) bytes of /tasks"
sleep 5

churn_start() {
	( n=1; while :; do n=$((3 - n)); "$DOCKER" service scale -d mload-churn=$n >/dev/null 2>&1; sleep 1; done ) &
	churn_pid=$!
}
churn_stop() { kill "$churn_pid" 2>/dev/null; wait "$churn_pid" 2>/dev/null || true; churn_pid=; }

# measure NAME BIN(or -) LOAD(rest|churn): one row.
measure() {
	local name=$1 bin=$2 load=$3 warm=$WARMUP
	[ "$load" = churn ] && warm=$CHURN_WARMUP
	[ "$load" = churn ] && churn_start
	if [ "$bin" != - ]; then
		"$bin" serve --listen 127.0.0.1:0 --http-listen "" --resolv-conf /dev/null >"$STATE/out" 2>"$STATE/log" &
		dns_pid=$!
	fi
	sleep "$warm"
	local d0 s0=0 l0=0 d1 s1=0 l1=0
	d0=$(cpu "$dockerd_pid")
	[ "$bin" != - ] && { s0=$(cpu "$dns_pid"); l0=$(wc -l <"$STATE/log"); }
	sleep "$WINDOW"
	d1=$(cpu "$dockerd_pid")
	[ "$bin" != - ] && { s1=$(cpu "$dns_pid"); l1=$(wc -l <"$STATE/log"); }
	if [ "$bin" != - ]; then
		kill "$dns_pid"
		wait "$dns_pid" 2>/dev/null || true
		dns_pid=
	fi
	[ "$load" = churn ] && churn_stop
	awk -v n="$name" -v l="$load" -v d=$((d1 - d0)) -v s=$((s1 - s0)) -v ll=$((l1 - l0)) -v w="$WINDOW" -v hz="$HZ" -v b="$bin" \
		'BEGIN { printf "| %s | %s | %.1f%% | %s | %s |\n", n, l, 100 * d / hz / w, \
			(b == "-" ? "–" : sprintf("%.1f%%", 100 * s / hz / w)), (b == "-" ? "–" : sprintf("%.0f", ll * 60 / w)) }'
}

echo "| swarmdns | load | dockerd CPU (% of a core) | swarmdns CPU | swarmdns log lines / min |"
echo "|---|---|---|---|---|"
for _ in $(seq 1 "$ROUNDS"); do
	for load in $LOADS; do
		measure "none (dockerd alone)" - "$load"
		measure "old (full read each event and poll)" "$OLD_BIN" "$load"
		measure "new (targeted reads)" "$NEW_BIN" "$load"
	done
done
