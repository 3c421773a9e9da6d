// DTMF out (RFC 4733 and in-band), DTMF in (RFC 4733, SIP INFO). See dtmf.hpp.
#include "rtp/dtmf.hpp"

#include "base/encoding.hpp" // ascii_iequals
#include "rtp/seq.hpp"

#include <algorithm>
#include <mutex>
#include <new>
#include <stdexcept>

// <spandsp.h> pulls in <tiffio.h> (fax support); only the DTMF generator is needed.
#include <spandsp/telephony.h>
#include <spandsp/logging.h>       // logging_state_t, used by dtmf.h
#include <spandsp/super_tone_rx.h> // tone_report_func_t, used by dtmf.h
#include <spandsp/dtmf.h>
// telephony.h defines lrint/lrintf as truncating casts in C++; keep them out of this file.
#undef lrint
#undef lrintf

namespace sb::rtp {

// ---------------------------------------------------------------------------------------------
// Digits

std::optional<std::uint8_t> dtmf_event_code(char d) noexcept {
  if (d >= '0' && d <= '9') return static_cast<std::uint8_t>(d - '0');
  if (d == '*') return 10;
  if (d == '#') return 11;
  if (d >= 'A' && d <= 'D') return static_cast<std::uint8_t>(12 + (d - 'A'));
  if (d >= 'a' && d <= 'd') return static_cast<std::uint8_t>(12 + (d - 'a'));
  return std::nullopt;
}

char dtmf_digit_char(std::uint8_t event) noexcept {
  static constexpr char k_chars[] = "0123456789*#ABCD";
  return event < 16 ? k_chars[event] : '\0';
}

bool valid_dtmf_digits(std::string_view digits) noexcept {
  return !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
    return c == 'p' || dtmf_event_code(c).has_value();
  });
}

bool DtmfQueue::push(std::string_view digits) noexcept {
  if (!valid_dtmf_digits(digits) || digits.size() > ring_.size() - size_) return false;
  for (char c : digits) {
    const auto code = dtmf_event_code(c);
    ring_[(head_ + size_++) % ring_.size()] = code ? dtmf_digit_char(*code) : 'p';
  }
  return true;
}

std::optional<char> DtmfQueue::pop() noexcept {
  if (size_ == 0) return std::nullopt;
  const char c = ring_[head_];
  head_ = (head_ + 1) % ring_.size();
  --size_;
  return c;
}

namespace {

int ticks_of(int ms, int tick_ms) { return (ms + tick_ms - 1) / tick_ms; } // rounded up

} // namespace

// ---------------------------------------------------------------------------------------------
// RFC 4733 out

DtmfSender::DtmfSender(const DtmfSenderConfig& cfg) : cfg_(cfg) {
  const auto& t = cfg.timing;
  if (cfg.tick_ms <= 0 || cfg.tick_ms > 1000 || cfg.clock_rate == 0 ||
      (std::uint64_t{cfg.clock_rate} * static_cast<std::uint64_t>(cfg.tick_ms)) % 1000 != 0)
    throw std::invalid_argument("dtmf: the tick is not a whole number of clock units");
  const std::uint64_t units = std::uint64_t{cfg.clock_rate} * static_cast<std::uint64_t>(cfg.tick_ms) / 1000;
  if (units > 0xFFFF) throw std::invalid_argument("dtmf: one tick exceeds the 16-bit duration");
  if (cfg.payload_type > 127) throw std::invalid_argument("dtmf: payload type over 127");
  if (t.volume > 63) throw std::invalid_argument("dtmf: volume over 63");
  if (t.tone_ms <= 0 || t.gap_ms < 0 || t.pause_ms < 0 || t.tone_ms > 60000 || t.gap_ms > 60000 ||
      t.pause_ms > 60000)
    throw std::invalid_argument("dtmf: tone, gap or pause out of range");
  units_ = static_cast<std::uint32_t>(units);
  tone_units_ = static_cast<std::uint64_t>(ticks_of(t.tone_ms, cfg.tick_ms)) * units_;
  // The two end repeats take the first two ticks of the gap, whatever the configured gap.
  gap_ticks_ = std::max(ticks_of(t.gap_ms, cfg.tick_ms), k_dtmf_end_packets - 1);
  pause_ticks_ = ticks_of(t.pause_ms, cfg.tick_ms);
}

DtmfPacket DtmfSender::packet(std::uint32_t ts, std::uint16_t duration, bool end, bool marker) const noexcept {
  DtmfPacket p;
  (void)write_dtmf(p.payload, DtmfEvent{event_, end, cfg_.timing.volume, duration});
  p.payload_type = cfg_.payload_type;
  p.timestamp = ts;
  p.marker = marker;
  p.end = end;
  return p;
}

void DtmfSender::clear() noexcept {
  queue_.clear();
  phase_ = Phase::idle;
  seg_repeats_ = end_repeats_ = left_ = 0;
}

std::optional<DtmfPacket> DtmfSender::next(std::uint32_t ts) noexcept {
  // A finished gap or pause hands this same tick to the next queued item.
  if ((phase_ == Phase::after || phase_ == Phase::pause) && left_ == 0) phase_ = Phase::idle;
  while (phase_ == Phase::idle) {
    const auto c = queue_.pop();
    if (!c) return std::nullopt;
    if (*c == 'p') {
      if (pause_ticks_ == 0) continue; // a zero pause configured: nothing to wait
      phase_ = Phase::pause;
      left_ = pause_ticks_;
    } else {
      phase_ = Phase::tone;
      event_ = *dtmf_event_code(*c);
      start_ts_ = ts; // §2.5.1.2: the event's timestamp is the tick it starts on
      ticks_ = 0;
      seg_offset_ = 0;
      seg_repeats_ = 0;
    }
  }
  switch (phase_) {
    case Phase::pause:
      --left_;
      return std::nullopt;
    case Phase::after:
      --left_;
      if (end_repeats_ == 0) return std::nullopt;
      --end_repeats_;
      return end_packet_; // §2.5.1.4: identical, on the next ticks
    case Phase::idle: return std::nullopt;
    case Phase::tone: break;
  }
  ++ticks_;
  const std::uint64_t played = std::min(ticks_ * units_, tone_units_);
  const auto seg_ts = static_cast<std::uint32_t>(start_ts_ + seg_offset_);
  if (seg_repeats_ > 0) {
    // §2.5.1.3/§2.5.1.4: a segment's last packet is repeated too; the tone goes on meanwhile.
    --seg_repeats_;
    return packet(prev_seg_ts_, 0xFFFF, false, false);
  }
  if (played - seg_offset_ > 0xFFFF) {
    // §2.5.1.3: the duration field is full; end this segment and start the next one at the
    // old timestamp + 0xFFFF (no M: the event goes on). Never on the first tick (units ≤ 0xFFFF).
    prev_seg_ts_ = seg_ts;
    seg_offset_ += 0xFFFF;
    seg_repeats_ = k_dtmf_end_packets - 1;
    return packet(prev_seg_ts_, 0xFFFF, false, false);
  }
  const auto duration = static_cast<std::uint16_t>(played - seg_offset_);
  if (played < tone_units_) return packet(seg_ts, duration, false, ticks_ == 1);
  end_packet_ = packet(seg_ts, duration, true, false); // the repeats never carry M
  phase_ = Phase::after;
  left_ = gap_ticks_;
  end_repeats_ = k_dtmf_end_packets - 1;
  auto first = end_packet_;
  first.marker = ticks_ == 1; // a one-tick tone: its only packet also starts the event
  return first;
}

// ---------------------------------------------------------------------------------------------
// In-band out

namespace {

// spandsp fills its DTMF tone table on the first dtmf_tx_init, in a static without a lock:
// shards constructing their first generators at once would race on it.
std::once_flag g_spandsp_dtmf_once;

} // namespace

void InbandDtmf::Free::operator()(dtmf_tx_state_s* s) const noexcept { dtmf_tx_free(s); }

InbandDtmf::InbandDtmf(const DtmfTiming& timing) : timing_(timing) {
  std::call_once(g_spandsp_dtmf_once, [this] { tx_.reset(dtmf_tx_init(nullptr)); });
  if (!tx_) tx_.reset(dtmf_tx_init(nullptr));
  if (!tx_) throw std::bad_alloc();
  reset_generator();
}

InbandDtmf::~InbandDtmf() = default;

void InbandDtmf::reset_generator() noexcept {
  dtmf_tx_init(tx_.get()); // re-initialises in place (empties spandsp's own digit queue)
  dtmf_tx_set_level(tx_.get(), -static_cast<int>(std::min<std::uint8_t>(timing_.volume, 63)), 0);
  dtmf_tx_set_timing(tx_.get(), std::max(timing_.tone_ms, 1), std::max(timing_.gap_ms, 0));
}

void InbandDtmf::clear() noexcept {
  queue_.clear();
  tone_left_ = 0;
  pause_left_ = 0;
  reset_generator();
}

bool InbandDtmf::fill(std::span<std::int16_t> pcm) noexcept {
  std::size_t done = 0;
  bool active = false;
  while (done < pcm.size()) {
    const std::size_t want = pcm.size() - done;
    if (pause_left_ > 0) {
      const std::size_t k = std::min(want, pause_left_);
      std::fill_n(pcm.begin() + static_cast<std::ptrdiff_t>(done), k, std::int16_t{0});
      pause_left_ -= k;
      done += k;
      active = true;
      continue;
    }
    if (tone_left_ > 0) {
      const auto k = static_cast<int>(std::min(want, tone_left_));
      const auto got = static_cast<std::size_t>(std::max(dtmf_tx(tx_.get(), pcm.data() + done, k), 0));
      if (got > 0) active = true;
      done += got;
      // Counted here too, so that idle() is exact at the last sample of the gap.
      tone_left_ = got < static_cast<std::size_t>(k) ? 0 : tone_left_ - got;
      continue;
    }
    const auto c = queue_.pop();
    if (!c) break;
    if (*c == 'p') {
      pause_left_ = static_cast<std::size_t>(std::max(timing_.pause_ms, 0)) * k_inband_rate / 1000;
    } else {
      const char d = *c;
      // 0.0.6 returns how many digits did NOT fit (its header says the opposite); one digit
      // into the generator's empty 128-digit queue always fits.
      if (dtmf_tx_put(tx_.get(), &d, 1) == 0)
        tone_left_ = static_cast<std::size_t>(std::max(timing_.tone_ms, 1) + std::max(timing_.gap_ms, 0)) *
                     k_inband_rate / 1000;
    }
  }
  if (!active) return false;
  std::fill(pcm.begin() + static_cast<std::ptrdiff_t>(done), pcm.end(), std::int16_t{0});
  return true;
}

// ---------------------------------------------------------------------------------------------
// RFC 4733 in

DtmfDigit DtmfReceiver::report(bool end_seen) noexcept {
  cur_.reported = true;
  ++stats_.digits;
  if (!end_seen) ++stats_.end_lost;
  const std::uint64_t units = cur_.base + cur_.seg_dur;
  const std::uint64_t ms = cfg_.clock_rate ? units * 1000 / cfg_.clock_rate : 0;
  return DtmfDigit{dtmf_digit_char(cur_.code), static_cast<std::uint32_t>(std::min<std::uint64_t>(ms, UINT32_MAX)),
                   cur_.volume, end_seen};
}

DtmfDigits DtmfReceiver::on_event(std::span<const std::uint8_t> payload, std::uint32_t ts,
                                  bool marker, std::uint16_t seq, std::int64_t now_ms) noexcept {
  DtmfDigits out;
  ++stats_.packets;
  const auto ev = parse_dtmf(payload);
  if (!ev) {
    ++stats_.malformed;
    return out;
  }
  if (ev->event > 15) {
    ++stats_.non_dtmf; // flash and tone events (§3.2 and RFC 4734): not digits
    return out;
  }
  auto& c = cur_;
  const bool same_ts = c.valid && (ts == c.ts || ts == c.seg_ts);
  // A sender whose clock stood still between two digits: a new M, later in sequence.
  const bool restart = same_ts && c.reported && marker && seq_newer(seq, c.last_seq);
  if (same_ts && !restart) {
    if (c.reported) {
      ++stats_.repeats; // end repeats (§2.5.1.4), duplicates, updates after a timeout
      return out;
    }
    if (seq_newer(seq, c.last_seq)) c.last_seq = seq;
    c.last_ms = now_ms;
    c.volume = ev->volume;
    if (ts == c.seg_ts) c.seg_dur = std::max(c.seg_dur, ev->duration);
    if (ev->end && ts == c.seg_ts) out.items[out.count++] = report(true);
    return out;
  }
  if (c.valid && !restart && ts_diff(ts, c.seg_ts) < 0) {
    // An earlier segment of this event (its end repeats), or an event before it: handled.
    // Far behind is no reordering but a sender whose clock jumped back: a new event.
    const auto behind = ts_diff(ts, c.ts);
    if (behind >= 0) {
      ++stats_.repeats;
      return out;
    }
    if (behind >= -std::int64_t{k_late_window_s} * cfg_.clock_rate) {
      ++stats_.late;
      return out;
    }
  }
  if (c.valid && !c.reported && !marker && ev->event == c.code && ts_diff(ts, c.seg_ts) == 0xFFFF) {
    // §2.5.2.3: the next segment of a long event.
    c.base += 0xFFFF;
    c.seg_ts = ts;
    c.seg_dur = ev->duration;
    c.last_seq = seq;
    c.last_ms = now_ms;
    if (ev->end) out.items[out.count++] = report(true);
    return out;
  }
  // A new event (its start packet may have been lost: the first packet seen of it counts).
  if (c.valid && !c.reported) out.items[out.count++] = report(false);
  c = Event{true, false, ev->event, ev->volume, ts, ts, ev->duration, 0, seq, now_ms};
  if (ev->end) out.items[out.count++] = report(true);
  return out;
}

std::optional<DtmfDigit> DtmfReceiver::on_audio(std::uint32_t ts) noexcept {
  if (!cur_.valid || cur_.reported) return std::nullopt;
  if (ts_diff(ts, cur_.seg_ts + cur_.seg_dur) <= 0) return std::nullopt;
  return report(false);
}

std::optional<DtmfDigit> DtmfReceiver::on_timer(std::int64_t now_ms) noexcept {
  const auto d = deadline();
  if (!d || now_ms < *d) return std::nullopt;
  return report(false);
}

std::optional<std::int64_t> DtmfReceiver::deadline() const noexcept {
  if (!cur_.valid || cur_.reported) return std::nullopt;
  return cur_.last_ms + cfg_.end_timeout_ms;
}

// ---------------------------------------------------------------------------------------------
// SIP INFO

namespace {

constexpr std::size_t k_max_relay_body = 1024;
constexpr std::size_t k_max_dtmf_body = 64;

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool has_control(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return (u < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || u == 0x7f;
  });
}

// A digit, or 10..15 for * # A..D (the RFC 4733 codes some senders write).
std::optional<char> signal_value(std::string_view v) noexcept {
  if (v.size() == 1) {
    const auto code = dtmf_event_code(v[0]);
    if (code) return dtmf_digit_char(*code);
    return std::nullopt;
  }
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
    return dtmf_digit_char(static_cast<std::uint8_t>(10 + (v[1] - '0')));
  return std::nullopt;
}

std::optional<std::uint32_t> decimal(std::string_view v) noexcept {
  if (v.empty() || v.size() > 9) return std::nullopt;
  std::uint32_t n = 0;
  for (char ch : v) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint32_t>(ch - '0');
  }
  return n;
}

} // namespace

std::optional<DtmfDigit> parse_dtmf_relay(std::string_view body) noexcept {
  if (body.size() > k_max_relay_body || has_control(body)) return std::nullopt;
  std::optional<char> signal;
  std::optional<std::uint32_t> duration;
  while (!body.empty()) {
    const auto nl = body.find('\n');
    const auto line = trim(body.substr(0, nl));
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const auto key = trim(line.substr(0, eq));
    const auto value = trim(line.substr(eq + 1));
    if (key.empty()) return std::nullopt;
    if (ascii_iequals(key, "Signal")) {
      if (signal) return std::nullopt;
      signal = signal_value(value);
      if (!signal) return std::nullopt;
    } else if (ascii_iequals(key, "Duration")) {
      if (duration) return std::nullopt;
      duration = decimal(value);
      if (!duration) return std::nullopt;
    }
  }
  if (!signal) return std::nullopt;
  return DtmfDigit{*signal, duration.value_or(0), 0, true};
}

std::optional<DtmfDigit> parse_dtmf_body(std::string_view body) noexcept {
  if (body.size() > k_max_dtmf_body || has_control(body)) return std::nullopt;
  const auto d = signal_value(trim(body));
  if (!d) return std::nullopt;
  return DtmfDigit{*d, 0, 0, true};
}

std::optional<DtmfDigit> parse_sip_info_dtmf(std::string_view content_type,
                                             std::string_view body) noexcept {
  const auto type = trim(content_type.substr(0, content_type.find(';')));
  if (ascii_iequals(type, "application/dtmf-relay")) return parse_dtmf_relay(body);
  if (ascii_iequals(type, "application/dtmf")) return parse_dtmf_body(body);
  return std::nullopt;
}

} // namespace sb::rtp
