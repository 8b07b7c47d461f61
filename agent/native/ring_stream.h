// Streams a BPF ring buffer to JavaScript: the event loop polls the ring's
// epoll fd (no busy polling), drains the ready records in C into one Buffer
// the caller allocated once, back to back, and tells the callback how many
// records it holds (no callback per record, no allocation per batch: the
// callback reads them before returning and the next drain overwrites them).
// The kernel side wakes the reader at most once per millisecond, so each
// wakeup is followed by one more drain a little later (kFollowUpMs) that
// picks up records submitted without a wakeup.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>

struct ring_buffer;

namespace flowlens {

class RingStream {
 public:
  // Throws Napi::Error when the ring cannot be opened or polled.
  RingStream(Napi::Env env, int map_fd, size_t record_size, Napi::Buffer<uint8_t> batch, Napi::Function on_batch);
  ~RingStream();
  RingStream(const RingStream&) = delete;
  RingStream& operator=(const RingStream&) = delete;

  // Delivers up to one batch of the records already in the ring; returns how many records.
  size_t Drain();
  uint64_t malformed() const { return malformed_; }

 private:
  static int OnSample(void* ctx, void* data, size_t size);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void OnFollowUp(uv_timer_t* handle);
  void ArmFollowUp();

  Napi::Env env_;
  ring_buffer* ring_ = nullptr;
  uv_poll_t* poll_ = nullptr;    // freed by uv_close's callback
  uv_timer_t* timer_ = nullptr;  // likewise
  Napi::FunctionReference on_batch_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::Reference<Napi::Buffer<uint8_t>> batch_ref_;  // keeps batch_data_ alive
  uint8_t* batch_data_ = nullptr;
  size_t batch_capacity_ = 0;  // records
  size_t batch_count_ = 0;
  size_t record_size_;
  uint64_t malformed_ = 0;
};

}  // namespace flowlens
