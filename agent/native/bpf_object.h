// A loaded BPF object exposed to JavaScript: attach/detach programs by name,
// read and write maps (single elements and whole maps in batches), stream a
// ring buffer, and read per-program run statistics. Every attachment is an
// fd-based link owned by this object, so close() or the death of the process
// detaches everything.
#pragma once
#include <napi.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "ring_stream.h"

struct bpf_object;
struct bpf_map;
struct bpf_program;
struct bpf_link;

namespace flowlens {

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;

 private:
  struct Attachment {
    bpf_link* link = nullptr;  // libbpf-managed link
    int fd = -1;               // raw link fd (tcx, netfilter), when link is null
  };

  Napi::Value AttachCgroup(const Napi::CallbackInfo& info);
  Napi::Value AttachTracing(const Napi::CallbackInfo& info);
  Napi::Value AttachTcx(const Napi::CallbackInfo& info);
  Napi::Value AttachNetfilter(const Napi::CallbackInfo& info);
  Napi::Value ProgramLoaded(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Attachments(const Napi::CallbackInfo& info);
  Napi::Value MapInfo(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapLookupBatch(const Napi::CallbackInfo& info);
  Napi::Value MapDeleteBatch(const Napi::CallbackInfo& info);
  Napi::Value StartRingBuffer(const Napi::CallbackInfo& info);
  Napi::Value DrainRingBuffer(const Napi::CallbackInfo& info);
  Napi::Value ProgramStats(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  Napi::Value Iterate(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void Release();
  int OpenAndLoad(Napi::Env env, Napi::Object opts, const std::set<std::string>& skipped, std::string* log,
                  std::string* refused);
  void EnsureOpen(Napi::Env env) const;
  bpf_program* Program(Napi::Env env, const std::string& name) const;
  bpf_map* Map(Napi::Env env, const std::string& name) const;
  size_t ValueSize(bpf_map* map) const;
  Napi::Value AddAttachment(Napi::Env env, Attachment a);

  std::string path_;
  bpf_object* obj_ = nullptr;
  std::map<uint32_t, Attachment> attachments_;
  std::map<std::string, bpf_link*> iterators_;  // "program/map" -> iterator link
  uint32_t next_attachment_id_ = 1;
  std::unique_ptr<RingStream> ring_;
};

}  // namespace flowlens
