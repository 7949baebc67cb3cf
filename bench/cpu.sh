#!/usr/bin/env bash
# Daemon CPU per minute at default intervals: pgvitals (release, default config) watching the
# large fixture of ../shared/bench for MINUTES (default 6, so the 5-minute table-sizes and
# findings polls are included), idle database, no scrapes. Prints CPU ms per minute and peak RSS;
# compare with postgres_exporter's CPU per scrape (bench/run.sh) × 4 scrapes a minute.
# usage: bench/cpu.sh [MINUTES]
set -euo pipefail
source "$(dirname "$0")/common.sh"
minutes=${1:-6}
build; workdir cpu; start_fixture large
printf 'listen: "127.0.0.1:%s"\ntargets: [{name: cpu, dsn: "%s"}]\n' "$port" "$dsn" > "$out/config.yaml"
start_pgvitals wait
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14+$15}' "/proc/$pid/stat")
sleep $((minutes * 60))
cpu1=$(awk '{print $14+$15}' "/proc/$pid/stat")
polls=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^pgvitals_collector_polls_total/ {p+=$NF} END {print p}')
rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
echo "minutes=$minutes cpu_ms=$(( (cpu1 - cpu0) * 1000 / ticks )) cpu_ms_per_minute=$(( (cpu1 - cpu0) * 1000 / ticks / minutes )) polls=$polls peak_rss_mib=$rss"
