/* The benchmark's data: a 1 MiB pseudo-random pattern (xorshift64), the same in every C program,
 * so that byte i of any connection or file is pattern[i % 1 MiB] and the driver can checksum
 * what arrived (bench.py gets the pattern from `sender --pattern`). */
#pragma once

#include <stdint.h>
#include <string.h>

enum { kBenchPatternSize = 1 << 20 };

/* Fills buffer[0 .. kBenchPatternSize) with the pattern. */
static inline void bench_fill_pattern(unsigned char* buffer) {
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < kBenchPatternSize; i += 8) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    memcpy(buffer + i, &state, 8);
  }
}
