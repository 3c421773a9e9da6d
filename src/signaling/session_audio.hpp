// Where the routed SFU meets the session's audio mix, on one shard: how browsers and SIP parties
// of one session hear each other.
//
//   browser → SIP: a browser publication's audio track is tapped at the SFU (the decrypted RTP,
//     before it is forwarded). While the session has a mix — a SIP leg in it — a media::OpusInput
//     joins the session's Conference under the stream id as a contributor: decoded once per
//     stream, heard by every SIP leg (mix-minus), and only while one listens. A browser-only
//     session has no conference at all: its media goes through the SFU alone.
//   SIP → browser: the first browser to subscribe to a SIP party's stream makes it a *local
//     publication* of the SFU (our SSRC, Opus PT 111); the conference hands the party's decoded
//     frame to a media::OpusStreamOutput each tick, encoded once however many subscribe, and the
//     SFU protects and sends the packet to every subscriber.
//   passthrough: when the room relays a SIP party on Opus with one browser (media::Conference),
//     the browser's packets go to the leg as they are and the party's packets to the local
//     publication as they are (the LocalStream is the tap's relay sink): nothing decoded or
//     encoded either way.
//
// Lifetimes follow the things they serve, so no path has to remember to clean up: a browser
// input lives in the SFU publication's tap (unpublish destroys it, which leaves the mix) and its
// membership of the mix lasts from the conference's creation to its release (ConferenceTable's
// on_create/on_release); the OpusStreamOutput lives in the SIP participant's conference tap (the
// leg leaving destroys it, which ends the local publication). Each side holds only a weak
// reference to the other.
#pragma once
#include "media/conference.hpp"
#include "webrtc/router.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace sb::signaling {

struct SessionAudioStats {
  std::uint64_t browser_inputs = 0;   // browser audio tracks joined to a mix, cumulative
  std::uint64_t sip_streams = 0;      // SIP parties' streams published to browsers, cumulative
};

class SessionAudio {
 public:
  SessionAudio(webrtc::Router& router, std::shared_ptr<media::ConferenceTable> rooms);
  ~SessionAudio();
  SessionAudio(const SessionAudio&) = delete;
  SessionAudio& operator=(const SessionAudio&) = delete;

  // A routed browser publication went live in the SFU under `router_key`: if it has an audio
  // track, that audio joins the session's mix under `stream_id`.
  void browser_published(const std::string& session_id, const std::string& stream_id, const std::string& router_key);

  // A browser subscribes to a SIP party's stream: makes sure the SFU has a local publication
  // under `router_key` fed by the party's audio (the conference participant joined under
  // `call_id`). False + why when the call has no media in the session's mix (not set up yet,
  // or over).
  bool ensure_sip_stream(const std::string& session_id, const std::string& call_id, const std::string& router_key,
                         std::string* why);

  const SessionAudioStats& stats() const { return stats_; }
  // Browser audio publications known, and those in a mix now.
  std::size_t browser_inputs() const;
  std::size_t browser_inputs_mixed() const;

  struct Input;
  struct Registry;

 private:
  void join(Input& in, media::Conference& room);

  webrtc::Router& router_;
  std::weak_ptr<media::ConferenceTable> rooms_;
  std::shared_ptr<Registry> registry_;
  SessionAudioStats stats_;
};

}  // namespace sb::signaling
