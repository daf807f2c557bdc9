#!/usr/bin/env bash
# Installs everything the real-VS-Code harness needs on a fresh Debian bookworm machine whose only
# network access is the npm registry and Debian's apt repositories.
#
# Usage: bash test/e2e/setup.sh [--force]
#
# The script is idempotent: apt packages that are already installed are not touched, and `npm ci` is
# skipped when node_modules was produced from the current package-lock.json by an earlier successful
# run. Pass --force to run `npm ci` anyway.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# Every network-bound step runs under `timeout` (seconds), so a stalled mirror fails the script
# instead of hanging it.
started=$SECONDS
phase_start=$SECONDS
phase() {
  # Prints how long the previous phase took, so the README's timings can be checked on any machine.
  echo "setup.sh: $1 took $((SECONDS - phase_start)) s"
  phase_start=$SECONDS
}

# Debian packages. chromium is the browser that playwright-core drives, libkrb5-dev lets code-server's
# kerberos module compile from source, and ripgrep supplies the rg binary that @vscode/ripgrep would
# otherwise download from GitHub.
apt_packages=(chromium libkrb5-dev ripgrep)
missing=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: missing apt packages (${missing[*]}) and not running as root" >&2
    exit 1
  fi
  echo "setup.sh: installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "setup.sh: apt packages already installed: ${apt_packages[*]}"
fi
phase "apt"

# A node_modules tree built from this exact lockfile needs no second install.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp="node_modules/.circuitscope-e2e-setup"
if ((force == 0)) && [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_hash" ]] &&
  [[ -f node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg ]]; then
  echo "setup.sh: node_modules is up to date with package-lock.json (pass --force to reinstall)"
  phase "npm ci (skipped)"
  echo "setup.sh: done in $((SECONDS - started)) s"
  exit 0
fi

# npm's child processes (install scripts, node-gyp) get a throwaway temporary folder, which also
# holds the @vscode/ripgrep download cache below.
work_tmp="$(mktemp -d -t circuitscope-e2e-setup.XXXXXX)"
trap 'rm -rf "$work_tmp"' EXIT

# @vscode/ripgrep's postinstall (inside code-server's lib/vscode) downloads a release archive from
# api.github.com unless its cache in os.tmpdir() already holds that archive. Debian's rg stands in for
# it; the archive only needs to contain a file named rg.
rg_version=1.15.11
rg_asset=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
if [[ "$(uname -m)" != x86_64 ]]; then
  echo "setup.sh: the ripgrep cache trick is only prepared for x86_64; this is $(uname -m)" >&2
  exit 1
fi
rg_cache="$work_tmp/vscode-ripgrep-cache-$rg_version"
mkdir -p "$rg_cache" "$work_tmp/rg"
cp "$(command -v rg)" "$work_tmp/rg/rg"
tar -czf "$rg_cache/$rg_asset" -C "$work_tmp/rg" rg

# node-gyp downloads Node's headers from nodejs.org unless it is pointed at a local copy. Debian's and
# NodeSource's nodejs packages install them under <prefix>/include/node.
node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [[ -f "$node_prefix/include/node/node_api.h" ]]; then
  export npm_config_nodedir="$node_prefix"
else
  echo "setup.sh: warning: no Node headers under $node_prefix/include/node; node-gyp may try to download them" >&2
fi

# npm_config_yes lets node-pty's postinstall run `npx node-gyp` without a prompt. npm_config_unsafe_perm
# is what code-server's postinstall checks before it agrees to run as root (npm 11 ignores the CLI
# flag). npm_config_dangerously_allow_all_scripts keeps install scripts running. argon2's and kerberos'
# prebuilt downloads fail offline and fall back to source builds by themselves.
echo "setup.sh: running npm ci in $here"
TMPDIR="$work_tmp" \
  npm_config_yes=true \
  npm_config_unsafe_perm=true \
  npm_config_dangerously_allow_all_scripts=true \
  npm_config_fund=false \
  npm_config_audit=false \
  npm_config_update_notifier=false \
  timeout 900 npm ci --no-progress --loglevel=error
phase "npm ci"

if [[ ! -x node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg ]]; then
  echo "setup.sh: code-server's ripgrep binary is missing after npm ci" >&2
  exit 1
fi
echo "$lock_hash" >"$stamp"
echo "setup.sh: done in $((SECONDS - started)) s"
