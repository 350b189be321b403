#!/bin/sh
# Installs the system packages ivr needs (Debian/Ubuntu), or says exactly what to run.
# espeak-ng: the speech engine pyttsx3 drives on Linux.
# graphviz: the dot command `ivr graph` draws SVG and PNG diagrams with.
# chromium: the system browser the browser-phone test drives through Playwright (never a downloaded one).
# fonts-wqy-microhei: a Chinese font, so diagrams and screenshots show 中文 rather than boxes.
# wrk: the HTTP load generator bench/webhook.py drives gunicorn with.
set -eu
missing=""
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    missing="$missing fonts-wqy-microhei"
fi
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$missing python3-venv"
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ivr needs:$missing. Install them with your system's package manager, then run make again." >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ivr needs:$missing. Run: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "installing system packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
