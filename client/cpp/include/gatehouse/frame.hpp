// Gatehouse frame codec (shared/PROTOCOL.md section 3): a 32-byte header of unsigned 32-bit
// big-endian integers, the UTF-8 string body, then binary data. Header-only, standard C++17.
//
// A reader checks a header before it allocates for the body: sync bytes, 32 <= full length <=
// its limit, string-body length <= full length - 32. After a fault the stream cannot be trusted
// to resync: FrameDecoder keeps failing with the same fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse {

/// Size of the frame header in bytes.
inline constexpr std::size_t kFrameHeaderBytes = 32;
/// Default largest frame (header + body) a reader accepts: 1 MiB.
inline constexpr std::uint32_t kDefaultMaxFrameBytes = 1024 * 1024;
/// The four bytes every frame starts with.
inline constexpr std::uint8_t kSyncBytes[4] = {0x09, 0x6f, 0x01, 0x01};

/// A decoded frame.
struct Frame {
  std::uint32_t seq = 0;
  std::uint32_t type = 0;
  std::string body;    ///< the string body's bytes (UTF-8, usually a JSON envelope)
  std::string binary;  ///< the binary data after the string body, may be empty
};

/// Why a header was refused.
enum class FrameFault { BadSync, BadLength, TooLarge, BadBodyLength };

/// The protocol's name of a fault: BAD_SYNC, BAD_LENGTH, TOO_LARGE, BAD_BODY_LENGTH.
inline const char* frameFaultName(FrameFault fault) {
  switch (fault) {
    case FrameFault::BadSync: return "BAD_SYNC";
    case FrameFault::BadLength: return "BAD_LENGTH";
    case FrameFault::TooLarge: return "TOO_LARGE";
    case FrameFault::BadBodyLength: return "BAD_BODY_LENGTH";
  }
  return "UNKNOWN";
}

/// A header fault; `framesBefore` holds the whole frames that came before it in the same push.
class FrameError : public std::runtime_error {
 public:
  FrameError(FrameFault fault, const std::string& message)
      : std::runtime_error(message), fault_(fault) {}
  FrameFault fault() const { return fault_; }
  std::vector<Frame> framesBefore;

 private:
  FrameFault fault_;
};

/// The header fields of a frame.
struct FrameHeader {
  std::uint32_t fullLength = 0;
  std::uint32_t seq = 0;
  std::uint32_t type = 0;
  std::uint32_t bodyLength = 0;
};

namespace detail {
inline std::uint32_t readU32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}
inline void writeU32(std::uint8_t* p, std::uint32_t v) {
  p[0] = std::uint8_t(v >> 24);
  p[1] = std::uint8_t(v >> 16);
  p[2] = std::uint8_t(v >> 8);
  p[3] = std::uint8_t(v);
}
}  // namespace detail

/// Encodes one frame. Throws std::length_error when it would not fit a 32-bit length.
inline std::string encodeFrame(std::uint32_t seq, std::uint32_t type, std::string_view body,
                               std::string_view binary = {}) {
  const std::uint64_t full = kFrameHeaderBytes + std::uint64_t(body.size()) + binary.size();
  if (full > 0xffffffffull) throw std::length_error("Frame length must fit in 32 bits");
  std::string out(kFrameHeaderBytes, '\0');
  auto* h = reinterpret_cast<std::uint8_t*>(out.data());
  for (int i = 0; i < 4; i++) h[i] = kSyncBytes[i];
  detail::writeU32(h + 4, std::uint32_t(full));
  detail::writeU32(h + 8, seq);
  detail::writeU32(h + 12, type);
  detail::writeU32(h + 16, std::uint32_t(body.size()));
  out.append(body.data(), body.size());
  out.append(binary.data(), binary.size());
  return out;
}

/// Reads and checks a 32-byte header. Throws FrameError naming the fault.
inline FrameHeader readFrameHeader(const std::uint8_t* header,
                                   std::uint32_t maxFrameBytes = kDefaultMaxFrameBytes) {
  for (int i = 0; i < 4; i++) {
    if (header[i] != kSyncBytes[i]) {
      throw FrameError(FrameFault::BadSync,
                       "The frame does not start with the sync bytes 09 6F 01 01");
    }
  }
  FrameHeader h;
  h.fullLength = detail::readU32(header + 4);
  if (h.fullLength < kFrameHeaderBytes) {
    throw FrameError(FrameFault::BadLength, "The frame's full length " +
                                                std::to_string(h.fullLength) +
                                                " is shorter than its 32-byte header");
  }
  if (h.fullLength > maxFrameBytes) {
    throw FrameError(FrameFault::TooLarge, "The frame's full length " +
                                               std::to_string(h.fullLength) +
                                               " is over the limit of " +
                                               std::to_string(maxFrameBytes) + " bytes");
  }
  h.bodyLength = detail::readU32(header + 16);
  if (h.bodyLength > h.fullLength - kFrameHeaderBytes) {
    throw FrameError(FrameFault::BadBodyLength, "The frame's string-body length " +
                                                    std::to_string(h.bodyLength) +
                                                    " is more than its full length allows");
  }
  h.seq = detail::readU32(header + 8);
  h.type = detail::readU32(header + 12);
  return h;
}

/// A streaming decoder: feed it bytes as they arrive; it returns each frame once whole.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t maxFrameBytes = kDefaultMaxFrameBytes)
      : max_(maxFrameBytes) {}

  /// Bytes held for a frame not yet complete.
  std::size_t bufferedBytes() const { return headerFill_ + frame_.size(); }

  /// Feeds bytes; returns the frames they complete, in order. A bad header throws FrameError
  /// with the whole frames before it in `framesBefore`; every later call throws it again.
  std::vector<Frame> push(const void* data, std::size_t size) {
    if (failed_) throw FrameError(fault_, faultMessage_);
    std::vector<Frame> frames;
    const auto* p = static_cast<const std::uint8_t*>(data);
    std::size_t offset = 0;
    try {
      while (offset < size) {
        if (!inFrame_) {
          const std::size_t take = std::min(kFrameHeaderBytes - headerFill_, size - offset);
          std::copy(p + offset, p + offset + take, header_ + headerFill_);
          headerFill_ += take;
          offset += take;
          if (headerFill_ < kFrameHeaderBytes) break;
          current_ = check(header_);
          headerFill_ = 0;
          inFrame_ = true;
          frame_.assign(reinterpret_cast<const char*>(header_), kFrameHeaderBytes);
          frame_.reserve(current_.fullLength);
        }
        const std::size_t take = std::min<std::size_t>(current_.fullLength - frame_.size(),
                                                       size - offset);
        frame_.append(reinterpret_cast<const char*>(p + offset), take);
        offset += take;
        if (frame_.size() == current_.fullLength) {
          frames.push_back(toFrame());
          inFrame_ = false;
          frame_.clear();
        }
      }
    } catch (FrameError& error) {
      error.framesBefore = std::move(frames);
      throw;
    }
    return frames;
  }

  std::vector<Frame> push(std::string_view bytes) { return push(bytes.data(), bytes.size()); }

 private:
  FrameHeader check(const std::uint8_t* header) {
    try {
      return readFrameHeader(header, max_);
    } catch (const FrameError& error) {
      failed_ = true;
      fault_ = error.fault();
      faultMessage_ = error.what();
      throw;
    }
  }

  Frame toFrame() {
    Frame f;
    f.seq = current_.seq;
    f.type = current_.type;
    f.body = frame_.substr(kFrameHeaderBytes, current_.bodyLength);
    f.binary = frame_.substr(kFrameHeaderBytes + current_.bodyLength);
    return f;
  }

  std::uint32_t max_;
  std::uint8_t header_[kFrameHeaderBytes] = {};
  std::size_t headerFill_ = 0;
  bool inFrame_ = false;
  FrameHeader current_;
  std::string frame_;
  bool failed_ = false;
  FrameFault fault_ = FrameFault::BadSync;
  std::string faultMessage_;
};

/// Decodes exactly one whole frame (a WebSocket binary message). Throws FrameError.
inline Frame decodeFrame(std::string_view bytes, std::uint32_t maxFrameBytes = kDefaultMaxFrameBytes) {
  if (bytes.size() < kFrameHeaderBytes) {
    throw FrameError(FrameFault::BadLength, "The frame has " + std::to_string(bytes.size()) +
                                                " bytes, fewer than its 32-byte header");
  }
  const auto h = readFrameHeader(reinterpret_cast<const std::uint8_t*>(bytes.data()), maxFrameBytes);
  if (h.fullLength != bytes.size()) {
    throw FrameError(FrameFault::BadLength, "The frame's full length " +
                                                std::to_string(h.fullLength) +
                                                " does not match the " +
                                                std::to_string(bytes.size()) + " bytes received");
  }
  Frame f;
  f.seq = h.seq;
  f.type = h.type;
  f.body = std::string(bytes.substr(kFrameHeaderBytes, h.bodyLength));
  f.binary = std::string(bytes.substr(kFrameHeaderBytes + h.bodyLength));
  return f;
}

/// Whether bytes are valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
inline bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace gatehouse
