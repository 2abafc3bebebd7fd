/// @file
/// How a handle call's arguments meet the deployment's interface.
///
/// A call picks the interface's first signature whose inputs take the
/// arguments exactly; failing that, the first one that takes them through
/// friendly conversions only:
/// - a string literal or `char*` becomes `std::string`;
/// - an arithmetic value widens to an arithmetic type that holds every value
///   of its own type (`int` to `int64_t` or `double`, `float` to `double`,
///   `uint16_t` to `int32_t`). Narrowing (`double` to `int`, `int64_t` to
///   `int32_t`, signed to unsigned) and conversions to or from `bool` never
///   happen: such a call does not compile.
#pragma once

#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/delegated.hpp>
#include <caf/detail/type_list.hpp>
#include <caf/make_message.hpp>
#include <caf/replies_to.hpp>
#include <caf/response_type.hpp>

namespace actorserve::detail {

/// The type a handle call sends for an argument of type `T` when no
/// conversion applies: string literals and `char*` go as `std::string`.
template <class T>
using friendly_t =
    std::conditional_t<std::is_same<std::decay_t<T>, const char*>::value ||
                           std::is_same<std::decay_t<T>, char*>::value,
                       std::string, std::decay_t<T>>;

/// True when every value of arithmetic type `From` is a value of `To`.
template <class From, class To>
constexpr bool widens_losslessly() {
  if constexpr (!std::is_arithmetic<From>::value ||
                !std::is_arithmetic<To>::value) {
    return false;
  } else if constexpr (std::is_same<From, To>::value) {
    return true;
  } else if constexpr (std::is_same<From, bool>::value ||
                       std::is_same<To, bool>::value) {
    return false;
  } else {
    using from = std::numeric_limits<From>;
    using to = std::numeric_limits<To>;
    if constexpr (from::is_integer && to::is_integer)
      // Value bits must fit, and a negative value needs a signed target.
      return (!from::is_signed || to::is_signed) && from::digits <= to::digits;
    else if constexpr (from::is_integer)
      return from::digits <= to::digits; // integer to floating point
    else if constexpr (to::is_integer)
      return false; // floating point to integer
    else
      return from::digits <= to::digits &&
             from::max_exponent <= to::max_exponent;
  }
}

/// True when an argument of type `T` may be sent as the input type `In`.
template <class T, class In>
constexpr bool accepts_friendly() {
  using sent = friendly_t<T>;
  return std::is_same<sent, In>::value || widens_losslessly<sent, In>();
}

/// Finds the inputs of the signature a call with arguments `Ts` uses;
/// `type` is `type_list<friendly_t<Ts>...>` when no signature fits, so the
/// caller's static_assert names the call.
template <class Sigs, class... Ts>
struct friendly_inputs;

template <class... Ts>
struct friendly_inputs<caf::detail::type_list<>, Ts...> {
  using type = caf::detail::type_list<friendly_t<Ts>...>;
};

template <class In, class Out, class... Sigs, class... Ts>
struct friendly_inputs<caf::detail::type_list<caf::typed_mpi<In, Out>, Sigs...>,
                       Ts...>
    : friendly_inputs<caf::detail::type_list<Sigs...>, Ts...> {};

template <class... Ins, class Out, class... Sigs, class... Ts>
struct friendly_inputs<
    caf::detail::type_list<caf::typed_mpi<caf::detail::type_list<Ins...>, Out>,
                           Sigs...>,
    Ts...> {
  template <bool Fits, class = void>
  struct pick {
    using type =
        typename friendly_inputs<caf::detail::type_list<Sigs...>, Ts...>::type;
  };
  template <class Unused>
  struct pick<true, Unused> {
    using type = caf::detail::type_list<Ins...>;
  };
  static constexpr bool fits() {
    if constexpr (sizeof...(Ins) != sizeof...(Ts))
      return false;
    else
      return (accepts_friendly<Ts, Ins>() && ...);
  }
  using type = typename pick<fits()>::type;
};

template <class T>
struct given {
  using type = T;
};

/// The inputs a call with arguments `Ts` sends. An exact match wins over a
/// converting one: a signature that takes `friendly_t<Ts>...` as they are is
/// chosen even if an earlier signature would take the arguments widened.
template <class Sigs, class... Ts>
using call_inputs_t = typename std::conditional_t<
    caf::response_type<Sigs, friendly_t<Ts>...>::valid,
    given<caf::detail::type_list<friendly_t<Ts>...>>,
    friendly_inputs<Sigs, Ts...>>::type;

/// What a call with inputs `Inputs` gets back. Unlike `caf::response_type`,
/// a call that fits no signature still names a (void) type, so the call's
/// own static_assert explains the failure instead of overload resolution.
template <class Sigs, class Inputs,
          bool = caf::response_type_unbox<Sigs, Inputs>::valid>
struct call_reply : caf::response_type_unbox<Sigs, Inputs> {};

template <class Sigs, class Inputs>
struct call_reply<Sigs, Inputs, false> {
  static constexpr bool valid = false;
  using type = caf::detail::type_list<>;
  using delegated_type = caf::delegated<>;
};

/// Converts one argument to the input type `In` its signature takes.
template <class In, class T>
decltype(auto) convert_arg(T&& x) {
  if constexpr (std::is_same<std::decay_t<T>, In>::value)
    return std::forward<T>(x);
  else if constexpr (std::is_same<In, std::string>::value)
    return std::string{x};
  else
    return static_cast<In>(x);
}

/// Builds a call's message with each argument converted to its input type.
template <class... Ins, class... Ts>
caf::message make_call_message(caf::detail::type_list<Ins...>, Ts&&... xs) {
  static_assert(sizeof...(Ins) == sizeof...(Ts));
  return caf::make_message(convert_arg<Ins>(std::forward<Ts>(xs))...);
}

} // namespace actorserve::detail
