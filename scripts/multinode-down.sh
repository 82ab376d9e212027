#!/usr/bin/env bash
# multinode-down.sh tears down what multinode-up.sh brought up, also after a
# failed bring-up or a dockerd killed with SIGKILL: it kills every process in
# a node's network or mount namespace or in its cgroups (dockerd, containerd,
# shims, containers), removes those cgroups, unmounts, deletes the
# namespaces, veths, bridge swbr, the FORWARD rule it added and the data
# (MULTINODE_BED=2: those of the second test bed, tw1…, swbr2).
# The host's own dockerd and Swarm are not touched. Needs root.
set -euo pipefail
MN_SELF=multinode-down
. "$(dirname "$0")/multinode-lib.sh"
start=$(date +%s%N)

[ "$(id -u)" = 0 ] || { mn_log "needs root"; exit 1; }
if [ -z "${MULTINODE_LOCKED:-}" ]; then
	exec 9>"$MN_LOCK"
	flock 9
fi

is_node() { [[ $1 =~ ^$MN_NAME([0-9]+|x)$ ]]; }

# Every node there is a trace of, whatever it was brought up with.
nodes() {
	{
		mn_all
		[ -f "$MN_DIR/nodes" ] && awk '!/^#/ {print $1}' "$MN_DIR/nodes"
		ls "$MN_DIR" "$MN_RUN/mnt" /run 2>/dev/null
		ip netns list 2>/dev/null | awk '{print $1}'
		ip -o link show 2>/dev/null | sed -n 's/^[0-9]*: veth-\([^@:]*\).*/\1/p'
	} | while read -r n; do is_node "$n" && echo "$n"; done | sort -u
}

ns_id() { # namespace file, kind -> "net:[inode]" when it is a live namespace
	[ -e "$1" ] && [ "$(stat -f -c %T "$1" 2>/dev/null)" = nsfs ] && echo "$2:[$(stat -L -c %i "$1")]"
	return 0
}

# kill_nodes kills, until none is left, every process in one of the nodes'
# namespaces or cgroups. Container processes are in cgroup /<node>/<id>;
# containerd and its shims in the node's mount namespace; dockerd in both.
kill_nodes() {
	local n id pattern='' links=()
	for n in "$@"; do
		for id in $(ns_id "/var/run/netns/$n" net) $(ns_id "$MN_RUN/mnt/$n" mnt); do
			# find -lname takes a glob: the brackets are literal.
			links+=(${links[0]:+-o} -lname "${id//[/\\[}")
		done
		pattern+="${pattern:+|}$n"
	done
	local round victims
	for round in $(seq 1 100); do
		mapfile -t victims < <({
			[ ${#links[@]} -gt 0 ] && find /proc -mindepth 3 -maxdepth 3 \( -path '/proc/[0-9]*/ns/net' -o -path '/proc/[0-9]*/ns/mnt' \) \( "${links[@]}" \) 2>/dev/null || true
			grep -lE ":/($pattern)(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null || true
		} | cut -d/ -f3 | sort -u | grep -vx "$$" | while read -r pid; do
			# A zombie is dead already; it waits for its parent.
			[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] || echo "$pid"
		done)
		[ ${#victims[@]} -eq 0 ] && return 0
		[ "$round" = 1 ] && mn_log "killing ${#victims[@]} processes of $*"
		kill -9 "${victims[@]}" 2>/dev/null || true
		sleep 0.1
	done
	mn_log "processes of $* survive SIGKILL: ${victims[*]}"
	return 1
}

remove_node() { # node
	local n=$1 m d
	for d in /sys/fs/cgroup/*/"$n"; do
		if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + || mn_log "cannot remove cgroup $d"; fi
	done
	# Mounts under the node's roots that the host sees (its containers'
	# mounts live in the node's mount namespace and went with it).
	for m in $(awk -v a="/run/$n/" -v b="$MN_DIR/$n/" 'index($5, a) == 1 || index($5, b) == 1 || $5 == "/run/'"$n"'" {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if mountpoint -q "$MN_RUN/mnt/$n" 2>/dev/null; then umount "$MN_RUN/mnt/$n"; fi
	rm -f "$MN_RUN/mnt/$n"
	if ip netns list | awk '{print $1}' | grep -qx "$n"; then ip netns del "$n"; fi
	if ip link show "veth-$n" >/dev/null 2>&1; then ip link del "veth-$n"; fi
	rm -rf --one-file-system "/run/$n" "$MN_DIR/$n"
}

mapfile -t all < <(nodes)
if [ ${#all[@]} -gt 0 ]; then
	kill_nodes "${all[@]}"
	for n in "${all[@]}"; do remove_node "$n"; done
fi
if mountpoint -q "$MN_RUN/mnt" 2>/dev/null; then umount "$MN_RUN/mnt"; fi
rm -rf --one-file-system "$MN_RUN"
if ip link show "$MN_BRIDGE" >/dev/null 2>&1; then ip link del "$MN_BRIDGE"; fi
while iptables -C "${MN_FORWARD_RULE[@]}" 2>/dev/null; do iptables -D "${MN_FORWARD_RULE[@]}"; done
if [ -e "$MN_DIR/created-var-lib-docker" ]; then rmdir /var/lib/docker 2>/dev/null || true; fi
# iproute2 leaves /run/netns mounted once it made a namespace there.
if mountpoint -q /run/netns && [ -z "$(ls -A /run/netns)" ]; then umount /run/netns && rmdir /run/netns; fi
rm -rf --one-file-system "$MN_DIR"
ms=$((($(date +%s%N) - start) / 1000000))
mn_log "down in $((ms / 1000)).$(printf %03d $((ms % 1000))) s${all[*]:+ (${all[*]})}"
