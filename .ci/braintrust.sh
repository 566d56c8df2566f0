#!/usr/bin/env bash
# Builds the Braintrust Java SDK driver of the `producers` tests (tests/test_producers.py, source in
# tests/support/producers/braintrust/) with Maven: the SDK from Maven Central, at the version its
# pom.xml pins, into .ci/.braintrust/<version>/ (braintrust-driver.jar and lib/), where the test
# looks. Braintrust's Java SDK is the one that writes braintrust.scores (its Eval's score spans);
# its Python and JS SDKs do not, and its Go SDK is not on the module proxy. Needs java 17 and mvn.
set -euo pipefail
cd "$(dirname "$0")/.."
pom=tests/support/producers/braintrust/pom.xml
version="$(sed -n 's:.*<braintrust.version>\(.*\)</braintrust.version>.*:\1:p' "$pom")"
out=".ci/.braintrust/$version"
if [ -f "$out/braintrust-driver.jar" ] && [ "$out/braintrust-driver.jar" -nt tests/support/producers/braintrust/BraintrustEval.java ] && [ "$out/braintrust-driver.jar" -nt "$pom" ]; then
    echo "braintrust-sdk-java $version driver already built in $out"; exit 0
fi
mkdir -p .ci/.braintrust
echo "*" > .ci/.braintrust/.gitignore
mvn -B -q -f "$pom" -Ddriver.build="$PWD/$out" package dependency:copy-dependencies -DoutputDirectory="$PWD/$out/lib" -DincludeScope=runtime
echo "braintrust-sdk-java $version driver built in $out"
