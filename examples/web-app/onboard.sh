#!/bin/sh
# Onboarding for web-app: run it once on a new machine, and again whenever a step fails.
#
#   ./onboard.sh            asks before changing your rc file; asks for your secrets
#   ./onboard.sh --check    changes nothing; exits 1 when anything is missing (CI, pre-commit)
#   ./onboard.sh --yes      answers yes to every question (secrets are still typed)
#
# DEVSECRETS_PACKAGE says what to install when devsecrets is missing (default: devsecrets;
# a team with its own index or a git URL sets it here).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
package=${DEVSECRETS_PACKAGE:-devsecrets}

if ! command -v devsecrets >/dev/null 2>&1; then
    echo "onboard.sh: devsecrets is not installed; installing $package" >&2
    if command -v pipx >/dev/null 2>&1; then
        pipx install "$package"
    elif python3 -m pip install --user "$package"; then
        :
    else
        echo "onboard.sh: could not install devsecrets: install pipx (Debian/Ubuntu:" \
            "sudo apt install pipx; macOS: brew install pipx), then run this again" >&2
        exit 1
    fi
    # pipx and pip --user put commands in ~/.local/bin, which a fresh shell may not have.
    PATH="$HOME/.local/bin:$PATH"
    export PATH
    if ! command -v devsecrets >/dev/null 2>&1; then
        echo "onboard.sh: devsecrets was installed but is not on PATH: add ~/.local/bin" >&2
        exit 1
    fi
fi

cd "$here"
exec devsecrets onboard --team-policy "$here/team-policy.yml" "$@"
