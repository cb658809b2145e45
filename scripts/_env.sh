# Sourced by the scripts: makes sure uv is there and the locked environment is installed in .venv.
# Usage: source scripts/_env.sh [requirements.lock|requirements-dev.lock]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export UV_PYTHON_DOWNLOADS=never
lock="${1:-requirements-dev.lock}"
if ! command -v uv >/dev/null 2>&1; then
  echo "scripts: installing uv (the project's package manager) with pip" >&2
  python3 -m pip install --quiet uv >&2
  hash -r
fi
if [ ! -x .venv/bin/python ]; then
  uv venv --quiet --python "$(command -v python3)" .venv
fi
# The lock files pin every package with its hashes; install (not sync) so serve and test share one venv.
uv pip install --quiet --python .venv/bin/python --require-hashes -r "$lock"
uv pip install --quiet --python .venv/bin/python --no-deps -e .
# Bytecode compiled here, once (a no-op run costs ~1.5 s): with PYTHONDONTWRITEBYTECODE set, as on CI machines, every
# process would compile each module it imports again, about half of an `atlas-sa` command's start-up.
.venv/bin/python -m compileall -q -j 0 .venv/lib src >/dev/null
export PATH="$PWD/.venv/bin:$PATH"
