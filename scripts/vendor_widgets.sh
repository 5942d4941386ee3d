#!/usr/bin/env bash
# Refresh the vendored widget JavaScript in _widgets_static/ipywidgets from the npm registry.
set -euo pipefail
dest="$(cd "$(dirname "$0")/.." && pwd)/_widgets_static/ipywidgets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8 mathjax@3.2.2 > /dev/null
tar xzf jupyter-widgets-html-manager-1.0.15.tgz && mv package html-manager
tar xzf requirejs-2.3.8.tgz && mv package requirejs
cp requirejs/require.js html-manager/dist/embed-amd.js html-manager/dist/*.woff2 html-manager/dist/*.woff "$dest/"
cp html-manager/dist/embed.js.LICENSE.txt "$dest/embed-amd.js.LICENSE.txt"
tar xzf mathjax-3.2.2.tgz && mv package mathjax
math="$dest/../mathjax"
mkdir -p "$math/output/chtml/fonts"
cp mathjax/es5/tex-mml-chtml.js mathjax/LICENSE "$math/"
cp -r mathjax/es5/output/chtml/fonts/woff-v2 "$math/output/chtml/fonts/"
echo "refreshed $dest"
