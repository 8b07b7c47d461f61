// Egress NAT bindings from conntrack's own event stream: a NETLINK_NETFILTER socket subscribed to new
// conntracks in each namespace where source NAT happens. The kernel sends one message per connection, when
// its conntrack is confirmed after the first packet has passed source NAT, so no program runs per packet.
// Each source-translated connection becomes one FL_REC_NAT record, the same bytes the kernel programs
// write, handed to JavaScript in one Buffer per drain.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace flowlens {

class ConntrackEvents : public Napi::ObjectWrap<ConntrackEvents> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new ConntrackEvents(netnsPaths: string[], onRecords: (records: Buffer, count: number) => void)
  explicit ConntrackEvents(const Napi::CallbackInfo& info);
  ~ConntrackEvents() override;

 private:
  struct Source {
    ConntrackEvents* owner = nullptr;
    int fd = -1;
    uint32_t netns_ino = 0;
    std::string netns;
    uv_poll_t* poll = nullptr;  // freed by uv_close's callback
  };

  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnReadable(uv_poll_t* handle, int status, int events);
  // Reads every message waiting on one source into pending_; false when nothing was waiting.
  bool Read(Source* source);
  void ParseMessage(const Source& source, const uint8_t* payload, size_t len);
  void Deliver();
  void Release();

  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<uint8_t> pending_;  // records not yet handed on
  std::vector<uint8_t> buffer_;   // one datagram
  Napi::FunctionReference on_records_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  uint64_t translated_ = 0;  // records made
  uint64_t overflows_ = 0;   // times the socket's receive queue overflowed (ENOBUFS): bindings were lost
  uint64_t malformed_ = 0;   // messages that did not parse
};

}  // namespace flowlens
