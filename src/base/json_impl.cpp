// Compiles Boost.JSON and Boost.URL from their headers once (Debian's libboost1.81-dev ships no
// static archive we could link into the fully static binary).
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
