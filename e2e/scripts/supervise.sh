#!/usr/bin/env bash
# Keeps one control-plane process of `fed up` running, as a node's kubelet keeps its static control-plane pods: when
# the process exits on its own it is started again with the same arguments, after a back-off like the kubelet's
# (1 s, doubling to 10 s, back to 1 s once a run lasted 30 s), and the exit is written to the log (this script's
# output is the process's log).
#
# usage: supervise.sh STATUS_FILE EXE [ARGS...]
# STATUS_FILE receives {"pid": <the running process>, "restarts": <how many times it was started again>}.
#
# Why a bash loop that `fed up` records in place of the process, in the process's own group: everything that signals
# a recorded process signals its group, so it reaches this loop and its child alike. SIGTERM (stopProcesses, `fed
# down`, restartProcess) stops both, and the trap below keeps the loop from starting the child again: a deliberate stop
# is never undone. SIGSTOP/SIGCONT (`fed fail`/`heal`) freeze and resume both. SIGKILL ends both. Bash rather than
# Node: a dozen supervisors cost ~3 MiB each instead of ~40.
set -u
status=$1
shift
stopping=0
trap 'stopping=1' TERM INT HUP
restarts=0
delay=1
child=
write_status() {
  printf '{"pid":%s,"restarts":%s}\n' "$child" "$restarts" >"$status.tmp" && mv -f "$status.tmp" "$status"
}
while :; do
  # A stop that came before this start (or during the back-off) is a stop: do not start the process again.
  [ "$stopping" -eq 1 ] && exit 0
  started=$SECONDS
  "$@" &
  child=$!
  # A stop that came while the process was being forked reached the group before the child was in it: pass it on.
  [ "$stopping" -eq 1 ] && kill -TERM "$child" 2>/dev/null
  write_status
  # A trapped signal ends `wait` early; wait again until the child itself has ended, then take its own status.
  while wait "$child"; rc=$?; kill -0 "$child" 2>/dev/null; do :; done
  wait "$child" 2>/dev/null
  last=$?
  [ "$last" -ne 127 ] && rc=$last
  [ "$stopping" -eq 1 ] && exit 0
  if [ "$rc" -gt 128 ]; then how="signal $(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"; else how="code $rc"; fi
  ran=$((SECONDS - started))
  [ "$ran" -ge 30 ] && delay=1
  restarts=$((restarts + 1))
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) fed-supervise: $1 exited ($how) after ${ran}s; starting it again in ${delay}s (restart $restarts)"
  sleep "$delay" &
  wait $! # a stop during the back-off ends it here
  [ "$stopping" -eq 1 ] && exit 0
  delay=$((delay * 2 > 10 ? 10 : delay * 2))
done
