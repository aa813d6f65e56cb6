#!/usr/bin/env bash
# Writes argocd-cm.yaml from health/*.lua (run after editing a script; the packaging tests
# fail when the snippet and the scripts differ).
#
#   bash config/argocd/generate-argocd-cm.sh
set -euo pipefail
cd "$(dirname "$0")"
indent() { sed 's/^/    /; s/^ *$//' "$1"; }
{
  cat <<'HEAD'
# Argo CD settings for remotion-operator's resources: a health check per kind and the status
# fields whose updates must not trigger an application refresh. Merge `data` into the
# `argocd-cm` ConfigMap of your Argo CD install (kubectl patch, kustomize patch, or the
# argo-cd Helm chart's `configs.cm`). Generated from health/*.lua by generate-argocd-cm.sh;
# tests/tests/it/packaging_argocd.rs runs the cases of tests/ through these scripts.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
HEAD
  for kind in LambdaBucket RenderFunction RemotionSite; do
    echo "  resource.customizations.health.remotion-operator.io_${kind}: |"
    indent health/infrastructure.lua
  done
  echo "  resource.customizations.health.remotion-operator.io_RenderJob: |"
  indent health/renderjob.lua
  cat <<'TAIL'
  # RenderJob progress and cost change every few seconds while a render runs; without this
  # every write would refresh the application. An update that changes the resource's health
  # (Progressing → Healthy, Degraded, Suspended) still refreshes it.
  resource.ignoreResourceUpdatesEnabled: "true"
  resource.customizations.ignoreResourceUpdates.remotion-operator.io_RenderJob: |
    jsonPointers:
      - /status/progress
      - /status/cost
TAIL
} > argocd-cm.yaml
