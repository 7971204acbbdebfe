#!/usr/bin/env bash
# The local stack's life cycle, end to end: a second `up` downloads nothing, a broker killed
# with -9 comes back with `up`, the registry killed with -9 comes back with its schemas under
# the same ids, `down` leaves no process of ours and frees every port, and a freshly created
# registry has no subjects. Run by scripts/test after the cargo tests (it
# restarts the stack, so nothing else may use it meanwhile). Ends with "N passed, M failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stack_dir=${STACK_DIR:-$root/.stack}
passed=0
failed=0
check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@"; then
    echo "ok - $what"
    passed=$((passed + 1))
  else
    echo "not ok - $what"
    failed=$((failed + 1))
  fi
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT

scripts/stack up > "$out" 2>&1
check "stack up is running" test $? -eq 0
scripts/stack up > "$out" 2>&1
check "a second up exits 0" test $? -eq 0
check "a second up downloads nothing" bash -c "! grep -qiE 'download|install' '$out'"

brokers=$(ls -d "$stack_dir"/node* 2> /dev/null | wc -l)
victim=$brokers
kill -9 "$(cat "$stack_dir/node$victim/pid")"
sleep 1
scripts/stack status > "$out" 2>&1
check "status reports the killed broker (exit 3)" test $? -eq 3
scripts/stack up > "$out" 2>&1
check "up brings the killed broker back" test $? -eq 0
scripts/stack status > "$out" 2>&1
check "status is all up again" test $? -eq 0
check "all $brokers brokers in the metadata" grep -q "metadata: $brokers broker(s)" "$out"

# The registry keeps its schemas: killed with -9 right after it gave an id, and started again
# by `up`, it serves that id with the same schema, and a new schema gets another id.
registry=http://127.0.0.1:8082/apis/ccompat/v7
register() { # subject, schema JSON -> id
  curl -fsS -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data "$(python3 -c 'import json,sys; print(json.dumps({"schema": sys.argv[1]}))' "$2")" \
    "$registry/subjects/$1/versions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
same_schema() { # id, schema JSON: the registry serves that schema under the id
  curl -fsS "$registry/schemas/ids/$1" |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["schema"]; sys.exit(json.loads(s) != json.loads(sys.argv[1]))' "$2"
}
durable='{"type":"record","name":"Durable","fields":[{"name":"kept","type":"string"}]}'
other='{"type":"record","name":"Other","fields":[{"name":"new","type":"long"}]}'
id_kept=$(register "lifecycle-durable-$$-value" "$durable")
kill -9 "$(cat "$stack_dir/registry/pid")"
scripts/stack up > "$out" 2>&1
check "up brings the killed registry back" test $? -eq 0
check "after kill -9 and up, id ${id_kept:-?} serves the same schema" same_schema "$id_kept" "$durable"
id_other=$(register "lifecycle-other-$$-value" "$other")
check "a schema registered after the restart gets a new id (${id_other:-?}, not ${id_kept:-?})" \
  test -n "$id_other" -a "$id_other" != "$id_kept"
check "and the first id still serves its own schema" same_schema "$id_kept" "$durable"

scripts/stack down > "$out" 2>&1
check "down exits 0" test $? -eq 0
# "[k]afka": the pattern must not match the command line of the check itself.
check "no java process of the stack is left" bash -c "! pgrep -f '[k]afka[.]avro[.]daemon[.]stack=$stack_dir' > /dev/null"
check "no TLS terminator of the stack is left" bash -c "! pgrep -f '[s]ocat -lf $stack_dir/' > /dev/null"
ports="9094 9095 9096 19094 19095 19096 9194 9195 9196 8082 18082 8443 8444"
listening() { ss -Hltn | awk '{print $4}' | grep -qE ":($1)\$"; }
check "ports $ports are free" bash -c "$(declare -f listening); ! listening '${ports// /|}'"

scripts/stack up > "$out" 2>&1
check "a new stack comes up" test $? -eq 0
subjects=$(curl -fsS http://127.0.0.1:8082/apis/ccompat/v7/subjects)
check "the new registry answers [] for subjects" test "$subjects" = "[]"
subjects=$(curl -fsS --cacert "$stack_dir/tls/ca.pem" --cert "$stack_dir/tls/client.pem" --key "$stack_dir/tls/client.key" https://127.0.0.1:8444/apis/ccompat/v7/subjects)
check "the new registry answers over mutual TLS with the new CA" test "$subjects" = "[]"

# A process just launched is not taken for one that exited: on a loaded machine the launch's
# subshell may not have exec'd setsid yet when `up` first looks (a fresh machine's first `up`,
# with a build running, said "the schema registry exited during start-up" of a live registry).
# The launch here execs half a second late; `starting` is the stack's own function. Exit 99:
# the function was not found, so neither check passes by accident.
launched() { # DIR SECONDS WAIT -> the status of `starting DIR` (the stack's definitions)
  bash -c 'set -euo pipefail; MARKER_PROP=none
    eval "$(sed -n "/^read_pid()/,/^}/p;/^is_ours()/,/^}/p;/^running()/,/^}/p;/^starting()/,/^}/p" scripts/stack)"
    declare -F starting > /dev/null || exit 99
    d=$1; (sleep 0.5; cd "$d" && exec setsid nohup sleep "$2" < /dev/null > /dev/null 2>&1) &
    echo $! > "$d/pid"
    if [[ $3 == exited ]]; then wait "$!"; else sleep "$3"; fi
    starting "$d"' launched "$1" "$2" "$3"
}
late=$(mktemp -d)
check "a launch that has not exec'd yet counts as starting" launched "$late" 1 0
check "a launched process that exited does not" bash -c "$(declare -f launched); launched '$late' 0 exited; test \$? -eq 1"
rm -rf "$late"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
