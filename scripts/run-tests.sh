#!/usr/bin/env bash
# Runs the whole jest suite and ends with one plain summary line
# ("N passed, N failed, N skipped") that any CI can read.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-artifacts
# --forceExit: a suite that dies before its afterAll (a worker that cannot report its failure) must not leave
# the run waiting on the kernel capture it still holds; its failure is reported all the same.
npx jest --ci --forceExit --json --outputFile=test-artifacts/jest-results.json "$@"
status=$?
node -e '
const r = require("./test-artifacts/jest-results.json");
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || status=1
exit $status
