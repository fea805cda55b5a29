#pragma once

#include <span>
#include <string>

// Hexadecimal digits, written and read in one place: digests, thumbprints, cursors, GUIDs and
// JSON's \u escapes in lower case; percent-encoding and CLIXML's _xHHHH_ escapes in upper case,
// as their specifications write them. Read in either case.
namespace easgate::text {

enum class HexCase { kLower, kUpper };

// The digit of `value`'s low four bits.
constexpr char hexDigit(unsigned value, HexCase letters = HexCase::kLower) {
  constexpr char kLower[] = "0123456789abcdef";
  constexpr char kUpper[] = "0123456789ABCDEF";
  return (letters == HexCase::kLower ? kLower : kUpper)[value & 0xFu];
}

// `byte` as two digits, appended.
inline void appendHexByte(std::string& out, unsigned char byte, HexCase letters = HexCase::kLower) {
  out.push_back(hexDigit(byte >> 4u, letters));
  out.push_back(hexDigit(byte, letters));
}

// Each of `bytes` as two digits, appended.
inline void appendHex(std::string& out, std::span<const unsigned char> bytes,
                      HexCase letters = HexCase::kLower) {
  out.reserve(out.size() + 2 * bytes.size());
  for (const unsigned char b : bytes) appendHexByte(out, b, letters);
}

// A digit's value, in either case; -1 for anything else.
constexpr int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace easgate::text
