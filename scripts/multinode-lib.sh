# multinode-lib.sh: the layout of the multi-node test Swarm, shared by
# multinode-up.sh, multinode-down.sh and multinode-load-image.sh (sourced,
# not run). See e2e/multinode/README.md.
#
# Node k (sw1 … swN, managers first) is, on this machine:
#   network namespace  /var/run/netns/swk, eth0 10.99.0.(k+1)/24, no default
#                      route; its veth peer veth-swk on bridge swbr 10.99.0.1/24
#   mount namespace    $MN_RUN/mnt/swk, where /run is /run/swk and
#                      /var/lib/docker is $MN_DIR/swk/data, so a node looks like
#                      a machine of its own to what runs on it (a bind mount of
#                      /var/run/docker.sock or of /var/lib/docker/swarm in a
#                      service spec gets that node's)
#   dockerd            socket unix:///run/swk/docker.sock, pid /run/swk/docker.pid,
#                      log $MN_DIR/swk/dockerd.log, cgroups /swk/<container>
# The separate one-node Swarm "swx" (10.99.0.100) is laid out the same way.
#
# MULTINODE_BED=2 is a second test bed, independent of the first, so that two
# can be up at once: nodes tw1 … twN on bridge swbr2, 10.98.0.0/24 (the
# machine 10.98.0.1), state in /var/lib/swarmdns-multinode2 and
# /run/swarmdns-multinode2, its own lock and FORWARD rule, and no separate
# Swarm unless MULTINODE_OTHER_SWARM=1 (twx, 10.98.0.100). Everything else is
# laid out as above, with tw for sw.

MN_BED=${MULTINODE_BED:-1}
case $MN_BED in
1)
	MN_NAME=sw
	MN_STATE=swarmdns-multinode
	MN_PREFIX=10.99.0
	MN_BRIDGE=swbr
	MN_OTHER_DEFAULT=1
	;;
2)
	MN_NAME=tw
	MN_STATE=swarmdns-multinode2
	MN_PREFIX=10.98.0
	MN_BRIDGE=swbr2
	MN_OTHER_DEFAULT=0
	;;
*)
	echo "multinode: MULTINODE_BED=$MN_BED: want 1 or 2" >&2
	exit 2
	;;
esac
MN_FIRST=${MN_NAME}1
MN_DIR=${MULTINODE_DIR:-/var/lib/$MN_STATE}
MN_RUN=/run/$MN_STATE
MN_LOCK=/run/$MN_STATE.lock
MN_HOST_ADDR=$MN_PREFIX.1
MN_OTHER=${MN_NAME}x
MN_OTHER_ADDR=$MN_PREFIX.100
MN_IMAGE=${MULTINODE_TEST_IMAGE:-swarmdns-test/busybox:latest}
MN_MANAGERS=${MULTINODE_MANAGERS:-2}
MN_WORKERS=${MULTINODE_WORKERS:-1}
MN_WITH_OTHER=${MULTINODE_OTHER_SWARM:-$MN_OTHER_DEFAULT}
MN_HEARTBEAT=${MULTINODE_HEARTBEAT:-}
# Where the nodes' embedded DNS forwards names it does not know: each node's
# own loopback, so nothing leaves this machine.
MN_DNS=${MULTINODE_DNS:-127.0.0.1}
# The FORWARD rule that lets bridged frames between the nodes through when a
# dockerd on the host has set the FORWARD policy to DROP; the comment makes
# it exactly ours.
MN_FORWARD_RULE=(FORWARD -i "$MN_BRIDGE" -o "$MN_BRIDGE" -m comment --comment "$MN_STATE" -j ACCEPT)

# Debian's client matches the daemon it ships with.
MN_DOCKER=/usr/bin/docker
[ -x "$MN_DOCKER" ] || MN_DOCKER=$(command -v docker || echo docker)

mn_log() { echo "${MN_SELF:-multinode}: $*" >&2; }

# mn_nodes prints the names of the nodes of the configured Swarm.
mn_nodes() {
	local k
	for k in $(seq 1 $((MN_MANAGERS + MN_WORKERS))); do echo "$MN_NAME$k"; done
}

# mn_all prints every node name to bring up: the Swarm's, then swx.
mn_all() {
	mn_nodes
	[ "$MN_WITH_OTHER" = 1 ] && echo "$MN_OTHER"
	return 0
}

mn_index() { # node name -> k (swx: 15, for its address pools)
	case $1 in
	"$MN_OTHER") echo 15 ;;
	*) echo "${1#"$MN_NAME"}" ;;
	esac
}

mn_addr() {
	case $1 in
	"$MN_OTHER") echo "$MN_OTHER_ADDR" ;;
	*) echo "$MN_PREFIX.$(($(mn_index "$1") + 1))" ;;
	esac
}

mn_role() {
	case $1 in
	"$MN_OTHER") echo manager ;;
	*) if [ "$(mn_index "$1")" -le "$MN_MANAGERS" ]; then echo manager; else echo worker; fi ;;
	esac
}

mn_cluster() { if [ "$1" = "$MN_OTHER" ]; then echo other; else echo main; fi; }

mn_docker() { # node, docker args…
	local n=$1
	shift
	"$MN_DOCKER" -H "unix:///run/$n/docker.sock" "$@"
}

mn_ready() { mn_docker "$1" version >/dev/null 2>&1; }

# mn_signature says what a running test bed was brought up with; up with a
# different one restarts it.
mn_signature() {
	echo "managers=$MN_MANAGERS workers=$MN_WORKERS other=$MN_WITH_OTHER heartbeat=${MN_HEARTBEAT:-default} dns=$MN_DNS image=$MN_IMAGE"
}

# mn_close_fds closes every descriptor above stderr of the current
# (sub)shell: a daemon must not keep what the caller holds, such as a
# `flock FILE make …` lock.
mn_close_fds() {
	local fd
	for fd in $(ls "/proc/$BASHPID/fd"); do
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	return 0
}
