#!/usr/bin/env bash
# The repository's commands, the same for a newcomer, a maintainer and CI (.ci/run calls them).
#
#   ./build.sh test [dotnet test options]   installs what the tests need, then runs the whole suite
#   ./build.sh deps                         only installs (or names) what the tests need
#   ./build.sh pack [version]               packs RpcGen and its satellites into artifacts/packages
#
# The discovery tests start a real etcd and a real dnsmasq on loopback ports (never the system's), and the gateway tests
# call it with the real curl and a real headless Chromium, which also opens the admin page; a real Prometheus scrapes the
# metrics; the deduplication tests share a real Redis. On Debian as root this script installs them (packages
# etcd-server, dnsmasq-base, curl, chromium, prometheus and redis-server); otherwise it prints the one command to run.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

missing_packages() {
  local missing=()
  command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || missing+=(etcd-server)
  command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
  echo "${missing[@]:-}"
}

deps() {
  local missing
  missing=$(missing_packages)
  if [ -z "$missing" ]; then
    return 0
  fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing what the discovery, gateway, admin, metrics and deduplication tests need: $missing"
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    # etcd-server and prometheus start system services on install; the tests start their own and never use them.
    if command -v systemctl >/dev/null 2>&1; then systemctl stop etcd prometheus redis-server >/dev/null 2>&1 || true; fi
    return 0
  fi
  echo "The discovery, gateway, admin, metrics and deduplication tests need $missing. Run: sudo apt-get install -y $missing   (then ./build.sh test again)" >&2
  exit 1
}

run_tests() {
  deps
  rm -rf TestResults
  local rc=0
  dotnet test RpcGen.sln -c Release --logger "console;verbosity=minimal" --logger "trx;LogFileName=results.trx" \
    --results-directory TestResults "$@" || rc=$?
  # One summary line over every test assembly: "tests: N passed, N failed, N skipped".
  local passed=0 failed=0 skipped=0 counters total p f
  for trx in TestResults/*.trx; do
    [ -e "$trx" ] || continue
    counters=$(grep -o '<Counters [^>]*>' "$trx")
    total=$(echo "$counters" | sed -E 's/.* total="([0-9]+)".*/\1/')
    p=$(echo "$counters" | sed -E 's/.* passed="([0-9]+)".*/\1/')
    f=$(echo "$counters" | sed -E 's/.* failed="([0-9]+)".*/\1/')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + total - p - f))
  done
  echo "tests: $passed passed, $failed failed, $skipped skipped"
  return "$rc"
}

pack() {
  # With a version, every package is that version (a release); without one, each local pack gets a unique
  # 0.1.0-dev.<time> version so a consumer never restores a stale copy of the same version from its cache.
  local version_args=()
  if [ $# -ge 1 ] && [ -n "$1" ]; then version_args=("-p:Version=$1"); else version_args=("-p:RpcGenDevStamp=$(date -u +%Y%m%d%H%M%S)"); fi
  mkdir -p artifacts/packages
  rm -f artifacts/packages/*.nupkg artifacts/packages/*.snupkg
  for project in runtime/RpcGen.csproj hosting/RpcGen.Hosting.csproj etcd/RpcGen.Etcd.csproj dns/RpcGen.Dns.csproj sqlite/RpcGen.Sqlite.csproj redis/RpcGen.Redis.csproj aspnetcore/RpcGen.AspNetCore.csproj cli/RpcGen.Cli.csproj; do
    dotnet pack "$project" -c Release -o artifacts/packages "${version_args[@]}"
  done
  ls artifacts/packages
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  test) run_tests "$@" ;;
  deps) deps ;;
  pack) pack "$@" ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
