// What the process monitor (actors/process_monitor.hpp) reports about one
// process to the actor that listens for it.
#pragma once

#include <sys/types.h>

#include <string>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace cluster_actions {

// Prefixed "ca_" like the atoms of interfaces.hpp, so that they do not clash
// with a host's.
using proc_spawned_atom = caf::atom_constant<caf::atom("ca_pspawn")>;
using proc_failed_atom = caf::atom_constant<caf::atom("ca_pfail")>;
using proc_stdout_atom = caf::atom_constant<caf::atom("ca_pstdout")>;
using proc_stderr_atom = caf::atom_constant<caf::atom("ca_pstderr")>;
using proc_exited_atom = caf::atom_constant<caf::atom("ca_pexit")>;

/// How a process ended: its exit code, or the signal that killed it.
struct process_exit {
  int code = 0;   ///< the exit code, when `signal` is 0
  int signal = 0; ///< the signal that killed the process, or 0
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_exit& x) {
  return f(caf::meta::type_name("cluster_actions::process_exit"), x.code,
           x.signal);
}

/// Receives the events of one process, in this order: `proc_spawned_atom`
/// or `proc_failed_atom`; then, once spawned, its output lines and finally
/// `proc_exited_atom`.
using process_listener = caf::typed_actor<
  /// The process runs; its pid is also the id of its process group.
  caf::reacts_to<proc_spawned_atom, pid_t>,
  /// The process could not be started (no further events).
  caf::reacts_to<proc_failed_atom, std::string /* message */>,
  /// One line of output, without its '\n'; lines longer than 4 KiB are cut.
  caf::reacts_to<proc_stdout_atom, std::string>,
  caf::reacts_to<proc_stderr_atom, std::string>,
  /// The process has been reaped and every other member of its process
  /// group is gone too (no further events).
  caf::reacts_to<proc_exited_atom, process_exit>>;

} // namespace cluster_actions
