#!/usr/bin/env bash
# AlexNet Lab quick start.
#   bash run.sh app    set up .venv (first time only) and start the app
#   bash run.sh test   set up .venv (first time only) and run the tests
#   bash run.sh download cifar10|imagenet-weights   fetch the full CIFAR-10 / the ImageNet weights
#   bash run.sh page-data   remake pretrained/page_data.pt and featvis.pt after retraining the shipped model
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ] || ! cmp -s requirements.txt .venv/.requirements 2>/dev/null; then
  echo "setting up .venv (the first time downloads torch: a few minutes)"
  "$PY" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r requirements.txt
  cp requirements.txt .venv/.requirements
fi
case "${1:-}" in
  app) shift; exec .venv/bin/python -m app.serve "$@" ;;  # streamlit run, with the model loaded first
  test) shift; exec .venv/bin/python -m pytest -q "$@" ;;
  download) shift; exec .venv/bin/python -m alexnet.download "$@" ;;
  page-data) shift; exec .venv/bin/python -m analysis.page_data build "$@" ;;
  *) echo "usage: bash run.sh app|test|download cifar10|download imagenet-weights|page-data" >&2; exit 2 ;;
esac
