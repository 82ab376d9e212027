#!/usr/bin/env bash
# Benchmarks swarmdns against a raw UDP reflector (the wire ceiling) and
# dnsmasq on loopback, serving the same generated registry, and writes the
# results into docs/benchmarks.md between the "bench:begin/end" markers.
#
#   scripts/bench.sh                 # both registries, ~10 minutes
#   BENCH_QUICK=1 scripts/bench.sh   # small registry, shorter runs, ~1.5 minutes
#   BENCH_BASE=main scripts/bench.sh # and swarmdns built at that revision, in the same rounds
#   BENCH_RATE=1000 scripts/bench.sh # the fixed-rate runs at another rate than 15000 QPS
#
# Every server runs pinned to CPU 1 and dnsperf to CPU 0; the peers take
# turns. Saturated QPS: REPS runs each, the best counts. At the fixed rate
# (p99, CPU per query): ROUNDS rounds on the small registry (REPS on the
# large one, where dnsmasq cannot keep up), each round running every peer
# once in a rotating order; a peer's figures are its medians, and its CPU
# ratio to dnsmasq is the median of the ratios within each round, so that
# the machine's other work, which comes and goes, moves both sides of a
# ratio alike. Only 127.0.0.1 is ever queried, and every run is bounded in
# time.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	SIZES=${BENCH_SIZES:-small}
	DUR=2 FIXDUR=1.5 REPS=2 ROUNDS=4
else
	SIZES=${BENCH_SIZES:-small large}
	DUR=4 FIXDUR=2 REPS=2 ROUNDS=8
fi
RATE=${BENCH_RATE:-15000} # offered QPS for latency and CPU per query
OUTSTANDING=100
OUT=${BENCH_OUT:-docs/benchmarks.md}
SERVER_CPU=1 LOAD_CPU=0
PORT_REFLECTOR=5380 PORT_SWARMDNS=5381 PORT_DNSMASQ=5382 PORT_WEIGHTED=5383 PORT_RANDOM=5384 PORT_BASE=5385
BASE=${BENCH_BASE:-}

WORK=$(mktemp -d /tmp/swarmdns-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "bench: $*" >&2; }

install() {
	local missing=()
	command -v dnsperf >/dev/null || missing+=(dnsperf)
	command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
	command -v taskset >/dev/null || missing+=(util-linux)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

build() {
	log "building"
	CGO_ENABLED=0 go build -trimpath -o "$WORK/swarmdns" ./cmd/swarmdns
	go build -o "$WORK/reflector" ./scripts/reflector
	go build -o "$WORK/genregistry" ./scripts/genregistry
	if [ -n "$BASE" ]; then
		BASE_NAME="swarmdns@$(git rev-parse --short "$BASE")"
		log "building $BASE_NAME"
		mkdir "$WORK/base-src"
		git archive "$BASE" | tar -x -C "$WORK/base-src"
		(cd "$WORK/base-src" && CGO_ENABLED=0 go build -trimpath -o "$WORK/swarmdns-base" ./cmd/swarmdns)
	fi
}

# start NAME CMD... runs a server on the server CPU; its pid goes to PID_<NAME>.
start() {
	local name=$1
	shift
	taskset -c $SERVER_CPU "$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	printf -v "PID_$name" %s $!
}

stop() {
	local pid=$1
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# ready PORT NAME waits until the server answers NAME with NOERROR (a
# large registry takes a while to load), at most 180 s.
ready() {
	local port=$1 name=$2 i
	for i in $(seq 1 360); do
		if echo "$name A" | dnsperf -s 127.0.0.1 -p "$port" -n 1 -t 1 2>/dev/null | grep -q 'NOERROR 1 '; then
			return 0
		fi
		sleep 0.5
	done
	log "server on port $port never answered $name"
	return 1
}

# cpuns PID: the CPU time of every thread of PID so far, in ns: the sum of
# the threads' sum_exec_runtime, which is what /proc/PID/stat's
# utime+stime add up to, at nanosecond rather than 10 ms resolution.
cpuns() {
	local f s=0 rt rest
	for f in /proc/"$1"/task/*/schedstat; do
		read -r rt rest <"$f" && s=$((s + rt))
	done
	echo "$s"
}

# saturate PORT FILE: QPS and mean latency (ms) with OUTSTANDING queries in flight.
saturate() {
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l $DUR -e -q $OUTSTANDING -t 1 2>/dev/null |
		awk '/Queries per second/ {q = $4} /Average Latency/ {l = $4 * 1000} END {printf "%.0f %.3f\n", q, l}' || true
}

# fixed PORT FILE PID: at RATE offered QPS, p99 latency (ms) and the
# server's CPU microseconds per answered query.
fixed() {
	local port=$1 file=$2 pid=$3 t0 t1
	t0=$(cpuns "$pid")
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l $FIXDUR -e -q $OUTSTANDING -t 1 -Q $RATE -v \
		>"$WORK/fixed.out" 2>/dev/null || true
	t1=$(cpuns "$pid")
	grep '^> ' "$WORK/fixed.out" | awk '{print $NF}' | sort -g >"$WORK/lat.txt" || true
	local n
	n=$(wc -l <"$WORK/lat.txt")
	if [ "$n" -eq 0 ]; then
		echo "- -"
		return
	fi
	awk -v ns=$((t1 - t0)) -v n="$n" '
		BEGIN {i = int(n * 0.99); if (i < 1) i = 1}
		NR == i {printf "%.3f %.2f\n", $1 * 1000, ns / 1000 / n}' "$WORK/lat.txt"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# run SIZE MIX PEER... measures each peer (name:port:pid): REPS saturated
# runs in turns, then the fixed-rate rounds, each starting one peer further
# along. Results are lines of size, mix, peer, kind (sat or fix), run and
# the two figures.
run() {
	local size=$1 mix=$2
	shift 2
	local file="$WORK/$size/$mix.txt" peers=("$@") rep peer name port pid out i rounds=$REPS
	[ "$size" = small ] && rounds=$ROUNDS
	for rep in $(seq 1 $REPS); do
		for peer in "${peers[@]}"; do
			IFS=: read -r name port pid <<<"$peer"
			out=$(saturate "$port" "$file")
			log "$size $mix $name run $rep: QPS mean-ms $out"
			printf '%s\t%s\t%s\tsat\t%s\t%s\n' "$size" "$mix" "$name" "$rep" "${out// /$'\t'}" >>"$RESULTS"
		done
	done
	for rep in $(seq 1 $rounds); do
		for i in "${!peers[@]}"; do
			IFS=: read -r name port pid <<<"${peers[$(((i + rep - 1) % ${#peers[@]}))]}"
			out=$(fixed "$port" "$file" "$pid")
			log "$size $mix $name round $rep: p99-ms cpu-us/q $out"
			printf '%s\t%s\t%s\tfix\t%s\t%s\n' "$size" "$mix" "$name" "$rep" "${out// /$'\t'}" >>"$RESULTS"
		done
	done
}

rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

install
build
start reflector "$WORK/reflector" -listen 127.0.0.1:$PORT_REFLECTOR
NOTES="$WORK/notes.txt"
: >"$NOTES"
for size in $SIZES; do
	log "generating the $size registry"
	"$WORK/genregistry" -size "$size" -out "$WORK/$size"
	# No HTTP listener (one per instance would clash) and no upstream:
	# nothing is ever forwarded off the machine.
	: >"$WORK/empty.resolv"
	sw=(serve --listen 127.0.0.1:$PORT_SWARMDNS --registry-file "$WORK/$size/registry.yaml" --log-level warn
		--http-listen "" --resolv-conf "$WORK/empty.resolv")
	t0=$(date +%s.%N)
	start swarmdns "$WORK/swarmdns" "${sw[@]}"
	start dnsmasq dnsmasq -k --conf-file="$WORK/$size/dnsmasq.conf" --addn-hosts="$WORK/$size/hosts" \
		--port=$PORT_DNSMASQ --listen-address=127.0.0.1 --bind-interfaces --pid-file= --user=root
	ready $PORT_REFLECTOR tasks.svc0.swarm.internal
	ready $PORT_SWARMDNS tasks.svc0.swarm.internal
	t1=$(date +%s.%N)
	ready $PORT_DNSMASQ tasks.svc0.swarm.internal
	peers=("reflector:$PORT_REFLECTOR:$PID_reflector" "swarmdns:$PORT_SWARMDNS:$PID_swarmdns" "dnsmasq:$PORT_DNSMASQ:$PID_dnsmasq")
	if [ -n "$BASE" ]; then
		start base "$WORK/swarmdns-base" "${sw[@]/$PORT_SWARMDNS/$PORT_BASE}"
		ready $PORT_BASE tasks.svc0.swarm.internal
		peers+=("$BASE_NAME:$PORT_BASE:$PID_base")
	fi
	if [ "$size" = small ] && [ "$QUICK" != 1 ]; then
		# The same server with the other schedulers, for the tasks.<svc> mix.
		start weighted "$WORK/swarmdns" "${sw[@]/$PORT_SWARMDNS/$PORT_WEIGHTED}" --scheduler weighted
		start random "$WORK/swarmdns" "${sw[@]/$PORT_SWARMDNS/$PORT_RANDOM}" --scheduler random
		ready $PORT_WEIGHTED tasks.svc0.swarm.internal
		ready $PORT_RANDOM tasks.svc0.swarm.internal
	fi
	for mix in tasks-a mix; do
		extra=()
		if [ "$mix" = tasks-a ] && [ -n "${PID_weighted:-}" ]; then
			extra=("swarmdns-weighted:$PORT_WEIGHTED:$PID_weighted" "swarmdns-random:$PORT_RANDOM:$PID_random")
		fi
		run "$size" "$mix" "${peers[@]}" "${extra[@]}"
	done
	printf '%s\tswarmdns load+build %.1f s, RSS after the runs %s MB; dnsmasq RSS %s MB\n' "$size" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$(rss "$PID_swarmdns")" "$(rss "$PID_dnsmasq")" >>"$NOTES"
	for p in swarmdns dnsmasq weighted random base; do
		v="PID_$p"
		if [ -n "${!v:-}" ]; then stop "${!v}"; unset "PID_$p"; fi
	done
done

# The table: best saturated run of each peer, medians of its fixed-rate
# rounds; ratios against the same runs' peers.
TABLE="$WORK/table.md"
ROUNDNOTES="$WORK/rounds.txt"
awk -F'\t' -v reps=$REPS -v rounds=$ROUNDS -v rate=$RATE -v dur=$DUR -v fixdur=$FIXDUR -v out=$OUTSTANDING -v sizes="$SIZES" -v notes="$ROUNDNOTES" '
	# median of the n values v[1..n] (sorted in place)
	function median(v, n,   i, j, t) {
		for (i = 2; i <= n; i++) {
			t = v[i]
			for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]
			v[j + 1] = t
		}
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	{
		k = $1 "\t" $2 "\t" $3
		if (!(k in seen)) { seen[k] = 1; order[n++] = k }
		if ($4 == "sat") {
			if ($6 + 0 > qps[k] + 0) { qps[k] = $6; mean[k] = $7 }
		} else if ($7 != "-") {
			nfix[k]++
			p99[k, nfix[k]] = $6
			cpu[k, nfix[k]] = $7
			cpur[k, $5] = $7
			if ($5 + 0 > maxround[$1 "\t" $2] + 0) maxround[$1 "\t" $2] = $5
		}
	}
	END {
		printf "QPS: best of %d runs of %g s, %d queries outstanding; mean latency from that run.\n", reps, dur, out
		printf "p99 latency and server CPU per query: at %d offered QPS, runs of %g s, the median of %d rounds on the small registry", rate, fixdur, rounds
		printf (sizes ~ /large/) ? sprintf(" and of %d on the large one. ", reps) : ". "
		print "CPU ÷ dnsmasq is the median of the ratios within each round (in brackets: the lowest and highest).\n"
		at = sprintf("@%gk", rate / 1000)
		printf "| registry | queries | server | QPS | mean ms | p99 ms %s | CPU µs/q %s | QPS ÷ reflector | QPS ÷ dnsmasq | CPU ÷ dnsmasq |\n", at, at
		print "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 0; i < n; i++) {
			k = order[i]
			split(k, f, "\t")
			sm = f[1] "\t" f[2]
			r = sm "\treflector"; d = sm "\tdnsmasq"
			vr = (f[3] == "reflector" || qps[r] == 0) ? "" : sprintf("%.2f", qps[k] / qps[r])
			vd = (f[3] == "dnsmasq" || qps[d] == 0) ? "" : sprintf("%.2f", qps[k] / qps[d])
			m = nfix[k]
			for (j = 1; j <= m; j++) { a[j] = p99[k, j]; b[j] = cpu[k, j] }
			vp = m ? sprintf("%.3f", median(a, m)) : "-"
			vc = m ? sprintf("%.2f", median(b, m)) : "-"
			vx = ""
			if (f[3] != "dnsmasq" && f[3] != "reflector") {
				nr = 0; line = ""
				for (j = 1; j <= maxround[sm]; j++) {
					if ((k, j) in cpur && (d, j) in cpur && cpur[d, j] > 0) {
						c[++nr] = cpur[k, j] / cpur[d, j]
						line = line sprintf(" %.2f", c[nr])
					}
				}
				if (nr) {
					med = median(c, nr)
					vx = nr > 2 ? sprintf("%.2f (%.2f–%.2f)", med, c[1], c[nr]) : sprintf("%.2f", med)
					if (nr > 2 && f[3] ~ /^swarmdns(@|$)/) printf "%s %s: %s CPU ÷ dnsmasq by round:%s\n", f[1], f[2], f[3], line > notes
				}
			}
			printf "| %s | %s | %s | %d | %.3f | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], qps[k], mean[k], vp, vc, vr, vd, vx
		}
	}' "$RESULTS" >"$TABLE"

GOBENCH="$WORK/gobench.txt"
if [ "$QUICK" != 1 ]; then
	log "go benchmarks"
	{
		go test -run '^$' -bench 'BenchmarkAnswer' -benchtime 200000x ./server/
		go test -run '^$' -bench 'BenchmarkOrder' ./scheduler/
		go test -run '^$' -bench 'BenchmarkBuild' -benchtime 20x ./registry/
		go test -run '^$' -bench 'BenchmarkPublishOneTask/(small|large)/' -benchtime 20x ./registry/
		go test -run '^$' -bench 'BenchmarkPublishOneService' ./registry/
		# enough publishes for a fold on every registry (2,084 for wide)
		go test -run '^$' -bench 'BenchmarkPublishSpreadChanges$' -benchtime 2100x ./registry/
		go test -run '^$' -bench 'BenchmarkSerialOneTask|BenchmarkPublishSpreadChangesWithTransfers' ./server/transfer/
		go test -run '^$' -bench 'BenchmarkMemory' -benchtime 1x ./registry/peer/
	} 2>&1 | grep -E '^Benchmark' >"$GOBENCH" || true
fi

{
	echo "<!-- bench:begin (generated by scripts/bench.sh; do not edit by hand) -->"
	echo "### Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ "$QUICK" = 1 ] && echo ', quick')"
	echo
	echo "$(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}'), dnsmasq $(dnsmasq --version | awk 'NR == 1 {print $3}'), $(go version | awk '{print $3}')."
	echo
	cat "$TABLE"
	echo
	while IFS=$'\t' read -r size note; do echo "- $size registry: $note"; done <"$NOTES"
	if [ -s "$ROUNDNOTES" ]; then
		while read -r line; do echo "- $line"; done <"$ROUNDNOTES"
	fi
	if [ -s "$GOBENCH" ]; then
		echo
		echo '```'
		cat "$GOBENCH"
		echo '```'
	fi
	echo "<!-- bench:end -->"
} >"$WORK/section.md"

cat "$WORK/section.md"
mkdir -p "$(dirname "$OUT")"
if [ -f "$OUT" ] && grep -q '<!-- bench:begin' "$OUT"; then
	awk -v sec="$WORK/section.md" '
		/<!-- bench:begin/ {while ((getline l < sec) > 0) print l; skip = 1; next}
		/<!-- bench:end -->/ {skip = 0; next}
		!skip' "$OUT" >"$WORK/out.md"
	cp "$WORK/out.md" "$OUT"
else
	{ [ -f "$OUT" ] && cat "$OUT" && echo; cat "$WORK/section.md"; } >"$WORK/out.md"
	cp "$WORK/out.md" "$OUT"
fi
log "results written to $OUT"
