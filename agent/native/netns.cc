#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace flowlens {

std::string Errno(int err) { return strerror(err < 0 ? -err : err); }

int InNetns(const std::string& netnsPath, const std::function<int()>& fn, std::string* why) {
  if (netnsPath.empty()) return fn();
  int target = open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    *why = "cannot open network namespace " + netnsPath + " (" + Errno(errno) + ")";
    return -1;
  }
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0 || setns(target, CLONE_NEWNET) != 0) {
    *why = "cannot enter network namespace " + netnsPath + " (" + Errno(errno) + ")";
    close(target);
    if (home >= 0) close(home);
    return -1;
  }
  int result = fn();
  int err = errno;
  // Returning cannot fail for a namespace this thread was in; abort rather than run on in the wrong one.
  if (setns(home, CLONE_NEWNET) != 0) abort();
  close(home);
  close(target);
  errno = err;
  return result;
}

}  // namespace flowlens
