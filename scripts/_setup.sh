# Shared install steps for scripts/test and scripts/demo (sourced, not run).
# Idempotent: a second run only checks what is already there.

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# install_system_packages PKG...: Debian packages plus what the scripts themselves use.
install_system_packages() {
  local wanted=("$@") missing=()
  command -v node >/dev/null 2>&1 || wanted+=(nodejs)
  command -v npm >/dev/null 2>&1 || wanted+=(npm)
  command -v ip >/dev/null 2>&1 || wanted+=(iproute2)
  python3 -m venv --help >/dev/null 2>&1 || wanted+=(python3-venv)
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# install_python_env SPEC: a project-local virtual environment with the package (editable).
install_python_env() {
  if [ ! -x .venv/bin/python ]; then
    command -v python3 >/dev/null 2>&1 || install_system_packages python3
    python3 -m venv --help >/dev/null 2>&1 || install_system_packages
    python3 -m venv .venv
  fi
  echo "== pip install -e $1"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$1"
}

# install_node_modules: npm packages from package-lock.json (pyodide for offline play and tests).
install_node_modules() {
  command -v npm >/dev/null 2>&1 || install_system_packages
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
}
