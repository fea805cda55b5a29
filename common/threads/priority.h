#pragma once

#include <chrono>
#include <optional>

// How eagerly the operating system gives a thread the CPU: work that can wait (a harvest) runs
// below the threads that answer the MDM, so that on a machine with few cores a command's 202 is
// not kept waiting for a core the harvest holds.
namespace easgate::threads {

enum class Priority { kNormal, kBelowNormal };

// Sets the calling thread's priority, and no other thread's. Linux: the thread's nice value (10
// for kBelowNormal), which threads it starts afterwards inherit; Windows: its thread priority,
// which they do not (a harvest gives its workers its own: agent/harvest/harvester.cpp). Going
// back up may need a privilege the agent lacks on Linux: meant for a thread's whole life. False
// when the system refused (or, on other systems, cannot do it for one thread).
// Linux: kBelowNormal also gives the thread the kernel's default time slice back (see
// preferPromptWakeups).
bool setThisThreadPriority(Priority priority);

// The calling thread's priority: kBelowNormal when lower than normal.
Priority thisThreadPriority();

// The shortest time slice the kernel takes (Linux 6.12 and later), given by preferPromptWakeups.
inline constexpr std::chrono::microseconds kShortTimeSlice{100};

// Linux's scheduler since 6.6 (EEVDF) lets a running thread finish its time slice (about 1.5 ms
// by default) before a thread that wakes takes its core, whatever their nice values, unless the
// one that wakes has the shorter slice. A command's answer wakes a few threads in turn (the
// listener's, a worker, the journal's sync), each of which waited up to a slice for a core a
// harvest held. Gives the calling thread, and the threads it starts afterwards, the shortest
// slice (kShortTimeSlice, Linux 6.12 and later), keeping their policy and nice value: called
// once by the commands that run the agent, before any thread starts (service/cli.cpp), so that
// every thread answering the MDM takes a core from a harvest as soon as it wakes. False where
// the system refused. Elsewhere it does nothing and returns false: Windows runs a waking thread
// of higher priority at once already, and kernels before 6.6 weigh nice values at wakeup.
bool preferPromptWakeups();

// The calling thread's time slice as the kernel reports it; nullopt where it does not (Linux
// before 6.12, other systems).
std::optional<std::chrono::microseconds> thisThreadTimeSlice();

}  // namespace easgate::threads
