// Asio's compiled part for the fuzz build (BOOST_ASIO_SEPARATE_COMPILATION is set for every
// target): only the targets that run coroutines link it (fuzz_sip_call). No SSL, no Beast.
#include <boost/asio/impl/src.hpp>
