#!/usr/bin/env bash
# Runs submit.sh on a single-node Slurm cluster started on this machine, and checks that the job
# array trained the smoke sweep exactly as an unsharded `resdepth sweep` does.
#
#   scripts/slurm/local-test.sh
#
# Needs root and the Debian packages slurm-wlm and munge, installed but not started
# (`apt-get install -y --no-install-recommends slurm-wlm munge`), plus python3 and a built
# target/release/resdepth. Tested with Debian 12's slurm-wlm 22.05 and munge 0.5.15.
# It starts its own munged, slurmctld and slurmd with every file under one temporary folder,
# and stops them on exit. Only /etc/munge/munge.key is created outside it, when missing.
# The daemons listen on Slurm's default ports 6817 and 6818, so no other Slurm may run here.
set -euo pipefail
cd "$(dirname "$0")/../.."

shards=3
config=experiments/smoke.toml
sweep=smoke
node_timeout_s=60
queue_timeout_s=300

fail() {
    echo "local-test.sh: FAIL: $*" >&2
    exit 1
}

if [ "$(id -u)" != 0 ]; then
    fail "must run as root: munged runs as the munge user and the Slurm daemons as root"
fi
for program in munged munge slurmctld slurmd sbatch squeue sinfo scontrol python3; do
    if ! command -v "$program" > /dev/null; then
        fail "$program not found: apt-get install --no-install-recommends slurm-wlm munge python3"
    fi
done
if [ ! -x target/release/resdepth ]; then
    fail "target/release/resdepth not found: build it first with cargo build --release"
fi

tmp="$(mktemp -d /tmp/resdepth-slurm-test.XXXXXX)"
# munged requires every folder on its socket's path to be searchable by all users.
chmod 755 "$tmp"
munged_pid=""
slurmctld_pid=""
slurmd_pid=""

# Prints the last lines of each daemon log, for errors raised while the daemons run.
print_logs() {
    local log
    for log in "$tmp"/log/*.log "$tmp"/munge/munged.log; do
        if [ -f "$log" ]; then
            echo "--- last lines of $log" >&2
            tail -n 20 "$log" >&2
        fi
    done
}

# Sends SIGTERM to a process, waits up to 10 s for it to exit, then sends SIGKILL.
stop_process() {
    local pid="$1"
    if [ -z "$pid" ] || ! kill -0 "$pid" 2> /dev/null; then
        return 0
    fi
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 1 50); do
        if ! kill -0 "$pid" 2> /dev/null; then
            return 0
        fi
        sleep 0.2
    done
    kill -9 "$pid" 2> /dev/null || true
}

# Prints the value of field $1 in the one-line `scontrol -o show job` record $2.
job_field() {
    tr ' ' '\n' <<< "$2" | sed -n "s/^$1=//p" | head -n 1
}

# Cancels the jobs of this test cluster, stops its daemons and removes the temporary folder.
cleanup() {
    local status=$?
    local pid
    set +e
    if [ -n "$slurmctld_pid" ] && kill -0 "$slurmctld_pid" 2> /dev/null; then
        scancel --quiet --user=root 2> /dev/null
    fi
    # slurmstepd outlives slurmd, so a job step still running after scancel is killed by its
    # pid. Only steps whose environment names this test's slurm.conf are touched.
    while read -r pid; do
        if grep -qzx "SLURM_CONF=$tmp/etc/slurm.conf" "/proc/$pid/environ" 2> /dev/null; then
            stop_process "$pid"
        fi
    done < <(grep -lx slurmstepd /proc/[0-9]*/comm 2> /dev/null | cut -d / -f 3)
    stop_process "$slurmd_pid"
    stop_process "$slurmctld_pid"
    stop_process "$munged_pid"
    if [ "$status" != 0 ]; then
        print_logs
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'echo "local-test.sh: interrupted by SIGINT" >&2; exit 130' INT
trap 'echo "local-test.sh: interrupted by SIGTERM" >&2; exit 143' TERM

# The jobs run this copy, so a rebuild of target/release during the test cannot change the
# binary between the sharded and the unsharded sweep.
mkdir -p "$tmp/bin" "$tmp/etc" "$tmp/log" "$tmp/state" "$tmp/spool" "$tmp/jobs"
cp target/release/resdepth "$tmp/bin/resdepth"
export RESDEPTH="$tmp/bin/resdepth"

# MUNGE: the munge package's install script normally creates the key, but an image may lack it.
if [ ! -f /etc/munge/munge.key ]; then
    echo "creating /etc/munge/munge.key"
    install -d -o munge -g munge -m 700 /etc/munge
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
fi
install -d -o munge -g munge -m 755 "$tmp/munge"
munge_socket="$tmp/munge/munge.socket"
runuser -u munge -- munged --socket="$munge_socket" --key-file=/etc/munge/munge.key \
    --log-file="$tmp/munge/munged.log" --pid-file="$tmp/munge/munged.pid" \
    --seed-file="$tmp/munge/munged.seed" \
    || fail "munged failed to start (log tail below)"
munged_pid="$(cat "$tmp/munge/munged.pid")"
if ! munge -n -S "$munge_socket" | unmunge -S "$munge_socket" > /dev/null; then
    fail "munge could not encode and decode a credential through $munge_socket"
fi

# Slurm: one node with the cores, sockets and memory that slurmd detects, and no cgroup plugin.
node="$(hostname -s)"
node_line="$(slurmd -C | head -n 1)"
case "$node_line" in
    "NodeName=$node "*) ;;
    *) fail "slurmd -C printed an unexpected node line: $node_line" ;;
esac
export SLURM_CONF="$tmp/etc/slurm.conf"
cat > "$SLURM_CONF" << EOF
ClusterName=resdepth-local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/state/slurmctld.pid
SlurmdPidFile=$tmp/spool/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MailProg=/bin/true
# Keeps finished jobs in slurmctld's memory for 10 minutes, so scontrol can report their state.
MinJobAge=600
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D > "$tmp/log/slurmctld.stderr.log" 2>&1 &
slurmctld_pid=$!
slurmd -D > "$tmp/log/slurmd.stderr.log" 2>&1 &
slurmd_pid=$!

deadline=$((SECONDS + node_timeout_s))
until [ "$(sinfo -h -n "$node" -o %t 2> /dev/null)" = idle ]; do
    if ! kill -0 "$slurmctld_pid" 2> /dev/null; then
        fail "slurmctld exited during startup (log tails below)"
    fi
    if ! kill -0 "$slurmd_pid" 2> /dev/null; then
        fail "slurmd exited during startup (log tails below)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        state="$(sinfo -h -n "$node" -o '%t %E' 2>&1 || true)"
        fail "node $node not idle after $node_timeout_s s (sinfo: ${state:-no output})." \
            "Daemon log tails below."
    fi
    sleep 1
done
echo "slurm node $node is idle"

# One core per shard, so shards run side by side and write into one results folder at once.
# SBATCH_OUTPUT keeps the job output files out of the repository root.
results="$tmp/results"
started=$SECONDS
submitted="$(CPUS_PER_TASK=1 SBATCH_OUTPUT="$tmp/jobs/%x-%A_%a.out" \
    scripts/slurm/submit.sh "$config" "$shards" "$results")"
echo "$submitted"
read -r array_id plot_id < <(
    sed -n 's/^submitted job array \([0-9]*\) .* chart job \([0-9]*\)$/\1 \2/p' <<< "$submitted"
) || true
if [ -z "${array_id:-}" ] || [ -z "${plot_id:-}" ]; then
    fail "could not read the job ids from submit.sh's output: $submitted"
fi

deadline=$((SECONDS + queue_timeout_s))
while [ -n "$(squeue -h -o %i)" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        squeue >&2
        fail "jobs still queued after ${queue_timeout_s} s (log tails below)"
    fi
    sleep 2
done
echo "queue empty after $((SECONDS - started)) s"

# Job states: slurmctld keeps finished jobs for MinJobAge, so this needs no slurmdbd.
failed_jobs=0
for job in "$array_id" "$plot_id"; do
    records="$(scontrol -o show job "$job")" || fail "scontrol show job $job failed"
    while read -r record; do
        state="$(job_field JobState "$record")"
        exit_code="$(job_field ExitCode "$record")"
        if [ "$state" != COMPLETED ] || [ "$exit_code" != 0:0 ]; then
            task="$(job_field ArrayTaskId "$record")"
            output="$(job_field StdOut "$record")"
            echo "job $job${task:+ array task $task} ended $state with exit code $exit_code;" \
                "last lines of $output:" >&2
            tail -n 10 "$output" >&2 || true
            failed_jobs=$((failed_jobs + 1))
        fi
    done <<< "$records"
done
if [ "$failed_jobs" != 0 ]; then
    fail "$failed_jobs Slurm jobs did not complete with exit code 0 (details above)"
fi

# Job output files: each array task and the chart job wrote one.
for ((task = 0; task < shards; task++)); do
    output="$tmp/jobs/resdepth-sweep-${array_id}_${task}.out"
    if [ ! -f "$output" ]; then
        ls -l "$tmp/jobs" >&2
        fail "array task $task wrote no output file $output"
    fi
    # resdepth ends a shard's log with a line such as
    # "smoke shard 0/3: 3 runs completed, 0 diverged, 0 failed (...)".
    summary="^$sweep shard $task/$shards: [0-9]* runs completed, [0-9]* diverged, 0 failed"
    if ! grep -q "$summary" "$output"; then
        cat "$output" >&2
        fail "array task $task output $output has no line matching '$summary'"
    fi
done
plot_outputs=("$tmp/jobs/resdepth-plot-${plot_id}_"*.out)
if [ ! -f "${plot_outputs[0]}" ]; then
    ls -l "$tmp/jobs" >&2
    fail "chart job $plot_id wrote no output file in $tmp/jobs"
fi

# The same sweep without Slurm, to compare metrics with.
reference="$tmp/reference"
reference_log="$tmp/log/reference.log"
if ! "$RESDEPTH" sweep "$config" --results "$reference" --quiet > "$reference_log" 2>&1; then
    cat "$reference_log" >&2
    fail "unsharded resdepth sweep failed (output above)"
fi

partials="$(find "$results/$sweep" -name '*.partial-*')"
if [ -n "$partials" ]; then
    fail "unfinished run folders remain: $partials"
fi
if [ ! -f "$results/$sweep/charts/summary.md" ]; then
    fail "$results/$sweep/charts/summary.md missing: the chart job drew no charts"
fi

python3 - "$results/$sweep" "$reference/$sweep" << 'EOF'
# Checks that sweep.json lists the 8 runs of smoke.toml (4 variants, 2 depths, 1 seed), each
# finished, with metrics equal to the unsharded sweep's except for elapsed_seconds (wall time).
import json
import sys
from pathlib import Path

sharded, reference = Path(sys.argv[1]), Path(sys.argv[2])
run_ids = json.loads((sharded / "sweep.json").read_text())["run_ids"]
if len(run_ids) != 8:
    sys.exit(f"expected 8 run ids in {sharded / 'sweep.json'}, found {len(run_ids)}")
reference_ids = json.loads((reference / "sweep.json").read_text())["run_ids"]
if run_ids != reference_ids:
    sys.exit(f"run ids differ from the unsharded sweep's: {run_ids} != {reference_ids}")


def metrics(path):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        row.pop("elapsed_seconds", None)
    return rows


for run_id in run_ids:
    run = sharded / "runs" / run_id
    if not (run / "summary.json").is_file():
        sys.exit(f"run {run_id} is not finished: {run / 'summary.json'} missing")
    if not metrics(run / "metrics.jsonl"):
        sys.exit(f"run {run_id} has no metrics in {run / 'metrics.jsonl'}")
    if metrics(run / "metrics.jsonl") != metrics(reference / "runs" / run_id / "metrics.jsonl"):
        sys.exit(f"run {run_id}: metrics.jsonl differs from the unsharded sweep's")
EOF

echo "PASS: $shards-task job array and chart job completed on local Slurm node $node in" \
    "$((SECONDS - started)) s; 8 runs match the unsharded sweep"
