// A value or the std::error_code saying why there is none: the result type of the sans-I/O
// layers that keep to std (sdp, rtp). Layers on Boost use boost::system::result instead.
#pragma once
#include <optional>
#include <system_error>

namespace sb {

// [[nodiscard]]: a Result nobody looks at is an error nobody handles.
template <class T>
struct [[nodiscard]] Result {
  std::optional<T> value;
  std::error_code error;  ///< set exactly when value is empty
  explicit operator bool() const noexcept { return value.has_value(); }
  T& operator*() & { return *value; }
  const T& operator*() const& { return *value; }
  T* operator->() { return &*value; }
  const T* operator->() const { return &*value; }
};

}  // namespace sb
