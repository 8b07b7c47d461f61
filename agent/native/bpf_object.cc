#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <vector>

#include "load_errors.h"
#include "netns.h"

namespace flowlens {
namespace {

// Not in libbpf 1.1.2's headers; the kernel (6.6+) accepts them through BPF_LINK_CREATE.
constexpr int kTcxIngress = 46;
constexpr int kTcxEgress = 47;
// Netfilter programs and links (Linux 6.4+), also unknown to libbpf 1.1.2.
constexpr int kProgTypeNetfilter = 32;
constexpr int kAttachNetfilter = 45;


// Whether the kernel loads netfilter programs: a two-instruction one (return NF_ACCEPT).
bool KernelHasNetfilterPrograms() {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = static_cast<bpf_attach_type>(kAttachNetfilter));
  int fd = bpf_prog_load(static_cast<bpf_prog_type>(kProgTypeNetfilter), "fl_nf_probe", "GPL", insns, 2, &opts);
  if (fd < 0) return false;
  close(fd);
  return true;
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

bool IsPerCpu(bpf_map_type type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

}  // namespace

Napi::Function BpfObject::Define(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         InstanceMethod("attachCgroup", &BpfObject::AttachCgroup),
                         InstanceMethod("attachTracing", &BpfObject::AttachTracing),
                         InstanceMethod("attachNetfilter", &BpfObject::AttachNetfilter),
                         InstanceMethod("programLoaded", &BpfObject::ProgramLoaded),
                         InstanceMethod("attachTcx", &BpfObject::AttachTcx),
                         InstanceMethod("detach", &BpfObject::Detach),
                         InstanceMethod("attachments", &BpfObject::Attachments),
                         InstanceMethod("mapInfo", &BpfObject::MapInfo),
                         InstanceMethod("mapLookup", &BpfObject::MapLookup),
                         InstanceMethod("mapUpdate", &BpfObject::MapUpdate),
                         InstanceMethod("mapDelete", &BpfObject::MapDelete),
                         InstanceMethod("mapLookupBatch", &BpfObject::MapLookupBatch),
                         InstanceMethod("mapDeleteBatch", &BpfObject::MapDeleteBatch),
                         InstanceMethod("startRingBuffer", &BpfObject::StartRingBuffer),
                         InstanceMethod("drainRingBuffer", &BpfObject::DrainRingBuffer),
                         InstanceMethod("programStats", &BpfObject::ProgramStats),
                         InstanceMethod("testRun", &BpfObject::TestRun),
                         InstanceMethod("iterate", &BpfObject::Iterate),
                         InstanceMethod("close", &BpfObject::Close),
                     });
}

// new BpfObject(path, { maxEntries?: { [map]: number } }): opens and loads the object.
BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  path_ = StringArg(info, 0, "object path");
  const std::string what = "loading BPF object " + path_ + " failed: ";

  if (access(path_.c_str(), R_OK) != 0)
    throw Napi::Error::New(env, what + Errno(errno) + "; build it with `make bpf`");
  std::string why = MissingPrivileges();
  if (why.empty()) why = MissingKernelBtf();
  if (!why.empty()) throw Napi::Error::New(env, what + why);

  // Programs the kernel may refuse without the rest failing (opts.optionalPrograms): the object loads
  // again without each one it refuses, and programLoaded() tells the caller which are missing.
  std::set<std::string> optional, skipped;
  Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  if (opts.Has("optionalPrograms") && opts.Get("optionalPrograms").IsArray()) {
    Napi::Array names = opts.Get("optionalPrograms").As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); i++) optional.insert(names.Get(i).As<Napi::String>().Utf8Value());
  }
  for (;;) {
    std::string log, refused;
    int err = OpenAndLoad(env, opts, skipped, &log, &refused);
    if (!err) break;
    Release();
    if (!refused.empty() && optional.count(refused) && !skipped.count(refused)) {
      skipped.insert(refused);
      continue;
    }
    std::string reason = Errno(err);
    if (!refused.empty()) {
      reason = "the kernel's verifier rejected program " + refused + " (" + Errno(err) + "); its log ends with:";
    } else if (err == -EPERM || err == -EACCES) {
      reason = "the kernel refused it (" + Errno(err) + ")";
    }
    throw Napi::Error::New(env, what + reason + VerifierExcerpt(log, 20));
  }
}

// Opens the object, sizes its maps, leaves out `skipped` programs and loads it. Returns libbpf's error (0 on
// success) with its log, and the program the kernel refused when the log names one.
int BpfObject::OpenAndLoad(Napi::Env env, Napi::Object opts, const std::set<std::string>& skipped, std::string* log,
                           std::string* refused) {
  const std::string what = "loading BPF object " + path_ + " failed: ";
  BeginLibbpfCapture();
  obj_ = bpf_object__open_file(path_.c_str(), nullptr);
  if (!obj_) {
    int err = errno;
    throw Napi::Error::New(env, what + "cannot parse it (" + Errno(err) + ")" +
                                    VerifierExcerpt(EndLibbpfCapture(), 10));
  }
  if (opts.Has("maxEntries") && opts.Get("maxEntries").IsObject()) {
    Napi::Object sizes = opts.Get("maxEntries").As<Napi::Object>();
    Napi::Array names = sizes.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      std::string name = names.Get(i).As<Napi::String>().Utf8Value();
      bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
      uint32_t n = sizes.Get(name).As<Napi::Number>().Uint32Value();
      int err = map ? bpf_map__set_max_entries(map, n) : -ENOENT;
      if (err) {
        EndLibbpfCapture();
        Release();
        throw Napi::Error::New(env, what + "cannot size map " + name + " to " + std::to_string(n) +
                                        " (" + Errno(err) + ")");
      }
    }
  }
  // Netfilter programs: typed by hand (libbpf 1.1.2 does not know their section), and left out where
  // the kernel cannot load them, so the rest of the object still loads there.
  bpf_program* prog;
  bool netfilter = false, netfilterProbed = false;
  bpf_object__for_each_program(prog, obj_) {
    if (skipped.count(bpf_program__name(prog))) {
      bpf_program__set_autoload(prog, false);
      continue;
    }
    if (strcmp(bpf_program__section_name(prog), "netfilter") != 0) continue;
    if (!netfilterProbed) netfilter = KernelHasNetfilterPrograms(), netfilterProbed = true;
    if (netfilter) {
      bpf_program__set_type(prog, static_cast<bpf_prog_type>(kProgTypeNetfilter));
      bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(kAttachNetfilter));
    } else {
      bpf_program__set_autoload(prog, false);
    }
  }
  // The verifier gives up (EAGAIN) when a signal is pending while it works, and a profiler's SIGPROF arrives
  // every millisecond: signals wait on this thread until the load is over.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  int err = bpf_object__load(obj_);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  *log = EndLibbpfCapture();
  // CO-RE relocation parsed the kernel's whole BTF; hand that memory back to the system.
  malloc_trim(0);
  if (err) {
    // libbpf names the program it could not load: "libbpf: prog 'NAME': failed to load".
    const std::string marker = "prog '", failed = "': failed to load";
    size_t end = log->find(failed);
    size_t at = end == std::string::npos ? std::string::npos : log->rfind(marker, end);
    if (at != std::string::npos) *refused = log->substr(at + marker.size(), end - at - marker.size());
  }
  return err;
}

BpfObject::~BpfObject() { Release(); }

void BpfObject::Release() {
  ring_.reset();
  for (auto& [key, link] : iterators_)
    if (link) bpf_link__destroy(link);
  iterators_.clear();
  for (auto& [id, a] : attachments_) {
    if (a.link) bpf_link__destroy(a.link);
    else if (a.fd >= 0) close(a.fd);
  }
  attachments_.clear();
  if (obj_) bpf_object__close(obj_);
  obj_ = nullptr;
}

void BpfObject::EnsureOpen(Napi::Env env) const {
  if (!obj_) throw Napi::Error::New(env, "BPF object " + path_ + " is closed");
}

bpf_program* BpfObject::Program(Napi::Env env, const std::string& name) const {
  EnsureOpen(env);
  bpf_program* prog = bpf_object__find_program_by_name(obj_, name.c_str());
  if (!prog) throw Napi::Error::New(env, "no program named " + name + " in " + path_);
  return prog;
}

bpf_map* BpfObject::Map(Napi::Env env, const std::string& name) const {
  EnsureOpen(env);
  bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
  if (!map) throw Napi::Error::New(env, "no map named " + name + " in " + path_);
  return map;
}

size_t BpfObject::ValueSize(bpf_map* map) const {
  size_t size = bpf_map__value_size(map);
  if (!IsPerCpu(bpf_map__type(map))) return size;
  return ((size + 7) / 8) * 8 * libbpf_num_possible_cpus();
}

Napi::Value BpfObject::AddAttachment(Napi::Env env, Attachment a) {
  uint32_t id = next_attachment_id_++;
  attachments_[id] = a;
  return Napi::Number::New(env, id);
}

// attachCgroup(program, cgroupDir): multi-attach link on a cgroup v2 directory.
Napi::Value BpfObject::AttachCgroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "program name");
  std::string dir = StringArg(info, 1, "cgroup directory");
  bpf_program* prog = Program(env, name);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    throw Napi::Error::New(env, "attaching " + name + " failed: cannot open cgroup directory " + dir + " (" +
                                    Errno(errno) + ")");
  bpf_link* link = bpf_program__attach_cgroup(prog, fd);
  int err = errno;
  close(fd);
  if (!link)
    throw Napi::Error::New(env, "attaching " + name + " to cgroup " + dir + " failed: " + Errno(err));
  return AddAttachment(env, {link, -1});
}

// attachTracing(program): tracepoints, tp_btf, kprobes: wherever the section name says.
Napi::Value BpfObject::AttachTracing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "program name");
  bpf_link* link = bpf_program__attach(Program(env, name));
  if (!link) throw Napi::Error::New(env, "attaching " + name + " failed: " + Errno(errno));
  return AddAttachment(env, {link, -1});
}

// attachNetfilter(program, pf, hooknum, priority, netnsPath): a netfilter link (fd-based) in the namespace at
// netnsPath ("" for this process's own), e.g. pf 2 (IPv4), hooknum 4 (POSTROUTING), priority 101 (after SNAT).
Napi::Value BpfObject::AttachNetfilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "program name");
  for (size_t i = 1; i <= 3; i++)
    if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(env, "pf, hooknum and priority must be numbers");
  uint32_t pf = info[1].As<Napi::Number>().Uint32Value();
  uint32_t hooknum = info[2].As<Napi::Number>().Uint32Value();
  int32_t priority = info[3].As<Napi::Number>().Int32Value();
  std::string netns = info.Length() > 4 && info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "";
  int progFd = bpf_program__fd(Program(env, name));
  const std::string what = "attaching " + name + " to netfilter hook " + std::to_string(hooknum) + " of family " +
                           std::to_string(pf) + (netns.empty() ? "" : " in " + netns) + " failed: ";
  if (progFd < 0) throw Napi::Error::New(env, what + "it is not loaded (netfilter programs need Linux 6.4 or later)");
  // libbpf 1.1.2's bpf_attr has no netfilter member: it follows link_create's four leading words.
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.link_create.prog_fd = progFd;
  attr.link_create.attach_type = kAttachNetfilter;
  uint32_t* netfilterOpts = reinterpret_cast<uint32_t*>(&attr.link_create.target_btf_id);
  netfilterOpts[0] = pf;
  netfilterOpts[1] = hooknum;
  memcpy(&netfilterOpts[2], &priority, sizeof(priority));
  std::string why;
  int fd = InNetns(netns, [&] { return static_cast<int>(syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr))); }, &why);
  if (fd < 0) throw Napi::Error::New(env, what + (why.empty() ? Errno(errno) : why));
  return AddAttachment(env, {nullptr, fd});
}

// programLoaded(program): whether the kernel holds it (netfilter programs are left out on older kernels).
Napi::Value BpfObject::ProgramLoaded(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), bpf_program__fd(Program(info.Env(), StringArg(info, 0, "program name"))) >= 0);
}

// attachTcx(program, ifindex, "ingress" | "egress"): a tcx link (fd-based, goes away with the process).
Napi::Value BpfObject::AttachTcx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "program name");
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "ifindex must be a number");
  uint32_t ifindex = info[1].As<Napi::Number>().Uint32Value();
  std::string dir = StringArg(info, 2, "direction");
  if (dir != "ingress" && dir != "egress")
    throw Napi::TypeError::New(env, "direction must be \"ingress\" or \"egress\", got \"" + dir + "\"");
  int fd = bpf_link_create(bpf_program__fd(Program(env, name)), ifindex,
                           static_cast<bpf_attach_type>(dir == "ingress" ? kTcxIngress : kTcxEgress), nullptr);
  if (fd < 0)
    throw Napi::Error::New(env, "attaching " + name + " to ifindex " + std::to_string(ifindex) + " " + dir +
                                    " failed: " + Errno(fd) + " (tcx links need Linux 6.6 or later)");
  return AddAttachment(env, {nullptr, fd});
}

Napi::Value BpfObject::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto it = attachments_.find(id);
  if (it == attachments_.end()) return Napi::Boolean::New(env, false);
  if (it->second.link) bpf_link__destroy(it->second.link);
  else close(it->second.fd);
  attachments_.erase(it);
  return Napi::Boolean::New(env, true);
}

Napi::Value BpfObject::Attachments(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), attachments_.size());
}

Napi::Value BpfObject::MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = Map(env, StringArg(info, 0, "map name"));
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", bpf_map__fd(map));
  out.Set("type", static_cast<int>(bpf_map__type(map)));
  out.Set("keySize", bpf_map__key_size(map));
  out.Set("valueSize", static_cast<double>(ValueSize(map)));
  out.Set("maxEntries", bpf_map__max_entries(map));
  return out;
}

Napi::Value BpfObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "map name");
  bpf_map* map = Map(env, name);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  if (key.Length() != bpf_map__key_size(map))
    throw Napi::RangeError::New(env, "key for map " + name + " must be " + std::to_string(bpf_map__key_size(map)) +
                                         " bytes, got " + std::to_string(key.Length()));
  std::vector<uint8_t> value(ValueSize(map));
  if (bpf_map_lookup_elem(bpf_map__fd(map), key.Data(), value.data()) != 0) {
    if (errno == ENOENT) return env.Null();
    throw Napi::Error::New(env, "looking up map " + name + " failed: " + Errno(errno));
  }
  return Napi::Buffer<uint8_t>::Copy(env, value.data(), value.size());
}

Napi::Value BpfObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "map name");
  bpf_map* map = Map(env, name);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  Napi::Buffer<uint8_t> value = BufferArg(info, 2, "value");
  if (key.Length() != bpf_map__key_size(map) || value.Length() != ValueSize(map))
    throw Napi::RangeError::New(env, "map " + name + " takes " + std::to_string(bpf_map__key_size(map)) +
                                         "-byte keys and " + std::to_string(ValueSize(map)) + "-byte values");
  if (bpf_map_update_elem(bpf_map__fd(map), key.Data(), value.Data(), BPF_ANY) != 0)
    throw Napi::Error::New(env, "updating map " + name + " failed: " + Errno(errno));
  return env.Undefined();
}

Napi::Value BpfObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "map name");
  bpf_map* map = Map(env, name);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  if (key.Length() != bpf_map__key_size(map))
    throw Napi::RangeError::New(env, "key for map " + name + " must be " + std::to_string(bpf_map__key_size(map)) + " bytes");
  if (bpf_map_delete_elem(bpf_map__fd(map), key.Data()) == 0) return Napi::Boolean::New(env, true);
  if (errno == ENOENT) return Napi::Boolean::New(env, false);
  throw Napi::Error::New(env, "deleting from map " + name + " failed: " + Errno(errno));
}

// mapLookupBatch(map): every entry, read in kernel batches -> { keys, values, count }.
Napi::Value BpfObject::MapLookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "map name");
  bpf_map* map = Map(env, name);
  const size_t key_size = bpf_map__key_size(map);
  const size_t value_size = ValueSize(map);
  const uint32_t capacity = bpf_map__max_entries(map);
  const uint32_t chunk = 4096;

  std::vector<uint8_t> keys(static_cast<size_t>(capacity) * key_size);
  std::vector<uint8_t> values(static_cast<size_t>(capacity) * value_size);
  uint64_t in_batch = 0, out_batch = 0;  // hash maps use a bucket index as the batch token
  uint32_t total = 0;
  bool first = true;
  while (total < capacity) {
    uint32_t count = std::min(chunk, capacity - total);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(bpf_map__fd(map), first ? nullptr : &in_batch, &out_batch,
                                   keys.data() + total * key_size, values.data() + total * value_size,
                                   &count, &opts);
    int saved = errno;
    total += count;
    if (err != 0) {
      if (saved == ENOENT) break;  // end of map
      throw Napi::Error::New(env, "reading map " + name + " in batches failed: " + Errno(saved));
    }
    in_batch = out_batch;
    first = false;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), total * key_size));
  out.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), total * value_size));
  out.Set("count", total);
  return out;
}

// mapDeleteBatch(map, keys): deletes keys (concatenated); returns how many were deleted.
Napi::Value BpfObject::MapDeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "map name");
  bpf_map* map = Map(env, name);
  Napi::Buffer<uint8_t> keys = BufferArg(info, 1, "keys");
  const size_t key_size = bpf_map__key_size(map);
  if (keys.Length() % key_size != 0)
    throw Napi::RangeError::New(env, "keys for map " + name + " must be a multiple of " + std::to_string(key_size) + " bytes");
  uint32_t count = keys.Length() / key_size;
  if (count == 0) return Napi::Number::New(env, 0);
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  // Keys evicted meanwhile (LRU) end a batch delete early with ENOENT: delete those that remain one by one.
  if (bpf_map_delete_batch(bpf_map__fd(map), keys.Data(), &count, &opts) != 0 && errno != ENOENT)
    throw Napi::Error::New(env, "deleting from map " + name + " in a batch failed: " + Errno(errno));
  uint32_t deleted = count;
  for (uint32_t i = count + 1; i < keys.Length() / key_size; i++)
    if (bpf_map_delete_elem(bpf_map__fd(map), keys.Data() + i * key_size) == 0) deleted++;
  return Napi::Number::New(env, deleted);
}

// startRingBuffer(map, recordSize, batch, onBatch(count)): records land in `batch`, onBatch reads them.
Napi::Value BpfObject::StartRingBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "map name");
  bpf_map* map = Map(env, name);
  if (info.Length() < 4 || !info[1].IsNumber() || !info[2].IsBuffer() || !info[3].IsFunction())
    throw Napi::TypeError::New(env, "startRingBuffer(map, recordSize, batch, onBatch) needs a number, a Buffer and a function");
  if (ring_) throw Napi::Error::New(env, "a ring buffer is already streaming from " + path_);
  ring_ = std::make_unique<RingStream>(env, bpf_map__fd(map), info[1].As<Napi::Number>().Uint32Value(),
                                       info[2].As<Napi::Buffer<uint8_t>>(), info[3].As<Napi::Function>());
  return env.Undefined();
}

Napi::Value BpfObject::DrainRingBuffer(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ring_ ? ring_->Drain() : 0);
}

// programStats(): run_cnt / run_time_ns per program (non-zero only with kernel.bpf_stats_enabled=1).
Napi::Value BpfObject::ProgramStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureOpen(env);
  Napi::Array out = Napi::Array::New(env);
  bpf_program* prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, obj_) {
    bpf_prog_info pinfo = {};
    uint32_t len = sizeof(pinfo);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &pinfo, &len) != 0) continue;
    Napi::Object s = Napi::Object::New(env);
    s.Set("name", bpf_program__name(prog));
    s.Set("id", pinfo.id);
    s.Set("runCount", static_cast<double>(pinfo.run_cnt));
    s.Set("runTimeNs", static_cast<double>(pinfo.run_time_ns));
    out.Set(i++, s);
  }
  return out;
}

// testRun(program, packet, repeat): runs a program on a packet in the kernel (BPF_PROG_TEST_RUN)
// without attaching it -> { retval, nsPerRun }.
Napi::Value BpfObject::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "program name");
  bpf_program* prog = Program(env, name);
  Napi::Buffer<uint8_t> packet = BufferArg(info, 1, "packet");
  if (info.Length() < 3 || !info[2].IsNumber()) throw Napi::TypeError::New(env, "repeat must be a number");
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.Data(), .data_size_in = static_cast<uint32_t>(packet.Length()),
              .repeat = static_cast<int>(info[2].As<Napi::Number>().Uint32Value()));
  if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0)
    throw Napi::Error::New(env, "test run of " + name + " failed: " + Errno(errno));
  Napi::Object out = Napi::Object::New(env);
  out.Set("retval", opts.retval);
  out.Set("nsPerRun", opts.duration);
  return out;
}

// iterate(program, map, netnsPath?): runs an iterator program over a map's elements (map "": over what its
// target walks, such as the TCP sockets of the namespace at netnsPath) and returns everything it wrote.
// The iterator's link is made on the first call and kept (it is detached with the others).
Napi::Value BpfObject::Iterate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "program name");
  std::string map_name = StringArg(info, 1, "map name");
  // A socket iterator (map "") walks the namespace of the thread that starts it: netnsPath says which.
  std::string netns = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  bpf_program* prog = Program(env, name);
  bpf_map* map = map_name.empty() ? nullptr : Map(env, map_name);
  bpf_link*& link = iterators_[name + "/" + map_name];
  if (!link) {
    union bpf_iter_link_info linfo = {};
    if (map) linfo.map.map_fd = bpf_map__fd(map);
    LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = map ? &linfo : nullptr, .link_info_len = map ? static_cast<__u32>(sizeof(linfo)) : 0u);
    link = bpf_program__attach_iter(prog, &opts);
    if (!link) {
      int err = errno;
      iterators_.erase(name + "/" + map_name);
      throw Napi::Error::New(env, "attaching iterator " + name + (map ? " to map " + map_name : "") + " failed: " + Errno(err));
    }
  }
  std::string why;
  int fd = InNetns(netns, [&] { return bpf_iter_create(bpf_link__fd(link)); }, &why);
  if (fd < 0) throw Napi::Error::New(env, "starting iterator " + name + " failed: " + (why.empty() ? Errno(errno) : why));
  std::vector<uint8_t> out;
  uint8_t chunk[16384];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      throw Napi::Error::New(env, "reading iterator " + name + " failed: " + Errno(err));
    }
    out.insert(out.end(), chunk, chunk + n);
  }
  close(fd);
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

Napi::Value BpfObject::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

}  // namespace flowlens
