#!/bin/sh
# One-shot: create the namespace and the search attributes the runbooks set (idempotent).
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do sleep 2; done
temporal operator namespace describe --namespace "$ns" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$ns" --retention 30d --address "$TEMPORAL_ADDRESS"
for name in EkmCluster EkmRunbook EkmStep EkmState; do
  temporal operator search-attribute create --namespace "$ns" --name "$name" --type Keyword --address "$TEMPORAL_ADDRESS" 2>/dev/null ||
    echo "search attribute $name exists"
done
