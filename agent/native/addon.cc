// flowlens_bpf: the libbpf binding the agent loads its kernel programs with.
#include <napi.h>
#include <bpf/libbpf.h>

#include <ctime>

#include "bpf_object.h"
#include "conntrack_events.h"
#include "flowlens_events.h"

namespace {

int64_t ClockNs(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// Wall-clock minus boot-time, in ns: adds to bpf_ktime_get_boot_ns() stamps to make wall-clock times.
Napi::Value BootToWallClockOffsetNs(const Napi::CallbackInfo& info) {
  int64_t best_offset = 0, best_gap = INT64_MAX;
  for (int i = 0; i < 3; i++) {  // the tightest of a few samples limits the error to one clock read
    int64_t b0 = ClockNs(CLOCK_BOOTTIME);
    int64_t real = ClockNs(CLOCK_REALTIME);
    int64_t b1 = ClockNs(CLOCK_BOOTTIME);
    if (b1 - b0 < best_gap) {
      best_gap = b1 - b0;
      best_offset = real - (b0 + (b1 - b0) / 2);
    }
  }
  return Napi::BigInt::New(info.Env(), best_offset);
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("BpfObject", flowlens::BpfObject::Define(env));
  exports.Set("ConntrackEvents", flowlens::ConntrackEvents::Define(env));
  exports.Set("bootToWallClockOffsetNs", Napi::Function::New(env, BootToWallClockOffsetNs));
  exports.Set("possibleCpus", Napi::Function::New(env, PossibleCpus));
  exports.Set("recordSize", Napi::Number::New(env, FL_RECORD_SIZE));
  exports.Set("recordVersion", Napi::Number::New(env, FL_RECORD_VERSION));
  exports.Set("flowValueSize", Napi::Number::New(env, FL_FLOW_VALUE_SIZE));
  return exports;
}

}  // namespace

NODE_API_MODULE(flowlens_bpf, Init)
