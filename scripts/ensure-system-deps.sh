#!/usr/bin/env bash
# Shared setup steps for the Makefile. Idempotent: does nothing when everything is already there.
#
#   scripts/ensure-system-deps.sh [--venv DIR] [--graphviz] [--chromium]
#
#   --venv DIR   create a Python virtual environment in DIR (with $PYTHON, default python3) if missing
#   --graphviz   make sure Graphviz's `dot` is on PATH: apt-get install it when root, else fail with a hint
#   --chromium   make sure Chromium + chromedriver are there for the browser test: apt-get install them
#                when root, else only warn (tests marked `browser` skip themselves)
#
# Nothing is registered globally (no Jupyter kernels, no user-level config).
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

venv="" graphviz=0 chromium=0
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) venv="${2:?--venv needs a directory}"; shift 2 ;;
        --graphviz) graphviz=1; shift ;;
        --chromium) chromium=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "ensure-system-deps: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

say() { echo "ensure-system-deps: $*" >&2; }

can_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ -n "$venv" ] && [ ! -x "$venv/bin/python" ]; then
    py="${PYTHON:-python3}"
    say "creating virtual environment $venv with $py"
    "$py" -m venv "$venv"
fi

if [ "$graphviz" -eq 1 ] && ! command -v dot >/dev/null 2>&1; then
    if can_apt; then
        apt_install graphviz
    else
        say "Graphviz 'dot' not found: install Graphviz (apt install graphviz / brew install graphviz)"
        exit 1
    fi
    command -v dot >/dev/null 2>&1 || { say "Graphviz installed but 'dot' is still not on PATH"; exit 1; }
fi

if [ "$chromium" -eq 1 ] && ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
    if can_apt; then
        apt_install chromium chromium-driver
    else
        say "warning: chromium/chromedriver not found and not root; tests marked 'browser' will skip" \
            "(install them with: apt install chromium chromium-driver)"
    fi
fi
