// Turns libbpf load failures into messages that say what failed and what to do.
#pragma once
#include <string>

namespace flowlens {

// Starts capturing libbpf's log (including verifier logs) for the current load.
void BeginLibbpfCapture();
// Stops capturing and returns what libbpf printed since BeginLibbpfCapture().
std::string EndLibbpfCapture();

// Empty when the process may load and attach the programs; otherwise why not.
std::string MissingPrivileges();
// Empty when the kernel exposes BTF; otherwise why CO-RE programs cannot load.
std::string MissingKernelBtf();

// The part of a captured libbpf log worth showing: the failing program and the
// end of its verifier log.
std::string VerifierExcerpt(const std::string& log, size_t max_lines);

}  // namespace flowlens
