// Entering another network namespace for one call: sockets and netfilter links belong to the namespace
// of the thread that creates them.
#pragma once
#include <functional>
#include <string>

namespace flowlens {

std::string Errno(int err);

// Runs fn with this thread in the network namespace at netnsPath (empty: where it is), then returns.
// Returns fn's result, or -1 with *why set when the namespace cannot be entered.
int InNetns(const std::string& netnsPath, const std::function<int()>& fn, std::string* why);

}  // namespace flowlens
