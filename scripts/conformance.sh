#!/usr/bin/env bash
# `make conformance`: the CWL v1.2 conformance tests (required ones, no Docker) through Ferry with
# Toil's own client, toil-wes-cwl-runner, unchanged — as Toil's CI runs them through Toil's server.
# Ferry is started with its default settings on a free port, over a fresh work folder, and stopped
# afterwards. A failed test is run once more on its own before it counts (a noisy machine must not
# decide); the reruns are reported. Exits 1 below the target.
#
#   FERRY_CONFORMANCE_KIT     the kit (cwl-conformance-through-wes, the clients, cwltest, cwl-v1.2);
#                             default ../shared/third_party beside this repository
#   FERRY_CONFORMANCE_ENGINE  cwltool (default) or toil: the engine CWL runs on (--default-engine)
#   FERRY_CONFORMANCE_TARGET  passes needed (default 81 of the 84 required tests)
set -uo pipefail
cd "$(dirname "$0")/.."
kit=${FERRY_CONFORMANCE_KIT:-../shared/third_party}
engine=${FERRY_CONFORMANCE_ENGINE:-cwltool}
target=${FERRY_CONFORMANCE_TARGET:-81}
runner="$kit/cwl-conformance-through-wes"
[ -x "$runner" ] || { echo "conformance: no kit at $kit (set FERRY_CONFORMANCE_KIT)" >&2; exit 2; }

# What the kit runs on that `make setup` does not install: cwltest's Python modules, and `python`, which
# some tests run (inside a run's sandbox only the system's own is there; Debian: python-is-python3).
missing=()
/usr/bin/python3 -c 'import werkzeug' >/dev/null 2>&1 || missing+=(python3-werkzeug)
/usr/bin/python3 -c 'import junit_xml' >/dev/null 2>&1 || missing+=(python3-junit.xml)
/usr/bin/python3 -c 'import defusedxml' >/dev/null 2>&1 || missing+=(python3-defusedxml)
[ -e /usr/bin/python ] || missing+=(python-is-python3)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "conformance: installing from Debian: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

work=$(mktemp -d)
port=$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
node --import tsx src/cli.ts serve --host 127.0.0.1 --port "$port" --work-dir "$work/ferry" \
  --default-engine "CWL=$engine" --log-level warn >"$work/server.log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null
  # The runs outlive the server by design; not these: supervisors name the work folder, engines and tools keep their scratch in it.
  pkill -KILL -f "$work/ferry" 2>/dev/null
  for p in /proc/[0-9]*; do grep -qzF "$work/ferry" "$p/environ" 2>/dev/null && kill -KILL "${p#/proc/}" 2>/dev/null; done
  rm -rf "$work"
}
trap stop EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 600); do
  curl -fsS "$url/engine/v1/status" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "conformance: Ferry did not start:" >&2; cat "$work/server.log" >&2; exit 2; }
  sleep 0.1
done

echo "conformance: Ferry at $url (CWL on $engine), kit $kit" >&2
"$runner" "$url" --tags required --junit-xml="$work/first.xml" >"$work/first.log" 2>&1
tail -n 3 "$work/first.log" >&2

# What failed the first time, by short name.
failed() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
for case in root.iter('testcase'):
    if case.find('failure') is not None or case.find('error') is not None:
        # cwltest writes the test's doc as the name and its short name as the file.
        print(case.get('file') or case.get('name'))
PY
}
total_of() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = list(root.iter('testcase'))
bad = [c for c in cases if c.find('failure') is not None or c.find('error') is not None or c.find('skipped') is not None]
print(len(cases), len(cases) - len(bad))
PY
}
[ -s "$work/first.xml" ] || { echo "conformance: the run left no report:" >&2; tail -n 30 "$work/first.log" >&2; exit 2; }
read -r total passed < <(total_of "$work/first.xml")
mapfile -t first_failed < <(failed "$work/first.xml")
recovered=0
for name in "${first_failed[@]}"; do
  [ -n "$name" ] || continue
  # Passed only if that one test ran and passed (a name cwltest does not know must not count).
  if "$runner" "$url" -s "$name" >"$work/rerun.log" 2>&1 && grep -q "All tests passed" "$work/rerun.log" && grep -q "^Test \[" "$work/rerun.log"; then
    echo "conformance: rerun of $name passed" >&2
    recovered=$((recovered + 1))
  else
    echo "conformance: $name failed twice" >&2
  fi
done
passed=$((passed + recovered))
echo "conformance: $passed of $total passed through Ferry on $engine ($recovered after a rerun); target $target"
[ "$passed" -ge "$target" ]
