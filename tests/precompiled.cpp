// Builds the precompiled header that every test program starts from (tests/CMakeLists.txt: fer_test_pch).
