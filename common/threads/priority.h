#pragma once

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
bool setThisThreadPriority(Priority priority);

// The calling thread's priority: kBelowNormal when lower than normal.
Priority thisThreadPriority();

}  // namespace easgate::threads
