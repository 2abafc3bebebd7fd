// Which signature a handle call picks, and which argument conversions it
// makes: pure type computations, checked at compile time and reported here.
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include <caf/typed_actor.hpp>

#include "actorserve/call_args.hpp"

using actorserve::detail::call_inputs_t;
using actorserve::detail::widens_losslessly;
using caf::detail::type_list;

namespace {

using scale_sigs = caf::typed_actor<
    caf::replies_to<int64_t, double>::with<double>>::signatures;
using overloaded_sigs =
    caf::typed_actor<caf::replies_to<double>::with<double>,
                     caf::replies_to<int32_t>::with<int32_t>>::signatures;
using text_sigs = caf::typed_actor<
    caf::replies_to<std::string>::with<std::string>>::signatures;

} // namespace

TEST_CASE("arithmetic arguments widen only when every value survives",
          "[call_args]") {
  // Integers widen to wider integers of a compatible sign.
  CHECK(widens_losslessly<int16_t, int32_t>());
  CHECK(widens_losslessly<int32_t, int64_t>());
  CHECK(widens_losslessly<uint16_t, int32_t>());
  CHECK(widens_losslessly<uint32_t, uint64_t>());
  CHECK_FALSE(widens_losslessly<int64_t, int32_t>());
  CHECK_FALSE(widens_losslessly<uint32_t, int32_t>());
  CHECK_FALSE(widens_losslessly<int32_t, uint64_t>()); // negatives
  // Integers go to floating point while the mantissa holds them.
  CHECK(widens_losslessly<int32_t, double>());
  CHECK(widens_losslessly<int16_t, float>());
  CHECK_FALSE(widens_losslessly<int32_t, float>());
  CHECK_FALSE(widens_losslessly<int64_t, double>());
  // Floating point widens, never narrows, never becomes an integer.
  CHECK(widens_losslessly<float, double>());
  CHECK_FALSE(widens_losslessly<double, float>());
  CHECK_FALSE(widens_losslessly<double, int64_t>());
  // bool is not a number here.
  CHECK_FALSE(widens_losslessly<bool, int32_t>());
  CHECK_FALSE(widens_losslessly<int32_t, bool>());
  CHECK(widens_losslessly<bool, bool>());
}

TEST_CASE("a call picks an exact signature first, then a widening one",
          "[call_args]") {
  // int and float widen to the only signature's int64_t and double.
  CHECK(std::is_same<call_inputs_t<scale_sigs, int, float>,
                     type_list<int64_t, double>>::value);
  // An exact match wins even when an earlier signature would widen.
  CHECK(std::is_same<call_inputs_t<overloaded_sigs, int32_t>,
                     type_list<int32_t>>::value);
  // Otherwise the first signature that takes the arguments widened.
  CHECK(std::is_same<call_inputs_t<overloaded_sigs, int16_t>,
                     type_list<double>>::value);
  CHECK(std::is_same<call_inputs_t<overloaded_sigs, float>,
                     type_list<double>>::value);
  // A string literal is sent as std::string.
  CHECK(std::is_same<call_inputs_t<text_sigs, const char(&)[4]>,
                     type_list<std::string>>::value);
  // Nothing fits: the arguments' own types come back, and the handle's
  // static_assert rejects the call.
  CHECK(std::is_same<call_inputs_t<scale_sigs, double, double>,
                     type_list<double, double>>::value);
}
