# Sourced by the scripts: find Python 3.11+, create or reuse .venv, install the project with its dev
# extra when pyproject.toml changed since the last install, and activate it.
venv=${EVOLINK_VENV:-.venv}
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (tried '$python'; set PYTHON to choose another)." >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.evolink-installed"
want=$(cat pyproject.toml | "$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "== installing the project and its dev extra into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
  echo "$want" >"$stamp"
fi
# Python 3.12.1's and 3.13.0's activate scripts read $OSTYPE unguarded, which `set -u` refuses.
set +u
. "$venv/bin/activate"
set -u
