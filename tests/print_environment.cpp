// A command for the tests: writes the environment it was started with, one
// NAME=value entry per line, to the file its first argument names. Unlike
// a shell, it adds no variable of its own.
#include <cstdio>

extern char** environ;

int main(int argc, char** argv) {
  if (argc != 2)
    return 2;
  std::FILE* out = std::fopen(argv[1], "w");
  if (out == nullptr)
    return 1;
  for (char** entry = environ; *entry != nullptr; ++entry)
    std::fprintf(out, "%s\n", *entry);
  return std::fclose(out) == 0 ? 0 : 1;
}
