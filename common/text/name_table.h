#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace easgate {

// An enum's wire names: one table, looked up both ways.
//   constexpr Named<Color> kColors[] = {{Color::kRed, "red"}, {Color::kBlue, "blue"}};
//   nameOf(kColors, Color::kRed) == "red";  valueNamed(kColors, "blue") == Color::kBlue
template <class E>
struct Named {
  E value;
  std::string_view name;
};

template <class E, std::size_t N>
constexpr std::string_view nameOf(const Named<E> (&table)[N], E value,
                                  std::string_view unknown = "?") {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return unknown;
}

template <class E, std::size_t N>
constexpr std::optional<E> valueNamed(const Named<E> (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

}  // namespace easgate
