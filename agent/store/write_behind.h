#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

// Writes of a connection that commits without waiting for the disk (store::Database's
// commitWithoutWaitingForTheDisk: the harvest's) stay in the operating system's page cache until
// something syncs their file. On a host with memory to spare nothing else sends them sooner, and
// the first sync sends them all at once: the checkpoint at the end of a first harvest of 100,000
// mailboxes sent about a gigabyte, and a journal commit queued behind it on the same disk (the
// fsync an MDM's 202 waits for) took 90-180 ms instead of 1-2 (tests/bench/README.md).
// A WriteBehind sends such files' dirty pages to the disk every `period` while they are being
// written, and once more a period after, without waiting for them and without asking the disk to
// flush its cache, so that a sync finds little left to write. Between writes it sleeps: an idle
// agent does not wake for it.
namespace easgate::agent::store {

// Starts writing `file`'s dirty pages to the disk and returns at once; false when the file cannot
// be opened (it may not exist yet, as a -wal before the first write). Linux (sync_file_range);
// elsewhere a no-op that returns false: Windows' cache manager writes dirty pages behind by itself
// within about a second. It opens and closes the file: never for a file this process locks (a
// database file, below).
bool startWriteback(const std::filesystem::path& file);

// A file held open to push it: what startWriteback does, through a descriptor opened once.
// Closing any descriptor of a file drops every POSIX lock this process holds on that file,
// SQLite's included; had the agent's locks on the store gone, another process closing its own
// connection (`easgate audit verify`) would take itself for the last one, checkpoint, and delete
// the log the agent still wrote. So a database file is pushed only through a HeldFile that
// outlives every SQLite connection of the process to it (store::Database shares one among them
// and their statements). Linux; elsewhere it holds nothing and pushes nothing.
class HeldFile {
 public:
  explicit HeldFile(const std::filesystem::path& file);
  ~HeldFile();
  HeldFile(const HeldFile&) = delete;
  HeldFile& operator=(const HeldFile&) = delete;

  // As startWriteback; false when the file could not be opened.
  bool push() const;

 private:
  int fd_ = -1;
};

class WriteBehind {
 public:
  using Push = std::function<void(const std::filesystem::path&)>;
  // A journal fsync queues at the disk behind whatever a harvest's files left unpushed since the
  // last push (and, until the directory had a file of its own, wrote it out itself: they shared
  // the store's log): the shorter the period, the less. 10 ms rather than 50 gave commands during
  // a first harvest a p99 0.7 ms lower and worst waits half as long, for 0.5 % more written
  // (tests/bench/README.md).
  static constexpr std::chrono::milliseconds kPeriod{10};

  // Pushes each of `files` from a thread of its own, every `period` while something writes them
  // (Writing, wrote()), until destroyed.
  explicit WriteBehind(
      std::vector<std::filesystem::path> files, std::chrono::milliseconds period = kPeriod,
      Push push = [](const std::filesystem::path& f) { (void)startWriteback(f); });
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Whether pushing does anything on this system (Linux).
  static bool supported();

  // While one lives, the files are being written (a transaction, which may spill pages into its
  // log long before it commits): they are pushed every period, and once more a period after the
  // last one ends.
  class Writing {
   public:
    explicit Writing(WriteBehind& behind);
    ~Writing();
    Writing(const Writing&) = delete;
    Writing& operator=(const Writing&) = delete;

   private:
    WriteBehind& behind_;
  };

  // The files were written (a commit outside a transaction): pushed a period from now.
  void wrote();

 private:
  void run();

  const std::vector<std::filesystem::path> files_;
  const std::chrono::milliseconds period_;
  const Push push_;
  std::mutex mutex_;
  std::condition_variable wake_;
  int writing_ = 0;     // Writing objects alive
  bool wrote_ = false;  // written since the last push began
  bool stopping_ = false;
  std::thread thread_;  // last: started once the members above are ready
};

}  // namespace easgate::agent::store
