#pragma once

#include <boost/process/pipe.hpp>

namespace easgate::powershell {

// A pipe for one of a bridge's standard streams that no other child process inherits.
//
// Boost.Process 1.74 (Debian 12) creates inheritable pipes, so a bridge started while another
// is starting can hold that one's stdin open, and that one never sees EOF. Its remedy,
// bp::limit_handles, closes pipe_out descriptors in the child in that version
// (boostorg/process#282, fixed in 1.85) and hides exec errors (boostorg/process#202). So the
// pipes are made non-inheritable from birth instead; the child's ends become its stdio, which
// it does inherit.
boost::process::pipe makeChildPipe();

}  // namespace easgate::powershell
