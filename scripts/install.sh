#!/usr/bin/env bash
# Installs everything FaceProp needs on a Debian machine: the system libraries Qt loads, a virtual
# environment, the CPU build of torch (pinned first so no CUDA build is pulled), then the project
# with its test extras. Safe to run again.
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}

debian_packages=(libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
                 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libglib2.0-0)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in "${debian_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
fi
if ! "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[test]"
echo "FaceProp installed in $VENV"
