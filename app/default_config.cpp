// The embedded default configuration and its built-in action types.
//
// Each action type is a POSIX sh script run as `/bin/sh -c SCRIPT NAME` in
// the server's data_dir. Parameters reach a script only through its
// environment (ACTION_PARAM_<NAME>), never spliced into its text, and every
// script reports `progress: N` on stdout as it goes.
#include "app/config.hpp"

#include <utility>

namespace cluster_actions::app {
namespace {

/// Collects what one needs to look into a node's problems (system, disks,
/// memory, CPU, processes, network, kernel log; one file per section) into
/// debuginfo/debuginfo-<UTC time>-<uid prefix>.tar.gz under data_dir, and
/// prints the bundle's path last, as the run's result.
constexpr const char* collect_debuginfo = R"sh(
set -u
umask 077 # the bundle shows process command lines: keep it private

uid=$(printf '%s' "${CLUSTER_ACTION_UID:-manual}" | tr -cd 'A-Za-z0-9' | cut -c1-8)
name=debuginfo-$(date -u +%Y%m%dT%H%M%SZ)-$uid
mkdir -p debuginfo || exit 1
# Built in a hidden directory and renamed when complete, so a cancelled or
# failed run leaves nothing behind and prune never sees half a bundle.
work=$(mktemp -d "debuginfo/.tmp-$name.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 143' INT TERM
mkdir "$work/$name" || exit 1

# run COMMAND [ARGS...]: its output and errors; a tool this node lacks or a
# failure is noted in the section instead of stopping the collection.
run() {
  echo "### $*"
  if command -v "$1" >/dev/null 2>&1; then
    "$@" 2>&1 || echo "($1 exited with status $?)"
  else
    echo "($1: not available on this node)"
  fi
  echo
}

summary() {
  echo "collected: $(date -u +%Y-%m-%dT%H:%M:%SZ) by action ${CLUSTER_ACTION_UID:-(none)}"
  echo
  run uname -a
  run cat /etc/os-release
  run uptime
  run id
  run ulimit -a
}
disks() { run df -h; run df -hi; run cat /proc/mounts; }
memory() { run free -h; run cat /proc/meminfo; }
cpu() { run nproc; run lscpu; run cat /proc/loadavg; }
processes() { run ps auxww; }
network() { run ip addr; run ip route; run ss -tuln; run cat /proc/net/dev; }
kernel_log() { run dmesg; }

set -- summary disks memory cpu processes network kernel_log
done=0
for section; do
  "$section" >"$work/$name/$section.txt"
  done=$((done + 1))
  echo "progress: $((done * 90 / $#))"
done

tar -czf "$work/$name.tar.gz" -C "$work" "$name" || exit 1
mv "$work/$name.tar.gz" "debuginfo/$name.tar.gz" || exit 1
echo "progress: 100"
echo "result: $PWD/debuginfo/$name.tar.gz"
)sh";

/// Removes all but the newest `keep` (default 3) bundles that
/// collect_debuginfo left in data_dir.
constexpr const char* prune_debuginfo = R"sh(
set -u
keep=${ACTION_PARAM_KEEP:-3}
case $keep in
  *[!0-9]*) echo "$0: keep must be a non-negative integer, got \"$keep\"" >&2; exit 2 ;;
  ??????????*) keep=999999999 ;; # more than any directory holds; fits the shell's arithmetic
esac

# Bundle names start with their UTC time, so the glob lists them oldest first.
set --
for bundle in debuginfo/debuginfo-*.tar.gz; do
  [ -f "$bundle" ] && set -- "$@" "$bundle"
done
excess=$(($# - keep))
removed=0
while [ "$removed" -lt "$excess" ]; do
  rm -f -- "$1" || exit 1
  shift
  removed=$((removed + 1))
  echo "progress: $((removed * 100 / excess))"
done
[ "$removed" -gt 0 ] || echo "progress: 100"
echo "removed $removed bundle(s), kept $#"
)sh";

/// Fails, naming the shortfall on its last stderr line, when the data_dir
/// filesystem has less than `min_free_percent` (default 10) percent of its
/// space or of its inodes free to the server's user.
constexpr const char* check_disk = R"sh(
set -u
min=${ACTION_PARAM_MIN_FREE_PERCENT:-10}
case $min in
  *[!0-9]* | ????*) min=999 ;;
esac
if [ "$min" -gt 100 ]; then
  echo "$0: min_free_percent must be an integer from 0 to 100," \
    "got \"$ACTION_PARAM_MIN_FREE_PERCENT\"" >&2
  exit 2
fi

# check WHAT [DF_OPTION]: reports the percentage of WHAT free to this user
# and notes a shortfall; skips a filesystem that does not count WHAT.
check() {
  what=$1
  shift
  set -- $(df -P "$@" . | awk 'NR == 2 && $2 > 0 { printf "%d %s\n", $4 * 100 / $2, $6 }')
  if [ $# -eq 0 ]; then
    echo "$what: not reported for $PWD"
  else
    echo "$what: $1% free on $2"
    if [ "$1" -lt "$min" ]; then
      shortfall="${shortfall:+$shortfall, }$1% $what free on $2"
    fi
  fi
}
shortfall=
check "disk space"
echo "progress: 50"
check inodes -i
# One line, the last on stderr: the run's error message quotes it.
if [ -n "$shortfall" ]; then
  echo "$0: only $shortfall, below min_free_percent $min" >&2
  exit 1
fi
echo "progress: 100"
)sh";

/// Runs `script` as `/bin/sh -c SCRIPT NAME`: NAME becomes the script's $0,
/// which it puts in front of its error messages.
command_action shell_action(std::string name, const char* script,
                            param_schema params, std::chrono::seconds timeout) {
  command_action action;
  action.command = {"/bin/sh", "-c", script, name};
  action.name = std::move(name);
  action.params = std::move(params);
  action.timeout = timeout;
  action.cancel_grace = std::chrono::seconds{5};
  return action;
}

} // namespace

server_config default_config(std::string admin_password) {
  using std::chrono::seconds;
  server_config cfg;
  cfg.users.push_back(
    {"admin@cluster.local", std::move(admin_password), http::role::admin});
  cfg.actions.push_back(
    shell_action("collect_debuginfo", collect_debuginfo, {}, seconds{600}));
  cfg.actions.push_back(shell_action(
    "prune_debuginfo", prune_debuginfo,
    {{"keep", {param_type::integer, false}}}, seconds{120}));
  cfg.actions.push_back(shell_action(
    "check_disk", check_disk,
    {{"min_free_percent", {param_type::integer, false}}}, seconds{60}));
  return cfg;
}

} // namespace cluster_actions::app
