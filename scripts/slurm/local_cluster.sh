#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests, CI and users (`make slurm`).
#
#   scripts/slurm/local_cluster.sh start    # = make slurm       (idempotent)
#   scripts/slurm/local_cluster.sh stop     # = make slurm-stop
#   scripts/slurm/local_cluster.sh status   # = make slurm-status (exit 0 when the node is up)
#
# start installs Debian's slurm-wlm and munge with apt-get when they are missing (root only),
# creates a munge key when there is none, writes a one-node slurm.conf into a folder of its own,
# $BENIGN_SLURM_DIR (default /tmp/benign-slurm), starts munged, slurmctld and slurmd (no
# systemd; pid files, logs and state under that folder) and waits until the node is idle.
#
# Where the clients find the config: Debian's sbatch/squeue/srun/... read /etc/slurm/slurm.conf
# unless SLURM_CONF is set (without either they try a DNS SRV lookup and fail). start links
# /etc/slurm/slurm.conf -> $BENIGN_SLURM_DIR/slurm.conf, so plain `sbatch job.sh` works after
# `make slurm`. If /etc/slurm/slurm.conf already exists and is not ours, it is left alone and
# start says to `export SLURM_CONF=$BENIGN_SLURM_DIR/slurm.conf` instead.
#
# The cluster: node `hostname -s` at 127.0.0.1 with the machine's CPUs (nproc) and its memory less
# some headroom; one partition `debug` (Default, MaxTime=INFINITE); cons_tres with CR_CPU_Memory
# and DefMemPerCPU = the node's memory / CPUs, so 1-CPU jobs run side by side, one per CPU; no
# cgroups (proctrack/linuxproc, task/none), no accounting; SlurmUser=root, so jobs are
# submitted as root; requeue allowed (`scontrol requeue`, sbatch --requeue); finished jobs stay
# visible to squeue/scontrol for MinJobAge=30 s. munged runs as the owner of the munge key
# (Debian: user munge) on its default socket /run/munge/munge.socket.2; a munged that already
# answers there is used, not started (and not stopped by `stop`).
#
# stop ends only the daemons start started (by their pid files) and removes nothing else.
set -euo pipefail

DIR=${BENIGN_SLURM_DIR:-/tmp/benign-slurm}
CONF=$DIR/slurm.conf
ETC_CONF=/etc/slurm/slurm.conf
MARKER="# Written by benign's scripts/slurm/local_cluster.sh"
PACKAGES=(slurm-wlm munge)
MUNGE_KEY=/etc/munge/munge.key
MUNGE_SOCKET_DIR=/run/munge
WAIT_S=${BENIGN_SLURM_WAIT_S:-60}
export SLURM_CONF=$CONF

say() { echo "slurm: $*"; }

# alive PIDFILE NAME: the pid file names a running process called NAME (guards against reuse).
alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2"* ]]
}

node_name() { hostname -s; }

# The node's state as sinfo reports it (idle, mix, alloc, down*, drain, ...); empty if no answer.
node_state() {
    timeout 10 sinfo --noheader --nodes "$(node_name)" --format %t 2>/dev/null | head -n1 | tr -d ' ' || true
}

node_up() {
    case $(node_state) in idle | mix | mixed | alloc | allocated | comp | completing) return 0 ;; esac
    return 1
}

# Whether a TCP port on 127.0.0.1 accepts connections (SlurmctldPort 6817, SlurmdPort 6818).
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

munge_answers() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

need_root() {
    [[ $(id -u) == 0 ]] && return 0
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n env BENIGN_SLURM_DIR="$DIR" BENIGN_SLURM_WAIT_S="$WAIT_S" "$0" "$@"
    fi
    return 1
}

missing_packages() {
    local p out=()
    for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || out+=("$p"); done
    # Without dpkg (not Debian) the binaries are what counts.
    if ! command -v dpkg >/dev/null 2>&1; then
        out=()
        for p in slurmctld slurmd sbatch munged; do
            command -v "$p" >/dev/null 2>&1 || [[ -x /usr/sbin/$p ]] || out+=("$p")
        done
    fi
    echo "${out[*]}"
}

install_packages() {
    local missing
    missing=$(missing_packages)
    [[ -z $missing ]] && return 0
    if [[ $(id -u) != 0 ]]; then
        say "$missing not installed and not root: run \`sudo make slurm\` (or \`sudo apt-get install slurm-wlm munge\`, then \`make slurm\`)"
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "$missing not installed and no apt-get here: install SLURM (slurmctld, slurmd, client commands) and munge with this system's package manager, then run \`make slurm\`"
        exit 1
    fi
    say "installing Debian's ${PACKAGES[*]} with apt-get"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${PACKAGES[@]}" >/dev/null); then
        say "apt-get could not install ${PACKAGES[*]} (no package registry reachable?): install them, then run \`make slurm\`"
        exit 1
    fi
}

munge_key() {
    [[ -s $MUNGE_KEY ]] && return 0
    mkdir -p "$(dirname "$MUNGE_KEY")"
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile="$MUNGE_KEY" --force >/dev/null
    else
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
    if getent passwd munge >/dev/null; then
        chown munge:munge "$(dirname "$MUNGE_KEY")" "$MUNGE_KEY"
    fi
    chmod 0700 "$(dirname "$MUNGE_KEY")"
    chmod 0400 "$MUNGE_KEY"
    say "created munge key $MUNGE_KEY"
}

# The config for this machine, on stdout.
render_conf() {
    local node cpus mem_mb headroom real def_mem
    node=$(node_name)
    cpus=$(nproc)
    mem_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
    headroom=$((mem_mb / 10 > 1024 ? mem_mb / 10 : 1024)) # 10 %, at least 1 GiB
    real=$((mem_mb - headroom > 256 ? mem_mb - headroom : mem_mb / 2))
    def_mem=$((real / cpus))
    cat <<EOF
$MARKER (\`make slurm\`); rewritten by it.
# A one-node cluster without cgroups or accounting, for tests, CI and users. Daemons: as root.
ClusterName=benign
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it starts again (default 120).
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# Look at pending jobs every 2 s (default 60 s / 30 s): a requeued job, eligible again after
# cred_expire, would otherwise wait for the next pass.
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$def_mem
ReturnToService=2
JobRequeue=1
MinJobAge=30
KillWait=5
InactiveLimit=0
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
StateSaveLocation=$DIR/state/slurmctld
SlurmdSpoolDir=$DIR/state/slurmd
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus RealMemory=$real State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

# Point Debian's default client config at ours unless someone else's config lives there.
link_etc_conf() {
    if [[ -L $ETC_CONF ]]; then
        [[ $(readlink "$ETC_CONF") == "$CONF" ]] && return 0
        # A dangling link, or one to a config with our marker (another BENIGN_SLURM_DIR): ours.
        [[ ! -e $ETC_CONF ]] || grep -qF "$MARKER" "$ETC_CONF" || return 1
    elif [[ -e $ETC_CONF ]]; then
        grep -qF "$MARKER" "$ETC_CONF" || return 1
    fi
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -sfn "$CONF" "$ETC_CONF"
}

client_hint() {
    if [[ $(readlink "$ETC_CONF" 2>/dev/null) == "$CONF" ]]; then
        echo "clients read it through $ETC_CONF"
    else
        echo "$ETC_CONF is someone else's: export SLURM_CONF=$CONF"
    fi
}

start_munged() {
    munge_answers && return 0
    local user pid_file=$DIR/munge/munged.pid
    user=$(stat -c %U "$MUNGE_KEY")
    mkdir -p "$DIR/munge" "$MUNGE_SOCKET_DIR"
    chown "$user:" "$DIR/munge" "$MUNGE_SOCKET_DIR"
    chmod 0700 "$DIR/munge"
    chmod 0755 "$MUNGE_SOCKET_DIR"
    local cmd=(munged --pid-file="$pid_file" --log-file="$DIR/munge/munged.log"
        --seed-file="$DIR/munge/munged.seed")
    if [[ $user == root ]]; then "${cmd[@]}"; else runuser -u "$user" -- "${cmd[@]}"; fi
    for _ in $(seq 50); do munge_answers && return 0; sleep 0.1; done
    say "munged did not answer; see $DIR/munge/munged.log: $(tail -n1 "$DIR/munge/munged.log" 2>/dev/null)"
    exit 1
}

cmd_start() {
    local t0=$EPOCHREALTIME
    need_root start || {
        say "the daemons run as root (SlurmUser=root) and this is uid $(id -u) without passwordless sudo: run \`sudo make slurm\`"
        exit 1
    }
    if alive "$DIR/run/slurmctld.pid" slurmctld && alive "$DIR/run/slurmd.pid" slurmd &&
        munge_answers && node_up; then
        link_etc_conf || true
        local note=""
        render_conf | cmp -s - "$CONF" || note="; the config for this machine changed: make slurm-stop && make slurm applies it"
        say "already up: node $(node_name) $(node_state) in partition debug; config $CONF, $(client_hint)$note"
        return 0
    fi
    install_packages
    munge_key
    mkdir -p "$DIR/state/slurmctld" "$DIR/state/slurmd" "$DIR/run" "$DIR/log"
    render_conf >"$CONF.new" && mv "$CONF.new" "$CONF"
    start_munged
    if ! alive "$DIR/run/slurmctld.pid" slurmctld; then
        if port_open 6817; then
            say "something this script did not start from $DIR listens on slurmctld's port 127.0.0.1:6817 (a cluster of another BENIGN_SLURM_DIR, or a system SLURM): stop that first"
            exit 1
        fi
        slurmctld -f "$CONF" || { say "slurmctld failed to start: $(tail -n1 "$DIR/log/slurmctld.log" 2>/dev/null)"; exit 1; }
    fi
    if ! alive "$DIR/run/slurmd.pid" slurmd; then
        if port_open 6818; then
            say "something this script did not start from $DIR listens on slurmd's port 127.0.0.1:6818 (a slurmd of another BENIGN_SLURM_DIR, or a system SLURM): stop that first"
            exit 1
        fi
        slurmd -f "$CONF" || { say "slurmd failed to start: $(tail -n1 "$DIR/log/slurmd.log" 2>/dev/null)"; exit 1; }
    fi
    local state="" resumed=0 deadline=$((SECONDS + WAIT_S))
    while ((SECONDS < deadline)); do
        state=$(node_state)
        node_up && break
        # A node drained or down in the saved state of an earlier run: bring it back once.
        if ((!resumed)) && [[ $state == drain* || $state == drng* || $state == down ]]; then
            scontrol update nodename="$(node_name)" state=resume >/dev/null 2>&1 || true
            resumed=1
        fi
        sleep 0.5
    done
    if ! node_up; then
        say "node $(node_name) not up after ${WAIT_S} s (sinfo: ${state:-no answer}); logs in $DIR/log: $(tail -n1 "$DIR/log/slurmctld.log" 2>/dev/null)"
        exit 1
    fi
    link_etc_conf || true
    say "up in $(awk "BEGIN {printf \"%.1f\", $EPOCHREALTIME - $t0}") s: munged, slurmctld, slurmd; node $(node_name) ($(nproc) CPUs) idle in partition debug; config $CONF, $(client_hint); stop with make slurm-stop"
}

stop_one() { # PIDFILE NAME
    alive "$1" "$2" || return 1
    local pid
    pid=$(<"$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$1"
    stopped+=("$2 ($pid)")
}

cmd_stop() {
    need_root stop || { say "not root: run \`sudo make slurm-stop\`"; exit 1; }
    local stopped=()
    stop_one "$DIR/run/slurmd.pid" slurmd || true
    stop_one "$DIR/run/slurmctld.pid" slurmctld || true
    stop_one "$DIR/munge/munged.pid" munged || true
    if ((${#stopped[@]})); then
        local list
        list=$(printf '%s, ' "${stopped[@]}")
        say "stopped ${list%, }; config, state and logs stay in $DIR"
    else
        say "none of its daemons was running (pid files in $DIR)"
    fi
}

cmd_status() {
    local d line=()
    for d in munged slurmctld slurmd; do
        local f=$DIR/run/$d.pid
        [[ $d == munged ]] && f=$DIR/munge/munged.pid
        if alive "$f" "$d"; then line+=("$d $(<"$f")"); else line+=("$d -"); fi
    done
    local state=""
    port_open 6817 && state=$(node_state) # sinfo takes 9 s to give up on a closed port
    if [[ $state =~ ^(idle|mix|mixed|alloc|allocated|comp|completing)$ ]]; then
        say "up: node $(node_name) $state in partition debug (${line[*]}); config $CONF, $(client_hint)"
    else
        say "down: node $(node_name) ${state:-no answer} (${line[*]}); make slurm starts it"
        return 1
    fi
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
    echo "usage: $0 start|stop|status   (cluster folder: \$BENIGN_SLURM_DIR, now $DIR)" >&2
    exit 2
    ;;
esac
