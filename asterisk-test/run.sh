#!/bin/sh
# Start a loopback-only Asterisk with the dialerd test configuration.
#   asterisk-test/run.sh PREFIX RUN_DIR
# PREFIX: where Asterisk is installed (PREFIX/sbin/asterisk); RUN_DIR: a scratch directory.
# Then: DIALERD_TEST_AMI=127.0.0.1:5038:dialer:dialerpass .venv/bin/pytest -m asterisk tests/component
set -eu
PREFIX=${1:?usage: run.sh PREFIX RUN_DIR}
RUN_DIR=${2:?usage: run.sh PREFIX RUN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$RUN_DIR/etc" "$RUN_DIR/cache" "$RUN_DIR/varlib" "$RUN_DIR/agi" "$RUN_DIR/spool" \
         "$RUN_DIR/run" "$RUN_DIR/log/cdr-csv" "$RUN_DIR/moh"
for f in "$HERE"/etc/*.conf; do
    sed -e "s#@RUN_DIR@#$RUN_DIR#g" -e "s#@PREFIX@#$PREFIX#g" "$f" > "$RUN_DIR/etc/$(basename "$f")"
done
SOUNDS="$PREFIX/var/lib/asterisk/sounds/en"
for p in tt-monkeys.gsm demo-congrats.gsm; do
    [ -e "$SOUNDS/$p" ] && ln -sf "$SOUNDS/$p" "$RUN_DIR/moh/$p"
done
exec "$PREFIX/sbin/asterisk" -C "$RUN_DIR/etc/asterisk.conf" -f -n
