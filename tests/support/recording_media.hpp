// A sip::CallMedia that records what the call hands it (answers, re-offers) and answers with a
// minimal PCMU SDP: for Call/UserAgent tests that look at signalling, not audio.
#pragma once
#include "sip/call.hpp"

#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sb::test {

// What the call did to its media. Shared with the test, which outlives the call's copy.
struct MediaLog {
  std::vector<std::string> answers;          // apply_answer, in order
  std::vector<std::string> offers_answered;  // answer_offer, in order
  int current_offers = 0;                    // current_offer calls (re-offers)
  std::optional<std::string> failure;        // what failure() reports
  std::function<void()> on_failure;          // the call's wake-up, once it set one
  bool stopped = false;
  int refuse_answers = 0;                    // this many apply_answer calls fail (insecure)
  int reoffers = 0;                          // reoffer_after calls that said yes
  // What since_last_packet() says (nullopt: nothing ever arrived).
  std::optional<std::chrono::milliseconds> since_last_packet = std::chrono::milliseconds(0);
};

inline std::string sdp(int version, const char* extra = "") {
  return fmt::format(
      "v=0\r\no=- 1 {} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
      "a=rtpmap:0 PCMU/8000\r\n{}",
      version, extra);
}

class RecordingMedia final : public sip::CallMedia {
 public:
  explicit RecordingMedia(std::shared_ptr<MediaLog> log) : log_(std::move(log)) {}
  std::string offer() override { return sdp(1); }
  std::error_code apply_answer(std::string_view s) override {
    log_->answers.emplace_back(s);
    if (log_->refuse_answers > 0) {
      --log_->refuse_answers;
      return std::make_error_code(std::errc::protocol_not_supported);  // "not keyed"
    }
    return {};
  }
  bool reoffer_after(std::error_code) override {
    if (log_->reoffers > 0) return false;  // one other keying, as rtp::AudioLeg has
    ++log_->reoffers;
    return true;
  }
  std::optional<std::string> answer_offer(std::string_view s, bool& on_hold) override {
    log_->offers_answered.emplace_back(s);
    on_hold = false;
    return sdp(++version_);
  }
  std::string current_offer() override {
    ++log_->current_offers;
    return sdp(++version_);
  }
  std::optional<std::chrono::milliseconds> since_last_packet() const override { return log_->since_last_packet; }
  void stop() override { log_->stopped = true; }
  std::optional<std::string> failure() const override { return log_->failure; }
  void on_failure(std::function<void()> wake) override { log_->on_failure = std::move(wake); }

 private:
  std::shared_ptr<MediaLog> log_;
  int version_ = 1;
};

}  // namespace sb::test
