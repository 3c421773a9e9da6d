// `Target` (one resolved next hop: address, port, transport, TLS host) is defined by the RFC 3263
// resolver; the transport includes this header to name it without depending on DNS details.
#pragma once
#include "sip/resolver.hpp"
