#ifndef BERTH_CFUZZERDRIVER_H
#define BERTH_CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's public driver (compiler-rt FuzzerInterface.h, LLVM >= 12). Linked in by
/// -sanitize=fuzzer; declared here because Swift cannot see compiler-rt's headers.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
