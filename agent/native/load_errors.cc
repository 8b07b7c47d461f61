#include "load_errors.h"

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <vector>

namespace flowlens {
namespace {

std::mutex log_mutex;
std::string captured_log;
bool capturing = false;

int CapturePrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[4096];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  std::lock_guard<std::mutex> lock(log_mutex);
  if (capturing) captured_log.append(line);
  return n;
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

bool HasCap(const __u32 effective[2], int cap) {
  return (effective[cap / 32] >> (cap % 32)) & 1;
}

}  // namespace

void BeginLibbpfCapture() {
  std::lock_guard<std::mutex> lock(log_mutex);
  captured_log.clear();
  capturing = true;
  libbpf_set_print(CapturePrint);
}

std::string EndLibbpfCapture() {
  std::lock_guard<std::mutex> lock(log_mutex);
  capturing = false;
  return std::move(captured_log);
}

std::string MissingPrivileges() {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return "";
  const __u32 effective[2] = {data[0].effective, data[1].effective};
  if (HasCap(effective, CAP_SYS_ADMIN)) return "";
  std::vector<std::string> missing;
  if (!HasCap(effective, CAP_BPF)) missing.push_back("CAP_BPF");
  if (!HasCap(effective, CAP_PERFMON)) missing.push_back("CAP_PERFMON");
  if (!HasCap(effective, CAP_NET_ADMIN)) missing.push_back("CAP_NET_ADMIN");
  if (missing.empty()) return "";
  std::string list;
  for (size_t i = 0; i < missing.size(); i++) list += (i ? ", " : "") + missing[i];
  return "the process lacks " + list +
         " (effective capabilities); run the agent as root or grant it CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN";
}

std::string MissingKernelBtf() {
  if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) return "";
  return "the kernel exposes no BTF at /sys/kernel/btf/vmlinux; use a kernel built with CONFIG_DEBUG_INFO_BTF=y";
}

std::string VerifierExcerpt(const std::string& log, size_t max_lines) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) lines.push_back(line);

  // The verifier's last lines before END PROG LOAD LOG say why it rejected the program.
  std::vector<std::string> picked;
  for (size_t i = 0; i < lines.size(); i++) {
    if (lines[i].find("-- END PROG LOAD LOG --") == std::string::npos) continue;
    size_t from = i > max_lines ? i - max_lines : 0;
    for (size_t j = from; j < i; j++) {
      if (lines[j].find("-- BEGIN PROG LOAD LOG --") != std::string::npos) picked.clear();
      else picked.push_back(lines[j]);
    }
  }
  for (const auto& line : lines) {
    if (line.find("failed to load") != std::string::npos || line.find("failed to") != std::string::npos)
      picked.push_back(line);
  }
  if (picked.empty()) {
    size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
    picked.assign(lines.begin() + from, lines.end());
  }
  std::string out;
  for (const auto& line : picked) out += "\n  " + line;
  return out;
}

}  // namespace flowlens
