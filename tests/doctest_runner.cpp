// doctest's runner (command line, filters, reporters), compiled once for both test programs; each has its own main.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
