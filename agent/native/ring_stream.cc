#include "ring_stream.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace flowlens {
namespace {

constexpr int kBatchFull = -ENOSPC;
// Longer than the kernel side's minimum gap between wakeups (1 ms).
constexpr uint64_t kFollowUpMs = 2;

template <typename Handle>
void CloseHandle(Handle* h) {
  h->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<Handle*>(x); });
}

}  // namespace

RingStream::RingStream(Napi::Env env, int map_fd, size_t record_size, Napi::Buffer<uint8_t> batch,
                       Napi::Function on_batch)
    : env_(env), record_size_(record_size) {
  if (record_size == 0 || batch.Length() < record_size) {
    throw Napi::Error::New(env, "the ring buffer's batch Buffer must hold at least one record of " +
                                    std::to_string(record_size) + " bytes");
  }
  ring_ = ring_buffer__new(map_fd, OnSample, this, nullptr);
  if (!ring_) {
    throw Napi::Error::New(env, std::string("opening the ring buffer failed: ") + strerror(errno));
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  int err = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(ring_));
  if (err != 0) {
    delete poll_;
    poll_ = nullptr;
    ring_buffer__free(ring_);
    throw Napi::Error::New(env, std::string("polling the ring buffer failed: ") + uv_strerror(err));
  }
  timer_ = new uv_timer_t;
  uv_timer_init(loop, timer_);
  timer_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  err = uv_poll_start(poll_, UV_READABLE, OnReadable);
  if (err != 0) {
    CloseHandle(poll_);
    CloseHandle(timer_);
    ring_buffer__free(ring_);
    throw Napi::Error::New(env, std::string("polling the ring buffer failed: ") + uv_strerror(err));
  }
  on_batch_ = Napi::Persistent(on_batch);
  batch_ref_ = Napi::Persistent(batch);
  batch_data_ = batch.Data();
  batch_capacity_ = batch.Length() / record_size;
  async_context_ = std::make_unique<Napi::AsyncContext>(env, "flowlens:ringbuf");
}

RingStream::~RingStream() {
  if (poll_) {
    uv_poll_stop(poll_);
    CloseHandle(poll_);
  }
  if (timer_) {
    uv_timer_stop(timer_);
    CloseHandle(timer_);
  }
  if (ring_) ring_buffer__free(ring_);
}

int RingStream::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingStream*>(ctx);
  if (size != self->record_size_) {
    self->malformed_++;
    return 0;
  }
  memcpy(self->batch_data_ + self->batch_count_ * size, data, size);
  // A full batch stops this drain (the record is already consumed); the poll fires again for the rest.
  return ++self->batch_count_ >= self->batch_capacity_ ? kBatchFull : 0;
}

void RingStream::OnReadable(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<RingStream*>(handle->data);
  if (!self || status != 0) return;
  self->ArmFollowUp();  // first: the listener may close the stream
  self->Drain();
}

void RingStream::OnFollowUp(uv_timer_t* handle) {
  auto* self = static_cast<RingStream*>(handle->data);
  if (!self) return;
  self->ArmFollowUp();
  if (self->Drain() == 0 && handle->data) uv_timer_stop(handle);
}

void RingStream::ArmFollowUp() { uv_timer_start(timer_, OnFollowUp, kFollowUpMs, 0); }

size_t RingStream::Drain() {
  ring_buffer__consume(ring_);
  size_t records = batch_count_;
  if (records == 0) return 0;
  batch_count_ = 0;
  Napi::HandleScope scope(env_);
  try {
    on_batch_.MakeCallback(env_.Global(), {Napi::Number::New(env_, static_cast<double>(records))}, *async_context_);
  } catch (const Napi::Error& e) {
    // An exception in the listener becomes the process's uncaught exception, as for any event callback.
    napi_fatal_exception(env_, e.Value());
  }
  return records;
}

}  // namespace flowlens
