#include "conntrack_events.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <linux/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "flowlens_events.h"
#include "netns.h"

namespace flowlens {
namespace {

// Large enough that a burst of new connections does not overflow it before the event loop reads.
constexpr int kReceiveBufferBytes = 4 << 20;
constexpr size_t kDatagramBytes = 64 << 10;

uint64_t BootTimeNs() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}

// The attributes of one nested netlink attribute (or of a message body), by type; later ones win.
struct Attrs {
  static constexpr int kMax = 32;
  const uint8_t* data[kMax] = {};
  uint16_t len[kMax] = {};

  bool Parse(const uint8_t* p, size_t n) {
    while (n >= NLA_HDRLEN) {
      const auto* a = reinterpret_cast<const nlattr*>(p);
      if (a->nla_len < NLA_HDRLEN || a->nla_len > n) return false;
      int type = a->nla_type & NLA_TYPE_MASK;
      if (type < kMax) {
        data[type] = p + NLA_HDRLEN;
        len[type] = a->nla_len - NLA_HDRLEN;
      }
      size_t step = NLA_ALIGN(a->nla_len);
      if (step >= n) break;
      p += step;
      n -= step;
    }
    return true;
  }
  bool Has(int type, size_t size) const { return data[type] && len[type] >= size; }
};

struct Tuple {
  uint8_t family = 0;  // 4 or 6
  uint8_t protocol = 0;
  uint8_t src[16] = {};
  uint8_t dst[16] = {};
  uint16_t sport = 0;  // network order
  uint16_t dport = 0;
};

void MappedV4(uint8_t* out, const uint8_t* v4) {
  memset(out, 0, 10);
  out[10] = out[11] = 0xff;
  memcpy(out + 12, v4, 4);
}

bool ParseTuple(const Attrs& outer, int which, Tuple* t) {
  if (!outer.data[which]) return false;
  Attrs tuple, ip, proto;
  if (!tuple.Parse(outer.data[which], outer.len[which])) return false;
  if (!tuple.data[CTA_TUPLE_IP] || !tuple.data[CTA_TUPLE_PROTO]) return false;
  if (!ip.Parse(tuple.data[CTA_TUPLE_IP], tuple.len[CTA_TUPLE_IP])) return false;
  if (!proto.Parse(tuple.data[CTA_TUPLE_PROTO], tuple.len[CTA_TUPLE_PROTO])) return false;
  if (ip.Has(CTA_IP_V4_SRC, 4) && ip.Has(CTA_IP_V4_DST, 4)) {
    t->family = 4;
    MappedV4(t->src, ip.data[CTA_IP_V4_SRC]);
    MappedV4(t->dst, ip.data[CTA_IP_V4_DST]);
  } else if (ip.Has(CTA_IP_V6_SRC, 16) && ip.Has(CTA_IP_V6_DST, 16)) {
    t->family = 6;
    memcpy(t->src, ip.data[CTA_IP_V6_SRC], 16);
    memcpy(t->dst, ip.data[CTA_IP_V6_DST], 16);
  } else {
    return false;
  }
  if (!proto.Has(CTA_PROTO_NUM, 1)) return false;
  t->protocol = *proto.data[CTA_PROTO_NUM];
  if (proto.Has(CTA_PROTO_SRC_PORT, 2)) memcpy(&t->sport, proto.data[CTA_PROTO_SRC_PORT], 2);
  if (proto.Has(CTA_PROTO_DST_PORT, 2)) memcpy(&t->dport, proto.data[CTA_PROTO_DST_PORT], 2);
  return true;
}

template <typename Handle>
void CloseHandle(Handle* h) {
  h->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<Handle*>(x); });
}

// Whether this thread's namespace sends conntrack events: net.netfilter.nf_conntrack_events, read through
// /proc/sys, which shows the reading thread's namespace. 0 turns them off; without the file there is no
// conntrack at all.
bool EventsEnabled(std::string* why) {
  FILE* f = fopen("/proc/sys/net/netfilter/nf_conntrack_events", "re");
  if (!f) {
    *why = "this kernel has no conntrack events (/proc/sys/net/netfilter/nf_conntrack_events: " + Errno(errno) + ")";
    return false;
  }
  int value = -1;
  int n = fscanf(f, "%d", &value);
  fclose(f);
  if (n == 1 && value == 0) {
    *why = "conntrack events are off there (net.netfilter.nf_conntrack_events is 0; set it to 1 or 2)";
    return false;
  }
  return true;
}

// A socket in the current namespace subscribed to new conntracks; -1 with *why set on failure.
int OpenEventSocket(std::string* why) {
  if (!EventsEnabled(why)) return -1;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
  if (fd < 0) {
    *why = "cannot open a netfilter netlink socket (" + Errno(errno) + ")";
    return -1;
  }
  int size = kReceiveBufferBytes;
  // SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it the capped size still works.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  sockaddr_nl addr;
  memset(&addr, 0, sizeof(addr));
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = NF_NETLINK_CONNTRACK_NEW;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    *why = "cannot subscribe to conntrack events (" + Errno(err) + ")" +
           (err == EPERM ? ": it needs CAP_NET_ADMIN" : "");
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

Napi::Function ConntrackEvents::Define(Napi::Env env) {
  return DefineClass(env, "ConntrackEvents",
                     {
                         InstanceMethod("stats", &ConntrackEvents::Stats),
                         InstanceMethod("drain", &ConntrackEvents::Drain),
                         InstanceMethod("close", &ConntrackEvents::Close),
                     });
}

ConntrackEvents::ConntrackEvents(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConntrackEvents>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "new ConntrackEvents(netnsPaths: string[], onRecords: function)");
  Napi::Array paths = info[0].As<Napi::Array>();
  std::vector<std::string> netns;
  for (uint32_t i = 0; i < paths.Length(); i++) {
    Napi::Value v = paths.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "netnsPaths must hold strings");
    netns.push_back(v.As<Napi::String>().Utf8Value());
  }
  if (netns.empty()) netns.push_back("");

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  for (const std::string& path : netns) {
    const std::string where = path.empty() ? "this process's network namespace" : path;
    std::string why;
    int fd = InNetns(path, [&] { return OpenEventSocket(&why); }, &why);
    if (fd < 0) {
      Release();
      throw Napi::Error::New(env, "reading egress NAT from conntrack events in " + where + " failed: " + why);
    }
    auto source = std::make_unique<Source>();
    source->owner = this;
    source->fd = fd;
    source->netns = path;
    struct stat st;
    if (stat(path.empty() ? "/proc/self/ns/net" : path.c_str(), &st) == 0) source->netns_ino = static_cast<uint32_t>(st.st_ino);
    source->poll = new uv_poll_t;
    int err = uv_poll_init(loop, source->poll, fd);
    if (err == 0) {
      source->poll->data = source.get();
      err = uv_poll_start(source->poll, UV_READABLE, OnReadable);
    }
    if (err != 0) {
      CloseHandle(source->poll);
      source->poll = nullptr;
      sources_.push_back(std::move(source));
      Release();
      throw Napi::Error::New(env, "polling conntrack events in " + where + " failed: " + uv_strerror(err));
    }
    // The agent's lifetime is set by its servers and timers, not by this stream.
    uv_unref(reinterpret_cast<uv_handle_t*>(source->poll));
    sources_.push_back(std::move(source));
  }
  buffer_.resize(kDatagramBytes);
  on_records_ = Napi::Persistent(info[1].As<Napi::Function>());
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "flowlens:conntrack");
}

ConntrackEvents::~ConntrackEvents() { Release(); }

void ConntrackEvents::Release() {
  for (auto& s : sources_) {
    if (s->poll) {
      uv_poll_stop(s->poll);
      CloseHandle(s->poll);
      s->poll = nullptr;
    }
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
  }
  sources_.clear();
}

bool ConntrackEvents::Read(Source* source) {
  bool any = false;
  for (;;) {
    ssize_t n = recv(source->fd, buffer_.data(), buffer_.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The kernel dropped messages that did not fit the receive queue; reading goes on with the next.
      if (errno == ENOBUFS) {
        overflows_++;
        continue;
      }
      return any;  // EAGAIN: nothing more
    }
    any = true;
    size_t len = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer_.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_NOOP) continue;
      if (NFNL_SUBSYS_ID(h->nlmsg_type) != NFNL_SUBSYS_CTNETLINK || NFNL_MSG_TYPE(h->nlmsg_type) != IPCTNL_MSG_CT_NEW)
        continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) {
        malformed_++;
        continue;
      }
      size_t body = NLMSG_ALIGN(sizeof(nfgenmsg));
      ParseMessage(*source, reinterpret_cast<const uint8_t*>(NLMSG_DATA(h)) + body, h->nlmsg_len - NLMSG_LENGTH(body));
    }
  }
}

void ConntrackEvents::ParseMessage(const Source& source, const uint8_t* payload, size_t len) {
  Attrs attrs;
  Tuple orig, reply;
  if (!attrs.Parse(payload, len) || !ParseTuple(attrs, CTA_TUPLE_ORIG, &orig) || !ParseTuple(attrs, CTA_TUPLE_REPLY, &reply)) {
    malformed_++;
    return;
  }
  uint32_t status = 0;
  if (attrs.Has(CTA_STATUS, 4)) status = ntohl(*reinterpret_cast<const uint32_t*>(attrs.data[CTA_STATUS]));
  if (!(status & IPS_SRC_NAT)) return;

  fl_record r;
  memset(&r, 0, sizeof(r));
  r.kind = FL_REC_NAT;
  r.version = FL_RECORD_VERSION;
  r.hook = FL_HOOK_NAT;
  r.ts_ns = r.first_seen_ns = r.last_seen_ns = BootTimeNs();
  r.key.family = orig.family;
  r.key.protocol = orig.protocol;
  r.key.direction = FL_DIR_EGRESS;
  memcpy(r.key.saddr, orig.src, 16);
  memcpy(r.key.daddr, orig.dst, 16);
  // The reply goes to the translated source.
  memcpy(r.xlated_saddr, reply.dst, 16);
  // Packet records of ICMP carry no ports (conntrack keeps the echo id there).
  if (orig.protocol != IPPROTO_ICMP && orig.protocol != IPPROTO_ICMPV6) {
    r.key.sport = ntohs(orig.sport);
    r.key.dport = ntohs(orig.dport);
    r.xlated_sport = ntohs(reply.dport);
  }
  r.netns_ino = source.netns_ino;
  const auto* bytes = reinterpret_cast<const uint8_t*>(&r);
  pending_.insert(pending_.end(), bytes, bytes + sizeof(r));
  translated_++;
}

void ConntrackEvents::Deliver() {
  if (pending_.empty()) return;
  size_t count = pending_.size() / sizeof(fl_record);
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Buffer<uint8_t> records = Napi::Buffer<uint8_t>::Copy(env, pending_.data(), pending_.size());
  pending_.clear();
  try {
    on_records_.MakeCallback(env.Global(), {records, Napi::Number::New(env, static_cast<double>(count))}, *async_context_);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

void ConntrackEvents::OnReadable(uv_poll_t* handle, int status, int events) {
  auto* source = static_cast<Source*>(handle->data);
  if (!source || status != 0) return;
  ConntrackEvents* self = source->owner;
  self->Read(source);
  self->Deliver();
}

// drain(): reads and hands on whatever is waiting now (a flush calls it before reporting); returns the count.
Napi::Value ConntrackEvents::Drain(const Napi::CallbackInfo& info) {
  for (auto& s : sources_) Read(s.get());
  size_t count = pending_.size() / sizeof(fl_record);
  Deliver();
  return Napi::Number::New(info.Env(), static_cast<double>(count));
}

// stats(): { translated, overflows, malformed }
Napi::Value ConntrackEvents::Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("translated", Napi::Number::New(info.Env(), static_cast<double>(translated_)));
  o.Set("overflows", Napi::Number::New(info.Env(), static_cast<double>(overflows_)));
  o.Set("malformed", Napi::Number::New(info.Env(), static_cast<double>(malformed_)));
  return o;
}

Napi::Value ConntrackEvents::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

}  // namespace flowlens
