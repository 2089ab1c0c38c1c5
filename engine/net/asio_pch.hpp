// Precompiled header of torfs_engine: the Boost.Asio headers every engine/net/*.cpp includes.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
