// Streams a BPF ring buffer to JavaScript: the event loop polls the ring's
// epoll fd (no busy polling), drains every ready record in C and hands the
// callback one Buffer holding them back to back (no callback per record).
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

struct ring_buffer;

namespace flowlens {

class RingStream {
 public:
  // Throws Napi::Error when the ring cannot be opened or polled.
  RingStream(Napi::Env env, int map_fd, size_t record_size, Napi::Function on_batch);
  ~RingStream();
  RingStream(const RingStream&) = delete;
  RingStream& operator=(const RingStream&) = delete;

  // Drains the ring now (records already submitted reach the callback).
  void Drain();
  uint64_t malformed() const { return malformed_; }

 private:
  static int OnSample(void* ctx, void* data, size_t size);
  static void OnReadable(uv_poll_t* handle, int status, int events);

  Napi::Env env_;
  ring_buffer* ring_ = nullptr;
  uv_poll_t* poll_ = nullptr;  // freed by uv_close's callback
  Napi::FunctionReference on_batch_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  std::vector<uint8_t> batch_;
  size_t record_size_;
  uint64_t malformed_ = 0;
};

}  // namespace flowlens
