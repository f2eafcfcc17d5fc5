#!/bin/sh
# troupe-stop-post UNIT: troupe.service's ExecStopPost=, run as root ("+").
#
# systemd counts every start of a unit towards StartLimitBurst=, the restarts
# Restart=/RestartForceExitStatus= make included (systemd.unit(5)). The bot
# exits with status 75 after it switched /opt/troupe/current (or its watchdog
# switched it back): that restart is a first start of another release, not a
# failed start. So on status 75 this flushes the unit's start-rate counter
# ("systemctl reset-failed ... will cause the restart rate counter for a
# service to be flushed", systemd.unit(5)) before systemd restarts it. A new
# release that then fails to start StartLimitBurst times still hits the limit
# and troupe-rollback.service (OnFailure=) takes it back.
#
# systemd sets EXIT_CODE and EXIT_STATUS for ExecStop= and ExecStopPost=
# (systemd.exec(5)): "exited" and the status, or "killed"/"dumped" and the signal.
set -eu

unit=${1:-troupe.service}
if [ "${EXIT_CODE:-}" = exited ] && [ "${EXIT_STATUS:-}" = 75 ]; then
    echo "troupe-stop-post: $unit asked for its restart (status 75); start limit counter reset" >&2
    exec systemctl reset-failed "$unit"
fi
