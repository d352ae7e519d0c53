#!/usr/bin/env bash
# The per-output gpioset supervisor of the gpiod GPIO driver (src/io/gpio/gpiod-output.ts runs it with /bin/bash:
# dash's `wait` can miss a trapped signal that arrives just before it, which hangs a release).
#
# Arguments: GPIOSET CHIP OFFSET SAFE_LEVEL INITIAL_LEVEL
# Protocol: lineside writes `0` or `1` lines to stdin; the supervisor ends the current holder and starts
# `gpioset --mode=signal` with the new level, printing `held LEVEL PID` once it is started and
# `died LEVEL STATUS` if a holder exits by itself (`bad VALUE` for a line it does not understand).
# On stdin EOF (lineside stopped or died, even by SIGKILL) or SIGTERM/SIGINT/SIGHUP it ends the holder and
# drives the safe level once with `gpioset --mode=exit`, so the line is left inactive, never held active by
# an orphan.
#
# One compound command: bash parses all of it before running any, so a file replaced in place during an
# upgrade cannot change what a running supervisor does next (its last act must drive the line safe).
{
  gpioset=$1 chip=$2 offset=$3 safe=$4
  holder=
  release() {
    if [ -n "$holder" ]; then
      kill -TERM "$holder" 2>/dev/null
      wait "$holder" 2>/dev/null
      holder=
    fi
  }
  hold() {
    (
      stopping=
      trap 'stopping=1' TERM
      "$gpioset" --mode=signal "$chip" "$offset=$1" &
      g=$!
      trap 'stopping=1; kill -TERM "$g" 2>/dev/null' TERM
      [ -n "$stopping" ] && kill -TERM "$g" 2>/dev/null
      echo "held $1 $g"
      while :; do
        wait "$g"
        status=$?
        kill -0 "$g" 2>/dev/null || break
      done
      [ -z "$stopping" ] && echo "died $1 $status"
      exit 0
    ) &
    holder=$!
  }
  finish() {
    trap '' TERM INT HUP
    release
    "$gpioset" --mode=exit "$chip" "$offset=$safe"
    exit 0
  }
  trap finish TERM INT HUP
  hold "$5"
  while IFS= read -r value; do
    case "$value" in
      0|1) release; hold "$value" ;;
      *) echo "bad $value" ;;
    esac
  done
  finish
}
