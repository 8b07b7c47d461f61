#include "ring_stream.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace flowlens {

RingStream::RingStream(Napi::Env env, int map_fd, size_t record_size, Napi::Function on_batch)
    : env_(env), record_size_(record_size) {
  ring_ = ring_buffer__new(map_fd, OnSample, this, nullptr);
  if (!ring_) {
    throw Napi::Error::New(env, std::string("opening the ring buffer failed: ") + strerror(errno));
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  int err = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(ring_));
  if (err == 0) err = uv_poll_start(poll_, UV_READABLE, OnReadable);
  if (err != 0) {
    delete poll_;
    poll_ = nullptr;
    ring_buffer__free(ring_);
    throw Napi::Error::New(env, std::string("polling the ring buffer failed: ") + uv_strerror(err));
  }
  on_batch_ = Napi::Persistent(on_batch);
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "flowlens:ringbuf");
  batch_.reserve(1 << 20);
}

RingStream::~RingStream() {
  if (poll_) {
    poll_->data = nullptr;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  }
  if (ring_) ring_buffer__free(ring_);
}

int RingStream::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingStream*>(ctx);
  if (size != self->record_size_) {
    self->malformed_++;
    return 0;
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  self->batch_.insert(self->batch_.end(), bytes, bytes + size);
  return 0;
}

void RingStream::OnReadable(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<RingStream*>(handle->data);
  if (self && status == 0) self->Drain();
}

void RingStream::Drain() {
  ring_buffer__consume(ring_);
  if (batch_.empty()) return;
  Napi::HandleScope scope(env_);
  Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env_, batch_.data(), batch_.size());
  batch_.clear();
  try {
    on_batch_.MakeCallback(env_.Global(), {buf}, *async_context_);
  } catch (const Napi::Error& e) {
    // An exception in the listener becomes the process's uncaught exception, as for any event callback.
    napi_fatal_exception(env_, e.Value());
  }
}

}  // namespace flowlens
