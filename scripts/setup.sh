#!/usr/bin/env bash
# Installs everything Ferry needs on a Debian machine: the npm packages and
# the workflow engines from Debian's archive (cwltool, toil, python3-wdlparse).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund
fi

missing=()
command -v cwltool >/dev/null 2>&1 || missing+=(cwltool)
command -v toil-cwl-runner >/dev/null 2>&1 || missing+=(toil)
/usr/bin/python3 -c 'import wdlparse' >/dev/null 2>&1 || missing+=(python3-wdlparse)
# The tests make htpasswd files the way administrators do, with Apache's own tool.
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
# Each run goes in a bubblewrap sandbox (--sandbox auto|bwrap).
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
# The tests drive the real WES clients (wes-client, toil-wes-cwl-runner) with Debian's Python.
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
/usr/bin/python3 -c 'import requests, schema_salad' >/dev/null 2>&1 || missing+=(python3-requests python3-schema-salad)
/usr/bin/python3 -c 'import werkzeug' >/dev/null 2>&1 || missing+=(python3-werkzeug)
# The dashboard and the API docs are tested in Debian's Chromium, driven by playwright-core (no browser download).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing from Debian: ${missing[*]}" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
