#!/usr/bin/env bash
# Runs FlowTrack's benchmarks against throwaway PostgreSQL and Redis on free loopback ports and
# prints their JSON lines.      bench/run.sh [--only CASE[,CASE...]] [SECONDS_PER_CASE]
# CASE: runtime, storage, engine, http, smtp, webhook, leads, api or cluster; all of them without --only.
# (BENCH_ONLY=http does the same as --only http; BENCH_CONNECTIONS="64 256" (the default) are the
# HTTP case's connection counts, one run each; BENCH_SMTP_CONNECTIONS="64 16" (the default) are the SMTP
# case's session counts; BENCH_SKIP_BUILD=1 skips scripts/deps.sh and the build and uses what
# build/release holds, e.g. when the targets were built by hand under the build lock.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/servers.sh
only=${BENCH_ONLY:-}
if [ "${1:-}" = --only ]; then
  only=${2:?--only needs a comma-separated list of runtime, storage, engine, http, smtp, webhook, leads, api, cluster}
  shift 2
fi
for case_name in ${only//,/ }; do
  case "$case_name" in runtime | storage | engine | http | smtp | webhook | leads | api | cluster) ;;
    *) echo "run.sh: --only takes a comma-separated list of runtime, storage, engine, http, smtp, webhook, leads, api, cluster; not '$case_name'" >&2; exit 64 ;;
  esac
done
seconds=${1:-10}
wanted() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  bash scripts/deps.sh
  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C build/release -j "${FLOWTRACK_JOBS:-2}" >/dev/null
fi

work=$(mktemp -d /tmp/flowtrack-bench.XXXXXX)
chmod 755 "$work"
pg_port=$(free_port)
redis_port=$(free_port)
node_pid=
node_status=0
# A dead child stays a zombie until waited for, and `kill -0` still finds a zombie.
node_alive() { local s; s=$(ps -o stat= -p "$node_pid" 2>/dev/null) && [ "${s:0:1}" != Z ]; }
stop_node() {  # SIGTERM is a clean stop: exit status 0
  if [ -n "$node_pid" ]; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || node_status=$?
    node_pid=
  fi
}
trap 'stop_node; stop_postgres "$work/pg"; stop_redis "$work/redis" "$redis_port"; rm -rf "$work"' EXIT
start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE flowtrack_bench" postgres
url="postgresql://postgres@127.0.0.1:$pg_port/flowtrack_bench"
build/release/adapters/cli/flowtrackd migrate --database-url "$url" --log-level warn >/dev/null

if wanted runtime; then build/release/bench/runtime_bench; fi
if wanted storage; then build/release/bench/storage_bench "$url" --seconds "$seconds"; fi
# PostgreSQL alone (engine_bench's postgres_only line: the writer's intake statement in batches
# of 256, no actors, no Redis) is the yardstick: the engine and HTTP lines of the same run get
# "vs_postgres_only", their completed/accepted per second over it.
postgres_only_per_s=
with_ratio() {  # with_ratio FIELD: adds vs_postgres_only to each JSON line on stdin
  /usr/bin/python3 -c '
import json, sys
field, base = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        print(line, flush=True); continue
    d = json.loads(line)
    if base and d.get(field) is not None and d.get("mode") != "postgres_only":
        d["vs_postgres_only"] = round(d[field] / float(base), 3)
    print(json.dumps(d, separators=(",", ":")), flush=True)
' "$1" "$postgres_only_per_s"
}
if wanted engine; then
  engine_out=$(build/release/bench/engine_bench "$url" "redis://127.0.0.1:$redis_port/0" --seconds "$seconds" 2> >(grep -v '^\[' >&2))
  postgres_only_per_s=$(echo "$engine_out" | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        d = json.loads(line)
        if d.get("mode") == "postgres_only": print(d["completed_per_s"])')
  echo "$engine_out" | with_ratio completed_per_s
fi

# HTTP ingress: a Release node serving the public form of bench/form_workflow.json (4 nodes) in
# an enterprise workspace (no quotas), loaded by http_bench at BENCH_CONNECTIONS keep-alive
# connections (default "64 256", one run after the other), then stopped with
# SIGTERM. Each run gets a fresh database. Fails when an accepted submission has no execution,
# when nothing was accepted, or when the node died. The load generator is one address standing
# for many clients, so the per-IP connection cap is lifted.
# BENCH_BASELINE=DIR (a checkout of an earlier commit with build/release built, e.g. a
# `git worktree`) runs the same load against that node too, alternating, each line labelled by
# "node"; the baseline's 202s are not checked against rows (older nodes answer another shape).
http_case() {  # http_case LABEL FLOWTRACKD CONNECTIONS
  local label=$1 bin=$2 connections=$3 db="flowtrack_http_$RANDOM$RANDOM"
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $db" postgres
  local db_url="postgresql://postgres@127.0.0.1:$pg_port/$db"
  "$bin" migrate --database-url "$db_url" --log-level warn >/dev/null
  export FLOWTRACK_DATABASE_URL=$db_url FLOWTRACK_REDIS_URL="redis://127.0.0.1:$redis_port/0" FLOWTRACK_LOG_LEVEL=warn
  "$bin" workspace create --name Bench --slug bench-forms --owner-email owner@bench.example.com --plan enterprise >/dev/null
  "$bin" workflow import --workspace bench-forms bench/form_workflow.json >/dev/null
  local http_port admin=() check=()
  http_port=$(free_port)
  if [ "$label" = current ]; then
    admin=(FLOWTRACK_ADMIN_LISTEN="127.0.0.1:$(free_port)" FLOWTRACK_HTTP_MAX_CONNECTIONS_PER_IP=100000)
    check=(--database-url "$db_url")
  fi
  env FLOWTRACK_HTTP_LISTEN="127.0.0.1:$http_port" FLOWTRACK_SMTP_LISTEN="127.0.0.1:$(free_port)" FLOWTRACK_FORM_RATE_LIMIT=0 \
    "${admin[@]}" "$bin" serve >"$work/node.log" 2>&1 &
  node_pid=$!
  for i in $(seq 300); do  # 30 s
    curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz" 2>/dev/null && break
    if ! node_alive || [ "$i" = 300 ]; then
      echo "flowtrackd serve ($label) did not answer /healthz:" >&2
      tail -20 "$work/node.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  local rc=0 line
  line=$(build/release/bench/http_bench --port "$http_port" --target /p/bench-forms --connections "$connections" \
    --seconds "$seconds" --warmup 2 "${check[@]}" --server-pid "$node_pid") || rc=$?
  [ -z "$line" ] || echo "$line" | sed "s/^{/{\"node\":\"$label\",/" | with_ratio accepted_per_s
  node_alive || echo "flowtrackd serve ($label) died during the benchmark" >&2
  stop_node
  if [ "$node_status" != 0 ]; then
    echo "flowtrackd serve ($label) exited with status $node_status" >&2
    rc=1
  fi
  if [ "$rc" != 0 ]; then
    tail -20 "$work/node.log" >&2
    exit "$rc"
  fi
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "DROP DATABASE $db" postgres
}

if wanted http; then
  baseline=${BENCH_BASELINE:-}
  if [ -n "$baseline" ] && [ ! -x "$baseline/build/release/adapters/cli/flowtrackd" ]; then
    echo "run.sh: BENCH_BASELINE=$baseline has no build/release/adapters/cli/flowtrackd" >&2
    exit 64
  fi
  for connections in ${BENCH_CONNECTIONS:-64 256}; do
    [ -z "$baseline" ] || http_case baseline "$baseline/build/release/adapters/cli/flowtrackd" "$connections"
    http_case current build/release/adapters/cli/flowtrackd "$connections"
  done
fi

# The cluster: 1, 2 and 3 nodes on this machine sharing one database and Redis, the form load
# spread over every node's HTTP port (64 connections in all, 64/N a node, one http_bench each,
# at once; a line per node count with the sums), then the failover time: SIGKILL of one of three
# nodes to the moment it is down and the survivors hold all 256 shard leases (polled with
# `cluster status`, ~0.1 s granularity), and how late the runs parked for a minute just before the
# kill resume: the victim's (its shards taken over) beside the survivors' own. On two cores this
# measures what the cluster costs, not how it scales.
#   cluster_case NODES [WORKFLOW LABEL]: with WORKFLOW (a form workflow whose runs park, so no
#   run is settled at intake), every trigger of another node's shard is forwarded to its owner:
#   the line LABEL's forwarded_share is the share of all executions (warmup included) that an
#   owner elsewhere committed, and
#   no failover part runs.
cluster_case() {
  local db="flowtrack_cluster_$RANDOM$RANDOM" bin=${BENCH_FLOWTRACKD:-build/release/adapters/cli/flowtrackd}
  local workflow=${2:-bench/form_workflow.json} label=${3:-cluster_http}
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $db" postgres
  local db_url="postgresql://postgres@127.0.0.1:$pg_port/$db"
  "$bin" migrate --database-url "$db_url" --log-level warn >/dev/null
  export FLOWTRACK_DATABASE_URL=$db_url FLOWTRACK_REDIS_URL="redis://127.0.0.1:$redis_port/0" FLOWTRACK_LOG_LEVEL=warn
  export FLOWTRACK_CLUSTER_SECRET="bench-cluster-secret-$RANDOM$RANDOM"
  "$bin" workspace create --name Bench --slug bench-forms --owner-email owner@bench.example.com --plan enterprise >/dev/null
  "$bin" workflow import --workspace bench-forms "$workflow" >/dev/null
  local nodes=$1 pids=() http_ports=() cluster_ports=() admin_ports=() i
  for i in $(seq "$nodes"); do
    http_ports+=("$(free_port)"); cluster_ports+=("$(free_port)"); admin_ports+=("$(free_port)")
    local join=()
    [ "$i" = 1 ] || join=(--join "127.0.0.1:${cluster_ports[0]}")
    env FLOWTRACK_HTTP_LISTEN="127.0.0.1:${http_ports[-1]}" FLOWTRACK_SMTP_LISTEN="127.0.0.1:$(free_port)" \
      FLOWTRACK_ADMIN_LISTEN="127.0.0.1:${admin_ports[-1]}" FLOWTRACK_FORM_RATE_LIMIT=0 FLOWTRACK_HTTP_MAX_CONNECTIONS_PER_IP=100000 \
      "$bin" serve --node-name "b$i" --cluster-listen "127.0.0.1:${cluster_ports[-1]}" "${join[@]}" >"$work/node$i.log" 2>&1 &
    pids+=($!)
  done
  held() {  # held PORT [DEAD]: the shards the up members hold, as that member sees them (0 while DEAD is not down)
    "$bin" cluster status --json --join "127.0.0.1:$1" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
dead = sys.argv[1] if len(sys.argv) > 1 else None
try:
    ms = json.load(sys.stdin)["members"]
    gone = dead is None or any(m["name"] == dead and m["state"] == "down" for m in ms)
    print(sum(m["shards"] for m in ms if m["state"] == "up") if gone else 0)
except Exception: print(0)' ${2:+"$2"}
  }
  for i in $(seq 300); do [ "$(held "${cluster_ports[0]}")" = 256 ] && [ "$(curl -fsS -o /dev/null -w '%{http_code}' "http://127.0.0.1:${http_ports[-1]}/healthz" 2>/dev/null)" = 200 ] && break; sleep 0.1; done
  local per=$((64 / nodes)) outs=()
  for i in $(seq "$nodes"); do
    build/release/bench/http_bench --port "${http_ports[$((i-1))]}" --target /p/bench-forms --connections "$per" \
      --seconds "$seconds" --warmup 2 --database-url "$db_url" --server-pid "${pids[$((i-1))]}" \
      --completion-wait "$([ -n "${2:-}" ] && echo 0 || echo 60)" >"$work/bench$i.json" &
    outs+=($!)
  done
  for p in "${outs[@]}"; do wait "$p"; done
  local forwarded=0
  for i in $(seq "$nodes"); do
    forwarded=$((forwarded + $(curl -fsS "http://127.0.0.1:${admin_ports[$((i-1))]}/metrics" 2>/dev/null |
      awk '/^flowtrack_cluster_triggers_forwarded_total\{outcome="owner"\}/ {s += $2} END {printf "%d", s}')))
  done
  cat "$work"/bench*.json | /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
accepted = sum(r["accepted"] for r in rows)
print(json.dumps({"bench": sys.argv[2], "nodes": int(sys.argv[1]), "connections": 64,
                  "accepted_per_s": sum(r["accepted_per_s"] for r in rows),
                  "p99_ms": max(r["p99_ms"] for r in rows), "p50_ms": max(r["p50_ms"] for r in rows),
                  "errors": sum(r["errors"] for r in rows), "missing": sum(r["missing"] for r in rows),
                  "node_cpu_us_per_accepted": round(sum(r["node_cpu_us_per_accepted"] * r["accepted"] for r in rows) / max(1, accepted)),
                  "forwarded_share": round(int(sys.argv[3]) / max(1, int(sys.argv[4])), 3)}))' "$nodes" "$label" "$forwarded" \
    "$(psql -X -q -At -h 127.0.0.1 -p "$pg_port" -U postgres "$db" -c "SELECT count(*) FROM workflow_executions")"
  rm -f "$work"/bench*.json
  if [ "$nodes" = 3 ] && [ -z "${2:-}" ]; then
    # Parked runs on every node: 12 workspaces x 20 triggers of a workflow that waits a minute.
    local w j wf token sql="psql -X -q -At -h 127.0.0.1 -p $pg_port -U postgres $db -c"
    for w in $(seq 12); do
      "$bin" workspace create --name "Park $w" --slug "bench-park-$w" --owner-email "owner@park$w.example.com" --plan enterprise >/dev/null
      wf=$("$bin" workflow import --workspace "bench-park-$w" bench/park_workflow.json)
      token=$("$bin" workflow token "$wf")
      for j in $(seq 20); do
        curl -fsS -o /dev/null -X POST "http://127.0.0.1:${http_ports[$((j % 3))]}/hooks/$wf" -H "X-FlowTrack-Token: $token" \
          -H 'Content-Type: application/json' -d "{\"email\":\"p$j@park$w.example.com\"}"
      done
    done
    for i in $(seq 200); do [ "$($sql "SELECT count(*) FROM workflow_executions e JOIN workspaces s ON s.id = e.workspace_id WHERE s.slug LIKE 'bench-park-%' AND e.status = 'paused'")" = 240 ] && break; sleep 0.1; done
    # The victim's: the runs of the shards b3 holds.
    $sql "CREATE TABLE bench_victim AS SELECT e.id FROM workflow_executions e JOIN workspaces s ON s.id = e.workspace_id
          JOIN shard_leases l ON l.shard = ft_shard_of(e.workspace_id) WHERE s.slug LIKE 'bench-park-%' AND l.owner LIKE 'b3/%'"
    local t0 t1
    t0=$(date +%s%N)
    kill -KILL "${pids[2]}"
    wait "${pids[2]}" 2>/dev/null || true
    for i in $(seq 600); do [ "$(held "${cluster_ports[0]}" b3)" = 256 ] && break; sleep 0.05; done
    t1=$(date +%s%N)
    # Each parked run resumes when its minute is up: how late, the victim's (resumed by a
    # survivor that took its shard) beside the survivors' own.
    for i in $(seq 1200); do [ "$($sql "SELECT count(*) FROM workflow_executions e JOIN workspaces s ON s.id = e.workspace_id WHERE s.slug LIKE 'bench-park-%' AND e.status <> 'completed'")" = 0 ] && break; sleep 0.1; done
    $sql "SELECT json_build_object('bench', 'cluster_failover', 'nodes', 3,
            'kill_to_all_shards_held_ms', $(( (t1 - t0) / 1000000 )),
            'parked_runs', count(*), 'victims_parked_runs', count(*) FILTER (WHERE victim),
            'completed', count(*) FILTER (WHERE status = 'completed'),
            'victims_resumed_late_ms_max', round(max(late_ms) FILTER (WHERE victim)),
            'victims_resumed_late_ms_p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY late_ms) FILTER (WHERE victim)),
            'survivors_resumed_late_ms_max', round(max(late_ms) FILTER (WHERE NOT victim)),
            'survivors_resumed_late_ms_p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY late_ms) FILTER (WHERE NOT victim)))
          FROM (SELECT e.status, e.id IN (SELECT id FROM bench_victim) AS victim,
                       extract(epoch FROM (SELECT min(st.started_at) FROM execution_steps st JOIN workflow_nodes n ON n.id = st.workflow_node_id
                                           WHERE st.execution_id = e.id AND n.react_flow_node_id = 'after')
                                          - (e.created_at + interval '1 minute')) * 1000 AS late_ms
                FROM workflow_executions e JOIN workspaces s ON s.id = e.workspace_id WHERE s.slug LIKE 'bench-park-%') x"
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  unset FLOWTRACK_CLUSTER_SECRET
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "DROP DATABASE $db WITH (FORCE)" postgres
}

if wanted cluster; then
  for n in 1 2 3; do cluster_case "$n"; done
  for n in 1 3; do cluster_case "$n" bench/form_park_workflow.json cluster_http_forward; done
fi

# SMTP intake: a Release node whose workspace (enterprise plan: no quotas) has the active email
# workflow bench/email_workflow.json (4 nodes), loaded by smtp_bench with forwarded ~2 KB messages
# to the workspace's intake address over BENCH_SMTP_CONNECTIONS sessions (default "64 16", one
# run each, a fresh database each), then stopped with SIGTERM. The node answers 250 only after
# the commit; smtp_bench checks that every 250'd Message-ID has its EMAIL execution. Fails when
# one is missing, when nothing was accepted, or when the node died or did not exit 0. The load
# generator is one address standing for many MTAs, so the per-IP connection cap is lifted.
# BENCH_BASELINE=DIR runs the same load against that checkout's node too (it needs the SMTP
# intake), alternating, each line labelled by "node".
smtp_case() {  # smtp_case LABEL FLOWTRACKD CONNECTIONS
  local label=$1 bin=$2 connections=$3 db="flowtrack_smtp_$RANDOM$RANDOM"
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $db" postgres
  local db_url="postgresql://postgres@127.0.0.1:$pg_port/$db"
  "$bin" migrate --database-url "$db_url" --log-level warn >/dev/null
  export FLOWTRACK_DATABASE_URL=$db_url FLOWTRACK_REDIS_URL="redis://127.0.0.1:$redis_port/0" FLOWTRACK_LOG_LEVEL=warn
  local made intake
  made=$("$bin" workspace create --name Bench --slug bench-mail --owner-email owner@bench.example.com --plan enterprise)
  intake=$(echo "$made" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["intakeEmail"])')
  "$bin" workflow import --workspace bench-mail bench/email_workflow.json >/dev/null
  local http_port smtp_port
  http_port=$(free_port)
  smtp_port=$(free_port)
  env FLOWTRACK_HTTP_LISTEN="127.0.0.1:$http_port" FLOWTRACK_ADMIN_LISTEN="127.0.0.1:$(free_port)" \
    FLOWTRACK_SMTP_LISTEN="127.0.0.1:$smtp_port" FLOWTRACK_SMTP_MAX_CONNECTIONS_PER_IP=100000 \
    FLOWTRACK_SMTP_MAX_CONNECTIONS=100000 "$bin" serve >"$work/node.log" 2>&1 &
  node_pid=$!
  # The SMTP listener starts after the HTTP one: /healthz first, then a connection to the port.
  for i in $(seq 300); do  # 30 s
    curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz" 2>/dev/null && (: <>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null && break
    if ! node_alive || [ "$i" = 300 ]; then
      echo "flowtrackd serve ($label) did not listen for SMTP:" >&2
      tail -20 "$work/node.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  local rc=0 line
  line=$(build/release/bench/smtp_bench --port "$smtp_port" --to "$intake" --connections "$connections" \
    --seconds "$seconds" --warmup 2 --database-url "$db_url" --server-pid "$node_pid") || rc=$?
  [ -z "$line" ] || echo "$line" | sed "s/^{/{\"node\":\"$label\",/"
  node_alive || echo "flowtrackd serve ($label) died during the benchmark" >&2
  stop_node
  if [ "$node_status" != 0 ]; then
    echo "flowtrackd serve ($label) exited with status $node_status" >&2
    rc=1
  fi
  if [ "$rc" != 0 ]; then
    tail -20 "$work/node.log" >&2
    exit "$rc"
  fi
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "DROP DATABASE $db" postgres
}

if wanted smtp; then
  baseline=${BENCH_BASELINE:-}
  if [ -n "$baseline" ] && [ ! -x "$baseline/build/release/adapters/cli/flowtrackd" ]; then
    echo "run.sh: BENCH_BASELINE=$baseline has no build/release/adapters/cli/flowtrackd" >&2
    exit 64
  fi
  for connections in ${BENCH_SMTP_CONNECTIONS:-64 16}; do
    [ -z "$baseline" ] || smtp_case baseline "$baseline/build/release/adapters/cli/flowtrackd" "$connections"
    smtp_case current build/release/adapters/cli/flowtrackd "$connections"
  done
fi

# Outgoing webhooks: a Release node and webhook_bench's 100 local receivers, one per endpoint
# (webhook_bench makes the endpoints with `flowtrackd webhook create`; webhook_allow admits
# loopback). Three runs: a backlog of BENCH_WEBHOOK_PER_ENDPOINT (default 1,000) messages per
# endpoint, timed until every one is recorded delivered; then a steady BENCH_WEBHOOK_RATE
# (default 2,000/s) to the 100 endpoints for SECONDS_PER_CASE, without and then with 20 of them
# hanging (the other 80's latency compared). Fails when a message is missing or sent twice, or when the node died.
if wanted webhook; then
  db="flowtrack_webhook_$RANDOM$RANDOM"
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $db" postgres
  db_url="postgresql://postgres@127.0.0.1:$pg_port/$db"
  bin=build/release/adapters/cli/flowtrackd
  "$bin" migrate --database-url "$db_url" --log-level warn >/dev/null
  export FLOWTRACK_DATABASE_URL=$db_url FLOWTRACK_REDIS_URL="redis://127.0.0.1:$redis_port/0" FLOWTRACK_LOG_LEVEL=warn
  export FLOWTRACK_ENCRYPTION_KEY=$(openssl rand -hex 32) FLOWTRACK_WEBHOOK_ALLOW=127.0.0.0/8
  "$bin" workspace create --name Bench --slug bench-hooks --owner-email owner@bench.example.com --plan enterprise >/dev/null
  http_port=$(free_port)
  env FLOWTRACK_HTTP_LISTEN="127.0.0.1:$http_port" FLOWTRACK_SMTP_LISTEN="127.0.0.1:$(free_port)" \
    FLOWTRACK_ADMIN_LISTEN="127.0.0.1:$(free_port)" "$bin" serve >"$work/node.log" 2>&1 &
  node_pid=$!
  for i in $(seq 300); do  # 30 s
    curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz" 2>/dev/null && break
    if ! node_alive || [ "$i" = 300 ]; then
      echo "flowtrackd serve did not answer /healthz:" >&2
      tail -20 "$work/node.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  rc=0
  build/release/bench/webhook_bench --database-url "$db_url" --workspace bench-hooks --flowtrackd "$bin" \
    --seconds "$seconds" --rate "${BENCH_WEBHOOK_RATE:-2000}" --per-endpoint "${BENCH_WEBHOOK_PER_ENDPOINT:-1000}" \
    --server-pid "$node_pid" || rc=$?
  node_alive || { echo "flowtrackd serve died during the benchmark" >&2; rc=1; }
  stop_node
  if [ "$rc" != 0 ] || [ "$node_status" != 0 ]; then
    tail -20 "$work/node.log" >&2
    exit 1
  fi
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "DROP DATABASE $db" postgres
fi

# Lead lists of the management API: leads_bench fills a workspace of BENCH_LEADS (default
# 1,000,000) leads in a database of its own (it migrates it), then measures storage::list_leads
# pages/s and p50/p99 for several query shapes, each SECONDS_PER_CASE on one connection and on 4.
if wanted leads; then
  db="flowtrack_leads_$RANDOM$RANDOM"
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $db" postgres
  build/release/bench/leads_bench --database-url "postgresql://postgres@127.0.0.1:$pg_port/$db" \
    --leads "${BENCH_LEADS:-1000000}" --seconds "$seconds" --threads 4
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "DROP DATABASE $db" postgres
fi

# The management API over HTTP: a Release node (production Argon2id cost: m=65536, t=3) on a
# database of its own, with the public form of bench/form_workflow.json in an enterprise workspace
# for ingress. api_bench signs an owner up through the API (the email marked verified in SQL),
# creates the workspace with POST /workspaces and fills it with BENCH_LEADS (default 1,000,000)
# leads, then measures authenticated GET .../leads (first pages, filters, nextCursor walks, a rare
# text search) for SECONDS_PER_CASE at each of BENCH_API_CONNECTIONS (default "16,64") keep-alive
# connections; then logins/s beside form ingress paced at BENCH_API_INGRESS_RATE (default 500/s,
# a rate the node holds alone on a loaded 2-core machine), ingress alone and with each of BENCH_API_LOGIN_CONNECTIONS (default "4,64") login
# connections. Fails when the set-up fails, a phase got no answer, or the node died.
if wanted api; then
  db="flowtrack_api_$RANDOM$RANDOM"
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $db" postgres
  db_url="postgresql://postgres@127.0.0.1:$pg_port/$db"
  bin=build/release/adapters/cli/flowtrackd
  "$bin" migrate --database-url "$db_url" --log-level warn >/dev/null
  export FLOWTRACK_DATABASE_URL=$db_url FLOWTRACK_REDIS_URL="redis://127.0.0.1:$redis_port/0" FLOWTRACK_LOG_LEVEL=warn
  "$bin" workspace create --name Bench --slug bench-forms --owner-email owner@bench.example.com --plan enterprise >/dev/null
  "$bin" workflow import --workspace bench-forms bench/form_workflow.json >/dev/null
  http_port=$(free_port)
  env FLOWTRACK_HTTP_LISTEN="127.0.0.1:$http_port" FLOWTRACK_SMTP_LISTEN="127.0.0.1:$(free_port)" \
    FLOWTRACK_ADMIN_LISTEN="127.0.0.1:$(free_port)" FLOWTRACK_HTTP_MAX_CONNECTIONS_PER_IP=100000 FLOWTRACK_FORM_RATE_LIMIT=0 \
    FLOWTRACK_JWT_KEY=$(openssl rand -hex 32) "$bin" serve >"$work/node.log" 2>&1 &
  node_pid=$!
  for i in $(seq 300); do  # 30 s
    curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz" 2>/dev/null && break
    if ! node_alive || [ "$i" = 300 ]; then
      echo "flowtrackd serve did not answer /healthz:" >&2
      tail -20 "$work/node.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  rc=0
  build/release/bench/api_bench --port "$http_port" --database-url "$db_url" --form-target /p/bench-forms \
    --leads "${BENCH_LEADS:-1000000}" --seconds "$seconds" --connections "${BENCH_API_CONNECTIONS:-16,64}" \
    --ingress-rate "${BENCH_API_INGRESS_RATE:-500}" --login-connections "${BENCH_API_LOGIN_CONNECTIONS:-4,64}" \
    --server-pid "$node_pid" || rc=$?
  node_alive || { echo "flowtrackd serve died during the benchmark" >&2; rc=1; }
  stop_node
  if [ "$rc" != 0 ] || [ "$node_status" != 0 ]; then
    tail -20 "$work/node.log" >&2
    exit 1
  fi
  psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "DROP DATABASE $db" postgres
fi
