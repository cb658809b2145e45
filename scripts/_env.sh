# Sourced by the scripts: makes sure uv is there and the locked environment is installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export UV_PYTHON_DOWNLOADS=never
if ! command -v uv >/dev/null 2>&1; then
  echo "scripts: installing uv (the project's package manager) with pip" >&2
  python3 -m pip install --quiet uv >&2
  hash -r
fi
uv sync --frozen --quiet
