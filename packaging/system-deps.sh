#!/usr/bin/env bash
# Install the Debian packages Qt's xcb platform, Xvfb and the screenshot test need, if missing.
#
# PySide6 wheels ship Qt itself but load the X11/GL/font libraries from the system. On a fresh
# Debian these are absent and the app aborts with "could not load the Qt platform plugin xcb".
# Only root can install them; anyone else gets the list and a non-fatal warning (tests that need
# Xvfb then skip with a reason).
#
# Usage: packaging/system-deps.sh            install what is missing (root), warn otherwise
#        packaging/system-deps.sh --venv     also make `python3 -m venv` work (python3-venv)
#        packaging/system-deps.sh --check    list what is missing, exit 1 if anything is
set -euo pipefail

QT_RUNTIME=(
    libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0
    libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0 libxkbcommon-x11-0
    libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core
)
# Xvfb for windowless machines; xauth for xvfb-run; imagemagick (`import`) and x11-utils
# (`xwininfo`) for tests/test_screenshot.py.
X_TOOLS=(xvfb xauth x11-utils imagemagick)

mode=install
for arg in "$@"; do
    case "$arg" in
        --check) mode=check ;;
        --venv) want_venv=1 ;;
        *) echo "usage: $0 [--check] [--venv]" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "system-deps: not a Debian-based system; install Qt's xcb libraries and Xvfb yourself." >&2
    exit 0
fi

wanted=("${QT_RUNTIME[@]}" "${X_TOOLS[@]}")
if [[ "${want_venv:-0}" == 1 ]]; then
    wanted+=(python3-venv)
    # the versioned package exists where python3.11 is a Debian python (bookworm); elsewhere skip
    if command -v python3.11 >/dev/null 2>&1 && apt-cache show python3.11-venv >/dev/null 2>&1; then
        wanted+=(python3.11-venv)
    fi
fi

missing=()
for pkg in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ "$mode" == check ]]; then
    echo "${missing[*]}"
    exit 1
fi
if [[ "$(id -u)" != 0 ]]; then
    echo "system-deps: WARNING: missing Debian packages (run as root or: sudo apt-get install" \
        "--no-install-recommends ${missing[*]})" >&2
    exit 0
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    # a name may not exist on this release (e.g. libglib2.0-0t64 on trixie): take what exists
    echo "system-deps: batch install failed; installing one by one" >&2
    for pkg in "${missing[@]}"; do
        apt-get install -y -qq --no-install-recommends "$pkg" \
            || echo "system-deps: WARNING: could not install $pkg" >&2
    done
fi
