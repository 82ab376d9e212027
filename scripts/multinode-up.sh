#!/usr/bin/env bash
# multinode-up.sh brings up a Docker Swarm of several nodes on this machine
# for the multi-node end-to-end tests (e2e/multinode): one network namespace,
# one mount namespace and one dockerd per node, on a private subnet that
# exists only here (bridge swbr, 10.99.0.0/24). Default: sw1 and sw2
# managers, sw3 a worker, and a separate one-node Swarm swx (10.99.0.100).
#
#   MULTINODE_MANAGERS=2 MULTINODE_WORKERS=1  node counts (at most 14 nodes)
#   MULTINODE_OTHER_SWARM=1                   also bring up swx (0: not)
#   MULTINODE_HEARTBEAT=                      swarm --dispatcher-heartbeat (Docker's default: 5s)
#   MULTINODE_DNS=127.0.0.1                   dockerd --dns (each node's own loopback)
#   MULTINODE_DIR=/var/lib/swarmdns-multinode state and data
#   MULTINODE_BED=1                           2: the second test bed (tw1…, swbr2,
#                                             10.98.0.0/24; see multinode-lib.sh)
#
# Loads the test image swarmdns-test/busybox:latest into every engine and
# writes $MULTINODE_DIR/nodes, which the Go harness reads. Up when already up
# with the same settings and healthy does nothing; otherwise it tears down
# (multinode-down.sh) and starts afresh. Installs docker.io, busybox-static,
# iproute2, iptables, dnsutils and util-linux when missing. Needs root.
set -euo pipefail
MN_SELF=multinode-up
. "$(dirname "$0")/multinode-lib.sh"
start=$(date +%s%N)

[ "$(id -u)" = 0 ] || { mn_log "needs root"; exit 1; }
total=$((MN_MANAGERS + MN_WORKERS))
if [ "$MN_MANAGERS" -lt 1 ] || [ "$MN_WORKERS" -lt 0 ] || [ "$total" -gt 14 ]; then
	mn_log "want 1 or more managers, 0 or more workers, 14 nodes at most (got $MN_MANAGERS, $MN_WORKERS)"
	exit 1
fi

install_missing() {
	local need=()
	command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
	# The image needs the static build: Debian's plain busybox is dynamic.
	dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
	command -v ip >/dev/null 2>&1 || need+=(iproute2)
	command -v iptables >/dev/null 2>&1 || need+=(iptables)
	command -v dig >/dev/null 2>&1 || need+=(dnsutils)
	command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
	[ ${#need[@]} -eq 0 ] && return 0
	mkdir -p "$MN_DIR"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${need[@]}" >"$MN_DIR/apt.log" 2>&1; then
		mn_log "updating package lists"
		apt-get update >>"$MN_DIR/apt.log" 2>&1
		apt-get install -y --no-install-recommends "${need[@]}" >>"$MN_DIR/apt.log" 2>&1
	fi
	mn_log "installed ${need[*]}"
}

# healthy: the test bed recorded in $MN_DIR/nodes is the one asked for and
# every engine is in its Swarm with its role and has the test image.
healthy() {
	[ -f "$MN_DIR/nodes" ] && [ "$(sed -n 's/^# signature: //p' "$MN_DIR/nodes")" = "$(mn_signature)" ] || return 1
	local n want
	for n in $(mn_all); do
		[ "$(mn_role "$n")" = manager ] && want="active true" || want="active false"
		[ "$(mn_docker "$n" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null)" = "$want" ] || return 1
		mn_docker "$n" image inspect "$MN_IMAGE" >/dev/null 2>&1 || return 1
	done
	[ "$(mn_docker "$MN_FIRST" node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$')" = "$total" ]
}

network_up() {
	ip link add "$MN_BRIDGE" type bridge
	ip addr add "$MN_HOST_ADDR/24" dev "$MN_BRIDGE"
	ip link set "$MN_BRIDGE" up
	iptables -I "${MN_FORWARD_RULE[@]}"
}

node_network_up() { # node
	local n=$1
	ip netns add "$n"
	ip -n "$n" link set lo up
	ip link add "veth-$n" type veth peer name eth0 netns "$n"
	ip link set "veth-$n" master "$MN_BRIDGE" up
	ip -n "$n" addr add "$(mn_addr "$n")/24" dev eth0
	ip -n "$n" link set eth0 up
}

# node_mounts_up makes the node's mount namespace and keeps it alive with a
# bind mount of its namespace file, so a dockerd killed and started again
# finds the mounts of the containers its containerd still runs. The copies of
# the namespace files (of this test bed and of another one that is up) go
# in the new namespace: they would keep those namespaces alive after their
# own test bed went down.
node_mounts_up() { # node
	local n=$1
	mkdir -p "/run/$n" "$MN_DIR/$n/data"
	touch "$MN_RUN/mnt/$n"
	unshare --mount="$MN_RUN/mnt/$n" --propagation private \
		sh -c 'for m in /run/swarmdns-multinode*/mnt; do ! mountpoint -q "$m" || umount -R -l "$m"; done
			mount --bind "$1" /run && mount --bind "$2" /var/lib/docker' sh "/run/$n" "$MN_DIR/$n/data"
}

# node_launcher writes $MN_DIR/<node>/dockerd.sh, which starts the node's
# dockerd in the background; the Go harness runs it to restart a dockerd.
node_launcher() { # node
	local n=$1 k dir
	k=$(mn_index "$n")
	dir=$MN_DIR/$n
	# Without a key path of its own every engine shares /etc/docker/key.json,
	# and with it one engine identity.
	printf '{"deprecated-key-path": "/var/lib/docker/key.json"}\n' >"$dir/daemon.json"
	local cmd=(
		nsenter "--net=/var/run/netns/$n" "--mount=$MN_RUN/mnt/$n" --
		unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$n"
		env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
		dockerd
		--data-root /var/lib/docker --exec-root /var/run/docker
		-H unix:///var/run/docker.sock --pidfile /var/run/docker.pid
		--config-file "$dir/daemon.json"
		--cgroup-parent "/$n"
		--bip "172.30.$k.1/24"
		--default-address-pool "base=172.31.$((16 * (k - 1))).0/20,size=24"
		--dns "$MN_DNS"
	)
	{
		echo '#!/bin/sh'
		echo "# Starts dockerd of node $n in the background (written by scripts/multinode-up.sh)."
		echo "exec </dev/null >>$(printf %q "$dir/dockerd.log") 2>&1"
		printf 'setsid'
		printf ' %q' "${cmd[@]}"
		printf ' &\n'
	} >"$dir/dockerd.sh"
	chmod +x "$dir/dockerd.sh"
}

node_start() { # node
	local n=$1
	node_network_up "$n"
	node_mounts_up "$n"
	node_launcher "$n"
	(mn_close_fds && exec "$MN_DIR/$n/dockerd.sh")
	local _
	for _ in $(seq 1 120); do
		mn_ready "$n" && return 0
		sleep 0.25
	done
	mn_log "dockerd of $n did not answer; last log lines:"
	tail -n 30 "$MN_DIR/$n/dockerd.log" >&2
	return 1
}

# wait_all waits for every background job and fails if any did.
wait_all() {
	local pid rc=0
	for pid in "$@"; do wait "$pid" || rc=1; done
	return $rc
}

swarm_init() { # node, overlay address pool
	local n=$1 addr
	addr=$(mn_addr "$n")
	local args=(swarm init --advertise-addr "$addr" --listen-addr "$addr:2377"
		--default-addr-pool "$2" --default-addr-pool-mask-length 24)
	[ -n "$MN_HEARTBEAT" ] && args+=(--dispatcher-heartbeat "$MN_HEARTBEAT")
	mn_docker "$n" "${args[@]}" >/dev/null
}

swarm_join() { # node, token
	local addr
	addr=$(mn_addr "$1")
	mn_docker "$1" swarm join --advertise-addr "$addr" --listen-addr "$addr:2377" \
		--token "$2" "$(mn_addr "$MN_FIRST"):2377" >/dev/null
}

build_image() { # into node
	local rootfs applet
	rootfs=$(mktemp -d)
	mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/var/www"
	cp /bin/busybox "$rootfs/bin/busybox"
	for applet in sh ls cat echo sleep nslookup wget httpd nc ip ifconfig hostname ps kill top env; do
		ln -s busybox "$rootfs/bin/$applet"
	done
	echo "swarmdns test image" >"$rootfs/var/www/index.html"
	tar -C "$rootfs" -cf "$MN_DIR/rootfs.tar" .
	rm -rf "$rootfs"
	mn_docker "$1" import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' \
		"$MN_DIR/rootfs.tar" "$MN_IMAGE" >/dev/null
	rm -f "$MN_DIR/rootfs.tar"
}

write_nodes() {
	local n tmp=$MN_DIR/nodes.tmp
	{
		echo "# The multi-node test bed of scripts/multinode-up.sh; read by e2e/multinode."
		echo "# signature: $(mn_signature)"
		echo "# name address role cluster socket netns launcher"
		for n in $(mn_all); do
			echo "$n $(mn_addr "$n") $(mn_role "$n") $(mn_cluster "$n") unix:///run/$n/docker.sock /var/run/netns/$n $MN_DIR/$n/dockerd.sh"
		done
	} >"$tmp"
	mv "$tmp" "$MN_DIR/nodes"
}

install_missing
exec 9>"$MN_LOCK"
flock 9

if healthy; then
	mn_log "already up ($(mn_signature))"
	exit 0
fi
# Whatever is there (nothing, a half-up test bed, another configuration)
# goes first; the lock is held, so down runs without taking it.
MULTINODE_LOCKED=1 "$(dirname "$0")/multinode-down.sh"

mn_log "starting $(mn_all | xargs) ($(mn_signature))"
mkdir -p "$MN_DIR" "$MN_RUN/mnt"
# The mount point of each node's data root; down removes it again if empty.
if [ ! -e /var/lib/docker ]; then
	mkdir -p /var/lib/docker
	touch "$MN_DIR/created-var-lib-docker"
fi
# The namespace files must sit on a mount that is not shared.
mount --bind "$MN_RUN/mnt" "$MN_RUN/mnt"
mount --make-private "$MN_RUN/mnt"
network_up
pids=()
for n in $(mn_all); do
	mkdir -p "$MN_DIR/$n"
	node_start "$n" &
	pids+=($!)
done
wait_all "${pids[@]}"

swarm_init "$MN_FIRST" 10.128.0.0/16
[ "$MN_WITH_OTHER" = 1 ] && swarm_init "$MN_OTHER" 10.160.0.0/16
manager_token=$(mn_docker "$MN_FIRST" swarm join-token -q manager)
worker_token=$(mn_docker "$MN_FIRST" swarm join-token -q worker)
# Managers join one at a time (each joins the Raft group); workers at once.
for n in $(mn_nodes); do
	[ "$n" = "$MN_FIRST" ] || [ "$(mn_role "$n")" != manager ] || swarm_join "$n" "$manager_token"
done
pids=()
for n in $(mn_nodes); do
	if [ "$(mn_role "$n")" = worker ]; then
		swarm_join "$n" "$worker_token" &
		pids+=($!)
	fi
done

# The same image (same ID) in every engine: import once, save, load.
build_image "$MN_FIRST"
mn_docker "$MN_FIRST" save "$MN_IMAGE" >"$MN_DIR/image.tar"
for n in $(mn_all); do
	[ "$n" = "$MN_FIRST" ] && continue
	mn_docker "$n" load -q -i "$MN_DIR/image.tar" >/dev/null &
	pids+=($!)
done
wait_all "${pids[@]}"
rm -f "$MN_DIR/image.tar"

for _ in $(seq 1 120); do
	[ "$(mn_docker "$MN_FIRST" node ls --format '{{.Status}}' | grep -c '^Ready$')" = "$total" ] && break
	sleep 0.25
done
if ! healthy_nodes=$(mn_docker "$MN_FIRST" node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}') ||
	[ "$(grep -c ' Ready' <<<"$healthy_nodes")" != "$total" ]; then
	mn_log "not every node is Ready:"
	echo "$healthy_nodes" >&2
	exit 1
fi
write_nodes
healthy || { mn_log "the test bed is up but not healthy"; exit 1; }
ms=$((($(date +%s%N) - start) / 1000000))
mn_log "up in $((ms / 1000)).$(printf %03d $((ms % 1000))) s:"
mn_docker "$MN_FIRST" node ls >&2
