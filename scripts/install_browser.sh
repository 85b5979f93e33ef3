#!/usr/bin/env bash
# Install headless Chromium and its driver for tests/test_browser.py (Debian / Ubuntu), and a
# local copy of MathJax 3 (npm's mathjax@3 package) under _build/browser/mathjax, which the test
# serves in place of the CDN so that the formula check also runs on a machine without internet.
# Idempotent: skips what is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MATHJAX_DIR="$ROOT/_build/browser/mathjax"

install_mathjax() {
  if [ -f "$MATHJAX_DIR/es5/tex-mml-chtml.js" ]; then
    echo "install_browser: MathJax already in _build/browser/mathjax"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "install_browser: no npm, so no local MathJax; the formula check needs the CDN (internet)"
    return 0
  fi
  local tmp
  tmp="$(mktemp -d)"
  if (cd "$tmp" && npm pack --silent mathjax@3 >/dev/null 2>&1); then
    mkdir -p "$MATHJAX_DIR"
    tar -xzf "$tmp"/mathjax-*.tgz -C "$MATHJAX_DIR" --strip-components=1
    echo "install_browser: MathJax $(grep -m1 '"version"' "$MATHJAX_DIR/package.json" | tr -dc '0-9.') in _build/browser/mathjax"
  else
    echo "install_browser: npm could not fetch mathjax@3; the formula check needs the CDN (internet)"
  fi
  rm -rf "$tmp"
}
trap install_mathjax EXIT

for exe in chromium chromium-browser google-chrome; do
  if command -v "$exe" >/dev/null 2>&1; then
    echo "install_browser: $exe already installed ($("$exe" --version 2>/dev/null || echo unknown version))"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: no chromium found and no apt-get; install Chromium by hand" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install_browser: need root (or sudo) to apt-get install chromium" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian names the packages chromium / chromium-driver; Ubuntu's chromium-browser is a snap stub.
$SUDO apt-get install -y -qq chromium chromium-driver || $SUDO apt-get install -y -qq chromium-browser
echo "install_browser: installed $(chromium --version 2>/dev/null || chromium-browser --version)"
